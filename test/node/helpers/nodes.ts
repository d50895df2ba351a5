import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CryptoBackend } from '../../../protocol/crypto.js'
import { KithNode } from '../../../node/node.js'
import { Repo } from '../../../node/repo/repo.js'

export interface TestNode { node: KithNode, repo: Repo, dir: string }

/** A KithNode on a fresh temp repo, listening on loopback TCP port 0. */
export async function startNode (opts: { bootstrap?: string[], transports?: 'tcp' | 'memory', listen?: string[], uploadRate?: number, backend?: CryptoBackend, autoFetchMaxBytes?: number } = {}): Promise<TestNode> {
  const dir = await mkdtemp(join(tmpdir(), 'kith-test-'))
  const repo = await Repo.open(join(dir, 'repo'), { create: true })
  const node = await KithNode.start({
    repo,
    listen: opts.listen ?? (opts.transports === 'memory' ? [`/memory/${Math.random().toString(36).slice(2)}`] : ['/ip4/127.0.0.1/tcp/0']),
    bootstrap: opts.bootstrap ?? [],
    transports: opts.transports,
    uploadRate: opts.uploadRate,
    backend: opts.backend,
    autoFetchMaxBytes: opts.autoFetchMaxBytes
  })
  return { node, repo, dir }
}

export async function stopNode (t: TestNode | undefined): Promise<void> {
  if (t === undefined) return
  await t.node.stop().catch(() => {})
  await t.repo.close().catch(() => {})
  await rm(t.dir, { recursive: true, force: true })
}

/** Polls `cond` every 50 ms until true, or throws after `ms`. */
export async function waitFor (cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** Every file under `dir`, recursively. */
export async function walk (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...await walk(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}
