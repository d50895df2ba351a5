/**
 * KithNode: one running Kith node: the repo, the libp2p node (node/libp2p/assembly.ts), the swarm service,
 * and the shares it serves. The daemon, the CLI's foreground mode and the tests all drive a node
 * through this class; nothing else wires these pieces together.
 */
import './libp2p/polyfills.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { CryptoBackend } from '../protocol/crypto.js'
import { MAX_HINT_BYTES, MAX_LINK_HINTS } from '../protocol/constants.js'
import { manifestIdOf, parseLink, seedOnlyLink, type ShareLink } from '../protocol/link.js'
import { shareInfo } from './share/share-info.js'
import type { ShareInfo } from './api/schema.js'
import { bestBackend } from './crypto/native.js'
import { engineContext } from './engine/context.js'
import { DownloadWriter, type NodeGetOptions } from './download/writer.js'
import { fileShareSource } from './share/files.js'
import { getShare, type GetResult, type NodeContext } from './engine/get.js'
import { createKithLibp2p, type KithServices } from './libp2p/assembly.js'
import { linkHintAddrs, onAddressChange } from './libp2p/relay-addresses.js'
import { publishShare, signerFor, type ShareOptions } from './engine/publish.js'
import type { Repo } from './repo/repo.js'
import type { ShareRecord } from './repo/format.js'
import { swarm as swarmService, type Swarm } from './engine/swarm/service.js'
import type { ShareState } from './engine/share/share-state.js'
import { seedShare, type SeedOptions, type SeedResult } from './engine/seed.js'
import { Announcer } from './engine/announcer.js'
import { PublisherMismatchError } from './engine/errors.js'
import { AlreadyHeldError, ShareBusyError, ShareTooLargeError, UnsharedError } from './errors.js'
import { reopenShares } from './share/reopen.js'
import { dropSeedBlocks, forgetShare } from './share/unshare.js'
import { scope } from './engine/abort.js'
import { LINK_HINTS } from './engine/constants.js'
import { connectionKind, type PeerInfoSummary } from './engine/peer-kind.js'
import type { SessionPathUse } from './engine/swarm/path.js'
import { AUTO_FETCH_MAX_BYTES, Circles } from './circle/circles.js'
import type { CircleSummary, FeedEntry, MemberInfo } from './api/schema.js'
import { CircleNetwork } from './circle/service.js'
import type { ReachabilityReport, SettingsRequest, SettingsResponse } from './api/schema.js'
import type { NetworkMode } from './engine/constants.js'
import { AMINO_BOOTSTRAP } from './libp2p/amino.js'

/** Longest `unshare` waits for the fetch it stops to wind down. */
const UNSHARE_WAIT_MS = 10_000

export interface KithNodeInit {
  repo: Repo
  listen?: string[]
  /** Extra addresses to announce (default: the repo config's `announce`). */
  announce?: string[]
  bootstrap?: string[]
  /** 'local' or 'amino' (default: the repo config's `network`; docs/NETWORK.md). */
  network?: NetworkMode
  /** STUN servers for WebRTC, host:port (default: the repo config's `stun`). */
  stun?: string[]
  /** UPnP port mapping on the home router (default: the repo config's `upnp`; node/libp2p/upnp.ts). */
  upnp?: boolean
  transports?: 'tcp' | 'memory'
  backend?: CryptoBackend
  uploadRate?: number
  downloadRate?: number
  /**
   * Relay reservations while not publicly reachable (node/libp2p/relay-reservations.ts). Default
   * true (daemon, `kith seed`, `kith share`); false for a temporary node that only downloads
   * (`kith get` without a daemon): it dials out and never needs to be reached.
   */
  relayReservations?: boolean
  /** Largest post circle auto-fetch downloads (default AUTO_FETCH_MAX_BYTES; not a config setting). */
  autoFetchMaxBytes?: number
}

