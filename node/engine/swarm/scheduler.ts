/**
 * Chunk scheduling for one download: which chunk to ask which peer for, and what to do when a
 * peer lies, stalls or sends garbage.
 *
 * - Pipelining: each session keeps up to `window` requests in flight, so the link stays full
 *   while pieces are verified and written; UNPROVEN_WINDOW until it has delivered a piece.
 * - Rarest first: among the chunks a peer has that we lack and have not requested, pick the one
 *   the fewest connected peers hold (BitTorrent's policy; spreads rare chunks before their only
 *   holder leaves). The scan is bounded (RAREST_SCAN candidates from a rotating cursor) so a pick
 *   costs O(RAREST_SCAN × peers), not O(chunks), on huge shares.
 * - Endgame: once every missing chunk is in flight, idle peers may duplicate a request (at most
 *   ENDGAME_COPIES per chunk); the first verified copy wins and the others are cancelled.
 * - Verification: every piece is hashed and compared with its digest before it is used. A peer
 *   that sends a wrong piece is dropped at once and its requests go elsewhere (docs/THREAT-MODEL.md §2.3).
 *   A peer that refuses chunks it announced, or lets requests time out, collects strikes and is
 *   dropped at MAX_STRIKES; one that has delivered no piece at all a request timeout after it was
 *   first asked is dropped too (a have-map that lies, whose requests honest peers keep answering
 *   first, so they are cancelled rather than timed out). The download never waits on one bad peer.
 */
import type { Logger } from '@libp2p/interface'
import type { RateLimiter } from '../rate-limit.js'
import { PeerMisbehaviourError, RequestRejectedError, RequestTimeoutError, type Session } from './session.js'
import type { ShareState } from '../share/share-state.js'

export const DEFAULT_WINDOW = 8
/**
 * Requests in flight to a peer that has not delivered a verified piece yet (slow start): a peer
 * that claims every chunk and sits on its requests (a lying have-map, a slowloris) holds this many
 * chunks until its requests time out, not a full window. With 8, a dozen such peers held more
 * requests than a small share has chunks, and the honest seeders waited out the timeouts.
 */
export const UNPROVEN_WINDOW = 2
export const RAREST_SCAN = 64
export const ENDGAME_COPIES = 2
export const MAX_STRIKES = 3
export const DEFAULT_REQUEST_TIMEOUT_MS = 20_000

export interface SchedulerInit {
  share: ShareState
  /** Live, admitted sessions for this share. */
  sessions: () => Session[]
  /**
   * Checks a received chunk against its content ID and uses it (decrypt, write): resolves false if
   * it does not match (the sending peer is dropped from the swarm and the chunk asked of others).
   * A throw here is fatal for the download. May take ownership of `sealed` (a worker transfer).
   */
  deliver: (index: number, sealed: Uint8Array) => Promise<boolean>
  download: RateLimiter
  log: Logger
  window?: number
  requestTimeoutMs?: number
  /** Called after each chunk lands. */
  onChunk?: (index: number, bytes: number, from: Session) => void
  signal?: AbortSignal
}

export class ChunkScheduler {
  readonly #init: SchedulerInit
  readonly #share: ShareState
  readonly #inflight = new Map<number, Set<Session>>()
  readonly #delivering = new Set<number>()
  readonly #strikes = new WeakMap<Session, number>()
  /** Requests issued to each session and not yet settled (counted at once: a request waits for the download budget before the session sees it). */
  readonly #issued = new WeakMap<Session, number>()
  /** When each session was first asked for a chunk (Date.now()). */
  readonly #firstAsked = new WeakMap<Session, number>()
  #missing: number[] = []
  #cursor = 0
  #wake: (() => void) | undefined
  #fatal: Error | undefined

  constructor (init: SchedulerInit) {
    this.#init = init
    this.#share = init.share
    const have = init.share.have
    if (have === undefined) throw new Error('scheduler needs the manifest first')
    for (let i = 0; i < have.size; i++) if (!have.get(i)) this.#missing.push(i)
  }

