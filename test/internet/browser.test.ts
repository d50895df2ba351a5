/**
 * "Across the internet": a browser with nothing installed.
 *
 *   P  a friend's public Kith node (its own /8): TCP for Kith peers, WebSockets for browsers,
 *      circuit relay without limits for Kith peers and browsers (node/libp2p/relay-gate.ts)
 *   W  a plain static HTTP server on another public host, serving the built web app (dist/web)
 *      as any static host would: no Kith code, no node.json, no Kith headers
 *   A  kith daemon in home 0, behind NAT, P's TCP address its only bootstrap; it reserves a slot
 *      on P's relay by itself (node/libp2p/relay-reservations.ts), so it announces addresses
 *      through each of P's listeners, the WebSocket one included; its link carries that one
 *      as a hint (node/libp2p/relay-addresses.ts) and shares a file
 *   C  Chromium in home 1, behind the other NAT: opens W's app with A's link in the fragment,
 *      downloads the file
 *
 * Asserted: the app W serves is the build (each file's SHA-256 equals the local dist/web's, and
 * their digest is the one scripts/web-digest.mjs wrote to build.json, which the page shows
 * verified); the bytes the page hands over have the SHA-256 of A's file (computed in the page,
 * and again on the saved download); the page's swarm session with A runs on a connection through
 * P (relayed, or WebRTC signalled through it: which one is printed); no Kith peer but A and P.
 * The browser gets nothing but the link: no bootstrap list, no node.json (the static host has
 * none), so it finds A by the link's hint alone.
 *
 * Figures (one line each): A's relayed address after P's start, share shown after opening the
 * link, first verified byte and hand-over after Download (MiB/s), the path.
 *
 * Real `kith` processes, real Chromium; every wait bounded; Simnet.destroy() removes everything.
 * Short file in `npm test`, longer under KITH_SIMNET_LONG=1.
 */
import { createHash } from 'node:crypto'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLink } from '../../protocol/link.js'
import { CHROMIUM, ROOT } from '../global-setup.js'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, writeRandomFile } from '../node/fixtures/procs.js'
import { chromiumIn, staticServer, WEB_PORT } from './chromium.js'
import { daemonIn, KITH_PORT, kithRun, waitForAddrs, type KithDaemon } from './kith.js'
import { Simnet, simnetUnavailable } from './simnet.js'

const LONG = process.env.KITH_SIMNET_LONG === '1'
const SIZE = LONG ? 48 * 1024 * 1024 + 77 : 3 * 1024 * 1024 + 1234
const WS_PORT = 4002
const WEB = join(ROOT, 'dist', 'web')

async function chromiumMissing (): Promise<string | undefined> {
  try { await access(CHROMIUM) } catch { return `Chromium is not installed at ${CHROMIUM} (scripts/test-prepare.ts installs Debian's package as root)` }
  return undefined
}
const unavailable = simnetUnavailable() ?? await chromiumMissing()

