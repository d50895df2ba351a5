/**
 * Browser benchmark: `npm run bench:browser [-- --json]`, on loopback, in one run:
 *  1. CLI baseline   `kith get` of a KITH_BENCH_MIB (default 64) MiB file from a `kith daemon`
 *                    (steady state: wall time minus the fixed cost of a one-chunk get, same seeder)
 *  2. browser        the same file downloaded by Chromium from the daemon (WebSocket), from the
 *                    click on "Download" to the finished download (page load and share preview
 *                    excluded); also as a steady state, measured like the CLI's (minus the same
 *                    page's click-to-saved time for a one-chunk share)
 *  3. WebSocket ceiling  the same number of bytes pushed by a bare Node WebSocket server into a
 *                    page that only counts them (no libp2p, no crypto): what Chromium's WebSocket
 *                    path itself carries on this machine
 *  4. WebRTC-Direct  the browser download from a daemon that listens on WebRTC-Direct only
 *  5. browser↔browser one tab shares a file, another downloads it over WebRTC
 *  6. large file     KITH_BENCH_BIG_GIB (default 2; 0 skips) GiB downloaded by the browser from the
 *                    daemon: it must finish with the right SHA-256 (the tab does not crash), and the
 *                    peak memory of the renderer processes (VmHWM) and of the page's JS heap show
 *                    the file is streamed to OPFS, not held in memory
 * Ratios are against the CLI figure measured in the same run. Needs Debian's chromium. `npm run
 * bench:browser` runs it in an isolated network namespace (scripts/netns.sh), as the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { WebSocketServer } from 'ws'
import { CHROMIUM_LAUNCH } from '../test/global-setup.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
// The command as users run it: the launcher (bin/kith) that sets Kith's V8 heap flag.
const KITH = join(ROOT, 'bin', 'kith')
const MiB = 1024 * 1024
const mib = Number(process.env.KITH_BENCH_MIB ?? 64)
const bigGiB = Number(process.env.KITH_BENCH_BIG_GIB ?? 2)
const json = process.argv.includes('--json')
const children = new Set<ChildProcess>()
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })
const log = (...a: unknown[]): void => { if (!json) console.error(...a) }

async function kith (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string, ms: number }> {
  return await new Promise((resolve) => {
    const t0 = performance.now()
    const c = spawn(KITH, [...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(c)
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', d => { stdout += d })
    c.stderr.on('data', d => { stderr += d })
    c.on('exit', code => { children.delete(c); resolve({ code, stdout, stderr, ms: performance.now() - t0 }) })
  })
}

async function daemon (repo: string, listen = '/ip4/127.0.0.1/tcp/0/ws'): Promise<{ ui: string, stop: () => void }> {
  const c = spawn(KITH, ['--repo', repo, 'daemon', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', listen, '--api', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
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

/** Writes `bytes` random bytes to `path` in 16 MiB pieces; returns their SHA-256 (hex). */
async function randomFile (path: string, bytes: number): Promise<string> {
  const out = createWriteStream(path)
  const h = createHash('sha256')
  for (let done = 0; done < bytes;) {
    const piece = randomBytes(Math.min(16 * MiB, bytes - done))
    h.update(piece)
    done += piece.length
    if (!out.write(piece)) await new Promise<void>(resolve => out.once('drain', () => { resolve() }))
  }
  await new Promise<void>((resolve, reject) => { out.end(() => { resolve() }); out.once('error', reject) })
  return h.digest('hex')
}

async function sha256Of (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const piece of createReadStream(path)) h.update(piece as Buffer)
  return h.digest('hex')
}

/** Peak resident memory (VmHWM, bytes) of Chromium's renderer processes, polled until stopped. */
function trackRenderers (): { peak: () => number, stop: () => void } {
  let peak = 0
  const t = setInterval(() => {
    void (async () => {
      for (const pid of await readdir('/proc').catch(() => [])) {
        if (!/^\d+$/.test(pid)) continue
        try {
          const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8')
          if (!cmd.includes('chromium') || !cmd.includes('--type=renderer')) continue
          const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
          if (m !== null) peak = Math.max(peak, Number(m[1]) * 1024)
        } catch {
          // The process ended.
        }
      }
    })()
  }, 500)
  return { peak: () => peak, stop: () => { clearInterval(t) } }
}

