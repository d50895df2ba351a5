/**
 * The swarm service: Kith's `/kith/swarm/1.0.0` protocol as a libp2p service.
 *
 *   services: { swarm: swarm({ uploadRate, downloadRate }) }
 *
 * `start()` registers the stream handler, `stop()` removes it and closes every session. Shares are
 * added with `addShare` (to seed or to download) and removed with `removeShare`. Sessions are
 * opened with `connect` (initiator) or accepted by the handler (responder); both run admission
 * first (handshake.ts). At most MAX_SESSIONS_PER_SHARE sessions per share and 2 per peer and share
 * (two peers dialling each other at once may both succeed; more is refused). Slots go to peers
 * that deliver (docs/THREAT-MODEL.md §2.8): a session with no piece either way for
 * SESSION_IDLE_TIMEOUT_MS is closed, and when a share's table is full a newcomer takes the slot of
 * the least useful session past SESSION_EVICT_GRACE_MS (one that never delivered and offers
 * nothing goes first); only when every session is young or useful is the newcomer refused
 * (SwarmFullError). Peers dropped for
 * misbehaviour are refused for the life of the process (in memory only: nothing about peers is
 * written to disk).
 */
import { isPeerId, type Connection, type Logger, type PeerId, type Startable, type Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { SWARM_PROTOCOL } from '../../../protocol/constants.js'
import { ADMISSION_ANSWER_TIMEOUT_MS, SESSION_EVICT_GRACE_MS, SESSION_IDLE_TIMEOUT_MS } from '../constants.js'
import { NoPathError, SwarmFullError } from '../errors.js'
import { RateLimiter } from '../rate-limit.js'
import { initiateAdmission, respondAdmission } from './handshake.js'
import { PeerMisbehaviourError, Session } from './session.js'
import { isCircuit, pathOf, webrtcVia, type SessionPathUse } from './path.js'
import type { ShareState } from '../share/share-state.js'
import type { Libp2pComponents } from '../components.js'

export const MAX_SESSIONS_PER_SHARE = 50
export const MAX_SESSIONS_PER_PEER = 2
export const MAX_INBOUND_STREAMS = 256
/** How long a session waits for a direct (WebRTC, hole-punched) connection before it takes the relayed one or gives up. */
export const DIRECT_UPGRADE_TIMEOUT_MS = 10_000
/** After a failed hole punch with a peer, how long before the next attempt (in the meantime its relayed connection is used, if unlimited). */
export const DIRECT_RETRY_MS = 5 * 60_000
/** How long libp2p's own dial of a peer (every address it knows) may take in `connect`. */
export const FIRST_DIAL_TIMEOUT_MS = 8_000
/** How long a dial through one relay may take when libp2p's own dial gave up (see `connect`). */
const CIRCUIT_DIAL_TIMEOUT_MS = 4_000
/** Shares whose delivered paths are remembered (most recent first), and peers per share. */
const MAX_PATH_RECORDS = 32
const MAX_PATHS_PER_SHARE = 64

export interface SwarmInit {
  /** Upload cap for the whole node, bytes/s; 0 = unlimited. */
  uploadRate?: number
  /** Download cap for the whole node, bytes/s; 0 = unlimited. */
  downloadRate?: number
  /** Sessions with no piece either way for this long are closed; 0 = never (SESSION_IDLE_TIMEOUT_MS). */
  sessionIdleTimeoutMs?: number
  /** A session younger, or more recently useful, than this is never evicted for a newcomer (SESSION_EVICT_GRACE_MS). */
  sessionEvictGraceMs?: number
  /** How long an outbound admission waits for the peer's first answer (ADMISSION_ANSWER_TIMEOUT_MS). */
  admissionAnswerTimeoutMs?: number
  /** How long to wait for a hole-punched connection through a relay (DIRECT_UPGRADE_TIMEOUT_MS). */
  directUpgradeTimeoutMs?: number
  /** How long libp2p's own first dial of a peer may take in `connect` (FIRST_DIAL_TIMEOUT_MS). */
  firstDialTimeoutMs?: number
}

/** The libp2p components the swarm uses; `peerStore` (a peer's relay addresses, `connect`) is absent in unit tests that need none. */
export type SwarmComponents = Pick<Libp2pComponents, 'peerId' | 'registrar' | 'connectionManager' | 'logger'> & Partial<Pick<Libp2pComponents, 'peerStore'>>

const hex = (b: Uint8Array): string => Array.from(b, x => x.toString(16).padStart(2, '0')).join('')

export class Swarm implements Startable {
  readonly upload: RateLimiter
  readonly download: RateLimiter
  readonly #components: SwarmComponents
  readonly #log: Logger
  readonly #shares = new Map<string, ShareState>()
  readonly #sessions = new Map<string, Set<Session>>()
  readonly #listeners = new Map<string, Set<(s: Session) => void>>()
  readonly #endListeners = new Map<string, Set<(s: Session) => void>>()
  readonly #idleTimeoutMs: number
  readonly #evictGraceMs: number
  readonly #answerTimeoutMs: number
  readonly #directTimeoutMs: number
  readonly #firstDialTimeoutMs: number
  /** Peers with whom a hole punch failed lately (peer ID → when); bounded, in memory. */
  readonly #noDirect = new Map<string, number>()
  /** Shares for which a seeder was found reachable only through a limited relay. */
  readonly #noPath = new Set<string>()
  /**
   * Peers found reachable only through a limited relay, with a failed hole punch (peer ID → when,
   * and every address known for it then); bounded, in memory. Not dialled again within
   * DIRECT_RETRY_MS unless a new address turns up: each attempt is a new circuit through a public
   * relay (identify, WebRTC signalling), and a get that keeps looking would otherwise spend more
   * than one circuit's 128 KiB of a stranger's relay on a path already known not to work.
   */
  readonly #limitedOnly = new Map<string, { at: number, addrs: Set<string> }>()
  /** Peers `connect` is dialling now (peer ID → how many calls). */
  readonly #dialling = new Map<string, number>()
  /** Per share, the paths pieces came over (peer+label → bytes), kept after the sessions end. */
  readonly #paths = new Map<string, Map<string, SessionPathUse>>()
  #started = false

  constructor (components: SwarmComponents, init: SwarmInit = {}) {
    this.#components = components
    this.#log = components.logger.forComponent('kith:swarm')
    this.upload = new RateLimiter(init.uploadRate ?? 0)
    this.download = new RateLimiter(init.downloadRate ?? 0)
    this.#idleTimeoutMs = init.sessionIdleTimeoutMs ?? SESSION_IDLE_TIMEOUT_MS
    this.#evictGraceMs = init.sessionEvictGraceMs ?? SESSION_EVICT_GRACE_MS
    this.#answerTimeoutMs = init.admissionAnswerTimeoutMs ?? ADMISSION_ANSWER_TIMEOUT_MS
    this.#directTimeoutMs = init.directUpgradeTimeoutMs ?? DIRECT_UPGRADE_TIMEOUT_MS
    this.#firstDialTimeoutMs = init.firstDialTimeoutMs ?? FIRST_DIAL_TIMEOUT_MS
  }

  readonly [Symbol.toStringTag] = 'kith:swarm'

  async start (): Promise<void> {
    await this.#components.registrar.handle(SWARM_PROTOCOL, (stream, connection) => {
      this.#onInbound(stream, connection).catch(err => {
        this.#log('inbound session refused: %s', (err as Error).name)
        stream.abort(err as Error)
      })
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_INBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    this.#started = false
    await this.#components.registrar.unhandle(SWARM_PROTOCOL)
    for (const set of this.#sessions.values()) for (const s of set) s.close()
    this.#sessions.clear()
  }

  isStarted (): boolean { return this.#started }

  addShare (share: ShareState): void {
    this.#shares.set(hex(share.swarmId), share)
  }

  removeShare (share: ShareState): void {
    const key = hex(share.swarmId)
    this.#shares.delete(key)
    for (const s of this.#sessions.get(key) ?? []) s.close()
    this.#sessions.delete(key)
    this.#listeners.delete(key)
    this.#noPath.delete(key)
  }

  /**
   * True once a seeder of `share` was reachable only through a limited relay and no direct
   * connection came up (the fetch then fails with NoPathError rather than "no seeders").
   */
  sawNoPath (share: ShareState): boolean {
    return this.#noPath.has(hex(share.swarmId))
  }

  /**
   * The paths this share's pieces went over, one entry per peer and path, with the bytes each
   * way (live sessions and ended ones; the last MAX_PATH_RECORDS shares are remembered).
   */
  paths (share: ShareState): Array<SessionPathUse> {
    const key = hex(share.swarmId)
    const out = new Map([...(this.#paths.get(key) ?? new Map<string, SessionPathUse>())].map(([k, v]) => [k, { ...v }]))
    for (const s of this.sessions(share)) {
      const k = `${s.path.peer} ${s.path.label}`
      const e = out.get(k) ?? { ...s.path, received: 0, sent: 0 }
      e.received += s.received
      e.sent += s.sent
      out.set(k, e)
    }
    return [...out.values()].filter(e => e.received + e.sent > 0)
  }

  #recordPath (s: Session): void {
    if (s.received + s.sent === 0) return
    const key = hex(s.share.swarmId)
    let m = this.#paths.get(key)
    this.#paths.delete(key)
    if (m === undefined) m = new Map()
    if (this.#paths.size >= MAX_PATH_RECORDS) this.#paths.delete(this.#paths.keys().next().value as string)
    this.#paths.set(key, m)
    const k = `${s.path.peer} ${s.path.label}`
    const e = m.get(k) ?? { ...s.path, received: 0, sent: 0 }
    e.received += s.received
    e.sent += s.sent
    if (m.has(k) || m.size < MAX_PATHS_PER_SHARE) m.set(k, e)
  }

  getShare (swarmId: Uint8Array): ShareState | undefined {
    return this.#shares.get(hex(swarmId))
  }

  /** Live sessions for a share. */
  sessions (share: ShareState): Session[] {
    return [...(this.#sessions.get(hex(share.swarmId)) ?? [])].filter(s => !s.closed)
  }

  /** All live sessions, across shares. */
  allSessions (): Session[] {
    return [...this.#sessions.values()].flatMap(set => [...set]).filter(s => !s.closed)
  }

  /** Calls `fn` for every new session of `share`; returns an unsubscribe function. */
  onSession (share: ShareState, fn: (s: Session) => void): () => void {
    const key = hex(share.swarmId)
    let set = this.#listeners.get(key)
    if (set === undefined) { set = new Set(); this.#listeners.set(key, set) }
    set.add(fn)
    return () => { set?.delete(fn) }
  }

  /** Calls `fn` for every session of `share` that ends (discovery wakes on it); returns an unsubscribe function. */
  onSessionEnd (share: ShareState, fn: (s: Session) => void): () => void {
    const key = hex(share.swarmId)
    let set = this.#endListeners.get(key)
    if (set === undefined) { set = new Set(); this.#endListeners.set(key, set) }
    set.add(fn)
    return () => {
      set?.delete(fn)
      if (set?.size === 0 && this.#endListeners.get(key) === set) this.#endListeners.delete(key)
    }
  }

  hasSession (share: ShareState, peer: PeerId): boolean {
    return this.sessions(share).some(s => s.remotePeer.equals(peer))
  }

  /**
   * Opens a session with `peer` for `share` (dialling if needed) and runs admission.
   *
   * Data never flows over a limited connection (a public relay's circuit, cut after 128 KiB or
   * 2 minutes): libp2p refuses new streams on one unless asked (`runOnLimitedConnection`), and the
   * swarm never asks. When the connection is relayed, a direct one is tried first: WebRTC
   * signalled over that relay (ICE hole punching, node/libp2p/webrtc.ts), bounded by
   * DIRECT_UPGRADE_TIMEOUT_MS. If it comes up, the session runs there; if not, an unlimited
   * relay (a friend's Kith node) carries the session, and a limited one fails it with NoPathError.
   * (Starting on a friend's relay at once and upgrading alongside was tried: with cone NATs 6.3 of
   * 8 MiB then went through the friend's relay before the hole punch finished,
   * test/internet/direct.test.ts; so the short wait for WebRTC stays.) When the peer is known by
   * circuit addresses only, a plain circuit is dialled first: libp2p's own dial would try the
   * /webrtc addresses first, and a hole punch that cannot get through port-randomising NATs held
   * that dial for its whole deadline (FIRST_DIAL_TIMEOUT_MS) before the WebRTC attempt above ran
   * again. libp2p hands out a peer's direct connection before a relayed one, so once a direct
   * connection exists every new session uses it. A peer that gave NoPathError is not dialled again
   * for DIRECT_RETRY_MS unless it has a new address (or an unlimited connection is open): each
   * attempt costs a new circuit through a stranger's relay (`#limitedOnly`).
   */
  async connect (peer: PeerId | Multiaddr | Multiaddr[], share: ShareState, signal?: AbortSignal): Promise<Session> {
    const t0 = Date.now()
    const target = targetPeer(peer)
    if (target !== undefined && await this.#stillLimitedOnly(target, peer)) {
      this.#log('not dialling %p again: reachable only through a public relay, no new address since', target)
      this.#noPath.add(hex(share.swarmId))
      throw new NoPathError()
    }
    const id = target?.toString()
    if (id !== undefined) this.#dialling.set(id, (this.#dialling.get(id) ?? 0) + 1)
    try {
      return await this.#connect(peer, share, t0, signal)
    } finally {
      if (id !== undefined) {
        const n = (this.#dialling.get(id) ?? 1) - 1
        if (n > 0) this.#dialling.set(id, n)
        else this.#dialling.delete(id)
      }
    }
  }

  async #connect (peer: PeerId | Multiaddr | Multiaddr[], share: ShareState, t0: number, signal?: AbortSignal): Promise<Session> {
    let connection: Connection
    let deadline: AbortSignal | undefined
    try {
      // A peer known by circuit addresses and not connected yet: a circuit first (see above).
      const circuit = isPeerId(peer) && await this.#onlyRelayed(peer) && this.#components.connectionManager.getConnections(peer).length === 0 ? await this.#dialCircuit(peer, signal) : undefined
      // Bounded: libp2p tries /webrtc addresses (a hole punch each) before plain circuits, and
      // the dial may spend the caller's whole deadline there; what is left goes to one circuit.
      deadline = AbortSignal.timeout(this.#firstDialTimeoutMs)
      connection = circuit ?? await this.#components.connectionManager.openConnection(peer, { signal: signal !== undefined ? AbortSignal.any([signal, deadline]) : deadline })
    } catch (err) {
      // libp2p's dial tried the peer's addresses and none gave a usable connection, but one may
      // have left a limited one (the circuit a WebRTC attempt signalled over): then the only path
      // is that public relay, and the hole punch (part of the dial) failed.
      // Or the dial ran out of time on WebRTC attempts (libp2p tries the /webrtc addresses before
      // the plain circuits) before it reached a circuit: then one circuit is dialled here.
      const id = signal?.aborted === true ? undefined : targetPeer(peer)
      const relayed = id === undefined ? undefined : this.#limitedConnection(id) ?? await this.#dialCircuit(id, signal)
      if (relayed === undefined) throw err
      // A hole punch that failed is not tried again for a while; one that our own deadline cut
      // short (a loaded machine, a slow relay) has not failed: `#preferDirect` tries it once more
      // with its own, longer bound, instead of a "no direct path" for the next DIRECT_RETRY_MS.
      if (deadline?.aborted !== true) this.#noDirect.set(relayed.remotePeer.toString(), Date.now())
      connection = relayed
    }
    const remote = connection.remotePeer
    if (remote.equals(this.#components.peerId)) throw new Error('refusing to open a swarm session with ourselves')
    if (share.banned.has(remote.toString())) throw new Error('peer was dropped from this swarm for misbehaviour')
    const existing = this.sessions(share).find(s => s.remotePeer.equals(remote))
    if (existing !== undefined) return existing
    if (connection.limits != null || (connection.remoteAddr !== undefined && isCircuit(connection.remoteAddr))) connection = await this.#preferDirect(connection, share, peer, signal)
    this.#limitedOnly.delete(remote.toString())
    this.#log('connected to %p (%s) in %d ms', remote, pathOf(connection).label, Date.now() - t0)
    return await this.#openSession(connection, share, signal)
  }

  async #openSession (connection: Connection, share: ShareState, signal?: AbortSignal): Promise<Session> {
    const stream = await connection.newStream(SWARM_PROTOCOL, { signal })
    try {
      const lp = await initiateAdmission(stream, share, this.#components.peerId, connection.remotePeer, signal, this.#answerTimeoutMs)
      return this.#addSession(stream, lp, connection.remotePeer, share, connection)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /** An open limited connection to `peer`, if there is one. */
  #limitedConnection (peer: PeerId): Connection | undefined {
    return this.#components.connectionManager.getConnections(peer).find(c => c.limits != null && c.status === 'open')
  }

  /** True when every address the peer store has for `peer` is a circuit (a peer behind NAT), and it has one. */
  async #onlyRelayed (peer: PeerId): Promise<boolean> {
    const known = await this.#components.peerStore?.get(peer).catch(() => undefined)
    const addrs = (known?.addresses ?? []).map(a => a.multiaddr)
    return addrs.length > 0 && addrs.every(ma => ma.getComponents().some(c => c.name === 'p2p-circuit'))
  }

  /** Every address known for `peer` (the peer store's and the dial target's), without its own /p2p/ suffix. */
  async #addressesOf (peer: PeerId, target: PeerId | Multiaddr | Multiaddr[]): Promise<Set<string>> {
    const known = await this.#components.peerStore?.get(peer).catch(() => undefined)
    const all = [...(known?.addresses ?? []).map(a => a.multiaddr), ...(isPeerId(target) ? [] : [target].flat())]
    return new Set(all.map(ma => bare(ma, peer)))
  }

  async #rememberLimitedOnly (peer: PeerId, target: PeerId | Multiaddr | Multiaddr[]): Promise<void> {
    const id = peer.toString()
    this.#limitedOnly.delete(id)
    if (this.#limitedOnly.size >= 1_024) this.#limitedOnly.delete(this.#limitedOnly.keys().next().value as string)
    this.#limitedOnly.set(id, { at: Date.now(), addrs: await this.#addressesOf(peer, target) })
  }

  /**
   * Closes a limited (public relay) connection once the swarm is done with it (a direct
   * connection came of it, or the hole punch failed), unless one of Kith's
   * own protocols (a circle sync: small, allowed on limited connections) has a stream on it. Left
   * open, libp2p's housekeeping on it (a ping each way every 10 s, identify pushes) costs the
   * stranger's relay ~2 KB/s, more than its 128 KiB per circuit within a minute.
   */
  async #hangUpLimited (connection: Connection): Promise<void> {
    if (connection.limits == null || connection.streams.some(s => s.protocol?.startsWith('/kith/') === true)) return
    this.#log('closing the limited relay connection to %p: it carries no file data', connection.remotePeer)
    await connection.close().catch(() => { connection.abort(new Error('closed: no use for a limited relay')) })
  }

  /**
   * True when a hole punch to the peer with ID text `peer` should not be tried now: it was
   * reachable only through a limited relay with a failed hole punch within DIRECT_RETRY_MS, and
   * `connect` is not dialling it (which tries again when a new address turned up). The node's
   * connection gater asks this for every WebRTC-over-circuit address: other services (the DHT's
   * routing-table pings and queries) dial peers by ID, and libp2p tries those addresses first,
   * each a new circuit through a stranger's relay plus WebRTC signalling over it.
   */
  holdsOffHolePunch (peer: string): boolean {
    const seen = this.#limitedOnly.get(peer)
    return seen !== undefined && Date.now() - seen.at <= DIRECT_RETRY_MS && !this.#dialling.has(peer)
  }

  /** True when `peer` was reachable only through a limited relay lately, no unlimited connection to it is open, and no address has turned up since. */
  async #stillLimitedOnly (peer: PeerId, target: PeerId | Multiaddr | Multiaddr[]): Promise<boolean> {
    const seen = this.#limitedOnly.get(peer.toString())
    if (seen === undefined) return false
    if (Date.now() - seen.at > DIRECT_RETRY_MS) { this.#limitedOnly.delete(peer.toString()); return false }
    if (this.#components.connectionManager.getConnections(peer).some(c => c.limits == null && c.status === 'open')) return false
    return [...await this.#addressesOf(peer, target)].every(a => seen.addrs.has(a))
  }

  /** A connection through one of `peer`'s known relay addresses (at most two tried, CIRCUIT_DIAL_TIMEOUT_MS each). */
  async #dialCircuit (peer: PeerId, signal?: AbortSignal): Promise<Connection | undefined> {
    const known = await this.#components.peerStore?.get(peer).catch(() => undefined)
    const circuits = (known?.addresses ?? []).map(a => a.multiaddr).filter(ma => {
      const names = ma.getComponents().map(c => c.name)
      return names.includes('p2p-circuit') && !names.includes('webrtc')
    })
    // Relays that gave only a limited circuit last time go last: a new one (a friend's) first.
    const seen = this.#limitedOnly.get(peer.toString())?.addrs
    if (seen !== undefined) circuits.sort((x, y) => Number(seen.has(bare(x, peer))) - Number(seen.has(bare(y, peer))))
    circuits.splice(2)
    for (const ma of circuits) {
      const full = ma.getComponents().at(-1)?.name === 'p2p' ? ma : ma.encapsulate(`/p2p/${peer.toString()}`)
      try {
        const deadline = AbortSignal.timeout(CIRCUIT_DIAL_TIMEOUT_MS)
        return await this.#components.connectionManager.openConnection(full, { signal: signal !== undefined ? AbortSignal.any([signal, deadline]) : deadline })
      } catch (err) {
        if (signal?.aborted === true) return undefined
        this.#log('relayed dial to %p failed: %s', peer, (err as Error).name)
      }
    }
    return undefined
  }

  /**
   * A direct connection instead of relayed `connection`, or `connection` if unlimited; see
   * `connect`. A limited one with no direct connection to show for it: the peer is remembered as
   * reachable only through a public relay (`target`'s addresses), the circuit hung up, NoPathError.
   */
  async #preferDirect (connection: Connection, share: ShareState, target: PeerId | Multiaddr | Multiaddr[], signal?: AbortSignal): Promise<Connection> {
    const remote = connection.remotePeer
    const id = remote.toString()
    const failedAt = this.#noDirect.get(id)
    const via = webrtcVia(connection.remoteAddr, id)
    if (via !== undefined && (failedAt === undefined || Date.now() - failedAt > DIRECT_RETRY_MS)) {
      const t0 = Date.now()
      const deadline = AbortSignal.timeout(this.#directTimeoutMs)
      try {
        const direct = await this.#components.connectionManager.openConnection(multiaddr(via), { signal: signal !== undefined ? AbortSignal.any([signal, deadline]) : deadline })
        if (direct.limits == null && !pathOf(direct).label.startsWith('via')) {
          this.#log('direct connection to %p (%s) in %d ms', remote, pathOf(direct).label, Date.now() - t0)
          this.#noDirect.delete(id)
          // The circuit it was signalled over is done with: it carries no file data.
          this.#hangUpLimited(connection).catch(() => {})
          return direct
        }
      } catch (err) {
        signal?.throwIfAborted()
        this.#log('no direct connection to %p through the relay after %d ms: %s', remote, Date.now() - t0, (err as Error).name)
      }
      this.#noDirect.delete(id)
      if (this.#noDirect.size >= 1_024) this.#noDirect.delete(this.#noDirect.keys().next().value as string)
      this.#noDirect.set(id, Date.now())
    }
    if (connection.limits != null) {
      this.#noPath.add(hex(share.swarmId))
      await this.#rememberLimitedOnly(remote, target)
      await this.#hangUpLimited(connection)
      throw new NoPathError()
    }
    return connection
  }

  async #onInbound (stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    const { share, lp } = await respondAdmission(stream, id => {
      const s = this.getShare(id)
      return s !== undefined && !s.banned.has(remote.toString()) ? s : undefined
    }, this.#components.peerId, remote)
    this.#addSession(stream, lp, remote, share, connection)
  }

  #addSession (stream: Stream, lp: LengthPrefixedStream<Stream>, remote: PeerId, share: ShareState, connection: Connection): Session {
    const key = hex(share.swarmId)
    let set = this.#sessions.get(key)
    if (set === undefined) { set = new Set(); this.#sessions.set(key, set) }
    const live = [...set].filter(s => !s.closed)
    if (live.filter(s => s.remotePeer.equals(remote)).length >= MAX_SESSIONS_PER_PEER) throw new SwarmFullError()
    if (live.length >= MAX_SESSIONS_PER_SHARE) {
      const victim = this.#leastUseful(live, share)
      if (victim === undefined) throw new SwarmFullError()
      this.#log('swarm full: closing the session with %p (nothing delivered lately) for a newcomer', victim.remotePeer)
      victim.close()
    }
    // Long transfers can pause (rate caps, a seeder waiting for peers): the session, not the
    // stream's idle timer, decides when it is dead.
    stream.inactivityTimeout = 0
    const session = new Session({
      stream,
      lp,
      remotePeer: remote,
      share,
      upload: this.upload,
      download: this.download,
      log: this.#log,
      idleTimeoutMs: this.#idleTimeoutMs,
      path: pathOf(connection),
      onClose: (s, err) => {
        set?.delete(s)
        this.#recordPath(s)
        if (err instanceof PeerMisbehaviourError) {
          // Garbage, oversized frames, floods, unsolicited or mismatched pieces: out of this swarm.
          share.banned.add(s.remotePeer.toString())
        }
        // A misbehaviour's message says which rule the peer broke (fixed texts, no peer data).
        this.#log('session with %p ended: %d bytes sent, %d received, %d ms', s.remotePeer, s.sent, s.received, Date.now() - s.openedAt)
        if (err !== undefined) this.#log('session with %p closed: %s', s.remotePeer, err instanceof PeerMisbehaviourError ? `${err.name}: ${err.message}` : err.name)
        for (const fn of this.#endListeners.get(key) ?? []) fn(s)
      }
    })
    set.add(session)
    session.start()
    for (const fn of this.#listeners.get(key) ?? []) fn(session)
    return session
  }

  /**
   * The session to give up for a newcomer, or undefined when every one is within the grace
   * period (young, or a piece went either way lately) or is waiting on our own upload cap. Least
   * useful first: never delivered a piece and offers nothing we lack (no chunk announced, or we
   * hold the whole share), then never delivered, then the one quiet the longest.
   */
  #leastUseful (live: Session[], share: ShareState): Session | undefined {
    const now = Date.now()
    const complete = share.have?.isComplete() === true
    const rank = (s: Session): number => s.received + s.sent > 0 ? 2 : (s.advertises && !complete ? 1 : 0)
    let victim: Session | undefined
    for (const s of live) {
      if (now - s.openedAt < this.#evictGraceMs || now - s.lastUseful < this.#evictGraceMs || s.uploading) continue
      if (victim === undefined || rank(s) < rank(victim) || (rank(s) === rank(victim) && s.lastUseful < victim.lastUseful)) victim = s
    }
    return victim
  }
}

/** The peer a dial target names (a peer ID, or the last /p2p/ of its first multiaddr). */
function targetPeer (peer: PeerId | Multiaddr | Multiaddr[]): PeerId | undefined {
  if (isPeerId(peer)) return peer
  try {
    const text = [peer].flat()[0]?.getComponents().filter(c => c.name === 'p2p').at(-1)?.value
    return text !== undefined ? peerIdFromString(text) : undefined
  } catch {
    return undefined
  }
}

/** `ma` as text, without `peer`'s own trailing /p2p/ (the peer store keeps it either way). */
function bare (ma: Multiaddr, peer: PeerId): string {
  const text = ma.toString()
  const suffix = `/p2p/${peer.toString()}`
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text
}

/** The libp2p service factory: `services: { swarm: swarm(init) }`. */
export function swarm (init: SwarmInit = {}): (components: SwarmComponents) => Swarm {
  return (components) => new Swarm(components, init)
}
