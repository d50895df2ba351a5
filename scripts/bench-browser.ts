/**
 * Browser benchmark: `npm run bench:browser [-- --json]`, on loopback, in one run:
 *  1. CLI baseline   `kith get` of a KITH_BENCH_MIB (default 64) MiB file from a `kith daemon`
 *                    (steady state: wall time minus the fixed cost of a one-chunk get, same seeder)
 *  2. browser        the same file downloaded by Chromium from the daemon, from the click on
 *                    "Download" to the finished download (page load and share preview excluded)
 *  3. browser↔browser one tab shares a file, another downloads it over WebRTC
 * Ratios are against the CLI figure measured in the same run. Needs Debian's chromium.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KITH = join(ROOT, 'bin', 'kith.js')
const MiB = 1024 * 1024
const mib = Number(process.env.KITH_BENCH_MIB ?? 64)
const json = process.argv.includes('--json')
const children = new Set<ChildProcess>()
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })
const log = (...a: unknown[]): void => { if (!json) console.error(...a) }

async function kith (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string, ms: number }> {
  return await new Promise((resolve) => {
    const t0 = performance.now()
    const c = spawn(process.execPath, [KITH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(c)
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', d => { stdout += d })
    c.stderr.on('data', d => { stderr += d })
    c.on('exit', code => { children.delete(c); resolve({ code, stdout, stderr, ms: performance.now() - t0 }) })
  })
}

async function daemon (repo: string): Promise<{ ui: string, stop: () => void }> {
  const c = spawn(process.execPath, [KITH, '--repo', repo, 'daemon', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws', '--api', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(c)
  const line = await new Promise<string>((resolve, reject) => {
    let buf = ''
    c.stdout.on('data', d => { buf += d; const i = buf.indexOf('\n'); if (i >= 0) resolve(buf.slice(0, i)) })
    c.on('exit', code => { reject(new Error(`daemon exited ${code}`)) })
  })
  const info = JSON.parse(line) as { ui?: string }
  if (info.ui === undefined) throw new Error('the daemon serves no web UI: run `npm run build` first')
  return { ui: info.ui, stop: () => { c.kill('SIGTERM') } }
}

async function share (repo: string, path: string): Promise<string> {
  const r = await kith(['--repo', repo, 'share', path, '--json'])
  if (r.code !== 0) throw new Error(`share failed: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { link: string }).link
}

const dir = await mkdtemp(join(tmpdir(), 'kith-bench-browser-'))
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
try {
  const bytes = mib * MiB
  const file = join(dir, 'bench.bin')
  await writeFile(file, randomBytes(bytes))
  const tiny = join(dir, 'tiny.bin')
  await writeFile(tiny, randomBytes(1000))
  const repo = join(dir, 'seed')
  const d = await daemon(repo)
  const link = await share(repo, file)
  const tinyLink = await share(repo, tiny)

  log(`CLI: kith get ${mib} MiB…`)
  const fixed = await kith(['--repo', join(dir, 'cli-tiny'), 'get', tinyLink, '-o', join(dir, 'out-tiny'), '--json'])
  const cli = await kith(['--repo', join(dir, 'cli'), 'get', link, '-o', join(dir, 'out-cli'), '--json'])
  if (cli.code !== 0) throw new Error(`kith get failed: ${cli.stderr}`)
  const cliMBps = bytes / ((cli.ms - fixed.ms) / 1000) / 1e6

  log(`browser: ${mib} MiB from the daemon…`)
  const ctx = await browser.newContext({ acceptDownloads: true })
  const page = await ctx.newPage()
  await page.goto(`${d.ui}#${link}`)
  const button = page.getByRole('button', { name: 'Download' })
  await button.waitFor({ state: 'visible', timeout: 60_000 })
  const t0 = performance.now()
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 600_000 }), button.click()])
  await dl.path()
  const browserMBps = bytes / ((performance.now() - t0) / 1000) / 1e6
  await ctx.close()

  log('browser↔browser over WebRTC…')
  const a = await browser.newContext({ acceptDownloads: true })
  const b = await browser.newContext({ acceptDownloads: true })
  const pa = await a.newPage()
  await pa.goto(d.ui)
  await pa.setInputFiles('#share-input', file)
  await pa.getByRole('button', { name: 'Share', exact: true }).click()
  await pa.locator('#screen-sent').waitFor({ state: 'visible', timeout: 300_000 })
  const tabLink = await pa.locator('#sent-link').inputValue()
  const pb = await b.newPage()
  await pb.goto(`${d.ui}#${tabLink}`)
  const bb = pb.getByRole('button', { name: 'Download' })
  await bb.waitFor({ state: 'visible', timeout: 60_000 })
  const t1 = performance.now()
  const [dl2] = await Promise.all([pb.waitForEvent('download', { timeout: 600_000 }), bb.click()])
  await dl2.path()
  const tabMBps = bytes / ((performance.now() - t1) / 1000) / 1e6
  await a.close()
  await b.close()
  d.stop()

  const result = { mib, cliMBps, browserMBps, browserRatio: browserMBps / cliMBps, target: 0.5, browserToBrowserMBps: tabMBps, browserToBrowserRatio: tabMBps / cliMBps }
  if (json) console.log(JSON.stringify(result))
  else {
    const f = (x: number): string => x.toFixed(1)
    console.log(`kith get (CLI) from the daemon     ${f(cliMBps)} MB/s   (baseline)`)
    console.log(`browser from the daemon            ${f(browserMBps)} MB/s   ${(browserMBps / cliMBps).toFixed(2)}× CLI   (target ≥ 0.5) ${browserMBps / cliMBps >= 0.5 ? 'PASS' : 'BELOW'}`)
    console.log(`browser ↔ browser (WebRTC)         ${f(tabMBps)} MB/s   ${(tabMBps / cliMBps).toFixed(2)}× CLI`)
  }
} finally {
  await browser.close()
  await rm(dir, { recursive: true, force: true })
}
process.exit(0)
