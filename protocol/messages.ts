/**
 * Wire messages of the swarm protocol `/kith/swarm/1.0.0` (docs/PROTOCOL.md §7).
 *
 * Purpose: exchange admission proofs, have-maps, requests and pieces between two peers of one
 * share over one Noise-encrypted libp2p stream.
 * Goals: fixed binary layouts that are cheap to parse and impossible to misparse; a decoder that,
 * given any bytes, returns a well-formed message or throws a typed error; zero-copy pieces.
 * Non-goals: framing (the caller length-prefixes each message with lpStream), flow control
 * (yamux), encryption (Noise), authenticity of piece contents (checked by hash against the
 * manifest, not here).
 *
 * Flow: hello → hello-ack → proof (admission.ts), then have-map both ways, then any mix of
 * have / request / piece / cancel / reject. Every body is: type (u8) ‖ fields, big-endian.
 */
import {
  ADMISSION_NONCE_BYTES, ADMISSION_PROOF_BYTES, FORMAT_VERSION, MAX_CHUNK_CIPHERTEXT, MAX_CHUNKS, MAX_MESSAGE_BYTES, MAX_REASON_BYTES
} from './constants.js'
import { MalformedMessageError, MessageTooLargeError, UnsupportedVersionError } from './errors.js'

export type PieceKind = 'chunk' | 'block' | 'root'
export type RejectReason = 'not-found' | 'busy' | 'rate-limited' | 'bad-request' | 'not-admitted' | 'shutting-down' | 'unknown-swarm'

export type SwarmMessage =
  | { type: 'hello', version: number, swarm: Uint8Array, nonce: Uint8Array }
  | { type: 'hello-ack', nonce: Uint8Array, proof: Uint8Array }
  | { type: 'proof', proof: Uint8Array }
  | { type: 'have-map', pieces: number, bitfield: Uint8Array }
  | { type: 'have', index: number }
  | { type: 'request', id: number, kind: PieceKind, index: number }
  | { type: 'piece', id: number, kind: PieceKind, index: number, data: Uint8Array }
  | { type: 'cancel', id: number }
  | { type: 'reject', id: number, reason: RejectReason, message: string }

/** Type bytes. Format. */
export const MESSAGE_TYPES = Object.freeze({
  hello: 0x01, 'hello-ack': 0x02, proof: 0x03, 'have-map': 0x04, have: 0x05, request: 0x06, piece: 0x07, cancel: 0x08, reject: 0x09
} as const)

const KINDS: readonly PieceKind[] = ['chunk', 'block', 'root']
const REASONS: readonly RejectReason[] = ['not-found', 'busy', 'rate-limited', 'bad-request', 'not-admitted', 'shutting-down', 'unknown-swarm']
const SWARM_ID_BYTES = 32
const PIECE_HEADER = 1 + 4 + 1 + 4
const encoder = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

function u32ok (n: number): boolean { return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff }

function checkLength (what: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new RangeError(`${what} must be ${n} bytes`)
}

function checkU32 (what: string, n: number): void {
  if (!u32ok(n)) throw new RangeError(`${what} must be a u32`)
}

/** Encodes a piece as [header, data] so a chunk is sent without copying it. */
export function encodePiece (id: number, kind: PieceKind, index: number, data: Uint8Array): [Uint8Array, Uint8Array] {
  checkU32('id', id)
  checkU32('index', index)
  if (data.length > MAX_CHUNK_CIPHERTEXT) throw new RangeError('piece data too large')
  const k = KINDS.indexOf(kind)
  if (k < 0) throw new TypeError('unknown piece kind')
  const header = new Uint8Array(PIECE_HEADER)
  const v = new DataView(header.buffer)
  header[0] = MESSAGE_TYPES.piece
  v.setUint32(1, id)
  header[5] = k
  v.setUint32(6, index)
  return [header, data]
}