  get remaining (): number { return this.#share.have !== undefined ? this.#share.have.size - this.#share.have.count() : 0 }

  /** Wakes the loop early (a new session, a have update). */
  poke (): void { this.#wake?.() }

  /** Runs until every chunk is held, the signal aborts, or delivery fails. */
  async run (): Promise<void> {
    const signal = this.#init.signal
    const have = this.#share.have
    if (have === undefined) throw new Error('scheduler needs the manifest first')
    const onHave = (): void => { this.poke() }
    this.#share.addEventListener('have', onHave)
    try {
      while (!have.isComplete()) {
        signal?.throwIfAborted()
        if (this.#fatal !== undefined) throw this.#fatal
        this.#fill()
        await new Promise<void>(resolve => {
          const t = setTimeout(resolve, 250)
          this.#wake = () => { clearTimeout(t); resolve() }
        })
        this.#wake = undefined
      }
      if (this.#fatal !== undefined) throw this.#fatal
    } finally {
      this.#share.removeEventListener('have', onHave)
      for (const [index, holders] of this.#inflight) for (const s of holders) s.cancelChunk(index)
    }
  }

  #fill (): void {
    const window = this.#init.window ?? DEFAULT_WINDOW
    // Chunks received but not yet checked and written hold memory: at most `window` of them.
    if (this.#delivering.size >= window) return
    const size = this.#share.have?.size
    // Only sessions whose have-map fits this share: a peer's state can never reach a Bitfield
    // read out of range (a session re-checks its peer's map when the manifest arrives).
    const sessions = this.#init.sessions().filter(s => !s.closed && s.remoteHave !== undefined && s.remoteHave.size === size)
    if (sessions.length === 0) return
    const timeout = this.#init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    const now = Date.now()
    for (const s of sessions) {
      const first = this.#firstAsked.get(s)
      if (first === undefined || s.received > 0 || now - first < timeout) continue
      this.#init.log('peer %p delivered nothing in %d ms since it was first asked: dropping it from the swarm', s.remotePeer, now - first)
      this.#share.banned.add(s.remotePeer.toString())
      s.close(new PeerMisbehaviourError('delivered no piece within a request timeout of being asked'))
    }
    this.#compact()
    for (let round = 0; round < window; round++) {
      let issued = false
      for (const s of sessions) {
        const limit = s.received > 0 ? window : Math.min(window, UNPROVEN_WINDOW)
        if (s.closed || Math.max(s.inflight, this.#issued.get(s) ?? 0) >= limit) continue
        let index: number | undefined
        try {
          index = this.#pick(s, sessions)
        } catch (err) {
          // Whatever this peer's state did to the pick, it costs that peer its session, never
          // the download.
          this.#init.log('dropping peer %p: its state broke chunk selection (%s)', s.remotePeer, (err as Error).name)
          s.close(new PeerMisbehaviourError('peer state the scheduler cannot use', { cause: err }))
          continue
        }
        if (index === undefined) continue
        this.#issue(s, index)
        issued = true
      }
      if (!issued) break
    }
  }

  #compact (): void {
    const have = this.#share.have
    if (have === undefined) return
    let stale = 0
    for (let i = 0; i < Math.min(this.#missing.length, 4096); i++) if (have.get(this.#missing[i] as number)) stale++
    if (stale > 2048 || (this.#missing.length <= 4096 && stale > 0)) {
      this.#missing = this.#missing.filter(i => !have.get(i))
      this.#cursor = 0
    }
  }

  #pick (s: Session, sessions: Session[]): number | undefined {
    const have = this.#share.have
    const remote = s.remoteHave
    if (have === undefined || remote === undefined || this.#missing.length === 0) return undefined
    let best: number | undefined
    let bestAvail = Infinity
    let examined = 0
    const n = this.#missing.length
    // Normal mode: chunks nobody is fetching yet.
    for (let k = 0; k < n && examined < RAREST_SCAN; k++) {
      const index = this.#missing[(this.#cursor + k) % n] as number
      if (have.get(index) || this.#inflight.has(index) || !remote.get(index)) continue
      examined++
      let avail = 0
      for (const o of sessions) if (o.remoteHave?.get(index) === true) avail++
      if (avail < bestAvail) { best = index; bestAvail = avail; if (avail <= 1) break }
    }
    if (best !== undefined) {
      this.#cursor = (this.#cursor + 1) % n
      return best
    }
    // Endgame: everything missing is in flight; duplicate the oldest requests on idle peers.
    if (this.remaining > sessions.length * (this.#init.window ?? 8) * 2) return undefined
    for (const [index, holders] of this.#inflight) {
      if (holders.size < ENDGAME_COPIES && !holders.has(s) && remote.get(index) && !have.get(index)) return index
    }
    return undefined
  }

  #issue (s: Session, index: number): void {
    let holders = this.#inflight.get(index)
    if (holders === undefined) { holders = new Set(); this.#inflight.set(index, holders) }
    holders.add(s)
    this.#issued.set(s, (this.#issued.get(s) ?? 0) + 1)
    const timeout = this.#init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    const signal = this.#init.signal
    void (async () => {
      try {
        const chunkSize = this.#share.index?.chunkSize ?? 0
        await this.#init.download.take(chunkSize, signal)
        if (!this.#firstAsked.has(s)) this.#firstAsked.set(s, Date.now())
        const bytes = await s.request('chunk', index, timeout)
        // An endgame duplicate that arrived second, or while the first is being delivered.
        if (this.#share.have?.get(index) === true || this.#delivering.has(index)) return
        const length = bytes.length
        let accepted: boolean
        this.#delivering.add(index)
        // The session has a free slot again: refill it now, so the link stays busy while this
        // chunk is checked and written (#fill bounds how many wait for that).
        this.poke()
        try {
          accepted = await this.#init.deliver(index, bytes)
        } catch (err) {
          this.#fatal = err as Error
          return
        } finally {
          this.#delivering.delete(index)
        }
        if (!accepted) {
          this.#init.log('peer %p sent a corrupt chunk %d: dropping it from the swarm', s.remotePeer, index)
          this.#share.banned.add(s.remotePeer.toString())
          s.close(new PeerMisbehaviourError('sent a chunk that does not match its content ID'))
          return
        }
        this.#share.markHave(index)
        this.#share.downloaded += length
        this.#init.onChunk?.(index, length, s)
        for (const other of holders) if (other !== s) other.cancelChunk(index)
      } catch (err) {
        if (err instanceof RequestRejectedError || err instanceof RequestTimeoutError) {
          // A refusal of a chunk the peer announced, or a stall: strike.
          const strikes = (this.#strikes.get(s) ?? 0) + 1
          this.#strikes.set(s, strikes)
          if (strikes >= MAX_STRIKES) {
            this.#init.log('peer %p refused or stalled %d times: dropping it from the swarm', s.remotePeer, strikes)
            this.#share.banned.add(s.remotePeer.toString())
            s.close(new PeerMisbehaviourError('too many refused or timed-out requests'))
          }
        }
      } finally {
        this.#issued.set(s, (this.#issued.get(s) ?? 1) - 1)
        holders.delete(s)
        if (holders.size === 0 && this.#inflight.get(index) === holders) this.#inflight.delete(index)
        this.poke()
      }
    })()
  }
}
