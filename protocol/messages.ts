/**
 * Wire messages of the swarm protocol `/kith/swarm/1.0.0` (docs/PROTOCOL.md §7).
 *
 * Purpose: the messages two peers of one share exchange over one Noise-encrypted,
 * yamux-multiplexed libp2p stream: the mutual admission handshake (admission.ts), have-maps, and
 * requests for and deliveries of pieces (chunks and manifest blocks).
 *
 * Goals:
 *  - Fixed binary layouts, cheap to parse and impossible to misparse: every body is
 *    type (u8) ‖ fixed big-endian fields ‖ at most one variable tail whose length is implied by
 *    the frame (piece data, reject text) or by a preceding count (have-map bitfield).
 *  - A total decoder: given ANY bytes, `decodeMessage` returns a well-formed message or throws
 *    MalformedMessageError, MessageTooLargeError or UnsupportedVersionError (only for a `hello`
 *    of the right length whose version byte is not 1) — never a TypeError or RangeError, so the
 *    session can tell "peer sent garbage" (reset and penalise) from "our bug".
 *  - Canonical: a frame that decodes re-encodes to exactly the same bytes (no trailing bytes,
 *    no set spare bits, no out-of-range enums, `root` only at index 0). One meaning, one encoding.
 *  - Zero copy for the big thing: `encodePiece` returns [header, data] so a chunk of up to 8 MiB
 *    is written without concatenation, and a decoded piece's `data` is a view into the frame.
 *  - Symmetric validation: encoders refuse (RangeError / TypeError, as @noble does: TypeError for
 *    a wrong type, RangeError for a wrong length or value) anything the decoder would refuse, so
 *    a bug shows up at the sender, not as a reset from the other side.
 *
 * Non-goals: framing (the caller length-prefixes each body with lpStream, maxDataLength =
 * MAX_MESSAGE_BYTES), flow control (yamux), confidentiality and peer authentication (Noise),
 * membership (admission.ts), message ordering rules and rate limits (node/engine/swarm/session.ts), and
 * authenticity of piece contents (the receiver hashes each piece against the manifest).
 *
 * Flow (I = initiator, the side that opened the stream; R = responder):
 *
 *   I → R  hello      version 1, swarm id, nonceI
 *   R → I  hello-ack  nonceR, proofR             (or reject id 0 'unknown-swarm')
 *   I → R  proof      proofI                     (only after proofR verified)
 *   both   have-map   once, first after admission (0 pieces if the manifest is not known yet)
 *   both   any of: have / request / piece / cancel / reject, until either side closes
 *
 * Nothing but hello / hello-ack / proof / reject may be sent before admission completes.
 *
 * Limits: a body is ≤ MAX_MESSAGE_BYTES (8 MiB + 80 B); piece data ≤ MAX_CHUNK_CIPHERTEXT
 * (8 MiB + 16 B); have-map ≤ MAX_CHUNKS pieces (2 MiB bitfield); chunk and block indices
 * < MAX_CHUNKS; reject text ≤ MAX_REASON_BYTES of strict UTF-8.
 */
import { concatBytes, readU32, writeU32 } from './bytes.js'
import {
  ADMISSION_NONCE_BYTES, ADMISSION_PROOF_BYTES, FORMAT_VERSION, KEY_BYTES, MAX_CHUNK_CIPHERTEXT, MAX_CHUNKS, MAX_MESSAGE_BYTES, MAX_REASON_BYTES
} from './constants.js'
import { MalformedMessageError, MessageTooLargeError, UnsupportedVersionError } from './errors.js'

/** What a request or piece refers to. Wire values are the positions in PIECE_KINDS. */
export type PieceKind = 'chunk' | 'block' | 'root'
/** Why a request (id ≠ 0) or the whole session (id 0) was refused. Wire values: positions in REJECT_REASONS. */
export type RejectReason = 'not-found' | 'busy' | 'rate-limited' | 'bad-request' | 'not-admitted' | 'shutting-down' | 'unknown-swarm'

