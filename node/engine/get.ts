/**
 * Downloading a share by its link: find seeders (DHT providers under the discovery key, plus the
 * link's hints), fetch and open the manifest, download chunks from every admitted peer at once,
 * verify each against its digest, decrypt, write into a partial file, and rename each file into
 * place only once its plaintext SHA-256 matches the manifest. Resumable: the partial files and a
 * have-map survive a killed process, and a restart re-verifies what is on disk before trusting it.
 * While downloading (and after, in a daemon), the node serves the chunks it holds.
 */
import { CustomProgressEvent } from 'progress-events'
import { Bitfield } from '../../protocol/bitfield.js'
import { constantTimeEqual, hexOf } from '../../protocol/bytes.js'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { DecryptionError, KithError, type ErrorCategory } from '../../protocol/errors.js'
import { deriveShareKeys, type SeedKeys, type ShareKeys } from '../../protocol/keys.js'
import type { ShareLink } from '../../protocol/link.js'
import { chunkPlaintextLength, locateChunk, type ManifestMeta } from '../../protocol/manifest.js'
import { completeManifest, fetchFromPeers, type FetchedManifest, type ManifestFetchContext } from './manifest-fetch.js'
import { sleep } from './abort.js'
import { NoPathError, PublisherMismatchError } from './errors.js'
import { peerIdOfKey } from './peer-id.js'
import { discoverPeers, DISCOVERY_INTERVALS_MS, type DiscoveryContext, type DiscoverySource } from './discovery.js'
import { scope, type Scope } from './abort.js'
import { inlineChunkCrypto, type ChunkCrypto, type ChunkCryptoFactory } from './share/chunk-crypto.js'
import { ChunkScheduler } from './swarm/scheduler.js'
import { ShareState, type BlockStore, type ChunkSource } from './share/share-state.js'
import { PlaintextChunkSource } from './share/sources.js'
import type { CID } from 'multiformats/cid'

export const DEFAULT_GET_TIMEOUT_MS = 60_000

export class NoSeedersError extends KithError {
  static override name = 'NoSeedersError'
  static override category: ErrorCategory = 'unavailable'
  constructor (seconds: number) { super(`no seeders found within ${seconds} s: is anyone sharing this link online?`) }
}

export class StalledError extends KithError {
  static override name = 'StalledError'
  static override category: ErrorCategory = 'unavailable'
  constructor (seconds: number) { super(`download stalled: no progress from any peer for ${seconds} s`) }
}

export class SeedOnlyLinkError extends KithError {
  static override name = 'SeedOnlyLinkError'
  static override category: ErrorCategory = 'bad-link'
  constructor () { super('this is a seed-only link: it can serve the share but not decrypt it') }
}

export class CorruptShareError extends KithError {
  static override name = 'CorruptShareError'
  constructor (options?: { cause?: unknown }) { super('the share is corrupt: a chunk matches the manifest but does not decrypt (bad publisher)', options) }
}

/** Everything a download needs from its host: discovery (discovery.ts) plus blocks and crypto. */
export interface NodeContext extends DiscoveryContext {
  blocks: BlockStore
  backend: CryptoBackend
  /** Per-chunk content crypto (default: inline with `backend`; the browser uses Web Workers). */
  chunkCrypto?: ChunkCryptoFactory
}

export type GetProgressEvents =
  | CustomProgressEvent<{ peers: number }, 'kith:get:peers'>
  | CustomProgressEvent<{ name: string, size: number, chunks: number, files: number }, 'kith:get:manifest'>
  | CustomProgressEvent<{ checked: number, valid: number, total: number }, 'kith:get:verify'>
  | CustomProgressEvent<{ bytes: number, total: number, chunks: number, totalChunks: number, peers: number }, 'kith:get:chunk'>
  | CustomProgressEvent<{ path: string }, 'kith:get:file'>

/**
 * Where a download's verified plaintext goes: on Node a partial file renamed into place
 * (node/download/writer.ts), in the browser an OPFS file. Chunk positions are per file.
 */