/** Click "Download" on `url` in a fresh context; seconds from the click to the saved file. */
async function browserGet (browser: Browser, url: string): Promise<number> {
  const ctx = await browser.newContext({ acceptDownloads: true })
  try {
    const page = await ctx.newPage()
    await page.goto(url)
    const button = page.getByRole('button', { name: 'Download' })
    await button.waitFor({ state: 'visible', timeout: 60_000 })
    const t0 = performance.now()
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 600_000 }), button.click()])
    await dl.path()
    return (performance.now() - t0) / 1000
  } finally {
    await ctx.close()
  }
}

/**
 * `bytes` pushed in 64 KiB messages (Noise's largest frame) by a bare `ws` server into a page
 * that counts them: MB/s from the first message to the last.
 */
async function webSocketCeiling (browser: Browser, bytes: number): Promise<number> {
  const http = await import('node:http')
  const server = http.createServer((_req, res) => { res.setHeader('content-type', 'text/html'); res.end('<!doctype html><title>ws</title>') })
  const wss = new WebSocketServer({ server })
  wss.on('connection', ws => {
    const piece = Buffer.alloc(64 * 1024, 7)
    let sent = 0
    const pump = (): void => {
      while (sent < bytes) {
        ws.send(piece)
        sent += piece.length
        if (ws.bufferedAmount > 4 * MiB) { setTimeout(pump, 1); return }
      }
    }
    pump()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const ctx = await browser.newContext()
  try {
    const page = await ctx.newPage()
    await page.goto(`http://127.0.0.1:${port}/`)
    return await page.evaluate(async ({ port, bytes }) => await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
      ws.binaryType = 'arraybuffer'
      let got = 0
      let t0 = 0
      ws.onerror = () => { reject(new Error('websocket failed')) }
      ws.onmessage = (e) => {
        if (t0 === 0) t0 = performance.now()
        got += (e.data as ArrayBuffer).byteLength
        if (got >= bytes) { ws.close(); resolve(got / ((performance.now() - t0) / 1000) / 1e6) }
      }
    }), { port, bytes })
  } finally {
    await ctx.close()
    wss.close()
    server.close()
  }
}

