/**
 * One admitted swarm session: one libp2p stream between two peers for one share, after the
 * admission handshake (handshake.ts). Both sides can request and serve over the same stream.
 *
 * Flow: each side sends its have-map, then `have` updates as it gains chunks; requests are
 * pipelined (the downloader keeps a window of them in flight); pieces come back in the order
 * served; `cancel` withdraws a queued request; `reject` refuses one with a reason.
 *
 * Limits (docs/THREAT-MODEL.md §2.8): frames over MAX_MESSAGE_BYTES reset the stream; at most
 * MAX_SERVE_QUEUE requests are queued per session (more is a protocol violation); one piece is
 * being produced at a time per session, so memory per peer is bounded by about two chunks plus
 * the stream's own buffers. A peer that sends undecodable or unsolicited messages is dropped.
 */
import { setMaxListeners } from 'main-event'
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { Bitfield } from '../../../protocol/bitfield.js'
import { MAX_MESSAGE_BYTES } from '../../../protocol/constants.js'
import { KithError } from '../../../protocol/errors.js'
import { decodeMessage, decodePiece, encodeMessage, encodePiece, MESSAGE_TYPES, PIECE_HEADER_BYTES, type PieceKind, type RejectReason, type SwarmMessage } from '../../../protocol/messages.js'
import type { RateLimiter } from '../rate-limit.js'
import type { ShareState } from '../share/share-state.js'
import { SESSION_MAX_BUFFER } from './handshake.js'
import type { SessionPath } from './path.js'

/** Requests a peer may queue with us at once; beyond is flooding. */
export const MAX_SERVE_QUEUE = 256

/**
 * A piece we sent that the peer has not taken a byte of for this long, while it still has
 * requests queued with us: it asks and does not read (its stream window stands still). That is
 * misbehaviour: the session is reset and the peer dropped from the swarm. An honest downloader
 * reads all the time (its read loop never pauses), however slow its link: a window that moves at
 * all restarts the clock.
 */
export const UNREAD_TIMEOUT_MS = 15_000

/**
 * What a length-prefixed read throws when the peer's bytes break the framing: a length prefix
 * that is malformed or over MAX_MESSAGE_BYTES, more unread bytes than SESSION_MAX_BUFFER. Anything
 * else a read throws comes from under the stream (the connection was reset, aborted or timed out:
 * a link that dropped for a while, libp2p's connection monitor giving up on it), which is no
 * misbehaviour: the session closes, and the peer may be found and admitted again.
 */
const FRAMING_ERRORS = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError', 'StreamBufferError'])
/** Errors of a stream the peer closed or reset, or we aborted: the session's clean end (see `#lost`). */
const STREAM_GONE = new Set(['UnexpectedEOFError', 'StreamResetError', 'StreamClosedError', 'StreamStateError', 'AbortError'])

export class PeerMisbehaviourError extends KithError {
  static override name = 'PeerMisbehaviourError'
  constructor (message = 'peer broke the swarm protocol', options?: { cause?: unknown }) { super(message, options) }
}

export class RequestRejectedError extends KithError {
  static override name = 'RequestRejectedError'
  readonly reason: RejectReason
  constructor (reason: RejectReason) {
    super(`peer refused the request: ${reason}`)
    this.reason = reason
  }
}

export class RequestTimeoutError extends KithError {
  static override name = 'RequestTimeoutError'
  constructor (message = 'peer did not answer the request in time') { super(message) }
}

export class RequestCancelledError extends KithError {
  static override name = 'RequestCancelledError'
  constructor (message = 'request cancelled: another peer delivered the chunk first') { super(message) }
}

export class SessionClosedError extends KithError {
  static override name = 'SessionClosedError'
  constructor (message = 'swarm session closed') { super(message) }
}

