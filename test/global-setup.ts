/**
 * Vitest global setup: builds dist/ once (tsc -p tsconfig.build.json) so tests that run the real
 * `bin/kith.js` run current code. Register in vitest.config.ts: `globalSetup: ['test/global-setup.ts']`.
 * Tests may also call `ensureBuilt()` themselves: it builds only when dist/ is older than the sources.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const BUILT_CLI = join(ROOT, 'dist', 'node', 'cli', 'main.js')
const SOURCES = ['node', 'protocol']
const BUILD_TIMEOUT_MS = 180_000

function newestSource (dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

/** True if dist/ is missing or older than any source file. */
export function isStale (): boolean {
  if (!existsSync(BUILT_CLI)) return true
  const built = statSync(BUILT_CLI).mtimeMs
  const newest = Math.max(...SOURCES.map(s => newestSource(join(ROOT, s))), statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs)
  return newest > built
}

/** Runs the build. Type errors elsewhere do not stop tsc from emitting; only a missing CLI fails. */
export async function build (): Promise<void> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const output = await new Promise<string>((resolve) => {
    execFile(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, timeout: BUILD_TIMEOUT_MS }, (err, stdout, stderr) => {
      resolve(err === null ? '' : `${stdout}${stderr}` || String(err))
    })
  })
  if (!existsSync(BUILT_CLI)) throw new Error(`build failed, ${BUILT_CLI} missing:\n${output}`)
  if (output !== '') console.warn(`tsc reported errors (dist/ was emitted anyway):\n${output.slice(0, 4000)}`)
}

/** Builds the web app into dist/web (Vite). */
export async function buildWeb (): Promise<void> {
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js')
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [vite, 'build', '--config', join(ROOT, 'web', 'vite.config.ts'), '--logLevel', 'warn'], { cwd: ROOT, timeout: BUILD_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`web build failed:\n${stdout}${stderr}`))
      else resolve()
    })
  })
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [join(ROOT, 'scripts', 'web-digest.mjs')], { cwd: ROOT }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`web digest failed:\n${stderr}`))
      else resolve()
    })
  })
}

export const CHROMIUM = '/usr/bin/chromium'
/**
 * How every browser test (and bench:browser) starts Chromium: Debian's binary, kept off the
 * network. WebRTC announces plain addresses rather than mDNS names (no multicast): in the
 * namespace of scripts/netns.sh the only one is its own dead-end interface.
 */
export const CHROMIUM_LAUNCH = {
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-features=WebRtcHideLocalIpsWithMdns']
}

/**
 * True inside the isolated network namespace of scripts/netns.sh (`npm test` runs there). Tests
 * in which Chromium's WebRTC would otherwise use the machine's real address need it.
 */
export const NETWORK_ISOLATED = process.env.KITH_NETNS === '1'

/** Installs Debian packages with apt-get (root only; a fresh CI machine reaches Debian's mirrors). */
export async function aptInstall (packages: string[]): Promise<void> {
  const run = async (args: string[]): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      execFile('apt-get', args, { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`apt-get ${args.join(' ')} failed:\n${stderr.slice(-4000)}`))
        else resolve()
      })
    })
  }
  await run(['update'])
  await run(['install', '-y', '--no-install-recommends', ...packages])
}

/**
 * Debian's Chromium for the browser tests (never a downloaded browser): installed with apt-get
 * when missing and we are root, as on a fresh CI machine.
 */
export async function ensureChromium (): Promise<void> {
  if (existsSync(CHROMIUM)) return
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) to run the browser tests`)
  console.warn('installing Debian chromium for the browser tests (apt-get)…')
  await aptInstall(['chromium'])
}

export async function ensureBuilt (): Promise<void> {
  if (isStale()) await build()
}

export default async function setup (): Promise<void> {
  await Promise.all([build(), buildWeb(), ensureChromium()])
}