export interface DownloadTarget {
  /** Chunks a previous run claims to have written (re-verified before they are trusted). */
  claimedChunks: () => number[]
  /** Plaintext of a chunk written earlier (partial or finished file), or undefined if not all there. */
  readChunk: (fileIndex: number, position: number, length: number) => Promise<Uint8Array | undefined>
  /** Writes a verified chunk. May take ownership of `plaintext` (a worker transfer). */
  writeChunk: (fileIndex: number, position: number, plaintext: Uint8Array) => Promise<void>
  markHave: (index: number) => void
  unmarkHave: (index: number) => void
  /** Persists the have-map so a restarted download resumes. */
  flush: () => Promise<void>
  /** Checks file `fileIndex` against its SHA-256 and only then gives it its final name. */
  finishFile: (fileIndex: number, sha256: Uint8Array) => Promise<string>
  /** All files finished: returns where the share now is. */
  commit: () => Promise<{ path: string }>
  /** Removes what only the download needed (partial state). */
  cleanup: () => Promise<void>
  close: () => Promise<void>
}

export interface GetOptions {
  /** Opens (or resumes) the target for this manifest. */
  openTarget: (meta: ManifestMeta, manifestId: string, chunkSize: number) => Promise<DownloadTarget>
  /** Fails when no peer makes progress for this long (also: no seeder found). */
  timeoutMs?: number
  signal?: AbortSignal
  onProgress?: (evt: GetProgressEvents) => void
  /** Per-peer pipelining window. */
  window?: number
  /**
   * The raw Ed25519 key that must have signed the manifest (a circle post's author): another
   * publisher fails with PublisherMismatchError once the manifest is verified, before anything is
   * written. Without it any publisher is accepted (a link names none) and reported in the result.
   */
  publisher?: Uint8Array
}

export interface GetResult {
  path: string
  name: string
  size: number
  /** SHA-256 (hex) of the file; for a folder, of its sha256sum-style listing. */
  sha256: string
  manifest: string
  /** Peer ID of the key that signed the manifest (docs/THREAT-MODEL.md §2.4: what that proves). */
  publisher: string
  /** Every seeder whose swarm this download joined, and how it was found (node/engine/discovery.ts). */
  seeders: Array<{ peer: string, via: DiscoverySource }>
}

/** Digest reported for a share: the file's SHA-256, or for a folder that of its sorted listing. */
export function shareDigest (backend: CryptoBackend, meta: ManifestMeta): string {
  if (meta.kind === 'file') return hexOf(meta.files[0]?.sha256 ?? new Uint8Array())
  const listing = [...meta.files].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
    .map(f => `${hexOf(f.sha256)}  ${f.path}\n`).join('')
  return hexOf(backend.sha256(new TextEncoder().encode(listing)))
}