export type SwarmMessage =
  /** I → R. `version` is FORMAT_VERSION (1); `swarm` is the share's 32-byte discovery key. */
  | { type: 'hello', version: number, swarm: Uint8Array, nonce: Uint8Array }
  /** R → I. R's fresh nonce and R's admission proof. */
  | { type: 'hello-ack', nonce: Uint8Array, proof: Uint8Array }
  /** I → R. I's admission proof. */
  | { type: 'proof', proof: Uint8Array }
  /** Which of `pieces` chunks the sender holds (Bitfield layout, bitfield.ts). */
  | { type: 'have-map', pieces: number, bitfield: Uint8Array }
  /** The sender gained chunk `index`. */
  | { type: 'have', index: number }
  /** Ask for one piece; `id` is the requester's, echoed in the answer. */
  | { type: 'request', id: number, kind: PieceKind, index: number }
  /** The answer to request `id`. `data` is ciphertext (chunk) or a sealed manifest block. */
  | { type: 'piece', id: number, kind: PieceKind, index: number, data: Uint8Array }
  /** The requester withdraws request `id`. */
  | { type: 'cancel', id: number }
  /** Refuses request `id`, or the whole session when `id` is 0. `message` is for logs only. */
  | { type: 'reject', id: number, reason: RejectReason, message: string }

export type SwarmMessageType = SwarmMessage['type']

/** Type bytes. Format. */
export const MESSAGE_TYPES = Object.freeze({
  hello: 0x01, 'hello-ack': 0x02, proof: 0x03, 'have-map': 0x04, have: 0x05, request: 0x06, piece: 0x07, cancel: 0x08, reject: 0x09
} as const)

/** Piece kinds in wire order (index = wire value). Format. */
export const PIECE_KINDS: readonly PieceKind[] = Object.freeze(['chunk', 'block', 'root'] as const)
/** Reject reasons in wire order (index = wire value). Format. */
export const REJECT_REASONS: readonly RejectReason[] = Object.freeze(
  ['not-found', 'busy', 'rate-limited', 'bad-request', 'not-admitted', 'shutting-down', 'unknown-swarm'] as const)

/** type ‖ id (u32) ‖ kind (u8) ‖ index (u32): what precedes the data of a piece. */
export const PIECE_HEADER_BYTES = 10

/** The swarm id is the share's discovery key, a derived key (keys.ts). */
const SWARM_ID_BYTES = KEY_BYTES
const HELLO_BYTES = 2 + SWARM_ID_BYTES + ADMISSION_NONCE_BYTES
const HELLO_ACK_BYTES = 1 + ADMISSION_NONCE_BYTES + ADMISSION_PROOF_BYTES
const PROOF_BYTES = 1 + ADMISSION_PROOF_BYTES
const HAVE_MAP_HEADER = 5
const REJECT_HEADER = 6
const ROOT_KIND = 2

const encoder = new TextEncoder()
// fatal: invalid UTF-8 throws instead of becoming U+FFFD, so the decoder can refuse it.
// ignoreBOM: a leading U+FEFF is kept as text rather than stripped, so the decoded string
// re-encodes to the same bytes (canonical round trip).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

// --- encoding -------------------------------------------------------------------------------