interface Pending {
  kind: PieceKind
  index: number
  resolve: (data: Uint8Array) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

interface Queued { id: number, kind: PieceKind, index: number }

export interface SessionInit {
  stream: Stream
  /** The lpStream the handshake read from (it may hold buffered bytes). */
  lp?: LengthPrefixedStream<Stream>
  remotePeer: PeerId
  share: ShareState
  upload: RateLimiter
  download: RateLimiter
  log: Logger
  /** Called once when the session ends, with the reason (undefined for a clean close). */
  onClose?: (session: Session, err?: Error) => void
  /**
   * Closes the session (politely) once no piece has gone either way for this long; 0 or absent:
   * never. Not a timeout on the peer's answers (the scheduler strikes those), a bound on how long
   * a peer that neither serves nor asks usefully holds a slot.
   */
  idleTimeoutMs?: number
  /** Which way the session's connection runs (path.ts); default: unknown, reported as direct. */
  path?: SessionPath
  /** How long a sent piece may stand unread while the peer has requests queued (UNREAD_TIMEOUT_MS). */
  unreadTimeoutMs?: number
}

export class Session {
  readonly remotePeer: PeerId
  readonly share: ShareState
  remoteHave: Bitfield | undefined
  /** Which way the session's connection runs (path.ts). */
  readonly path: SessionPath
  /** Bytes of verified pieces received, and of pieces sent (what left the stream: a piece still unread when the session ends counts only in part). */
  received = 0
  sent = 0
  /** When the session was admitted, and when a piece last went either way (Date.now()). */
  readonly openedAt = Date.now()
  lastUseful = this.openedAt
  /** The peer announced at least one chunk (a have-map with a bit set, or a have). */
  advertises = false
  readonly #stream: Stream
  readonly #lp: LengthPrefixedStream<Stream>
  readonly #init: SessionInit
  readonly #pending = new Map<number, Pending>()
  readonly #queue: Queued[] = []
  readonly #abort = new AbortController()
  #nextId = 1
  /** Request IDs have wrapped around once: from then on every ID may have been issued. */
  #idsWrapped = false
  #serving = false
  #writeChain: Promise<void> = Promise.resolve()
  #closed = false
  /** Bytes of the last piece written that the upload budget has not paid for yet. */
  #owed = 0
  /**
   * A piece of ours has drained to this peer: it reads what it asks for. Until then each piece is
   * paid before it is written (#prepaid), in its turn behind every session already waiting.
   */
  #proven = false
  /** Bytes of the piece in flight that were paid before it was written and have not drained yet. */
  #prepaid = 0
  /** The stream's write buffer as last seen while a piece drained (a reset empties it before we hear of it). */
  #buffered = 0
  /** Waiting for upload budget to send a piece the peer asked for: we are the slow side. */
  #uploading = false
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  readonly #onHave = (evt: CustomEvent<number>): void => { this.#send({ type: 'have', index: evt.detail }) }
  readonly #onManifest = (): void => {
    // A have-map that came before we knew the manifest could not be sized then: check it now, or
    // the scheduler would read a map of the wrong size. A wrong size is a lie: drop the peer.
    if (this.remoteHave !== undefined && this.remoteHave.size !== this.share.pieces) {
      this.close(new PeerMisbehaviourError('have-map size does not match the manifest'))
      return
    }
    this.#sendHaveMap()
  }