const dir = await mkdtemp(join(tmpdir(), 'kith-bench-browser-'))
const browser = await chromium.launch(CHROMIUM_LAUNCH)
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
  const browserTiny = await browserGet(browser, `${d.ui}#${tinyLink}`)
  const browserSecs = await browserGet(browser, `${d.ui}#${link}`)
  const browserMBps = bytes / browserSecs / 1e6
  const browserSteadyMBps = bytes / Math.max(0.001, browserSecs - browserTiny) / 1e6

  log('bare WebSocket into a page…')
  const wsMBps = await webSocketCeiling(browser, bytes)

  log('browser from a WebRTC-Direct-only daemon…')
  const dRepo = join(dir, 'seed-direct')
  const dd = await daemon(dRepo, '/ip4/127.0.0.1/udp/0/webrtc-direct')
  const directMBps = bytes / (await browserGet(browser, `${dd.ui}#${await share(dRepo, file)}`)) / 1e6
  dd.stop()

  log('browser↔browser over WebRTC…')
  const a = await browser.newContext({ acceptDownloads: true })
  const pa = await a.newPage()
  await pa.goto(d.ui)
  await pa.setInputFiles('#share-input', file)
  await pa.getByRole('button', { name: 'Share', exact: true }).click()
  await pa.locator('#screen-sent').waitFor({ state: 'visible', timeout: 300_000 })
  const tabLink = await pa.locator('#sent-link').inputValue()
  // Another context is another browser node: it reaches the sharing tab over WebRTC.
  const tabMBps = bytes / (await browserGet(browser, `${d.ui}#${tabLink}`)) / 1e6
  await a.close()

  let big: { gib: number, MBps: number, identical: boolean, rendererPeakRssMB: number, jsHeapPeakMB: number } | undefined
  if (bigGiB > 0) {
    log(`browser: ${bigGiB} GiB from the daemon (memory must stay flat)…`)
    const bigFile = join(dir, 'big.bin')
    const bigSha = await randomFile(bigFile, bigGiB * 1024 * MiB)
    const bigLink = await share(repo, bigFile)
    // A persistent profile: an incognito context (newContext) keeps OPFS in memory, not on disk.
    const ctx3 = await chromium.launchPersistentContext(join(dir, 'profile'), { ...CHROMIUM_LAUNCH, acceptDownloads: true })
    const p3 = await ctx3.newPage()
    await p3.goto(`${d.ui}#${bigLink}`)
    const b3 = p3.getByRole('button', { name: 'Download' })
    await b3.waitFor({ state: 'visible', timeout: 120_000 })
    const cdp = await ctx3.newCDPSession(p3)
    await cdp.send('Performance.enable')
    let heapPeak = 0
    const heapPoll = setInterval(() => {
      cdp.send('Performance.getMetrics').then(({ metrics }) => {
        const used = metrics.find(m => m.name === 'JSHeapUsedSize')?.value ?? 0
        heapPeak = Math.max(heapPeak, used)
      }).catch(() => {})
    }, 500)
    const renderers = trackRenderers()
    const t2 = performance.now()
    const failed = p3.locator('#error-message').waitFor({ state: 'visible', timeout: 3_600_000 })
      .then(async () => { throw new Error(`the page failed: ${await p3.locator('#error-message').textContent()}`) })
    const [dl3] = await Promise.race([Promise.all([p3.waitForEvent('download', { timeout: 3_600_000 }), b3.click()]), failed])
    const saved = await dl3.path()
    const secs = (performance.now() - t2) / 1000
    clearInterval(heapPoll)
    renderers.stop()
    big = { gib: bigGiB, MBps: bigGiB * 1024 * MiB / secs / 1e6, identical: await sha256Of(saved) === bigSha, rendererPeakRssMB: renderers.peak() / 1e6, jsHeapPeakMB: heapPeak / 1e6 }
    await ctx3.close()
    await rm(bigFile, { force: true })
  }
  d.stop()

  const result = {
    mib,
    cliMBps,
    browserMBps,
    browserRatio: browserMBps / cliMBps,
    browserSteadyMBps,
    browserSteadyRatio: browserSteadyMBps / cliMBps,
    target: 0.5,
    webSocketCeilingMBps: wsMBps,
    browserToWebSocketCeiling: browserSteadyMBps / wsMBps,
    webrtcDirectMBps: directMBps,
    browserToBrowserMBps: tabMBps,
    browserToBrowserRatio: tabMBps / cliMBps,
    ...(big !== undefined ? { big } : {})
  }
  if (json) console.log(JSON.stringify(result))
  else {
    const f = (x: number): string => x.toFixed(1)
    console.log(`kith get (CLI) from the daemon     ${f(cliMBps)} MB/s   (baseline)`)
    console.log(`browser from the daemon (WebSocket) ${f(browserSteadyMBps)} MB/s steady   ${(browserSteadyMBps / cliMBps).toFixed(2)}× CLI   (target ≥ 0.5) ${browserSteadyMBps / cliMBps >= 0.5 ? 'PASS' : 'BELOW'}   [click to saved file: ${f(browserMBps)} MB/s = ${(browserMBps / cliMBps).toFixed(2)}×]`)
    console.log(`  bare WebSocket into a page        ${f(wsMBps)} MB/s   (no libp2p, no crypto: Chromium's own WebSocket path; the browser download is ${(browserSteadyMBps / wsMBps).toFixed(2)}× it)`)
    console.log(`browser from the daemon (WebRTC-Direct) ${f(directMBps)} MB/s   ${(directMBps / cliMBps).toFixed(2)}× CLI   [click to saved file]`)
    console.log(`browser ↔ browser (WebRTC)         ${f(tabMBps)} MB/s   ${(tabMBps / cliMBps).toFixed(2)}× CLI   [click to saved file]`)
    if (big !== undefined) {
      console.log(`browser, ${big.gib} GiB from the daemon       ${f(big.MBps)} MB/s   SHA-256 ${big.identical ? 'identical' : 'DIFFERS'}   renderer peak RSS ${f(big.rendererPeakRssMB)} MB   page JS heap peak ${f(big.jsHeapPeakMB)} MB`)
    }
  }
} finally {
  await browser.close()
  await rm(dir, { recursive: true, force: true })
}
process.exit(0)