describe.skipIf(unavailable !== undefined)('a browser with nothing installed: Chromium in home 1 gets a file A (home 0) shares, app from a static host, P as meeting point', () => {
  let net: Simnet
  let box: Sandbox
  let p: KithDaemon
  let a: KithDaemon
  let browser: Browser | undefined
  let pTcp: string
  let pWs: string
  let reserveMs = 0

  beforeAll(async () => {
    await buildOnce()
    // The web bundle: built by test/global-setup.ts (npm run build before a bench); needed here.
    await access(join(WEB, 'build.json'))
    box = new Sandbox(await tempDir('kith-simnet-browser-'))
    net = Simnet.create({ publicHosts: 2, homes: 2 })
    const t0 = Date.now()
    p = await daemonIn(net, box, net.pub(0).ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--listen', `/ip4/0.0.0.0/tcp/${WS_PORT}/ws`])
    pTcp = `/ip4/${net.pub(0).ip}/tcp/${KITH_PORT}/p2p/${p.info.peerId}`
    pWs = `/ip4/${net.pub(0).ip}/tcp/${WS_PORT}/ws/p2p/${p.info.peerId}`
    expect(p.info.addrs).toContain(pTcp)
    expect(p.info.addrs).toContain(pWs)
    // A has only P's TCP address; it reserves a slot on P's relay by itself
    // (node/libp2p/relay-reservations.ts). P's reservation answer lists all of P's addresses, so A
    // announces a relayed address through P's WebSocket listener too: one a browser can dial.
    a = await daemonIn(net, box, net.home(0).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--bootstrap', pTcp])
    const viaWs = `${pWs}/p2p-circuit/p2p/${a.info.peerId}`
    const seen = await waitForAddrs(net, box, a, addrs => addrs.includes(viaWs), 60_000)
    reserveMs = Date.now() - t0
    console.log(`browser: P and A up, A's relayed WebSocket address through P in kith status ${reserveMs} ms after P's start; A announces ${seen.addrs.join(' ')}`)
  }, 240_000)

  afterAll(async () => {
    await browser?.close().catch(() => {})
    await Promise.all([p?.proc.stop(5_000), a?.proc.stop(5_000)])
    net?.destroy()
    await killAll()
    await removeTree(box?.dir)
  }, 60_000)

  it('downloads A\'s file: same SHA-256 in the page, the served app is the build, the path goes through P', async () => {
    // The web app on a static host.
    const web = net.pub(1)
    const origin = `http://${web.ip}:${WEB_PORT}`
    await staticServer(net, web.ns, WEB, web.ip)

    // A's share, and a link a browser can use.
    const file = join(box.dir, 'for-the-browser.bin')
    const sha = await writeRandomFile(file, SIZE)
    const r = await kithRun(net, box, a.ns, ['share', file, '--repo', a.repo, '--json'], 120_000)
    if (r.code !== 0) throw new Error(`kith share failed (${String(r.code)}): ${r.stderr}`)
    const link = (JSON.parse(r.stdout) as { link: string }).link
    // The link alone must get a browser there: one of its hints is A's address through P's
    // WebSocket listener (the only kind of hint a browser can dial here).
    const hinted = parseLink(link).hints.map(h => multiaddr(h).toString())
    console.log(`browser: A's link hints ${hinted.join(' ')}`)
    expect(hinted).toContain(`${pWs}/p2p-circuit/p2p/${a.info.peerId}`)

    browser = await chromiumIn(net.home(1).lan.ns, box.dir, [origin])
    const ctx = await browser.newContext({ acceptDownloads: true })
    // The SHA-256 of every file the page hands to the user, computed in the page (WebCrypto).
    await ctx.addInitScript(() => {
      const w = window as unknown as { kithHanded: Promise<string>[] }
      w.kithHanded = []
      const create = URL.createObjectURL.bind(URL)
      URL.createObjectURL = (obj: Blob | MediaSource) => {
        if (obj instanceof Blob) {
          w.kithHanded.push(obj.arrayBuffer().then(async b => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map(x => x.toString(16).padStart(2, '0')).join('')))
        }
        return create(obj)
      }
    })
    const page = await ctx.newPage()
    const DBG = process.env.KITH_BROWSER_DEBUG
    if (DBG !== undefined) {
      await ctx.addInitScript((d) => { localStorage.setItem('debug', d) }, DBG)
      const tt = Date.now()
      page.on('console', m => { console.log(`[page +${Date.now() - tt}] ${m.text().slice(0, 300)}`) })
    }
    const errors: string[] = []
    page.on('pageerror', e => { errors.push(e.message) })
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()) })
    // Everything the page asks the network for: HTTP only of the static host, WebSockets only to P.
    const requests: string[] = []
    const sockets: string[] = []
    page.on('request', q => { requests.push(q.url()) })
    page.on('websocket', w => { sockets.push(w.url()) })

    // The served app is the build: the same bytes file by file, the digest web-digest.mjs wrote.
    await page.goto(`${origin}/`)
    const built = JSON.parse(await readFile(join(WEB, 'build.json'), 'utf8')) as { sha256: string, files: string[] }
    const local: Record<string, string> = {}
    for (const f of built.files) local[f] = createHash('sha256').update(await readFile(join(WEB, f))).digest('hex')
    const served = await page.evaluate(async (files) => {
      const hex = (b: ArrayBuffer): string => [...new Uint8Array(b)].map(x => x.toString(16).padStart(2, '0')).join('')
      const out: Record<string, string> = {}
      const parts: Uint8Array[] = []
      for (const f of files) {
        const bytes = new Uint8Array(await (await fetch(`/${f}`, { cache: 'no-store' })).arrayBuffer())
        out[f] = hex(await crypto.subtle.digest('SHA-256', bytes))
        parts.push(new TextEncoder().encode(`${f}\0${bytes.length}\0`), bytes)
      }
      const all = new Uint8Array(parts.reduce((n, x) => n + x.length, 0))
      let at = 0
      for (const x of parts) { all.set(x, at); at += x.length }
      return { files: out, digest: hex(await crypto.subtle.digest('SHA-256', all)) }
    }, built.files)
    expect(served.files).toEqual(local)
    expect(served.digest).toBe(built.sha256)
    await page.waitForFunction((d) => document.getElementById('build')?.textContent === d, built.sha256, { timeout: 20_000 })
    console.log(`browser: the static host serves the build (${built.files.length} files, sha256 ${built.sha256}), verified in the page`)

    // Open the link, download.
    const t0 = Date.now()
    await page.goto(`${origin}/#${link}`)
    const button = page.getByRole('button', { name: 'Download' })
    const failed = page.locator('#error-message').waitFor({ state: 'visible', timeout: 200_000 })
      .then(async () => { throw new Error(`the page failed: ${await page.locator('#error-message').textContent()}`) })
    await Promise.race([button.waitFor({ state: 'visible', timeout: 90_000 }), failed])
    const tShown = Date.now() - t0
    // Time to the first verified byte: the progress bar moves once the first chunk is verified
    // (the page's kith:get:chunk event). Polled every 50 ms.
    const tClick = Date.now()
    const firstByte = page.waitForFunction(() => ((document.getElementById('progress') as HTMLProgressElement | null)?.value ?? 0) > 0, null, { polling: 50, timeout: LONG ? 300_000 : 120_000 })
      .then(() => Date.now() - tClick, () => undefined)
    const [download] = await Promise.race([Promise.all([page.waitForEvent('download', { timeout: LONG ? 300_000 : 120_000 }), button.click()]), failed])
    const transferMs = Date.now() - tClick
    const ttfb = await firstByte
    const saved = join(box.dir, 'saved.bin')
    await download.saveAs(saved)
    const ms = Date.now() - t0
    const handed = await page.evaluate(async () => await Promise.all((window as unknown as { kithHanded: Promise<string>[] }).kithHanded))
    expect(handed).toEqual([sha])
    expect(await sha256File(saved)).toBe(sha)

    // The path: the page's connections to A, as its peer list shows them.
    const conns = await page.locator('#peers li').evaluateAll(els => els.map(e => ({ peer: (e as HTMLElement).dataset.peer, kind: (e as HTMLElement).dataset.kind, swarm: Number((e as HTMLElement).dataset.swarm) })))
    const toA = conns.filter(c => c.peer === a.info.peerId)
    const carrying = toA.filter(c => c.swarm > 0).map(c => c.kind)
    expect(carrying.length).toBeGreaterThan(0)
    for (const kind of carrying) expect(['relayed', 'webrtc']).toContain(kind)
    // Nobody but A and P: the page knows no other Kith node.
    expect(conns.every(c => c.peer === a.info.peerId || c.peer === p.info.peerId)).toBe(true)
    const path = carrying.includes('webrtc') ? 'WebRTC (signalled through P\'s relay)' : 'relayed through P (WebSocket to P, circuit to A)'
    console.log(`browser: path ${path}; connections to A: ${toA.map(c => `${c.kind ?? '?'}${c.swarm > 0 ? '+swarm' : ''}`).join(', ')}`)
    console.log(`browser: ${(SIZE / 1024 / 1024).toFixed(1)} MiB from A (home 0) to Chromium (home 1): share shown ${tShown} ms after opening the link`)
    console.log(`browser: first verified byte ${ttfb ?? '?'} ms after Download`)
    console.log(`browser: file handed over ${transferMs} ms after Download (${(SIZE / 1024 / 1024 / (transferMs / 1000)).toFixed(2)} MiB/s), ${ms} ms after opening the link`)
    expect(errors.filter(e => /Mixed Content|Content Security Policy/i.test(e))).toEqual([])
    // The link (its key) is never sent: no request carries any part of it; the page talked to
    // nobody but the static host and P's WebSocket listener.
    const body = link.slice(link.indexOf(':') + 1)
    expect(requests.filter(u => u.includes(body.slice(0, 24)) || u.includes(link))).toEqual([])
    expect(requests.filter(u => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'))).toEqual([])
    expect(sockets.length).toBeGreaterThan(0)
    expect(sockets.filter(u => u !== `ws://${net.pub(0).ip}:${WS_PORT}/`)).toEqual([])
    console.log(`browser: the page made ${requests.length} HTTP requests, all to the static host, none with the link; WebSockets: ${[...new Set(sockets)].join(' ')}`)
    await ctx.close()
  }, LONG ? 480_000 : 300_000)
})

if (unavailable !== undefined) console.warn(`test/internet/browser.test.ts skipped: ${unavailable}`)