export class KithNode {
  readonly repo: Repo
  readonly libp2p: Libp2p<KithServices & { swarm: Swarm }>
  readonly backend: CryptoBackend
  /** The circles this node belongs to, and their sync on the network. */
  readonly circles: Circles
  readonly circleNet: CircleNetwork
  /** The network this node is on (fixed for its run). */
  readonly network: NetworkMode
  readonly #ctx: NodeContext
  readonly #states = new Map<string, ShareState>()
  /** The download or blind seed running for a share (one at a time), by manifest ID. */
  readonly #running = new Map<string, { controller: AbortController, done: Promise<unknown> }>()
  readonly #announcer: Announcer
  #unwatchAddrs: () => void = () => {}
  #stopped = false

  private constructor (repo: Repo, libp2p: Libp2p<KithServices & { swarm: Swarm }>, backend: CryptoBackend, circles: Circles, network: NetworkMode) {
    this.repo = repo
    this.network = network
    this.libp2p = libp2p
    this.backend = backend
    this.circles = circles
    this.circleNet = new CircleNetwork(libp2p, circles, libp2p.logger.forComponent('kith:circle'))
    const log = libp2p.logger.forComponent('kith:node')
    this.#announcer = new Announcer(libp2p, log, state => this.#states.get(state.rootCid.toString()) === state)
    // On the public network a link's hints may not point into this machine or its LAN (NodeContext.privateHints).
    this.#ctx = engineContext(libp2p, { blocks: repo.blocks, backend, log, privateHints: network !== 'amino' })
  }

