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

/** Requests a peer may queue with us at once; beyond is flooding. */
export const MAX_SERVE_QUEUE = 256

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
}

export class Session {
  readonly remotePeer: PeerId
  readonly share: ShareState
  remoteHave: Bitfield | undefined
  /** Bytes of verified pieces received, and sent. */
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
      .catch(err => { this.close(err as Error) })
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
        if (e.name === 'UnexpectedEOFError' || e.name === 'StreamResetError' || e.name === 'StreamClosedError' || e.name === 'AbortError') {
          this.close()
          return
        }
        throw new PeerMisbehaviourError(`bad frame from peer: ${e.name}`, { cause: err })
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
        this.#uploading = true
        try {
          await this.#init.upload.take(data.length, signal)
          await previous
        } finally {
          this.#uploading = false
        }
        if (this.#closed) return
        const [header, body] = encodePiece(q.id, q.kind, q.index, data)
        this.#write(new Uint8ArrayList(header, body))
        previous = this.#writeChain
        this.sent += data.length
        this.lastUseful = Date.now()
        this.share.uploaded += data.length
      }
    } finally {
      await previous.catch(() => {})
      this.#serving = false
      // A request may have arrived while the last write drained: serve it.
      if (!this.#closed && this.#queue.length > 0) this.#serveLoop().catch(err => { this.close(err) })
    }
  }
}
