/**
 * The browser node in real Chromium (Debian's, driven by playwright-core), against a real
 * `kith daemon` on loopback that serves the web app: open a link, see the share, click
 * "Download", get the file with the same SHA-256; a malformed and a wrong-key link show a clear
 * message; no request leaving the page carries the key or the fragment. Screenshots go to
 * test-output/screenshots/ for a person to look at.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateRootKey } from '../../protocol/keys.js'
import { formatLink, parseLink } from '../../protocol/link.js'
import { CHROMIUM_LAUNCH, NETWORK_ISOLATED, ROOT } from '../global-setup.js'
import { API, buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, writeRandomFile, type Proc } from '../node/fixtures/procs.js'

const SIZE = 32 * 1024 * 1024
const SHOTS = join(ROOT, 'test-output', 'screenshots')

let box: Sandbox
let daemon: Proc
let ui: string
let link: string
let srcSha: string
let browser: Browser

beforeAll(async () => {
  await buildOnce()
  await mkdir(SHOTS, { recursive: true })
  box = new Sandbox(await tempDir('kith-web-'))
  const src = join(box.dir, 'video.bin')
  srcSha = await writeRandomFile(src, SIZE)
  const repo = box.path('repo')
  daemon = box.start(['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws', ...API, '--json'])
  const info = await daemon.firstJsonLine<{ ui?: string, addrs: string[] }>(60_000)
  expect(info.ui).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
  ui = info.ui as string
  link = (await box.share(repo, src, [], 120_000)).link
  browser = await chromium.launch(CHROMIUM_LAUNCH)
}, 300_000)

afterAll(async () => {
  await browser?.close().catch(() => {})
  await daemon?.stop('SIGTERM', 10_000).catch(() => {})
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

async function newContext (): Promise<{ ctx: BrowserContext, requests: string[] }> {
  const ctx = await browser.newContext({ acceptDownloads: true })
  const requests: string[] = []
  ctx.on('request', r => { requests.push(r.url()) })
  // WebSocket connections (libp2p to the daemon) are recorded per page.
  ctx.on('page', page => { page.on('websocket', ws => { requests.push(ws.url()) }) })
  return { ctx, requests }
}

/** Opens `url` (a share link on the app), clicks "Download" and saves the file as `saveAs`. */
async function downloadOn (page: Page, url: string, saveAs: string): Promise<void> {
  await page.goto(url)
  const button = page.getByRole('button', { name: 'Download' })
  await button.waitFor({ state: 'visible', timeout: 60_000 })
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), button.click()])
  await download.saveAs(saveAs)
}

/** The page's connections to `peer`, as its peer list shows them: kind and swarm streams. */
async function connectionsTo (page: Page, peer: string): Promise<Array<{ kind?: string, swarm: number }>> {
  return await page.locator(`#peers li[data-peer="${peer}"]`).evaluateAll(els => els.map(e => ({ kind: (e as HTMLElement).dataset.kind, swarm: Number((e as HTMLElement).dataset.swarm) })))
}