export async function getShare (ctx: NodeContext, link: ShareLink, opts: GetOptions): Promise<GetResult & { state: ShareState, meta: ManifestMeta }> {
  if (link.kind !== 'read') throw new SeedOnlyLinkError()
  const keys = deriveShareKeys(link.key)
  const chunks = chunkCryptoFor(ctx, keys)
  let meta: ManifestMeta | undefined
  let publisher: Uint8Array | undefined
  let writer: DownloadTarget | undefined
  let received = 0
  let bytesDone = 0
  try {
    const { state, seeders } = await fetchShare(ctx, { keys, rootCid: link.manifest, hints: link.hints, timeoutMs: opts.timeoutMs, signal: opts.signal, window: opts.window }, {
      onPeers: peers => { opts.onProgress?.(new CustomProgressEvent('kith:get:peers', { peers })) },
      prepare: async (manifest, state) => {
        const m = manifest.meta as ManifestMeta
        meta = m
        const index = manifest.root.index
        publisher = index.publisher
        if (opts.publisher !== undefined && !constantTimeEqual(opts.publisher, index.publisher)) {
          throw new PublisherMismatchError(peerIdOfKey(opts.publisher), peerIdOfKey(index.publisher))
        }
        opts.onProgress?.(new CustomProgressEvent('kith:get:manifest', { name: m.name, size: m.size, chunks: index.chunks, files: m.files.length }))
        const w = await opts.openTarget(m, link.manifest.toString(), index.chunkSize)
        writer = w
        const have = await reverify(w, m, index.chunkSize, chunks, manifest.digests, opts)
        for (let i = 0; i < have.size; i++) if (have.get(i)) bytesDone += chunkPlaintextLength(...fileAndPos(m, i), index.chunkSize)
        return { have, source: new PlaintextChunkSource(m, index.chunkSize, chunks, i => state.chunkDigest(i), w.readChunk.bind(w)) }
      },
      deliver: async (i, sealed, state) => {
        const m = meta as ManifestMeta
        const w = writer as DownloadTarget
        const loc = locateChunk(m, i)
        let plaintext: Uint8Array | undefined
        try {
          plaintext = await chunks.open(i, loc.last, sealed, state.chunkDigest(i))
        } catch (err) {
          if (err instanceof DecryptionError) throw new CorruptShareError({ cause: err })
          throw err
        }
        if (plaintext === undefined) return false
        const length = plaintext.length // writeChunk may take the bytes (a worker transfer)
        await w.writeChunk(loc.fileIndex, loc.position, plaintext)
        w.markHave(i)
        bytesDone += length
        received++
        return true
      },
      onChunk: (state, peers) => {
        const have = state.have as Bitfield
        opts.onProgress?.(new CustomProgressEvent('kith:get:chunk', { bytes: bytesDone, total: meta?.size ?? 0, chunks: have.count(), totalChunks: have.size, peers }))
      },
      abort: async () => { await writer?.close() }
    })
    const m = meta as ManifestMeta
    const w = writer as DownloadTarget
    try {
      await w.flush()
      for (let i = 0; i < m.files.length; i++) {
        const file = m.files[i]
        if (file === undefined) continue
        opts.signal?.throwIfAborted()
        await w.finishFile(i, file.sha256)
      }
      const committed = await w.commit()
      await w.cleanup()
      const path = committed.path
      opts.onProgress?.(new CustomProgressEvent('kith:get:file', { path }))
      ctx.log('download of %s complete: %d chunks received this run', link.manifest, received)
      return { path, name: m.name, size: m.size, sha256: shareDigest(ctx.backend, m), manifest: link.manifest.toString(), publisher: peerIdOfKey(publisher as Uint8Array), seeders, state, meta: m }
    } catch (err) {
      ctx.swarm.removeShare(state)
      await w.close().catch(() => {})
      throw err
    }
  } catch (err) {
    chunks.close()
    throw err
  }
}

/**
 * The first step of a download on its own: finds the share's peers and returns its verified
 * metadata (names, sizes, files), downloading nothing. The browser shows it before the user
 * clicks Download. Same errors as `getShare` before its first chunk.
 */