  constructor (init: SessionInit) {
    this.#init = init
    this.#stream = init.stream
    this.remotePeer = init.remotePeer
    this.share = init.share
    this.path = init.path ?? { peer: init.remotePeer.toString(), kind: 'other', label: 'direct', limited: false }
    this.#lp = init.lp ?? lpStream(init.stream, { maxDataLength: MAX_MESSAGE_BYTES, maxBufferSize: SESSION_MAX_BUFFER })
    // Every pending read, write and piece production listens on this one signal.
    setMaxListeners(Infinity, this.#abort.signal)
  }

  get closed (): boolean { return this.#closed }
  /** Requests of ours still awaiting a piece. */
  get inflight (): number { return this.#pending.size }
  /**
   * Our own upload cap is holding a piece back: the quiet is not the peer's fault. Our requests
   * awaiting its answer do not count: a peer that never answers must not keep its slot that way.
   */
  get uploading (): boolean { return this.#uploading }

  /** Sends our have-map and starts reading. Call once, after admission. */
  start (): void {
    this.share.addEventListener('have', this.#onHave)
    this.share.addEventListener('manifest', this.#onManifest)
    this.#sendHaveMap()
    this.#readLoop().catch(err => { this.close(err) })
    const idle = this.#init.idleTimeoutMs ?? 0
    if (idle > 0) this.#armIdle(idle)
  }

  /** One timer per session, re-armed for the rest of the quiet period: bounded, and gone on close. */
  #armIdle (ms: number): void {
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined
      if (this.#closed) return
      const limit = this.#init.idleTimeoutMs ?? 0
      const quiet = Date.now() - this.lastUseful
      if (this.#uploading) { this.#armIdle(limit); return }
      if (quiet < limit) { this.#armIdle(limit - quiet); return }
      this.#init.log('closing swarm session with %p: no piece either way for %d ms', this.remotePeer, quiet)
      this.close()
    }, ms)
  }

  #sendHaveMap (): void {
    const have = this.share.have
    // A node that does not know the manifest yet announces an empty map of 0 pieces.
    this.#send({ type: 'have-map', pieces: have?.size ?? 0, bitfield: have?.toBytes() ?? new Uint8Array(0) })
  }

  /**
   * Requests one piece. Resolves with its bytes (not yet verified: the caller verifies against
   * the digest it expects), rejects with RequestRejectedError, RequestTimeoutError or
   * SessionClosedError.
   */
  async request (kind: PieceKind, index: number, timeoutMs: number): Promise<Uint8Array> {
    if (this.#closed) throw new SessionClosedError()
    const id = this.#nextId++
    if (this.#nextId > 0xffff_fff0) { this.#nextId = 1; this.#idsWrapped = true }
    const done = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(id)) {
          this.#send({ type: 'cancel', id })
          reject(new RequestTimeoutError())
        }
      }, timeoutMs)
      this.#pending.set(id, { kind, index, resolve, reject, timer })
    })
    this.#send({ type: 'request', id, kind, index })
    return await done
  }

  /** Withdraws every pending request for chunk `index` (endgame: another peer delivered it). */
  cancelChunk (index: number): void {
    for (const [id, p] of this.#pending) {
      if (p.kind === 'chunk' && p.index === index) {
        clearTimeout(p.timer)
        this.#pending.delete(id)
        this.#send({ type: 'cancel', id })
        p.reject(new RequestCancelledError())
      }
    }
  }

  /** Ends the session. With an error, the stream is reset (abort); else closed politely. */
  close (err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    this.#abort.abort()
    this.share.removeEventListener('have', this.#onHave)
    this.share.removeEventListener('manifest', this.#onManifest)
    const reason = err ?? new SessionClosedError()
    for (const p of this.#pending.values()) { clearTimeout(p.timer); p.reject(reason instanceof SessionClosedError ? reason : new SessionClosedError(`swarm session closed: ${reason.message}`)) }
    this.#pending.clear()
    this.#queue.length = 0
    // Aborting or closing the stream drops what it still buffers: those bytes of the last piece
    // never left, so they are neither paid for nor counted as sent.
    // (At most one of #owed and #prepaid is set: they are the last piece's.) What was paid in
    // advance for bytes that never left goes back to the budget.
    const unsent = Math.min(this.#owed + this.#prepaid, Math.max(this.#stream.writeBufferLength ?? 0, this.#buffered))
    if (unsent > 0) {
      const refund = Math.min(this.#prepaid, unsent)
      this.#prepaid -= refund
      this.#owed -= unsent - refund
      this.sent -= unsent
      this.share.uploaded -= unsent
      if (refund > 0) this.#init.upload.refund(refund)
    }
    if (err !== undefined) {
      this.#stream.abort(err)
    } else {
      this.#stream.close().catch(e => { this.#stream.abort(e) })
    }
    this.#init.onClose?.(this, err)
  }

  #send (msg: SwarmMessage): void {
    if (this.#closed) return
    this.#write(encodeMessage(msg))
  }

  #write (frame: Uint8Array | Uint8ArrayList): void {
    const signal = this.#abort.signal
    this.#writeChain = this.#writeChain
      .then(async () => { if (!this.#closed) await this.#lp.write(frame, { signal }) })
      .catch(err => { this.#lost(err as Error) })
  }

  /**
   * The stream failed under a read or a write: the peer closed or reset it (or we aborted it), a
   * clean end; anything else, the connection is lost, a typed SessionClosedError. Neither is the
   * peer's misbehaviour (not banned). A write can be the first to see it (a StreamStateError while
   * the read side still waits): the long handler fuzzing found it closing sessions untyped.
   */
  #lost (err: Error): void {
    if (this.#closed) return
    if (STREAM_GONE.has(err.name)) this.close()
    else this.close(new SessionClosedError(`swarm session lost its connection: ${err.name}`))
  }

  async #readLoop (): Promise<void> {
    const signal = this.#abort.signal
    while (!this.#closed) {
      let frame: Uint8ArrayList
      try {
        frame = await this.#lp.read({ signal })
      } catch (err) {
        if (this.#closed) return
        const e = err as Error
        if (FRAMING_ERRORS.has(e.name)) throw new PeerMisbehaviourError(`bad frame from peer: ${e.name}`, { cause: err })
        this.#lost(e)
        return
      }
      let msg: SwarmMessage
      try {
        // A piece's data is cut from the frame on its own: a fresh buffer when the frame came in
        // several pieces (the usual case), which a worker can take without another copy.
        msg = frame.byteLength > PIECE_HEADER_BYTES && frame.get(0) === MESSAGE_TYPES.piece
          ? decodePiece(frame.subarray(0, PIECE_HEADER_BYTES), frame.subarray(PIECE_HEADER_BYTES))
          : decodeMessage(frame.subarray())
      } catch (err) {
        throw new PeerMisbehaviourError(`undecodable message from peer: ${(err as Error).name}`, { cause: err })
      }
      this.#dispatch(msg)
    }
  }

  #dispatch (msg: SwarmMessage): void {
    switch (msg.type) {
      case 'have-map': {
        const pieces = this.share.pieces
        if (msg.pieces === 0) { this.remoteHave = undefined; this.advertises = false; return }
        if (pieces !== 0 && msg.pieces !== pieces) throw new PeerMisbehaviourError('have-map size does not match the manifest')
        this.remoteHave = Bitfield.fromBytes(msg.pieces, msg.bitfield)
        this.advertises = this.remoteHave.count() > 0
        return
      }
      case 'have': {
        if (this.remoteHave === undefined) {
          if (this.share.pieces === 0) return // we cannot size it yet; the next have-map will tell
          this.remoteHave = new Bitfield(this.share.pieces)
        }
        if (msg.index >= this.remoteHave.size) throw new PeerMisbehaviourError('have for a chunk outside the share')
        this.remoteHave.set(msg.index)
        this.advertises = true
        return
      }
      case 'request': {
        if (this.#queue.length >= MAX_SERVE_QUEUE) throw new PeerMisbehaviourError('peer flooded us with requests')
        // Both sides know the same manifest: no honest peer asks for a chunk past its end. Refused
        // one by one, such requests cost a serve-loop turn and a reject frame each, and three link
        // holders asking thousands a second slowed an honest download tenfold (test/hardening/
        // hostile-downloaders.test.ts): drop the peer instead.
        if (msg.kind === 'chunk' && this.share.index !== undefined && msg.index >= this.share.pieces) throw new PeerMisbehaviourError('request for a chunk outside the share')
        this.#queue.push({ id: msg.id, kind: msg.kind, index: msg.index })
        if (!this.#serving) this.#serveLoop().catch(err => { this.close(err) })
        return
      }
      case 'cancel': {
        const i = this.#queue.findIndex(q => q.id === msg.id)
        if (i >= 0) this.#queue.splice(i, 1)
        return
      }
      case 'piece': {
        const p = this.#pending.get(msg.id)
        if (p === undefined) {
          // A request we never made is unsolicited data: the peer is pushing bytes at us.
          if (msg.id === 0 || (!this.#idsWrapped && msg.id >= this.#nextId)) throw new PeerMisbehaviourError('piece for a request never made')
          return // cancelled or timed out: late pieces are dropped, not punished
        }
        if (p.kind !== msg.kind || p.index !== msg.index) throw new PeerMisbehaviourError('piece does not answer the request it names')
        if (msg.kind === 'chunk' && this.share.index !== undefined && msg.data.length > this.share.index.chunkSize + 16) throw new PeerMisbehaviourError('piece larger than the share\'s chunk size')
        clearTimeout(p.timer)
        this.#pending.delete(msg.id)
        this.received += msg.data.length
        this.lastUseful = Date.now()
        // No copy: the frame's bytes belong to this message alone (libp2p does not reuse them).
        p.resolve(msg.data)
        return
      }
      case 'reject': {
        if (msg.id === 0) { this.close(); return }
        const p = this.#pending.get(msg.id)
        if (p === undefined) return
        clearTimeout(p.timer)
        this.#pending.delete(msg.id)
        p.reject(new RequestRejectedError(msg.reason))
        return
      }
      default:
        // hello / hello-ack / proof after admission
        throw new PeerMisbehaviourError(`unexpected ${msg.type} after admission`)
    }
  }

  async #serveLoop (): Promise<void> {
    this.#serving = true
    const signal = this.#abort.signal
    // The previous piece's write: the next piece is produced (read, sealed, verified) while it
    // drains, so disk and crypto overlap the network. At most one produced piece waits.
    let previous: Promise<void> = Promise.resolve()
    // The upload budget pays for a piece once the peer has taken it (its write drained), before
    // the next is sent, and only for the bytes that left: a peer that asks and never reads leaves
    // its stream window full and its piece in our write buffer, spends none of the budget honest
    // peers would get for what it never took, and is not "uploading" (the quiet is its fault: idle
    // timeout, eviction and the unread check apply). The limiter serves its takes in turn
    // (rate-limit.ts), so no session takes a second piece's budget while another waits.
    // Measured before this: link holders that asked, never read and came back as new identities
    // had every unread piece paid in full when their session ended, and the honest rate fell to
    // 0.58× (test/hardening/hostile-downloaders.test.ts).
    // A peer none of whose pieces has drained yet (a new session) pays for a piece before it is
    // written, in its turn, and gets back what never left when the session ends: a link holder
    // that floods requests as soon as it is admitted is dropped while it waits for its turn, and
    // is sent nothing. Paid after the drain, each such identity was first sent a stream window's
    // worth for free (with identities churned, 0.17× the unloaded rate for the honest peer).
    const pay = async (): Promise<void> => {
      const owed = this.#owed
      this.#owed = 0
      if (owed <= 0) return
      this.#uploading = true
      try {
        await this.#init.upload.take(owed)
      } finally {
        this.#uploading = false
      }
    }
    // The previous piece drained (not cut short by the end of the session): the peer reads.
    const drained = (): void => {
      if (this.#closed || this.#prepaid === 0) return
      this.#prepaid = 0
      this.#proven = true
    }
    const prepay = async (bytes: number): Promise<boolean> => {
      this.#uploading = true
      try {
        await this.#init.upload.take(bytes, signal)
      } catch {
        return false // the session ended while it waited: nothing was charged
      } finally {
        this.#uploading = false
      }
      if (this.#closed) { this.#init.upload.refund(bytes); return false }
      this.#prepaid = bytes
      return true
    }
    try {
      while (!this.#closed) {
        const q = this.#queue.shift()
        if (q === undefined) return
        let data: Uint8Array | undefined
        try {
          data = q.kind === 'chunk'
            ? await this.share.readChunk(q.index, signal)
            : q.kind === 'block'
              ? await this.share.readBlock(q.index, signal)
              : this.share.root
        } catch (err) {
          // The error may name a local path: log its type only.
          this.#init.log.error('cannot serve %s %d: %s', q.kind, q.index, (err as Error).name)
          data = undefined
        }
        if (this.#closed) return
        if (data === undefined) {
          this.#send({ type: 'reject', id: q.id, reason: this.share.serving ? 'not-found' : 'shutting-down', message: '' })
          continue
        }
        await this.#drained(previous)
        drained()
        if (this.#closed) return
        await pay()
        if (this.#closed) return
        if (!this.#proven && !(await prepay(data.length))) return
        const [header, body] = encodePiece(q.id, q.kind, q.index, data)
        this.#write(new Uint8ArrayList(header, body))
        previous = this.#writeChain.then(() => { if (!this.#closed) this.lastUseful = Date.now() })
        this.#owed = this.#proven ? data.length : 0
        this.sent += data.length
        this.share.uploaded += data.length
      }
    } finally {
      await this.#drained(previous).catch(() => {})
      drained()
      // The last piece drained (or the session ended, and #owed is what of it left): it is paid
      // for all the same, so the cap holds across serve loops.
      await pay().catch(() => {})
      this.#serving = false
      // A request may have arrived while the last write drained: serve it.
      if (!this.#closed && this.#queue.length > 0) this.#serveLoop().catch(err => { this.close(err) })
    }
  }

  /**
   * Waits until `write` (a piece's write) has resolved and the stream's write buffer is empty:
   * every byte of the piece went to the muxer, so the peer took what its window allowed. A write
   * resolving is not enough: the stream wakes its writers on any drain of the connection under it
   * (the muxer's, not this stream's window), and then the piece may still sit in the buffer.
   * While it waits, the buffer is watched: if not a byte of it leaves for `unreadTimeoutMs` while
   * the peer still has requests queued with us, the peer asks and does not read, and is dropped
   * (UNREAD_TIMEOUT_MS).
   */
  async #drained (write: Promise<void>): Promise<void> {
    const limit = this.#init.unreadTimeoutMs ?? UNREAD_TIMEOUT_MS
    const stream = this.#stream
    let written = false
    void write.then(() => { written = true })
    const aborted = this.#abort.signal
    let buffered = stream.writeBufferLength ?? 0
    let since = Date.now()
    while (!this.#closed) {
      const now = stream.writeBufferLength ?? 0
      this.#buffered = now
      if (written && now === 0) return
      if (now !== buffered) {
        buffered = now
        since = Date.now()
      } else if (Date.now() - since >= limit && this.#queue.length > 0) {
        this.close(new PeerMisbehaviourError('peer asks for pieces and does not read them'))
        return
      }
      let timer: ReturnType<typeof setTimeout> | undefined
      let wake: (() => void) | undefined
      await Promise.race([
        written ? new Promise(() => {}) : write,
        new Promise<void>(resolve => {
          wake = () => { resolve() }
          timer = setTimeout(wake, Math.max(10, Math.ceil(limit / 4)))
          stream.addEventListener('idle', wake, { once: true })
          stream.addEventListener('drain', wake, { once: true })
          aborted.addEventListener('abort', wake, { once: true })
        })
      ])
      clearTimeout(timer)
      if (wake !== undefined) {
        stream.removeEventListener('idle', wake)
        stream.removeEventListener('drain', wake)
        aborted.removeEventListener('abort', wake)
      }
    }
  }
}
