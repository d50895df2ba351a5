/**
 * Swarm services wired together on in-memory stream pairs (no network, no libp2p node): each
 * `MemNet` peer is a real `Swarm` with stubbed components; `connect` to a peer ID opens a stream
 * pair and hands the far end to that peer's swarm handler, or to a silent fake that accepts the
 * stream and never answers.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { Bitfield } from '../../../protocol/bitfield.js'
import { nobleBackend } from '../../../protocol/crypto.js'
import { deriveShareKeys, generateRootKey, type ShareKeys } from '../../../protocol/keys.js'
import { digestEquals } from '../../../protocol/cid.js'
import type { NodeContext } from '../../../node/engine/get.js'
import { initiateAdmission } from '../../../node/engine/swarm/handshake.js'
import { RateLimiter } from '../../../node/engine/rate-limit.js'
import { ChunkScheduler } from '../../../node/engine/swarm/scheduler.js'
import type { Session } from '../../../node/engine/swarm/session.js'
import { Swarm, type SwarmInit } from '../../../node/engine/swarm/service.js'
import { ShareState, type BlockStore } from '../../../node/engine/share/share-state.js'
import type { CID } from 'multiformats/cid'
import { encodeShare, pseudoRandomBytes } from '../../protocol/helpers/fixtures.js'

export const log = defaultLogger().forComponent('test:mem-swarm')

export class MemBlocks implements BlockStore {
  readonly map = new Map<string, Uint8Array>()
  async get (cid: { toString: () => string }): Promise<Uint8Array> { const b = this.map.get(cid.toString()); if (b === undefined) throw new Error('not found'); return b }
  async put (cid: { toString: () => string }, bytes: Uint8Array): Promise<void> { this.map.set(cid.toString(), bytes) }
  async has (cid: { toString: () => string }): Promise<boolean> { return this.map.has(cid.toString()) }
}

export async function newPeer (): Promise<PeerId> { return peerIdFromPrivateKey(await generateKeyPair('Ed25519')) }

export interface ShareFixture { keys: ShareKeys, rootCid: CID, seeder: ShareState, chunks: Uint8Array[], leecher: () => ShareState }

/**
 * A share held in full by `seeder`; `leecher()` makes a fresh state that knows the manifest.
 * `corrupt`, when given, rewrites each chunk the seeder reads to serve it (a seeder gone bad).
 */
export async function shareFixture (size = 6 * 65536 + 100, corrupt?: (i: number, b: Uint8Array) => Uint8Array): Promise<ShareFixture> {
  const root = generateRootKey()
  const keys = deriveShareKeys(root)
  const share = await encodeShare([['f.bin', pseudoRandomBytes(size)]], { root: root.bytes })
  const mk = (): ShareState => new ShareState({ keys, rootCid: share.root.cid, backend: nobleBackend, blocks: new MemBlocks() })
  const seeder = mk()
  const full = new Bitfield(share.index.chunks)
  for (let i = 0; i < full.size; i++) full.set(i)
  seeder.setManifest(share.root.bytes, share.index, share.digests, [...share.treeBlockDigests], full)
  const chunks = share.chunks.map(c => c.bytes)
  seeder.source = { read: async (i) => corrupt !== undefined ? corrupt(i, chunks[i]!) : chunks[i] }
  const leecher = (): ShareState => {
    const s = mk()
    s.setManifest(share.root.bytes, share.index, share.digests, [...share.treeBlockDigests])
    return s
  }
  return { keys, rootCid: share.root.cid, seeder, chunks, leecher }
}

/**
 * The context a fetch by `me` (a MemNet swarm) runs with: in-memory blocks, and for discovery a
 * stub DHT that holds no root and lists `providers` (in that order, with no address) at every
 * provider lookup. `lookups()` counts the lookups; `more` adds to the context (e.g. the lookup
 * intervals).
 */
export function fakeDiscoveryContext (me: { swarm: Swarm, peerId: PeerId }, providers: PeerId[] = [], more: Partial<NodeContext> = {}): { ctx: NodeContext, lookups: () => number } {
  let lookups = 0
  const ctx: NodeContext = {
    swarm: me.swarm,
    discovery: {
      getRoot: async () => { throw new Error('not in this DHT') },
      findProviders: async function * (): AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }> {
        lookups++
        for (const id of providers) yield { id, multiaddrs: [] }
      },
      provide: async () => {}
    },
    blocks: new MemBlocks(),
    backend: nobleBackend,
    log,
    localPeer: me.peerId,
    rememberAddresses: async () => {},
    ...more
  }
  return { ctx, lookups: () => lookups }
}

type Handler = (stream: Stream, connection: Connection) => void

