/**
 * The web app: open a share link (`<app>/#kith:…`), see what it holds, download it peer-to-peer.
 * The link lives in the URL fragment, which browsers never send to a server; the page makes no
 * request that carries it (the only requests are for the app's own files and libp2p connections).
 * It is taken out of the address bar as soon as it is read (web/ui/share-link.ts).
 */
import { isPrivateIp } from '@libp2p/utils'
import { SWARM_PROTOCOL } from '../protocol/constants.js'
import { nobleBackend } from '../protocol/crypto.js'
import { KithError } from '../protocol/errors.js'
import { parseLink, type ShareLink } from '../protocol/link.js'
import type { ManifestMeta } from '../protocol/manifest.js'
import { getShare, previewShare, type GetProgressEvents, type NodeContext } from '../node/engine/get.js'
import { connectionKind } from '../node/engine/peer-kind.js'
import { engineContext } from '../node/engine/context.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createBrowserNode, type BrowserNode } from './peer/libp2p.js'
import { relayHints, shareFiles } from './peer/share.js'
import { adoptToken } from './ui/api.js'
import { renderCircles, wireCircleForms } from './ui/circles.js'
import { renderNode, wireNodeForms } from './ui/node-page.js'
import { renderSettings, wireSettingsForm } from './ui/settings.js'
import { renderSVG } from 'uqr'
import { OpfsTarget } from './peer/opfs-target.js'
import { OpfsBlocks } from './peer/opfs-blocks.js'
import { cryptoWorkers as startCryptoWorkers } from './peer/chunk-crypto.js'
import type { ChunkCryptoPool } from '../node/engine/share/chunk-crypto-pool.js'
import { buildDigest } from './ui/build-digest.js'
import { $ } from './ui/dom.js'
import { formatBytes } from './ui/format.js'
import { currentLink, forgetLink, handLink, rememberLink, SHARE_ROUTE, takeLinkFromHash } from './ui/share-link.js'

/** Content crypto off the page's thread (started on first use). */
let workers: ChunkCryptoPool | undefined
const cryptoWorkers = (): ChunkCryptoPool => (workers ??= startCryptoWorkers())

function show (screen: 'open' | 'share' | 'error' | 'sent' | 'circles' | 'node' | 'settings'): void {
  for (const s of ['open', 'share', 'error', 'sent', 'circles', 'node', 'settings']) $(`screen-${s}`).hidden = s !== screen
}

/** Set by the circles feed's "Download": the share starts downloading as soon as it is shown. */
let autoStart = false

async function share (): Promise<void> {
  const input = $<HTMLInputElement>('share-input')
  const files = [...(input.files ?? [])]
  if (files.length === 0) return
  const button = $<HTMLButtonElement>('share-button')
  button.disabled = true
  try {
    const node = await browserNode()
    $('status').textContent = 'connecting to your Kith node…'
    for (let i = 0; i < 150 && !relayHints(node).some(h => !multiaddr(h).toString().includes('/webrtc')); i++) await new Promise(resolve => setTimeout(resolve, 100))
    if (relayHints(node).length === 0) throw new KithError('no Kith node to relay through: open this page from your Kith node (kith daemon prints its address)')
    const total = files.reduce((n, f) => n + f.size, 0)
    const shared = await shareFiles(await context(), node, await (keyPromise as Promise<PrivateKey>), files, evt => {
      if (evt.type === 'kith:share:chunk') $('status').textContent = `encrypting… ${formatBytes(evt.detail.bytes)} of ${formatBytes(total)}`
      else $('status').textContent = 'publishing…'
    })
    $<HTMLInputElement>('sent-link').value = shared.link
    $<HTMLImageElement>('sent-qr').src = `data:image/svg+xml;base64,${btoa(renderSVG(shared.link.toUpperCase(), { border: 2 }))}`
    $('sent-name').textContent = `${shared.name} (${formatBytes(shared.size)})`
    $('status').textContent = 'seeding while this tab stays open'
    show('sent')
  } catch (err) {
    fail(err)
  } finally {
    button.disabled = false
  }
}

