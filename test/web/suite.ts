/**
 * The frame of a Chromium test file: a sandbox folder, one browser, and the processes the tests
 * start, all set up before and torn down after the file's tests.
 */
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { CHROMIUM_LAUNCH } from '../global-setup.js'
import { buildOnce, killAll, removeTree, Sandbox, tempDir, type Proc } from '../node/fixtures/procs.js'

export interface WebSuite {
  box: Sandbox
  browser: Browser
  /** Processes to stop (SIGTERM) after the file's tests. */
  procs: Proc[]
}

/** Registers the file's beforeAll/afterAll; the fields are set once beforeAll has run. */
export function webSuite (prefix: string): WebSuite {
  const suite = { procs: [] as Proc[] } as WebSuite
  beforeAll(async () => {
    await buildOnce()
    suite.box = new Sandbox(await tempDir(prefix))
    suite.browser = await chromium.launch(CHROMIUM_LAUNCH)
  }, 300_000)
  afterAll(async () => {
    await suite.browser?.close().catch(() => {})
    await Promise.allSettled(suite.procs.map(async p => { await p.stop('SIGTERM', 10_000) }))
    await killAll()
    await removeTree(suite.box?.dir)
  }, 60_000)
  return suite
}