  static async start (init: KithNodeInit): Promise<KithNode> {
    const repo = init.repo
    const backend = init.backend ?? bestBackend()
    const network = init.network ?? repo.config.network
    const bootstrap = init.bootstrap ?? repo.config.bootstrap
    const libp2p = await createKithLibp2p({
      privateKey: repo.privateKey,
      listen: init.listen ?? repo.config.listen,
      announce: init.announce ?? repo.config.announce,
      // In amino mode with no bootstrap peer configured at all: the public Amino bootstrap nodes.
      bootstrap: network === 'amino' && bootstrap.length === 0 ? [...AMINO_BOOTSTRAP] : bootstrap,
      network,
      // On the public network, public libp2p relays (limited: only to meet) count too.
      ...(init.relayReservations === false ? { relayReservations: false as const } : network === 'amino' ? { relayReservations: { publicRelays: true } } : {}),
      stun: init.stun ?? repo.config.stun,
      upnp: init.upnp ?? repo.config.upnp,
      transports: init.transports,
      datastore: repo.datastore,
      services: {
        swarm: swarmService({ uploadRate: init.uploadRate ?? repo.config.uploadRate, downloadRate: init.downloadRate ?? repo.config.downloadRate })
      }
    }) as unknown as Libp2p<KithServices & { swarm: Swarm }>
    const circles = await Circles.open(repo.dir, signerFor(repo.privateKey), backend, repo.secrets)
    for (const b of circles.broken) libp2p.logger.forComponent('kith:circle').error('circle %s could not be loaded and is left out: %s', b.id.slice(0, 8), b.error)
    const node = new KithNode(repo, libp2p, backend, circles, network)
    node.#autoFetchMax = init.autoFetchMaxBytes ?? AUTO_FETCH_MAX_BYTES
    // A node that starts before its bootstrap peers answer cannot announce yet: retry as soon
    // as it has a peer, instead of waiting for the retry timer.
    libp2p.addEventListener('peer:connect', () => { node.#announcer.peerConnected() })
    // A relay reservation gained or lost changes where peers can reach us: re-provide every share.
    node.#unwatchAddrs = onAddressChange(libp2p, addrs => {
      libp2p.logger.forComponent('kith:node')('dialable addresses changed (%d): re-announcing shares', addrs.length)
      node.#announcer.reannounceAll()
    })
    await node.#reopenShares()
    await node.circleNet.start()
    circles.addEventListener('change', (evt) => { node.#autoFetch(evt.detail.circle) })
    return node
  }

  get peerId (): PeerId { return this.libp2p.peerId }

  /** Listen addresses, each with /p2p/<peerId>. */
  addrs (): string[] {
    return this.libp2p.getMultiaddrs().map(a => a.toString())
  }

  /**
   * Address hints for links this node makes: up to LINK_HINTS of its own addresses (with /p2p/):
   * public ones, then its addresses through relays it holds reservations on, then LAN, then
   * loopback (node/libp2p/relay-addresses.ts). Without a shared bootstrap node these are how a
   * friend's node finds ours; they reveal this node's addresses (and its relays) to whoever
   * holds the link (docs/THREAT-MODEL.md). Private addresses only where the node accepts private
   * hints itself (the engine context's `privateHints`).
   */
  linkHints (): Uint8Array[] {
    return linkHintAddrs(this.libp2p.getMultiaddrs(), {
      count: Math.min(LINK_HINTS, MAX_LINK_HINTS),
      maxBytes: MAX_HINT_BYTES,
      privateAddrs: this.#ctx.privateHints !== false
    }).map(a => a.bytes)
  }

  /** Shares a file or folder: encode, keep, serve, announce, and record it in the repo. */
  async share (path: string, opts: ShareOptions = {}): Promise<ShareInfo> {
    const published = await publishShare(this.#ctx, await fileShareSource(path), signerFor(this.repo.privateKey), { chunkSize: opts.chunkSize ?? this.repo.config.chunkSize, ...opts, hints: opts.hints ?? this.linkHints() })
    this.#states.set(published.manifest, published.state)
    const source = published.kind === 'file' ? published.sources[0] ?? null : dirOf(published.sources[0], published.meta.files[0]?.path)
    await this.repo.addShare({
      version: 1,
      link: published.link,
      name: published.name,
      size: published.size,
      chunks: published.chunks,
      kind: published.kind,
      source,
      role: 'publisher',
      added: new Date().toISOString(),
      complete: true,
      have: null
    })
    this.#watchSource(published.state, published.manifest)
    await this.announce(published.state, opts.signal)
    return this.#info(await this.repo.getShare(published.manifest) as ShareRecord)
  }

  /**
   * The paths share `manifest`'s pieces went over (swarm/path.ts: "direct (hole punched)", "via a
   * friend's node", …), with bytes each way; empty for a share this node does not hold.
   */
  paths (manifest: string): SessionPathUse[] {
    const state = this.#states.get(manifest)
    return state === undefined ? [] : this.libp2p.services.swarm.paths(state)
  }

  /** Downloads a share by link into `outDir`, then keeps seeding it while the node runs. */
  async get (linkText: string | ShareLink, opts: NodeGetOptions): Promise<GetResult> {
    const link = typeof linkText === 'string' ? parseLink(linkText) : linkText
    const manifest = link.manifest.toString()
    const linkString = typeof linkText === 'string' ? linkText.trim() : undefined
    const { outDir, maxSize, ...rest } = opts
    return await this.#exclusive(manifest, opts.signal, async signal => {
      const result = await getShare(this.#ctx, link, {
        ...rest,
        signal,
        openTarget: async (meta, manifestId, chunkSize) => {
          if (maxSize !== undefined && meta.size > maxSize) throw new ShareTooLargeError(meta.size, maxSize)
          return await DownloadWriter.open(outDir, meta, manifestId, chunkSize)
        }
      })
      this.#states.set(manifest, result.state)
      let existing = await this.repo.getShare(manifest)
      if (existing?.role === 'seed') {
        // A blind seed of this share is now a download: it serves from the plaintext from now on.
        // Its ciphertext goes; the manifest blocks stay (the download uses and serves them).
        await dropSeedBlocks(this.repo, this.backend, existing, false)
        await this.repo.removeShare(manifest)
        existing = undefined
      }
      if (existing === undefined && linkString !== undefined) {
        await this.repo.addShare({
          version: 1,
          link: linkString.slice(linkString.indexOf('kith:')),
          name: result.name,
          size: result.size,
          chunks: result.state.pieces,
          kind: result.meta.kind,
          source: result.path,
          role: 'downloader',
          added: new Date().toISOString(),
          complete: true,
          have: null
        })
      }
      this.#watchSource(result.state, manifest)
      void this.announce(result.state).catch(() => {})
      const { state: _s, meta: _m, ...plain } = result
      return plain
    })
  }