function fail (err: unknown): void {
  const message = err instanceof KithError ? err.message : `something went wrong: ${(err as Error)?.name ?? 'error'}`
  $('error-message').textContent = message
  $('status').textContent = ''
  show('error')
}

let nodePromise: Promise<BrowserNode> | undefined
let keyPromise: Promise<PrivateKey> | undefined
const blocks = new OpfsBlocks()

/** This tab's node: a fresh identity per tab, connected to the Kith node that served the page. */
async function browserNode (): Promise<BrowserNode> {
  keyPromise ??= generateKeyPair('Ed25519')
  nodePromise ??= (async () => {
    const node = await createBrowserNode(await keyPromise)
    try {
      const home = await (await fetch(new URL('node.json', new URL('./', location.href)), { cache: 'no-store' })).json() as { addrs: string[] }
      // WebSockets first (faster here: bench:browser), WebRTC-Direct if the node has no WebSocket
      // listener or it does not answer.
      const addrs = home.addrs.map(a => multiaddr(a))
      const usable = [...addrs.filter(a => a.toString().includes('/ws')), ...addrs.filter(a => a.toString().includes('/webrtc-direct/'))]
      if (usable.length > 0) await node.dial(usable, { signal: AbortSignal.timeout(10_000) })
    } catch {
      // Not served by a Kith node (or it is unreachable): links' hints and the DHT still work.
    }
    return node
  })()
  return await nodePromise
}

/**
 * A page served from this machine or its LAN (the user's own daemon) may dial private link hints;
 * one served from a public host may not: a link must not make the browser probe the user's own
 * machine or network (docs/THREAT-MODEL.md §2.9).
 */
function servedLocally (): boolean {
  const host = location.hostname.replace(/^\[|\]$/g, '')
  return host === 'localhost' || host.endsWith('.local') || isPrivateIp(host) === true
}

async function context (): Promise<NodeContext> {
  const node = await browserNode()
  return engineContext(node, { blocks, backend: nobleBackend, chunkCrypto: cryptoWorkers().chunkCrypto, log: node.logger.forComponent('kith:web'), privateHints: servedLocally() })
}

async function preview (link: ShareLink): Promise<ManifestMeta> {
  $('status').textContent = 'looking for the share…'
  return await previewShare(await context(), link, { timeoutMs: 30_000 })
}

function renderShare (meta: ManifestMeta): void {
  $('share-name').textContent = meta.name
  $('share-size').textContent = `${formatBytes(meta.size)} · ${meta.files.length} file${meta.files.length === 1 ? '' : 's'}`
  const list = $('share-files')
  list.replaceChildren(...meta.files.slice(0, 200).map(f => {
    const li = document.createElement('li')
    li.textContent = `${f.path} (${formatBytes(f.size)})`
    return li
  }))
  $('status').textContent = ''
  show('share')
}

/** The tab's connections and how each is made (tcp/websocket/webrtc/webrtc-direct/relayed). */
async function renderPeers (): Promise<void> {
  const node = await browserNode()
  $('peers').replaceChildren(...node.getConnections().map(c => {
    const li = document.createElement('li')
    const kind = connectionKind(c.remoteAddr)
    const swarm = c.streams.filter(st => st.protocol === SWARM_PROTOCOL).length
    li.dataset.peer = c.remotePeer.toString()
    li.dataset.kind = kind
    li.dataset.swarm = String(swarm)
    li.textContent = `…${c.remotePeer.toString().slice(-8)} · ${kind}${swarm > 0 ? ' · transferring' : ''}`
    return li
  }))
}