/** Drains a stream and never answers: a peer that accepted it and went silent. */
function silent (stream: Stream): void {
  void (async () => { try { for await (const _ of stream) { /* ignore */ } } catch {} })()
}

/**
 * @libp2p/utils' streamPair with fixed remote addresses: its own default numbers each pair's
 * address by a counter used as a TCP port, which stops at 65,535 (a million-frame fuzz run opens
 * more pairs than that: "Value must be smaller than or equal to 65535").
 */
const PAIR_ADDR = multiaddr('/ip4/127.0.0.1/tcp/1')
export async function memStreamPair (): ReturnType<typeof streamPair> {
  return await streamPair({ outboundConnection: { remoteAddr: PAIR_ADDR }, inboundConnection: { remoteAddr: PAIR_ADDR } })
}

export class MemNet {
  readonly #handlers = new Map<string, Handler>()
  readonly #silent = new Set<string>()
  readonly dials = new Map<string, number>()
  readonly swarms: Swarm[] = []

  /** A swarm service for a new peer (or `peerId` again: a restarted node), reachable by its peer ID. */
  async swarm (init: SwarmInit = {}, peer?: PeerId): Promise<{ swarm: Swarm, peerId: PeerId }> {
    const peerId = peer ?? await newPeer()
    const registrar = {
      handle: async (_protocol: string, handler: Handler) => { this.#handlers.set(peerId.toString(), handler) },
      unhandle: async () => { this.#handlers.delete(peerId.toString()) }
    } as unknown as Registrar
    const connectionManager = {
      openConnection: async (target: PeerId) => {
        const key = target.toString()
        this.dials.set(key, (this.dials.get(key) ?? 0) + 1)
        return {
          remotePeer: target,
          newStream: async () => await this.open(peerId, target)
        } as unknown as Connection
      }
    } as unknown as ConnectionManager
    const swarm = new Swarm({ peerId, registrar, connectionManager, logger: defaultLogger() }, init)
    await swarm.start()
    this.swarms.push(swarm)
    return { swarm, peerId }
  }

  /** A fake provider: any stream opened to it is accepted and never answered. */
  async silentPeer (): Promise<PeerId> {
    const peerId = await newPeer()
    this.#silent.add(peerId.toString())
    return peerId
  }

  /** Opens a stream from `from` to `to`: returns our end, gives the far end to `to`. */
  async open (from: PeerId, to: PeerId): Promise<Stream> {
    const [x, y] = await memStreamPair()
    if (this.#silent.has(to.toString())) {
      silent(y)
      return x
    }
    const handler = this.#handlers.get(to.toString())
    if (handler === undefined) throw new Error('peer unreachable')
    handler(y, { remotePeer: from } as unknown as Connection)
    return x
  }

  /**
   * A key holder that is admitted by `to` for `share`, then advertises nothing and asks nothing:
   * it only drains what it is sent. Resolves once admitted.
   */
  async squat (from: PeerId, to: PeerId, share: ShareState): Promise<void> {
    const x = await this.open(from, to)
    const lp = await initiateAdmission(x, share, from, to)
    void (async () => { try { for (;;) await lp.read() } catch {} })()
  }

  /**
   * A new peer (`init`) that adds `share` (a leecher's state), connects to `seeder`, waits for its
   * have-map and downloads every chunk from it (download() below, `timeoutMs`). The caller checks
   * the result (`share.have`).
   */
  async fetchFrom (seeder: PeerId, share: ShareState, init: SwarmInit = {}, timeoutMs = 20_000): Promise<{ swarm: Swarm, peerId: PeerId, session: Session }> {
    const { swarm, peerId } = await this.swarm(init)
    swarm.addShare(share)
    const session = await swarm.connect(seeder, share, AbortSignal.timeout(5_000))
    await until(() => session.remoteHave !== undefined, 5_000, 'the seeder\'s have-map')
    await download(swarm, share, timeoutMs)
    return { swarm, peerId, session }
  }

  async stop (): Promise<void> {
    await Promise.all(this.swarms.map(async s => { await s.stop() }))
  }
}

/**
 * Downloads every chunk of `share` from `swarm`'s sessions for it with a real `ChunkScheduler`
 * (unthrottled, 2 s per request), checking each chunk against its digest; gives up after `timeoutMs`.
 */
export async function download (swarm: Pick<Swarm, 'sessions'>, share: ShareState, timeoutMs = 20_000): Promise<void> {
  await new ChunkScheduler({
    share,
    sessions: () => swarm.sessions(share),
    download: new RateLimiter(0),
    log,
    requestTimeoutMs: 2000,
    signal: AbortSignal.timeout(timeoutMs),
    deliver: async (i, b) => digestEquals(share.backend.sha256(b), share.chunkDigest(i))
  }).run()
}

export async function until (cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not met in time`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