export async function previewShare (ctx: NodeContext, link: ShareLink, opts: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<ManifestMeta> {
  if (link.kind !== 'read') throw new SeedOnlyLinkError()
  const keys = deriveShareKeys(link.key)
  const open = await ShareFetch.open(ctx, { keys, rootCid: link.manifest, hints: link.hints, timeoutMs: opts.timeoutMs, signal: opts.signal })
  try {
    return open.manifest.meta as ManifestMeta
  } finally {
    await open.close({ keep: false })
  }
}

/** What fetching a share does with its manifest and chunks (a download, or a blind seed). */
export interface FetchPlan {
  /**
   * The manifest is fetched and verified: returns the chunks already held (each re-verified) and
   * where this node serves chunks from while and after it fetches.
   */
  prepare: (manifest: FetchedManifest, state: ShareState) => Promise<{ have: Bitfield, source: ChunkSource }>
  /** Verifies one received chunk and keeps it; false if it does not match its digest. */
  deliver: (index: number, sealed: Uint8Array, state: ShareState) => Promise<boolean>
  onPeers?: (peers: number) => void
  /** After each chunk lands, with the number of peers in the swarm. */
  onChunk?: (state: ShareState, peers: number) => void
  /** The fetch failed: release whatever `prepare` opened (it may have failed half-way, or not run). */
  abort?: () => Promise<void>
}

export interface FetchInit {
  keys: SeedKeys
  rootCid: CID
  hints: readonly Uint8Array[]
  timeoutMs?: number
  signal?: AbortSignal
  window?: number
}

/**
 * Joins a share's swarm and fetches every chunk of it: `ShareFetch.open` (peers, then the verified
 * manifest), then `fetch(plan)` (every chunk, handed to `plan.deliver`), then `close`. Resolves
 * once every chunk is held; the share stays in the swarm (this node serves it) unless the fetch
 * failed.
 */
export async function fetchShare (ctx: NodeContext, init: FetchInit, plan: FetchPlan): Promise<{ state: ShareState, manifest: FetchedManifest, seeders: GetResult['seeders'] }> {
  const open = await ShareFetch.open(ctx, init, plan.onPeers)
  let ok = false
  try {
    await open.fetch(plan)
    ok = true
    return { state: open.state, manifest: open.manifest, seeders: open.seeders() }
  } finally {
    await open.close({ keep: ok })
    if (!ok) await plan.abort?.().catch(() => {})
  }
}

/**
 * A share being fetched, one step at a time (iroh-blobs' get::fsm is the model):
 *
 *   open     join the share's swarm: find peers (link hints, then DHT providers), fetch the root
 *            and every manifest block and verify them (NoSeedersError when nobody is found,
 *            WrongKeyError when the key does not open the manifest); nothing of the content yet
 *   fetch    the chunks, from every admitted peer at once (StalledError when no peer makes
 *            progress for `timeoutMs`)
 *   close    stop finding peers; `keep: true` leaves the share in the swarm (this node serves
 *            what it fetched), `keep: false` takes it out and puts back what was served before
 *
 * A preview is `open`, read `manifest.meta`, `close({ keep: false })`.
 */
export class ShareFetch {
  readonly state: ShareState
  readonly manifest: FetchedManifest
  readonly #ctx: NodeContext
  readonly #init: FetchInit
  readonly #run: FetchRun
  readonly #rootBytes: Uint8Array
  #closed = false

  private constructor (ctx: NodeContext, init: FetchInit, run: FetchRun, rootBytes: Uint8Array, manifest: FetchedManifest) {
    this.#ctx = ctx
    this.#init = init
    this.#run = run
    this.state = run.state
    this.#rootBytes = rootBytes
    this.manifest = manifest
  }

  /** Step 1: joins the swarm and fetches the verified manifest. */
  static async open (ctx: NodeContext, init: FetchInit, onPeers?: (peers: number) => void): Promise<ShareFetch> {
    const run = new FetchRun(ctx, init, onPeers)
    try {
      const fetchCtx = run.fetchContext()
      const rootBytes = await raceRoot(ctx, fetchCtx, init.rootCid, run.signal)
      run.progress()
      const manifest = await completeManifest(fetchCtx, init.rootCid, rootBytes, init.keys)
      run.progress()
      return new ShareFetch(ctx, init, run, rootBytes, manifest)
    } catch (err) {
      await run.end(false)
      throw run.failure(err)
    }
  }

  /** Step 2: fetches every chunk the plan does not already hold. */
  async fetch (plan: FetchPlan): Promise<void> {
    const { state } = this
    const ctx = this.#ctx
    const run = this.#run
    try {
      const { have, source } = await run.local(async () => await plan.prepare(this.manifest, state))
      run.progress()
      state.setManifest(this.#rootBytes, this.manifest.root.index, this.manifest.digests, this.manifest.treeBlockDigests, have)
      state.source = source
      // A fetching node seeds what it has: announce now, so later peers can draw from us too.
      void ctx.discovery.provide(this.#init.keys.discoveryCid, run.signal).catch(() => {})

      const scheduler = new ChunkScheduler({
        share: state,
        sessions: () => ctx.swarm.sessions(state),
        download: ctx.swarm.download,
        log: ctx.log,
        window: this.#init.window,
        signal: run.signal,
        deliver: async (i, sealed) => await plan.deliver(i, sealed, state),
        onChunk: () => {
          run.progress()
          plan.onChunk?.(state, ctx.swarm.sessions(state).length)
        }
      })
      const poke = ctx.swarm.onSession(state, () => { scheduler.poke() })
      try {
        await scheduler.run()
      } finally {
        poke()
      }
    } catch (err) {
      throw run.failure(err)
    }
  }

  /** The seeders this fetch joined so far, each with how it was found. */
  seeders (): GetResult['seeders'] {
    return [...this.#run.seeders].map(([peer, via]) => ({ peer, via }))
  }

  /** Step 3: stops finding peers; see the class comment for `keep`. Idempotent. */
  async close (opts: { keep: boolean }): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#run.end(opts.keep)
  }
}

/**
 * What a fetch runs while it is open: the share in the swarm, peer discovery, and the watchdog
 * that fails it with NoSeedersError (nobody found) or StalledError (nobody makes progress).
 */
class FetchRun {
  readonly state: ShareState
  readonly signal: AbortSignal
  /** Peer ID → how discovery found it, for every seeder whose swarm we joined. */
  readonly seeders = new Map<string, DiscoverySource>()
  readonly #ctx: NodeContext
  readonly #existing: ShareState | undefined
  readonly #controller = new AbortController()
  readonly #outer: Scope
  readonly #watchdog: ReturnType<typeof setInterval>
  readonly #unsubscribe: () => void
  readonly #discoveryDone = new AbortController()
  readonly #discoveryScope: Scope
  readonly #discovery: Promise<void>
  #lastProgress = Date.now()
  #everConnected = false
  /** Local work (re-checking what is on disk) is not a stall: the watchdog waits for it. */
  #local = false

  constructor (ctx: NodeContext, init: FetchInit, onPeers?: (peers: number) => void) {
    this.#ctx = ctx
    const state = new ShareState({ keys: init.keys, rootCid: init.rootCid, backend: ctx.backend, blocks: ctx.blocks })
    this.state = state
    this.#existing = ctx.swarm.getShare(init.keys.discovery)
    if (this.#existing !== undefined) ctx.swarm.removeShare(this.#existing)
    ctx.swarm.addShare(state)

    const timeoutMs = init.timeoutMs ?? DEFAULT_GET_TIMEOUT_MS
    this.#outer = scope(undefined, init.signal, this.#controller.signal)
    this.signal = this.#outer.signal
    this.#watchdog = setInterval(() => {
      if (!this.#local && Date.now() - this.#lastProgress > timeoutMs) {
        this.#controller.abort(this.#everConnected ? new StalledError(Math.round(timeoutMs / 1000)) : ctx.swarm.sawNoPath(state) ? new NoPathError() : new NoSeedersError(Math.round(timeoutMs / 1000)))
      }
    }, 250)
    this.#unsubscribe = ctx.swarm.onSession(state, () => {
      this.#everConnected = true
      this.progress()
      onPeers?.(ctx.swarm.sessions(state).length)
    })
    this.#discoveryScope = scope(undefined, this.signal, this.#discoveryDone.signal)
    this.#discovery = discoverPeers(ctx, state, init.hints, this.#discoveryScope.signal, (peer, via) => {
      if (!this.seeders.has(peer.toString())) this.seeders.set(peer.toString(), via)
    })
  }

  progress (): void { this.#lastProgress = Date.now() }

  fetchContext (): ManifestFetchContext {
    const ctx = this.#ctx
    return { backend: ctx.backend, blocks: ctx.blocks, sessions: () => ctx.swarm.sessions(this.state), log: ctx.log, signal: this.signal }
  }

  /** Runs local work that the watchdog must not count as a stall. */
  async local<T> (work: () => Promise<T>): Promise<T> {
    this.#local = true
    try {
      return await work()
    } finally {
      this.#local = false
    }
  }

  /** The error to report: the watchdog's verdict (or the caller's abort reason) when it fired. */
  failure (err: unknown): unknown {
    if (this.signal.aborted && this.signal.reason instanceof KithError) return this.signal.reason
    return err
  }

  async end (keep: boolean): Promise<void> {
    clearInterval(this.#watchdog)
    this.#unsubscribe()
    this.#discoveryDone.abort()
    await this.#discovery.catch(() => {})
    this.#discoveryScope.clear()
    this.#outer.clear()
    if (!keep) {
      this.#ctx.swarm.removeShare(this.state)
      // What this node served before (a blind seed of the same share) goes on being served.
      if (this.#existing !== undefined) this.#ctx.swarm.addShare(this.#existing)
    }
  }
}

function fileAndPos (meta: ManifestMeta, index: number): [ManifestMeta['files'][number], number] {
  const loc = locateChunk(meta, index)
  return [loc.file, loc.position]
}

/**
 * Root from the DHT or from the first admitted peer, whichever verifies first. The DHT lookup is
 * retried on a back-off: a node that has just started may not have reached its bootstrap peers
 * yet, and with a wrong key no peer will ever admit us, so the DHT is the only way to learn that
 * the key is wrong rather than that nobody seeds.
 */
async function raceRoot (ctx: NodeContext, fetchCtx: ManifestFetchContext, cid: CID, signal: AbortSignal): Promise<Uint8Array> {
  const done = new AbortController()
  const guard = scope(undefined, signal, done.signal)
  const both = guard.signal
  const fromDht = async (): Promise<Uint8Array> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ctx.discovery.getRoot(cid, both)
      } catch (err) {
        if (both.aborted || attempt >= DISCOVERY_INTERVALS_MS.length * 4) throw err
        await sleep(Math.max(500, DISCOVERY_INTERVALS_MS[Math.min(attempt + 1, DISCOVERY_INTERVALS_MS.length - 1)] as number), both)
      }
    }
  }
  try {
    return await Promise.any([
      fromDht(),
      fetchFromPeers({ ...fetchCtx, signal: both }, 'root', 0, cid.multihash.digest)
    ])
  } catch (err) {
    signal.throwIfAborted()
    throw err
  } finally {
    done.abort()
    guard.clear()
  }
}