async function download (link: ShareLink): Promise<void> {
  const button = $<HTMLButtonElement>('download')
  button.disabled = true
  let target: OpfsTarget | undefined
  // Rate and time left count this run's bytes only (a resumed download starts part-way).
  let t0: number | undefined
  let bytes0 = 0
  $('resumed').hidden = true
  const onProgress = (evt: GetProgressEvents): void => {
    if (evt.type === 'kith:get:verify') {
      const { checked, valid, total } = evt.detail
      $('status').textContent = `resuming: checked ${checked} of ${total} chunks already on disk`
      if (checked === total) {
        $('resumed').textContent = `resumed: ${valid} of ${total} chunks from before were intact and kept`
        $('resumed').hidden = false
      }
      return
    }
    if (evt.type !== 'kith:get:chunk') return
    const { bytes, total, peers } = evt.detail
    if (t0 === undefined) { t0 = performance.now(); bytes0 = bytes }
    const seconds = (performance.now() - t0) / 1000
    const rate = (bytes - bytes0) / Math.max(seconds, 0.5)
    const left = rate > 0 ? Math.ceil((total - bytes) / rate) : 0
    $<HTMLProgressElement>('progress').max = total
    $<HTMLProgressElement>('progress').value = bytes
    $('status').textContent = `${formatBytes(bytes)} of ${formatBytes(total)} · ${formatBytes(rate)}/s · ${peers} peer${peers === 1 ? '' : 's'} · ${left} s left`
    void renderPeers()
  }
  try {
    await getShare(await context(), link, {
      openTarget: async (meta, manifest, chunkSize) => { target = await OpfsTarget.open(meta, manifest, chunkSize); return target },
      onProgress
    })
    await renderPeers() // before the handover, while the swarm sessions are still those of the download
    for (const { path, file } of target?.files() ?? []) {
      const a = document.createElement('a')
      a.href = URL.createObjectURL(file)
      a.download = path.split('/').join('_')
      document.body.append(a)
      a.click()
      a.remove()
    }
    $('status').textContent = 'done: verified and saved'
    $('done').hidden = false
    forgetLink() // nothing left to resume: the key need not stay in this tab's storage
  } catch (err) {
    fail(err)
  } finally {
    button.disabled = false
  }
}

async function openLink (text: string): Promise<void> {
  let link: ShareLink
  try {
    link = parseLink(text)
  } catch (err) {
    forgetLink()
    fail(err)
    return
  }
  rememberLink(text)
  try {
    renderShare(await preview(link))
    $('download').onclick = () => { void download(link) }
    // A download this page started before a reload (or a crash) continues on its own.
    if (autoStart || await OpfsTarget.hasPartial(link.manifest.toString())) { autoStart = false; void download(link) }
  } catch (err) {
    fail(err)
  }
}

function main (): void {
  void OpfsTarget.sweep()
  void blocks.sweep()
  $('build').textContent = 'checking…'
  buildDigest().then(d => {
    $('build').textContent = d.verified ? d.sha256 : `${d.sha256} (does not match build.json!)`
  }, () => { $('build').textContent = 'unknown (no build.json: not a production build)' })
  $<HTMLFormElement>('open-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const text = $<HTMLInputElement>('open-link').value.trim()
    // The link never leaves the page, and never enters the address bar either.
    handLink(text.slice(text.indexOf('kith:')), route)
  })
  const fromFeed = (link: string): void => { autoStart = true; handLink(link, route) }
  wireCircleForms(fromFeed)
  wireNodeForms()
  wireSettingsForm()
  function route (): void {
    const managed = adoptToken()
    $('nav-circles').hidden = !managed
    $('nav-node').hidden = !managed
    $('nav-settings').hidden = !managed
    // A link in the fragment is taken out of the address bar before anything else happens.
    const arrived = takeLinkFromHash(['circles', 'node', 'settings'])
    if (arrived !== undefined) { void openLink(arrived); return }
    const hash = decodeURIComponent(location.hash.slice(1))
    if (hash === '') { show('open'); return }
    if (hash === SHARE_ROUTE) {
      const text = currentLink()
      if (text === undefined) show('open')
      else void openLink(text)
      return
    }
    if (hash === 'circles') { show('circles'); void renderCircles(fromFeed); return }
    if (hash === 'node') { show('node'); void renderNode(); return }
    if (hash === 'settings') { show('settings'); void renderSettings(); return }
    show('open')
  }
  $('share-button').addEventListener('click', () => { void share() })
  $('copy-link').addEventListener('click', () => {
    void navigator.clipboard.writeText($<HTMLInputElement>('sent-link').value).then(() => { $('status').textContent = 'link copied' }, () => {})
  })
  window.addEventListener('hashchange', route)
  route()
}

main()
