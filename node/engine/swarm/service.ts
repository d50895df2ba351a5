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
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { SWARM_PROTOCOL } from '../../../protocol/constants.js'
import { ADMISSION_ANSWER_TIMEOUT_MS, SESSION_EVICT_GRACE_MS, SESSION_IDLE_TIMEOUT_MS } from '../constants.js'
import { SwarmFullError } from '../errors.js'
import { RateLimiter } from '../rate-limit.js'
import { initiateAdmission, respondAdmission } from './handshake.js'
import { PeerMisbehaviourError, Session } from './session.js'
import type { ShareState } from '../share/share-state.js'

export const MAX_SESSIONS_PER_SHARE = 50
export const MAX_SESSIONS_PER_PEER = 2
export const MAX_INBOUND_STREAMS = 256

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
}

export interface SwarmComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

const hex = (b: Uint8Array): string => Array.from(b, x => x.toString(16).padStart(2, '0')).join('')

export class Swarm implements Startable {
  readonly upload: RateLimiter
  readonly download: RateLimiter
  readonly #components: SwarmComponents
  readonly #log: Logger
  readonly #shares = new Map<string, ShareState>()
  readonly #sessions = new Map<string, Set<Session>>()
  readonly #listeners = new Map<string, Set<(s: Session) => void>>()
  readonly #idleTimeoutMs: number
  readonly #evictGraceMs: number
  readonly #answerTimeoutMs: number
  #started = false

  constructor (components: SwarmComponents, init: SwarmInit = {}) {
    this.#components = components
    this.#log = components.logger.forComponent('kith:swarm')
    this.upload = new RateLimiter(init.uploadRate ?? 0)
    this.download = new RateLimiter(init.downloadRate ?? 0)
    this.#idleTimeoutMs = init.sessionIdleTimeoutMs ?? SESSION_IDLE_TIMEOUT_MS
    this.#evictGraceMs = init.sessionEvictGraceMs ?? SESSION_EVICT_GRACE_MS
    this.#answerTimeoutMs = init.admissionAnswerTimeoutMs ?? ADMISSION_ANSWER_TIMEOUT_MS
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

  hasSession (share: ShareState, peer: PeerId): boolean {
    return this.sessions(share).some(s => s.remotePeer.equals(peer))
  }

  /** Opens a session with `peer` for `share` (dialling if needed) and runs admission. */
  async connect (peer: PeerId | Multiaddr | Multiaddr[], share: ShareState, signal?: AbortSignal): Promise<Session> {
    const connection = await this.#components.connectionManager.openConnection(peer, { signal })
    const remote = connection.remotePeer
    if (remote.equals(this.#components.peerId)) throw new Error('refusing to open a swarm session with ourselves')
    if (share.banned.has(remote.toString())) throw new Error('peer was dropped from this swarm for misbehaviour')
    const existing = this.sessions(share).find(s => s.remotePeer.equals(remote))
    if (existing !== undefined) return existing
    const stream = await connection.newStream(SWARM_PROTOCOL, { signal })
    try {
      const lp = await initiateAdmission(stream, share, this.#components.peerId, remote, signal, this.#answerTimeoutMs)
      return this.#addSession(stream, lp, remote, share)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #onInbound (stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    const { share, lp } = await respondAdmission(stream, id => {
      const s = this.getShare(id)
      return s !== undefined && !s.banned.has(remote.toString()) ? s : undefined
    }, this.#components.peerId, remote)
    this.#addSession(stream, lp, remote, share)
  }

  #addSession (stream: Stream, lp: LengthPrefixedStream<Stream>, remote: PeerId, share: ShareState): Session {
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
      onClose: (s, err) => {
        set?.delete(s)
        if (err instanceof PeerMisbehaviourError) {
          // Garbage, oversized frames, floods, unsolicited or mismatched pieces: out of this swarm.
          share.banned.add(s.remotePeer.toString())
        }
        if (err !== undefined) this.#log('session with %p closed: %s', s.remotePeer, err.name)
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

/** The libp2p service factory: `services: { swarm: swarm(init) }`. */
export function swarm (init: SwarmInit = {}): (components: SwarmComponents) => Swarm {
  return (components) => new Swarm(components, init)
}