function checkBytes (what: string, b: unknown, n?: number): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`)
  if (n !== undefined && b.length !== n) throw new RangeError(`${what} must be ${n} bytes, got ${b.length}`)
}

function checkU32 (what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`${what} must be an integer in [0, 2^32)`)
}

// Indices are bounded by MAX_CHUNKS (chunks; manifest blocks are far fewer), and a root is
// always index 0: the same rules the decoder applies.
function checkIndex (what: string, index: number, kind?: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) throw new RangeError(`${what} must be an integer in [0, ${MAX_CHUNKS})`)
  if (kind === ROOT_KIND && index !== 0) throw new RangeError('a root piece has index 0')
}

function kindByte (kind: PieceKind): number {
  const k = PIECE_KINDS.indexOf(kind)
  if (k < 0) throw new TypeError(`unknown piece kind ${String(kind)}`)
  return k
}

/** True unless `s` holds a lone surrogate (which TextEncoder would silently turn into U+FFFD). */
function isWellFormed (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1)
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false
    }
  }
  return true
}

function idHeader (type: number, id: number, length: number): Uint8Array {
  checkU32('id', id)
  const b = new Uint8Array(length)
  b[0] = type
  writeU32(b, 1, id)
  return b
}

/**
 * Encodes a piece as [header, data] so a chunk is sent without copying it: write both (e.g. as a
 * Uint8ArrayList) inside one length-prefixed frame. `data` is returned as given, not copied, so
 * the caller must not mutate it until it is written.
 */
export function encodePiece (id: number, kind: PieceKind, index: number, data: Uint8Array): [Uint8Array, Uint8Array] {
  const k = kindByte(kind)
  checkIndex('index', index, k)
  checkBytes('data', data)
  if (data.length > MAX_CHUNK_CIPHERTEXT) throw new RangeError(`piece data over ${MAX_CHUNK_CIPHERTEXT} bytes`)
  const header = idHeader(MESSAGE_TYPES.piece, id, PIECE_HEADER_BYTES)
  header[5] = k
  writeU32(header, 6, index)
  return [header, data]
}

/**
 * Encodes one message body (without the length prefix). Throws TypeError for a wrong type
 * (unknown message type, kind or reason; non-bytes; a string with a lone surrogate) and
 * RangeError for a wrong length or value; never produces bytes `decodeMessage` refuses.
 */
export function encodeMessage (m: SwarmMessage): Uint8Array {
  if (typeof m !== 'object' || m === null) throw new TypeError('message must be an object')
  switch (m.type) {
    case 'hello': {
      if (m.version !== FORMAT_VERSION) throw new RangeError(`hello version must be ${FORMAT_VERSION}`)
      checkBytes('swarm', m.swarm, SWARM_ID_BYTES)
      checkBytes('nonce', m.nonce, ADMISSION_NONCE_BYTES)
      const b = new Uint8Array(HELLO_BYTES)
      b[0] = MESSAGE_TYPES.hello
      b[1] = m.version
      b.set(m.swarm, 2)
      b.set(m.nonce, 2 + SWARM_ID_BYTES)
      return b
    }
    case 'hello-ack': {
      checkBytes('nonce', m.nonce, ADMISSION_NONCE_BYTES)
      checkBytes('proof', m.proof, ADMISSION_PROOF_BYTES)
      const b = new Uint8Array(HELLO_ACK_BYTES)
      b[0] = MESSAGE_TYPES['hello-ack']
      b.set(m.nonce, 1)
      b.set(m.proof, 1 + ADMISSION_NONCE_BYTES)
      return b
    }
    case 'proof': {
      checkBytes('proof', m.proof, ADMISSION_PROOF_BYTES)
      const b = new Uint8Array(PROOF_BYTES)
      b[0] = MESSAGE_TYPES.proof
      b.set(m.proof, 1)
      return b
    }
    case 'have-map': {
      if (!Number.isInteger(m.pieces) || m.pieces < 0 || m.pieces > MAX_CHUNKS) throw new RangeError(`pieces must be an integer in [0, ${MAX_CHUNKS}]`)
      checkBytes('bitfield', m.bitfield, Math.ceil(m.pieces / 8))
      const spare = m.bitfield.length * 8 - m.pieces
      if (spare > 0 && ((m.bitfield[m.bitfield.length - 1] as number) & ((1 << spare) - 1)) !== 0) throw new RangeError('bitfield has spare bits set')
      const b = idHeader(MESSAGE_TYPES['have-map'], m.pieces, HAVE_MAP_HEADER + m.bitfield.length)
      b.set(m.bitfield, HAVE_MAP_HEADER)
      return b
    }
    case 'have': {
      checkIndex('index', m.index)
      return idHeader(MESSAGE_TYPES.have, m.index, 5)
    }
    case 'request': {
      const k = kindByte(m.kind)
      checkIndex('index', m.index, k)
      const b = idHeader(MESSAGE_TYPES.request, m.id, PIECE_HEADER_BYTES)
      b[5] = k
      writeU32(b, 6, m.index)
      return b
    }
    case 'piece':
      return concatBytes(...encodePiece(m.id, m.kind, m.index, m.data))
    case 'cancel':
      return idHeader(MESSAGE_TYPES.cancel, m.id, 5)
    case 'reject': {
      const r = REJECT_REASONS.indexOf(m.reason)
      if (r < 0) throw new TypeError(`unknown reject reason ${String(m.reason)}`)
      if (typeof m.message !== 'string' || !isWellFormed(m.message)) throw new TypeError('reject message must be a well-formed string')
      const text = encoder.encode(m.message)
      if (text.length > MAX_REASON_BYTES) throw new RangeError(`reject message over ${MAX_REASON_BYTES} UTF-8 bytes`)
      const b = idHeader(MESSAGE_TYPES.reject, m.id, REJECT_HEADER + text.length)
      b[5] = r
      b.set(text, REJECT_HEADER)
      return b
    }
    default:
      throw new TypeError(`unknown message type ${String((m as { type?: unknown }).type)}`)
  }
}

// --- decoding -------------------------------------------------------------------------------

function exact (b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new MalformedMessageError(`malformed ${what}: ${b.length} bytes, expected ${n}`)
}

function atLeast (b: Uint8Array, n: number, what: string): void {
  if (b.length < n) throw new MalformedMessageError(`malformed ${what}: ${b.length} bytes, expected at least ${n}`)
}

function decodeKind (byte: number, index: number, what: string): PieceKind {
  const kind = PIECE_KINDS[byte]
  if (kind === undefined) throw new MalformedMessageError(`malformed ${what}: unknown piece kind ${byte}`)
  if (index >= MAX_CHUNKS) throw new MalformedMessageError(`malformed ${what}: index out of range`)
  if (byte === ROOT_KIND && index !== 0) throw new MalformedMessageError(`malformed ${what}: root at index ${index}`)
  return kind
}

/**
 * Decodes a piece given as its 10-byte header and its data, so a receiver that holds the frame in
 * pieces can keep the data in a buffer of its own (a transfer to a worker then needs no copy):
 * the same checks and result as `decodeMessage` on header ‖ data. `data` is returned as given.
 */
export function decodePiece (header: Uint8Array, data: Uint8Array): SwarmMessage {
  if (!(header instanceof Uint8Array) || !(data instanceof Uint8Array)) throw new MalformedMessageError('message is not bytes')
  exact(header, PIECE_HEADER_BYTES, 'piece')
  if (header[0] !== MESSAGE_TYPES.piece) throw new MalformedMessageError('not a piece')
  const index = readU32(header, 6)
  const kind = decodeKind(header[5] as number, index, 'piece')
  if (data.length > MAX_CHUNK_CIPHERTEXT) throw new MessageTooLargeError(`piece of ${data.length} bytes is larger than the largest chunk`)
  return { type: 'piece', id: readU32(header, 1), kind, index, data }
}

/**
 * Decodes one message body (the frame without its length prefix). Given any bytes, returns a
 * well-formed message or throws:
 *  - MessageTooLargeError: the body is over MAX_MESSAGE_BYTES, or piece data is over
 *    MAX_CHUNK_CIPHERTEXT;
 *  - UnsupportedVersionError: a `hello` of the right length whose version is not 1 (so the
 *    responder can log "peer runs another Kith version" rather than "garbage");
 *  - MalformedMessageError: anything else that is not exactly one canonical v1 message.
 *
 * A piece's `data` is a view into `bytes` (no copy): it changes if the caller reuses the frame's
 * buffer. Every other byte field (swarm, nonce, proof, bitfield) is a copy.
 */
export function decodeMessage (bytes: Uint8Array): SwarmMessage {
  if (!(bytes instanceof Uint8Array)) throw new MalformedMessageError('message is not bytes')
  if (bytes.length > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(`message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`)
  if (bytes.length === 0) throw new MalformedMessageError('empty message')
  const type = bytes[0] as number
  switch (type) {
    case MESSAGE_TYPES.hello: {
      exact(bytes, HELLO_BYTES, 'hello')
      const version = bytes[1] as number
      if (version !== FORMAT_VERSION) throw new UnsupportedVersionError(version, 'swarm protocol')
      return { type: 'hello', version, swarm: bytes.slice(2, 2 + SWARM_ID_BYTES), nonce: bytes.slice(2 + SWARM_ID_BYTES) }
    }
    case MESSAGE_TYPES['hello-ack']:
      exact(bytes, HELLO_ACK_BYTES, 'hello-ack')
      return { type: 'hello-ack', nonce: bytes.slice(1, 1 + ADMISSION_NONCE_BYTES), proof: bytes.slice(1 + ADMISSION_NONCE_BYTES) }
    case MESSAGE_TYPES.proof:
      exact(bytes, PROOF_BYTES, 'proof')
      return { type: 'proof', proof: bytes.slice(1) }
    case MESSAGE_TYPES['have-map']: {
      atLeast(bytes, HAVE_MAP_HEADER, 'have-map')
      const pieces = readU32(bytes, 1)
      // Checked before the length so an inflated count is refused without arithmetic on it.
      if (pieces > MAX_CHUNKS) throw new MalformedMessageError(`malformed have-map: ${pieces} pieces is over ${MAX_CHUNKS}`)
      exact(bytes, HAVE_MAP_HEADER + Math.ceil(pieces / 8), 'have-map')
      const bitfield = bytes.slice(HAVE_MAP_HEADER)
      const spare = bitfield.length * 8 - pieces
      if (spare > 0 && ((bitfield[bitfield.length - 1] as number) & ((1 << spare) - 1)) !== 0) {
        throw new MalformedMessageError('malformed have-map: spare bits set')
      }
      return { type: 'have-map', pieces, bitfield }
    }
    case MESSAGE_TYPES.have: {
      exact(bytes, 5, 'have')
      const index = readU32(bytes, 1)
      if (index >= MAX_CHUNKS) throw new MalformedMessageError('malformed have: index out of range')
      return { type: 'have', index }
    }
    case MESSAGE_TYPES.request: {
      exact(bytes, PIECE_HEADER_BYTES, 'request')
      const index = readU32(bytes, 6)
      const kind = decodeKind(bytes[5] as number, index, 'request')
      return { type: 'request', id: readU32(bytes, 1), kind, index }
    }
    case MESSAGE_TYPES.piece:
      atLeast(bytes, PIECE_HEADER_BYTES, 'piece')
      return decodePiece(bytes.subarray(0, PIECE_HEADER_BYTES), bytes.subarray(PIECE_HEADER_BYTES))
    case MESSAGE_TYPES.cancel:
      exact(bytes, 5, 'cancel')
      return { type: 'cancel', id: readU32(bytes, 1) }
    case MESSAGE_TYPES.reject: {
      atLeast(bytes, REJECT_HEADER, 'reject')
      const reason = REJECT_REASONS[bytes[5] as number]
      if (reason === undefined) throw new MalformedMessageError(`malformed reject: unknown reason ${bytes[5] as number}`)
      const text = bytes.subarray(REJECT_HEADER)
      if (text.length > MAX_REASON_BYTES) throw new MalformedMessageError(`malformed reject: reason text over ${MAX_REASON_BYTES} bytes`)
      let message: string
      try {
        message = strictUtf8.decode(text)
      } catch (err) {
        throw new MalformedMessageError('malformed reject: reason text is not UTF-8', { cause: err })
      }
      return { type: 'reject', id: readU32(bytes, 1), reason, message }
    }
    default:
      throw new MalformedMessageError(`unknown message type 0x${type.toString(16).padStart(2, '0')}`)
  }
}