  /**
   * Runs the one download or blind seed of share `manifest` this node may run at a time
   * (ShareBusyError otherwise); `unshare` aborts it. `signal` also aborts it.
   */
  async #exclusive<T> (manifest: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#running.has(manifest)) throw new ShareBusyError()
    const controller = new AbortController()
    const both = scope(undefined, signal, controller.signal)
    const done = fn(both.signal)
    const entry = { controller, done }
    this.#running.set(manifest, entry)
    try {
      return await done
    } finally {
      both.clear()
      if (this.#running.get(manifest) === entry) this.#running.delete(manifest)
    }
  }

  /**
   * Blind-seeds a share by its seed-only link (a read link is turned into its seed-only form
   * first): fetches every sealed chunk into the blockstore, then keeps serving it while the node
   * runs, and after a restart. The key that decrypts the share is never used or stored.
   */
  async seed (linkText: string | ShareLink, opts: SeedOptions = {}): Promise<SeedResult> {
    const link = seedOnlyLink(typeof linkText === 'string' ? parseLink(linkText) : linkText)
    const manifest = link.manifest.toString()
    await this.checkSeedable(link)
    return await this.#exclusive(manifest, opts.signal, async signal => await this.#seed(link, manifest, { ...opts, signal }))
  }

  async #seed (link: ShareLink, manifest: string, opts: SeedOptions): Promise<SeedResult> {
    const result = await seedShare(this.#ctx, link, {
      ...opts,
      // Recorded (incomplete) before the first chunk: a cancelled or failed run's ciphertext is
      // listed, resumed by the next `seed`, or deleted by `unshare`.
      onManifest: async info => {
        const existing = await this.repo.getShare(manifest)
        if (existing !== undefined && existing.role !== 'seed') throw new AlreadyHeldError(existing.role)
        if (existing !== undefined) return
        await this.repo.addShare({
          version: 1,
          link: info.seedLink,
          name: '',
          size: info.bytes,
          chunks: info.chunks,
          kind: 'sealed',
          source: null,
          role: 'seed',
          added: new Date().toISOString(),
          complete: false,
          have: null
        })
      }
    })
    this.#states.set(manifest, result.state)
    await this.repo.updateShare(manifest, { complete: true })
    void this.announce(result.state).catch(() => {})
    const { state: _s, ...plain } = result
    return plain
  }

  /** Whether a download or blind seed of share `manifest` (ID) is running on this node. */
  fetching (manifest: string): boolean {
    return this.#running.has(manifest)
  }

  /** Throws AlreadyHeldError if this node holds the share in plaintext (it serves it already). */
  async checkSeedable (link: ShareLink): Promise<void> {
    const existing = await this.repo.getShare(link.manifest.toString())
    if (existing !== undefined && existing.role !== 'seed') throw new AlreadyHeldError(existing.role)
  }

  /** Puts the root into the DHT and provides under the discovery key; retries until it works. */
  async announce (state: ShareState, signal?: AbortSignal): Promise<boolean> {
    return await this.#announcer.announce(state, signal)
  }

  #watchSource (state: ShareState, manifest: string): void {
    state.addEventListener('source-changed', () => {
      this.#ctx.log.error('share %s: its source changed on disk, stopped serving it', manifest)
    }, { once: true })
  }

  /** Stops serving and forgets a share (by link or manifest ID). Files on disk are kept. */
  async unshare (linkOrManifest: string): Promise<boolean> {
    const manifest = manifestIdOf(linkOrManifest)
    const running = this.#running.get(manifest)
    if (running !== undefined) {
      // Stop fetching first, so nothing is stored or recorded after the record is gone.
      running.controller.abort(new UnsharedError())
      await Promise.race([running.done.catch(() => {}), new Promise(resolve => setTimeout(resolve, UNSHARE_WAIT_MS))])
    }
    const state = this.#states.get(manifest)
    if (state !== undefined) {
      this.#ctx.swarm.removeShare(state)
      this.#states.delete(manifest)
      this.#announcer.forget(state)
      // Stop kad-dht re-announcing us under this share's discovery key.
      await this.libp2p.services.dht.cancelReprovide(state.keys.discoveryCid).catch(() => {})
    }
    return await forgetShare(this.repo, this.backend, manifest)
  }

  async listShares (): Promise<ShareInfo[]> {
    return (await this.repo.listShares()).map(r => this.#info(r))
  }

  #info (r: ShareRecord): ShareInfo {
    const state = this.#states.get(manifestIdOf(r.link))
    return shareInfo(r, state === undefined ? undefined : { peers: this.#ctx.swarm.sessions(state).length, uploaded: state.uploaded, serving: state.serving })
  }

  peers (): PeerInfoSummary[] {
    const sessions = this.#ctx.swarm.allSessions()
    return this.libp2p.getConnections().map(c => ({
      peerId: c.remotePeer.toString(),
      kind: connectionKind(c.remoteAddr),
      sessions: sessions.filter(s => s.remotePeer.equals(c.remotePeer)).length
    }))
  }

  status (): { peerId: string, addrs: string[], connections: number, shares: number, sessions: number, sealed: boolean, network: NetworkMode } {
    return {
      sealed: this.repo.sealed,
      network: this.network,
      peerId: this.peerId.toString(),
      addrs: this.addrs(),
      connections: this.libp2p.getConnections().length,
      shares: this.#states.size,
      sessions: this.#ctx.swarm.allSessions().length
    }
  }

  /**
   * The reachability report (node/libp2p/reachability.ts): NAT status, relay reservations, UPnP,
   * and how each connection runs, with circle members' names for peers and relays.
   */
  async reachability (): Promise<ReachabilityReport> {
    const names = new Map<string, string>()
    for (const c of this.circles.list()) {
      for (const m of this.circles.members(c.id)) if (!m.me && m.name !== '' && !names.has(m.peerId)) names.set(m.peerId, m.name)
    }
    return await this.libp2p.services.reachability.report({ names: id => names.get(id), services: this.libp2p.services })
  }

  /** Changes the node's upload/download caps (bytes/s, 0 = unlimited) at once, for every transfer. */
  setRates (rates: { uploadRate?: number, downloadRate?: number }): void {
    const swarm = this.libp2p.services.swarm
    if (rates.uploadRate !== undefined) swarm.upload.rate = rates.uploadRate
    if (rates.downloadRate !== undefined) swarm.download.rate = rates.downloadRate
  }

  /** The repo's config and what the repo is (GET /settings). */
  settings (): SettingsResponse {
    const c = this.repo.config
    return {
      uploadRate: c.uploadRate,
      downloadRate: c.downloadRate,
      chunkSize: c.chunkSize,
      listen: [...c.listen],
      announce: [...c.announce],
      bootstrap: [...c.bootstrap],
      network: c.network,
      upnp: c.upnp,
      api: c.api,
      repo: this.repo.dir,
      sealed: this.repo.sealed
    }
  }

  /** Writes the change to config.json, then applies it: rates now, chunk size to new shares. */
  async updateSettings (req: SettingsRequest): Promise<SettingsResponse> {
    const config = await this.repo.updateConfig(req)
    this.setRates({ uploadRate: config.uploadRate, downloadRate: config.downloadRate })
    return this.settings()
  }

  /** Dials a peer (e.g. a bootstrap address given at run time). */
  async dial (addr: string, signal?: AbortSignal): Promise<void> {
    await this.libp2p.dial(multiaddr(addr), { signal })
  }

  /** Re-serves the shares recorded in the repo (publishers, completed downloads, blind seeds). */
  async #reopenShares (): Promise<void> {
    for (const { manifest, state, plaintext } of await reopenShares(this.repo, this.#ctx)) {
      this.#ctx.swarm.addShare(state)
      this.#states.set(manifest, state)
      if (plaintext) this.#watchSource(state, manifest)
      void this.announce(state).catch(() => {})
    }
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#unwatchAddrs()
    this.#announcer.stop()
    await this.circleNet.stop()
    await this.libp2p.stop()
  }

  // --- circles ------------------------------------------------------------------------------------

  async circleCreate (name: string, memberName: string): Promise<CircleSummary> {
    return await this.circles.create(name, memberName)
  }

  async circleInvite (name: string, ttlMs: number): Promise<{ code: string, expires: string }> {
    return await this.circles.invite(name, ttlMs, this.linkHints())
  }

  async circleJoin (code: string, memberName: string, signal?: AbortSignal): Promise<CircleSummary> {
    const c = await this.circleNet.join(code, memberName, signal)
    return this.circles.list().find(x => x.id === c.id) as CircleSummary
  }

  circleList (): CircleSummary[] { return this.circles.list() }

  circleMembers (name: string): MemberInfo[] {
    return this.circles.members(name, p => this.circleNet.isOnline(p))
  }

  circleFeed (name: string): FeedEntry[] { return this.circles.feed(name) }

  async circleRemove (name: string, peerId: string): Promise<{ epoch: number }> {
    return await this.circles.remove(name, peerId)
  }

  /** Shares `path` and posts its link into circle `circle`. */
  async shareToCircle (path: string, circle: string, opts: ShareOptions = {}): Promise<ShareInfo & { post: FeedEntry }> {
    this.circles.find(circle) // fail before the work if there is no such circle
    const info = await this.share(path, opts)
    const post = await this.circles.post(circle, { link: info.link, name: info.name, size: info.size })
    return { ...info, post }
  }

  async circleAutoFetch (name: string, dir: string | null): Promise<void> {
    await this.circles.setAutoFetch(name, dir)
    if (dir !== null) this.#autoFetch(this.circles.find(name).id)
  }

  readonly #fetching = new Set<string>()
  /**
   * Posts not tried again: a manifest larger than the cap (the post's size claim lied), or one
   * signed by someone other than the post's author (PublisherMismatchError).
   */
  readonly #tooLarge = new Set<string>()
  #autoFetchMax = AUTO_FETCH_MAX_BYTES

  /**
   * Auto-fetch: downloads posts of `circleId` not held yet into its auto-fetch folder, up to
   * `#autoFetchMax` bytes each, and only shares the post's author published (signed the manifest
   * of): a larger post, or a link to someone else's share, stays in the feed, for fetching by hand.
   */
  #autoFetch (circleId: string): void {
    const c = this.circles.byId(circleId)
    const dir = c?.local.autoFetch
    if (c === undefined || dir === null || dir === undefined || this.#stopped) return
    void (async () => {
      // A blind seed is not held: fetching the post replaces it with a download.
      const held = new Set((await this.repo.listShares()).filter(r => r.role !== 'seed').map(r => manifestIdOf(r.link)))
      for (const post of this.circles.feed(circleId)) {
        if (post.size > this.#autoFetchMax) continue
        let manifest: string
        try { manifest = parseLink(post.link).manifest.toString() } catch { continue }
        if (held.has(manifest) || this.#fetching.has(manifest) || this.#running.has(manifest) || this.#tooLarge.has(manifest)) continue
        this.#fetching.add(manifest)
        try {
          await this.get(post.link, { outDir: dir, maxSize: this.#autoFetchMax, publisher: authorKey(post) })
        } catch (err) {
          if (err instanceof ShareTooLargeError || err instanceof PublisherMismatchError) this.#tooLarge.add(manifest)
          this.#ctx.log.error('auto-fetch of a circle post failed: %s', (err as Error).name)
        } finally {
          this.#fetching.delete(manifest)
        }
      }
    })()
  }
}

/** The raw Ed25519 key of a feed entry's author (the feed names authors by peer ID). */
function authorKey (post: FeedEntry): Uint8Array {
  return peerIdFromString(post.author).publicKey?.raw ?? new Uint8Array(0)
}

/** The shared folder's absolute path, from one file's absolute path and its relative path. */
function dirOf (abs: string | undefined, rel: string | undefined): string | null {
  if (abs === undefined || rel === undefined) return null
  const depth = rel.split('/').length
  let dir = abs
  for (let i = 0; i < depth; i++) dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/')))
  return dir
}