describe('web build', () => {
  it('is reproducible: two builds give the same bytes, and the digest is the one in dist/web', async () => {
    const { execFile } = await import('node:child_process')
    const { readFile: rf } = await import('node:fs/promises')
    // @ts-expect-error: a plain .mjs script without types
    const { webDigest } = await import('../../scripts/web-digest.mjs') as { webDigest: (dir: string) => Promise<{ sha256: string, files: string[] }> }
    const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js')
    const digests: string[] = []
    for (const n of [1, 2]) {
      const out = join(box.dir, `web-build-${n}`)
      await new Promise<void>((resolve, reject) => {
        execFile(process.execPath, [vite, 'build', '--config', join(ROOT, 'web', 'vite.config.ts'), '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT, timeout: 120_000 }, err => { if (err !== null) reject(err); else resolve() })
      })
      digests.push((await webDigest(out)).sha256)
    }
    expect(digests[0]).toBe(digests[1])
    const built = JSON.parse(await rf(join(ROOT, 'dist', 'web', 'build.json'), 'utf8')) as { sha256: string }
    expect(built.sha256).toBe(digests[0])
  }, 120_000)
})

describe('browser node', () => {
  it('serves the app with a strict Content-Security-Policy', async () => {
    const res = await fetch(ui)
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self';") // only the node's own scripts: no eval, no WebAssembly
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toMatch(/'unsafe-eval'/)
    expect(await res.text()).not.toMatch(/<script>(?!<\/script>)/)
  })

  it('downloads a 32 MiB file from the daemon by link: same SHA-256; no request carries the key', async () => {
    const { ctx, requests } = await newContext()
    const page = await ctx.newPage()
    const errors: string[] = []
    page.on('pageerror', e => { errors.push(e.message) })
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()) })
    const workersSeen: string[] = []
    page.on('worker', w => { workersSeen.push(w.url()) })
    await page.goto(ui)
    await page.locator('#screen-open').waitFor({ state: 'visible' })
    // The page shows the digest of the code it runs, recomputed from the files it loaded.
    const built = JSON.parse(await readFile(join(ROOT, 'dist', 'web', 'build.json'), 'utf8')) as { sha256: string }
    await page.waitForFunction((d) => document.getElementById('build')?.textContent === d, built.sha256, { timeout: 20_000 })
    await page.screenshot({ path: join(SHOTS, 'open.png') })
    await page.goto(`${ui}#${link}`)
    const button = page.getByRole('button', { name: 'Download' })
    await button.waitFor({ state: 'visible', timeout: 60_000 })
    expect(await page.locator('#share-name').textContent()).toBe('video.bin')
    expect(await page.locator('#share-size').textContent()).toContain('32.0 MiB')
    await page.screenshot({ path: join(SHOTS, 'share.png') })
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 240_000 }), button.click()])
    expect(download.suggestedFilename()).toBe('video.bin')
    const saved = join(box.dir, 'from-browser.bin')
    await download.saveAs(saved)
    expect(await sha256File(saved)).toBe(srcSha)
    await page.locator('#done').waitFor({ state: 'visible' })
    await page.screenshot({ path: join(SHOTS, 'done.png') })
    // Verification and decryption ran on the crypto worker(s), the writes and the whole-file hash
    // on the download's storage worker (ended once the file was handed over), not on the page.
    expect(page.workers().map(w => w.url()).filter(u => /crypto-worker/.test(u)).length).toBeGreaterThan(0)
    expect(workersSeen.some(u => /opfs-worker/.test(u))).toBe(true)
    // The key is in the fragment only: no request (HTTP or WebSocket) carries the link or any '#'.
    const payload = link.slice('kith:'.length)
    expect(requests.length).toBeGreaterThan(0)
    for (const url of requests) {
      expect(url).not.toContain(payload.slice(0, 40))
      expect(url).not.toContain('#')
    }
    expect(errors.filter(e => /Content Security Policy|CSP/i.test(e))).toEqual([])
    // The decrypted copy stays in OPFS only while its tab is open (it seeds from it); the next
    // visit after the tab closed removes it.
    const opfsFolders = async (p: typeof page): Promise<string[]> => await p.evaluate(async () => {
      const kith = await (await navigator.storage.getDirectory()).getDirectoryHandle('kith', { create: true })
      const names: string[] = []
      for await (const name of (kith as unknown as { keys: () => AsyncIterable<string> }).keys()) names.push(name)
      return names
    })
    const folder = parseLink(link).manifest.toString().slice(-24)
    expect(await opfsFolders(page)).toContain(folder)
    await page.close()
    const later = await ctx.newPage()
    await later.goto(ui)
    await later.locator('#screen-open').waitFor({ state: 'visible' })
    await expect.poll(async () => await opfsFolders(later), { timeout: 20_000, interval: 250 }).not.toContain(folder)
    await ctx.close()
  }, 300_000)

  it('takes the link out of the address bar as soon as it is read; a reload still shows it; the open form never puts it there', async () => {
    const { ctx } = await newContext()
    const page = await ctx.newPage()
    const payload = link.slice('kith:'.length).slice(0, 40)
    const addresses: string[] = [] // every address the tab's main frame had, same-document changes too
    page.on('framenavigated', f => { if (f === page.mainFrame()) addresses.push(f.url()) })
    await page.goto(`${ui}#${link}`)
    await page.getByRole('button', { name: 'Download' }).waitFor({ state: 'visible', timeout: 60_000 })
    // Gone from the address bar (and so from this tab's back/forward entries and session restore).
    expect(page.url()).toBe(`${ui}#share`)
    expect(await page.evaluate(() => location.href)).not.toContain(payload)
    // A reload still finds the link (this tab's sessionStorage): the share is shown again.
    await page.reload()
    await page.getByRole('button', { name: 'Download' }).waitFor({ state: 'visible', timeout: 60_000 })
    expect(await page.locator('#share-name').textContent()).toBe('video.bin')
    expect(page.url()).toBe(`${ui}#share`)
    // Another tab with the same address holds no link: the open screen.
    const other = await ctx.newPage()
    await other.goto(`${ui}#share`)
    await other.locator('#screen-open').waitFor({ state: 'visible' })
    await other.close()
    // A link typed into the open form never enters the address bar at all.
    await page.goto(ui)
    await page.locator('#screen-open').waitFor({ state: 'visible' })
    addresses.length = 0
    await page.fill('#open-link', link)
    await page.getByRole('button', { name: 'Open', exact: true }).click()
    await page.getByRole('button', { name: 'Download' }).waitFor({ state: 'visible', timeout: 60_000 })
    expect(page.url()).toBe(`${ui}#share`)
    expect(addresses.length).toBeGreaterThan(0)
    for (const url of addresses) expect(url).not.toContain(payload)
    await ctx.close()
  }, 180_000)

  it('resumes an interrupted download after a reload: keeps the verified part, fetches only the rest', async () => {
    // A slow seeder (4 MB/s) and small chunks, so the download is reloaded part-way.
    const repo = await box.repo({ uploadRate: 4 * 1024 * 1024 })
    const seeder = box.start(['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws', ...API, '--json'])
    const home = (await seeder.firstJsonLine<{ ui: string }>(60_000)).ui
    const size = 24 * 1024 * 1024
    const src = join(box.dir, 'resume.bin')
    const sha = await writeRandomFile(src, size)
    const shared = await box.share(repo, src, ['--chunk-size', '256K'], 120_000)
    const { ctx } = await newContext()
    const page = await ctx.newPage()
    await page.goto(`${home}#${shared.link}`)
    const button = page.getByRole('button', { name: 'Download' })
    await button.waitFor({ state: 'visible', timeout: 60_000 })
    await button.click()
    // Part-way (40 %, well past a commit: the target commits every 32 chunks and every 2 s)…
    await page.waitForFunction(() => {
      const p = document.getElementById('progress') as HTMLProgressElement | null
      return p !== null && p.max > 1 && p.value >= 0.4 * p.max
    }, undefined, { timeout: 60_000, polling: 100 })
    await page.waitForTimeout(2500)
    // …the tab is reloaded: the page finds the partial download and continues it by itself.
    expect(page.url()).toBe(`${home}#share`) // the link is not in the address a reload uses
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.reload()])
    const saved = join(box.dir, 'resumed.bin')
    await download.saveAs(saved)
    expect(await sha256File(saved)).toBe(sha)
    const resumed = await page.locator('#resumed').textContent() ?? ''
    const m = /resumed: (\d+) of (\d+) chunks/.exec(resumed)
    expect(m, resumed).not.toBeNull()
    const kept = Number(m?.[1])
    expect(kept).toBeGreaterThanOrEqual(0.3 * shared.chunks)
    await page.screenshot({ path: join(SHOTS, 'resumed.png') })
    // What was kept was not fetched again: without resuming, the seeder would have sent the first
    // run's ≥ 40 % twice (≥ 1.4× the file); with it, only what was in flight or not yet committed.
    const uploaded = await box.uploaded(repo, parseLink(shared.link).manifest.toString())
    expect(uploaded).toBeGreaterThanOrEqual(size)
    expect(uploaded).toBeLessThan(size * 1.3)
    await ctx.close()
    await seeder.stop('SIGTERM', 10_000)
  }, 300_000)

  it('shares a file from the browser; `kith get` on the CLI fetches it from the browser (relayed by the daemon)', async () => {
    const { ctx } = await newContext()
    const page = await ctx.newPage()
    await page.goto(ui)
    await page.locator('#screen-open').waitFor({ state: 'visible' })
    const { randomBytes, createHash } = await import('node:crypto')
    const data = randomBytes(4 * 1024 * 1024 + 7)
    await page.setInputFiles('#share-input', { name: 'from-tab.bin', mimeType: 'application/octet-stream', buffer: data })
    await page.getByRole('button', { name: 'Share', exact: true }).click()
    await page.locator('#screen-sent').waitFor({ state: 'visible', timeout: 60_000 })
    const shared = await page.locator('#sent-link').inputValue()
    expect(shared).toMatch(/^kith:[a-z2-7]+$/)
    expect(parseLink(shared).hints.length).toBeGreaterThan(0)
    expect(await page.locator('#sent-qr').getAttribute('src')).toMatch(/^data:image\/svg\+xml;base64,/)
    await page.screenshot({ path: join(SHOTS, 'shared-from-browser.png') })
    // The share's manifest blocks (encrypted) are kept in the tab's OPFS, named by their CIDs.
    const stored = await page.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('kith-blocks')
      const names: string[] = []
      for await (const name of (dir as unknown as { keys: () => AsyncIterable<string> }).keys()) names.push(name)
      return names
    })
    expect(stored).toContain(parseLink(shared).manifest.toString())
    const out = join(box.dir, 'cli-out')
    const r = await box.kith(['get', shared, '--repo', box.path('repo-cli'), '-o', out, '--json', '--timeout', '60'], 120_000)
    expect(r.code, r.stderr).toBe(0)
    const got = JSON.parse(r.stdout) as { path: string, sha256: string }
    expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    expect(await sha256File(got.path)).toBe(got.sha256)
    await ctx.close()
  }, 180_000)

  // Chromium's WebRTC would use the machine's real address: only in an isolated network namespace
  // (`npm test` runs in one, scripts/netns.sh; it needs root, unshare and ip).
  it.skipIf(!NETWORK_ISOLATED)('two browsers transfer a file over WebRTC, signalled through the daemon\'s relay (data not relayed)', async () => {
    const { randomBytes, createHash } = await import('node:crypto')
    const { multiaddr } = await import('@multiformats/multiaddr')
    const a = await newContext()
    const b = await newContext()
    const pageA = await a.ctx.newPage()
    await pageA.goto(ui)
    await pageA.locator('#screen-open').waitFor({ state: 'visible' })
    const data = randomBytes(3 * 1024 * 1024 + 11)
    await pageA.setInputFiles('#share-input', { name: 'tab-to-tab.bin', mimeType: 'application/octet-stream', buffer: data })
    await pageA.getByRole('button', { name: 'Share', exact: true }).click()
    await pageA.locator('#screen-sent').waitFor({ state: 'visible', timeout: 60_000 })
    const shared = await pageA.locator('#sent-link').inputValue()
    const hints = parseLink(shared).hints.map(h => multiaddr(h).toString())
    expect(hints.some(h => h.includes('/p2p-circuit/webrtc/'))).toBe(true)
    const peerA = (hints[0] as string).split('/p2p/').at(-1) as string

    const pageB = await b.ctx.newPage()
    const saved = join(box.dir, 'tab-to-tab.bin')
    await downloadOn(pageB, `${ui}#${shared}`, saved)
    expect(await sha256File(saved)).toBe(createHash('sha256').update(data).digest('hex'))
    // B's swarm session with A runs on the WebRTC connection; the relayed connection to A (which
    // carried the WebRTC signalling) carries no swarm stream.
    const conns = await connectionsTo(pageB, peerA)
    expect(conns.filter(c => c.kind === 'webrtc' && c.swarm > 0).length, JSON.stringify(conns)).toBeGreaterThan(0)
    expect(conns.filter(c => c.kind === 'relayed' && c.swarm > 0)).toEqual([])
    await pageB.screenshot({ path: join(SHOTS, 'webrtc-download.png') })
    await a.ctx.close()
    await b.ctx.close()
  }, 240_000)

  // Chromium's WebRTC stack would use the machine's real address to reach the daemon: only in the
  // isolated namespace of scripts/netns.sh.
  it.skipIf(!NETWORK_ISOLATED)('downloads from a daemon that listens on WebRTC-Direct only (no WebSocket)', async () => {
    const { randomBytes, createHash } = await import('node:crypto')
    const { writeFile } = await import('node:fs/promises')
    const repo = box.path('repo-webrtc-direct')
    const d = box.start(['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/udp/0/webrtc-direct', ...API, '--json'])
    try {
      const info = await d.firstJsonLine<{ ui: string, addrs: string[], peerId: string }>(60_000)
      expect(info.addrs.some(a => a.includes('/webrtc-direct/certhash/'))).toBe(true)
      expect(info.addrs.some(a => a.includes('/ws'))).toBe(false)
      const data = randomBytes(5 * 1024 * 1024 + 3)
      const src = join(box.dir, 'direct.bin')
      await writeFile(src, data)
      const l = (await box.share(repo, src, [], 120_000)).link
      const { ctx } = await newContext()
      const page = await ctx.newPage()
      const saved = join(box.dir, 'direct-saved.bin')
      await downloadOn(page, `${info.ui}#${l}`, saved)
      expect(await sha256File(saved)).toBe(createHash('sha256').update(data).digest('hex'))
      const conns = await connectionsTo(page, info.peerId)
      expect(conns.filter(c => c.kind === 'webrtc-direct' && c.swarm > 0).length).toBeGreaterThan(0)
      await ctx.close()
    } finally {
      await d.stop('SIGTERM', 10_000).catch(() => {})
    }
  }, 240_000)

  it('a malformed link and a wrong-key link show a clear message; nothing crashes', async () => {
    const { ctx } = await newContext()
    const page = await ctx.newPage()
    await page.goto(`${ui}#kith:aeaq-not-a-link`)
    await page.locator('#error-message').waitFor({ state: 'visible' })
    expect(await page.locator('#error-message').textContent()).toMatch(/link/i)
    await page.screenshot({ path: join(SHOTS, 'malformed-link.png') })
    const wrong = formatLink({ ...parseLink(link), key: generateRootKey() })
    await page.goto(`${ui}#${wrong}`)
    await page.locator('#error-message').waitFor({ state: 'visible', timeout: 60_000 })
    await page.waitForFunction(() => /wrong key/i.test(document.getElementById('error-message')?.textContent ?? ''), undefined, { timeout: 60_000 })
    await page.screenshot({ path: join(SHOTS, 'wrong-key.png') })
    // The page still works: open the right link afterwards.
    await page.goto(`${ui}#${link}`)
    await page.getByRole('button', { name: 'Download' }).waitFor({ state: 'visible', timeout: 60_000 })
    await ctx.close()
  }, 180_000)
})