/** Encodes one message body. Throws RangeError/TypeError on a caller bug (wrong lengths). */
export function encodeMessage (m: SwarmMessage): Uint8Array {
  switch (m.type) {
    case 'hello': {
      checkLength('swarm', m.swarm, SWARM_ID_BYTES)
      checkLength('nonce', m.nonce, ADMISSION_NONCE_BYTES)
      if (!Number.isInteger(m.version) || m.version < 0 || m.version > 255) throw new RangeError('version must be a u8')
      const b = new Uint8Array(2 + SWARM_ID_BYTES + ADMISSION_NONCE_BYTES)
      b[0] = MESSAGE_TYPES.hello
      b[1] = m.version
      b.set(m.swarm, 2)
      b.set(m.nonce, 2 + SWARM_ID_BYTES)
      return b
    }
    case 'hello-ack': {
      checkLength('nonce', m.nonce, ADMISSION_NONCE_BYTES)
      checkLength('proof', m.proof, ADMISSION_PROOF_BYTES)
      const b = new Uint8Array(1 + ADMISSION_NONCE_BYTES + ADMISSION_PROOF_BYTES)
      b[0] = MESSAGE_TYPES['hello-ack']
      b.set(m.nonce, 1)
      b.set(m.proof, 1 + ADMISSION_NONCE_BYTES)
      return b
    }
    case 'proof': {
      checkLength('proof', m.proof, ADMISSION_PROOF_BYTES)
      const b = new Uint8Array(1 + ADMISSION_PROOF_BYTES)
      b[0] = MESSAGE_TYPES.proof
      b.set(m.proof, 1)
      return b
    }
    case 'have-map': {
      if (!Number.isInteger(m.pieces) || m.pieces < 0 || m.pieces > MAX_CHUNKS) throw new RangeError('pieces out of range')
      checkLength('bitfield', m.bitfield, Math.ceil(m.pieces / 8))
      const b = new Uint8Array(5 + m.bitfield.length)
      b[0] = MESSAGE_TYPES['have-map']
      new DataView(b.buffer).setUint32(1, m.pieces)
      b.set(m.bitfield, 5)
      return b
    }
    case 'have': {
      checkU32('index', m.index)
      const b = new Uint8Array(5)
      b[0] = MESSAGE_TYPES.have
      new DataView(b.buffer).setUint32(1, m.index)
      return b
    }
    case 'request': {
      checkU32('id', m.id)
      checkU32('index', m.index)
      const k = KINDS.indexOf(m.kind)
      if (k < 0) throw new TypeError('unknown piece kind')
      const b = new Uint8Array(10)
      const v = new DataView(b.buffer)
      b[0] = MESSAGE_TYPES.request
      v.setUint32(1, m.id)
      b[5] = k
      v.setUint32(6, m.index)
      return b
    }
    case 'piece': {
      const [header, data] = encodePiece(m.id, m.kind, m.index, m.data)
      const b = new Uint8Array(header.length + data.length)
      b.set(header)
      b.set(data, header.length)
      return b
    }
    case 'cancel': {
      checkU32('id', m.id)
      const b = new Uint8Array(5)
      b[0] = MESSAGE_TYPES.cancel
      new DataView(b.buffer).setUint32(1, m.id)
      return b
    }
    case 'reject': {
      checkU32('id', m.id)
      const r = REASONS.indexOf(m.reason)
      if (r < 0) throw new TypeError('unknown reject reason')
      const text = encoder.encode(m.message)
      if (text.length > MAX_REASON_BYTES) throw new RangeError(`reject message over ${MAX_REASON_BYTES} bytes`)
      const b = new Uint8Array(6 + text.length)
      b[0] = MESSAGE_TYPES.reject
      new DataView(b.buffer).setUint32(1, m.id)
      b[5] = r
      b.set(text, 6)
      return b
    }
    default:
      throw new TypeError('unknown message type')
  }
}

function exact (b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new MalformedMessageError(`malformed ${what}: ${b.length} bytes, expected ${n}`)
}

/**
 * Decodes one message body. Given any bytes, returns a well-formed message or throws
 * MalformedMessageError, MessageTooLargeError or UnsupportedVersionError (hello with version ≠ 1).
 * A piece's `data` is a view into `bytes` (no copy).
 */