/** The chunk crypto of one share on this platform. */
export function chunkCryptoFor (ctx: NodeContext, keys: ShareKeys): ChunkCrypto {
  return (ctx.chunkCrypto ?? inlineChunkCrypto(ctx.backend))(keys.encryption, keys.noncePrefix)
}

/** Chunks re-verified at once on resume: keeps a worker pool busy while the next chunk is read. */
const REVERIFY_PARALLEL = 4

/** Checks chunks a previous run wrote: re-seal the plaintext on disk and compare digests. */
async function reverify (writer: DownloadTarget, meta: ManifestMeta, chunkSize: number, chunks: ChunkCrypto, digests: Uint8Array, opts: GetOptions): Promise<Bitfield> {
  const have = new Bitfield(digests.length / 32)
  const claimed = writer.claimedChunks().filter(i => i < have.size)
  let checked = 0
  const check = async (i: number): Promise<void> => {
    const loc = locateChunk(meta, i)
    const length = chunkPlaintextLength(loc.file, loc.position, chunkSize)
    const plaintext = await writer.readChunk(loc.fileIndex, loc.position, length)
    if (plaintext !== undefined && await chunks.seal(i, loc.last, plaintext, digests.subarray(i * 32, i * 32 + 32)) !== undefined) {
      have.set(i)
    } else {
      writer.unmarkHave(i)
    }
    if (++checked % 64 === 0 || checked === claimed.length) {
      opts.onProgress?.(new CustomProgressEvent('kith:get:verify', { checked, valid: have.count(), total: claimed.length }))
    }
  }
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < claimed.length) await check(claimed[next++] as number)
  }
  await Promise.all(Array.from({ length: Math.min(REVERIFY_PARALLEL, claimed.length) }, lane))
  return have
}