export function decodeMessage (bytes: Uint8Array): SwarmMessage {
  if (!(bytes instanceof Uint8Array)) throw new MalformedMessageError('message is not bytes')
  if (bytes.length > MAX_MESSAGE_BYTES) throw new MessageTooLargeError()
  if (bytes.length === 0) throw new MalformedMessageError('empty message')
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  switch (bytes[0]) {
    case MESSAGE_TYPES.hello: {
      exact(bytes, 2 + SWARM_ID_BYTES + ADMISSION_NONCE_BYTES, 'hello')
      const version = bytes[1] as number
      if (version !== FORMAT_VERSION) throw new UnsupportedVersionError(version, 'swarm protocol')
      return { type: 'hello', version, swarm: bytes.slice(2, 2 + SWARM_ID_BYTES), nonce: bytes.slice(2 + SWARM_ID_BYTES) }
    }
    case MESSAGE_TYPES['hello-ack']:
      exact(bytes, 1 + ADMISSION_NONCE_BYTES + ADMISSION_PROOF_BYTES, 'hello-ack')
      return { type: 'hello-ack', nonce: bytes.slice(1, 1 + ADMISSION_NONCE_BYTES), proof: bytes.slice(1 + ADMISSION_NONCE_BYTES) }
    case MESSAGE_TYPES.proof:
      exact(bytes, 1 + ADMISSION_PROOF_BYTES, 'proof')
      return { type: 'proof', proof: bytes.slice(1) }
    case MESSAGE_TYPES['have-map']: {
      if (bytes.length < 5) throw new MalformedMessageError('malformed have-map: too short')
      const pieces = v.getUint32(1)
      if (pieces > MAX_CHUNKS) throw new MalformedMessageError('malformed have-map: too many pieces')
      exact(bytes, 5 + Math.ceil(pieces / 8), 'have-map')
      const bitfield = bytes.slice(5)
      const spare = bitfield.length * 8 - pieces
      if (spare > 0 && ((bitfield[bitfield.length - 1] as number) & ((1 << spare) - 1)) !== 0) throw new MalformedMessageError('malformed have-map: spare bits set')
      return { type: 'have-map', pieces, bitfield }
    }
    case MESSAGE_TYPES.have: {
      exact(bytes, 5, 'have')
      const index = v.getUint32(1)
      if (index >= MAX_CHUNKS) throw new MalformedMessageError('malformed have: index out of range')
      return { type: 'have', index }
    }
    case MESSAGE_TYPES.request: {
      exact(bytes, 10, 'request')
      const kind = KINDS[bytes[5] as number]
      if (kind === undefined) throw new MalformedMessageError('malformed request: unknown kind')
      const index = v.getUint32(6)
      if (index >= MAX_CHUNKS) throw new MalformedMessageError('malformed request: index out of range')
      return { type: 'request', id: v.getUint32(1), kind, index }
    }
    case MESSAGE_TYPES.piece: {
      if (bytes.length < PIECE_HEADER) throw new MalformedMessageError('malformed piece: too short')
      const kind = KINDS[bytes[5] as number]
      if (kind === undefined) throw new MalformedMessageError('malformed piece: unknown kind')
      const index = v.getUint32(6)
      if (index >= MAX_CHUNKS) throw new MalformedMessageError('malformed piece: index out of range')
      const data = bytes.subarray(PIECE_HEADER)
      if (data.length > MAX_CHUNK_CIPHERTEXT) throw new MessageTooLargeError('piece larger than the largest chunk')
      return { type: 'piece', id: v.getUint32(1), kind, index, data }
    }
    case MESSAGE_TYPES.cancel:
      exact(bytes, 5, 'cancel')
      return { type: 'cancel', id: v.getUint32(1) }
    case MESSAGE_TYPES.reject: {
      if (bytes.length < 6) throw new MalformedMessageError('malformed reject: too short')
      const reason = REASONS[bytes[5] as number]
      if (reason === undefined) throw new MalformedMessageError('malformed reject: unknown reason')
      const text = bytes.subarray(6)
      if (text.length > MAX_REASON_BYTES) throw new MalformedMessageError('malformed reject: reason text too long')
      let message: string
      try { message = strictUtf8.decode(text) } catch (err) { throw new MalformedMessageError('malformed reject: reason is not UTF-8', { cause: err }) }
      return { type: 'reject', id: v.getUint32(1), reason, message }
    }
    default:
      throw new MalformedMessageError(`unknown message type 0x${(bytes[0] as number).toString(16).padStart(2, '0')}`)
  }
}
