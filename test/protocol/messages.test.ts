import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MalformedMessageError, MessageTooLargeError } from '../../protocol/errors.js'
import {
  Bitfield, decodeMessage, decodePiece, encodeMessage, encodePiece, MAX_CHUNK_CIPHERTEXT, MAX_CHUNKS, MAX_MESSAGE_BYTES, MAX_REASON_BYTES,
  MESSAGE_TYPES, PIECE_HEADER_BYTES, PIECE_KINDS, REJECT_REASONS, type SwarmMessage
} from '../../protocol/index.js'

const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const idx = fc.integer({ min: 0, max: MAX_CHUNKS - 1 })
const nonRootKind = fc.constantFrom('chunk' as const, 'block' as const)
const reason = fc.constantFrom(...REJECT_REASONS)
// Bitfields with random contents and zero spare bits, up to a few thousand pieces.
const haveMap = fc.integer({ min: 0, max: 3000 }).chain(pieces => fc.uint8Array({ minLength: Math.ceil(pieces / 8), maxLength: Math.ceil(pieces / 8) }).map(bytes => {
  const b = Uint8Array.from(bytes)
  const spare = b.length * 8 - pieces
  if (spare > 0) b[b.length - 1]! &= 0xff << spare
  return { type: 'have-map' as const, pieces, bitfield: b }
}))
// Any well-formed text (full Unicode, including astral characters and U+FEFF) that fits the limit.
const reasonText = fc.string({ unit: 'binary', maxLength: 80 }).filter(s => new TextEncoder().encode(s).length <= MAX_REASON_BYTES)
const pieceRef = fc.oneof(
  fc.record({ kind: nonRootKind, index: idx }),
  fc.constant({ kind: 'root' as const, index: 0 })
)

const arbMessage: fc.Arbitrary<SwarmMessage> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), version: fc.constant(1), swarm: b32, nonce: b32 }),
  fc.record({ type: fc.constant('hello-ack' as const), nonce: b32, proof: b32 }),
  fc.record({ type: fc.constant('proof' as const), proof: b32 }),
  haveMap,
  fc.record({ type: fc.constant('have' as const), index: idx }),
  fc.tuple(u32, pieceRef).map(([id, r]) => ({ type: 'request' as const, id, ...r })),
  fc.tuple(u32, pieceRef, fc.uint8Array({ maxLength: 3000 })).map(([id, r, data]) => ({ type: 'piece' as const, id, ...r, data })),
  fc.record({ type: fc.constant('cancel' as const), id: u32 }),
  fc.record({ type: fc.constant('reject' as const), id: u32, reason, message: reasonText })
)

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'))
const seq = (n: number, from = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff)

describe('swarm messages: round trips', () => {
  it('every message round-trips, and re-encodes to the same bytes (property)', () => {
    fc.assert(fc.property(arbMessage, m => {
      const bytes = encodeMessage(m)
      const back = decodeMessage(bytes)
      expect(back).toEqual(m)
      expect(hex(encodeMessage(back))).toBe(hex(bytes))
    }), { numRuns: 3000 })
  })

  it('decodes from a view at an odd offset inside a larger buffer (property)', () => {
    fc.assert(fc.property(arbMessage, fc.integer({ min: 1, max: 9 }), (m, pad) => {
      const bytes = encodeMessage(m)
      const big = new Uint8Array(pad + bytes.length + pad).fill(0xee)
      big.set(bytes, pad)
      expect(decodeMessage(big.subarray(pad, pad + bytes.length))).toEqual(m)
    }), { numRuns: 1000 })
  })

  it('encodePiece header ‖ data equals encodeMessage of the piece (property)', () => {
    fc.assert(fc.property(u32, pieceRef, fc.uint8Array({ maxLength: 500 }), (id, r, data) => {
      const [header, body] = encodePiece(id, r.kind, r.index, data)
      expect(header.length).toBe(PIECE_HEADER_BYTES)
      expect(body).toBe(data)
      expect(hex(header) + hex(body)).toBe(hex(encodeMessage({ type: 'piece', id, ...r, data })))
    }), { numRuns: 500 })
  })

  it('decodePiece(header, data) gives what decodeMessage gives for header ‖ data, keeping data as given (property)', () => {
    fc.assert(fc.property(u32, pieceRef, fc.uint8Array({ maxLength: 500 }), (id, r, data) => {
      const [header, body] = encodePiece(id, r.kind, r.index, data)
      const split = decodePiece(header, body)
      expect(split).toEqual(decodeMessage(encodeMessage({ type: 'piece', id, ...r, data })))
      expect(split.type === 'piece' && split.data).toBe(data)
    }), { numRuns: 300 })
  })

  it('decodePiece refuses what decodeMessage refuses: a short header, another type, a bad kind, too much data', () => {
    const [header] = encodePiece(1, 'chunk', 3, new Uint8Array(4))
    expect(() => decodePiece(header.subarray(0, 9), new Uint8Array(4))).toThrow(MalformedMessageError)
    const other = header.slice()
    other[0] = MESSAGE_TYPES.request
    expect(() => decodePiece(other, new Uint8Array(4))).toThrow(MalformedMessageError)
    const badKind = header.slice()
    badKind[5] = 0x7f
    expect(() => decodePiece(badKind, new Uint8Array(4))).toThrow(MalformedMessageError)
    expect(() => decodePiece(header, new Uint8Array(MAX_CHUNK_CIPHERTEXT + 1))).toThrow(MessageTooLargeError)
  })

  it('limits are inclusive: the largest piece, have-map and reject text decode', () => {
    const data = new Uint8Array(MAX_CHUNK_CIPHERTEXT).fill(7)
    const frame = encodeMessage({ type: 'piece', id: 1, kind: 'chunk', index: MAX_CHUNKS - 1, data })
    expect(frame.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
    const m = decodeMessage(frame)
    expect(m.type === 'piece' && m.data.length === MAX_CHUNK_CIPHERTEXT && m.index === MAX_CHUNKS - 1).toBe(true)

    const full = new Bitfield(MAX_CHUNKS)
    for (let i = 0; i < MAX_CHUNKS; i += 4097) full.set(i)
    const hm = decodeMessage(encodeMessage({ type: 'have-map', pieces: MAX_CHUNKS, bitfield: full.toBytes() }))
    expect(hm.type === 'have-map' && Bitfield.fromBytes(hm.pieces, hm.bitfield).count()).toBe(full.count())

    const text = 'é'.repeat(MAX_REASON_BYTES / 2)
    expect(decodeMessage(encodeMessage({ type: 'reject', id: 0, reason: 'busy', message: text }))).toEqual({ type: 'reject', id: 0, reason: 'busy', message: text })
  })
})

describe('swarm messages: golden bytes (a format change fails here)', () => {
  const swarm = seq(32, 0x10)
  const n1 = seq(32, 0x40)
  const n2 = seq(32, 0x80)
  const cases: Array<[string, SwarmMessage, string]> = [
    ['hello', { type: 'hello', version: 1, swarm, nonce: n1 }, '01' + '01' + hex(swarm) + hex(n1)],
    ['hello-ack', { type: 'hello-ack', nonce: n1, proof: n2 }, '02' + hex(n1) + hex(n2)],
    ['proof', { type: 'proof', proof: n2 }, '03' + hex(n2)],
    ['have-map', { type: 'have-map', pieces: 10, bitfield: unhex('a540') }, '04' + '0000000a' + 'a540'],
    ['have-map (0 pieces)', { type: 'have-map', pieces: 0, bitfield: new Uint8Array(0) }, '04' + '00000000'],
    ['have', { type: 'have', index: 0x00a1b2c3 }, '05' + '00a1b2c3'],
    ['request chunk', { type: 'request', id: 0x01020304, kind: 'chunk', index: 0x00050607 }, '06' + '01020304' + '00' + '00050607'],
    ['request block', { type: 'request', id: 0xfffffffe, kind: 'block', index: 3 }, '06' + 'fffffffe' + '01' + '00000003'],
    ['request root', { type: 'request', id: 1, kind: 'root', index: 0 }, '06' + '00000001' + '02' + '00000000'],
    ['piece', { type: 'piece', id: 0x0a0b0c0d, kind: 'chunk', index: 258, data: unhex('deadbeef') }, '07' + '0a0b0c0d' + '00' + '00000102' + 'deadbeef'],
    ['piece (empty, root)', { type: 'piece', id: 2, kind: 'root', index: 0, data: new Uint8Array(0) }, '07' + '00000002' + '02' + '00000000'],
    ['cancel', { type: 'cancel', id: 0x80000001 }, '08' + '80000001'],
    ['reject', { type: 'reject', id: 9, reason: 'rate-limited', message: 'slow ✓' }, '09' + '00000009' + '02' + hex(new TextEncoder().encode('slow ✓'))],
    ['reject session', { type: 'reject', id: 0, reason: 'unknown-swarm', message: '' }, '09' + '00000000' + '06']
  ]
  it.each(cases)('%s', (_name, m, h) => {
    expect(hex(encodeMessage(m))).toBe(h)
    expect(decodeMessage(unhex(h))).toEqual(m)
  })

  it('type bytes and enum values are frozen', () => {
    expect(MESSAGE_TYPES).toEqual({ hello: 1, 'hello-ack': 2, proof: 3, 'have-map': 4, have: 5, request: 6, piece: 7, cancel: 8, reject: 9 })
    expect(PIECE_KINDS).toEqual(['chunk', 'block', 'root'])
    expect(REJECT_REASONS).toEqual(['not-found', 'busy', 'rate-limited', 'bad-request', 'not-admitted', 'shutting-down', 'unknown-swarm'])
  })
})

describe('swarm messages: zero-copy pieces', () => {
  it('encodePiece does not copy the data; decode returns a view into the frame', () => {
    const data = new Uint8Array(1 << 20).fill(5)
    const [header, body] = encodePiece(1, 'chunk', 2, data)
    expect(body).toBe(data)
    const backing = new Uint8Array(3 + header.length + data.length)
    backing.set(header, 3)
    backing.set(data, 3 + header.length)
    const frame = backing.subarray(3)
    const m = decodeMessage(frame)
    if (m.type !== 'piece') throw new Error('not a piece')
    expect(m.data.buffer).toBe(backing.buffer)
    expect(m.data.byteOffset).toBe(3 + PIECE_HEADER_BYTES)
    expect(m.data.length).toBe(data.length)
    frame[PIECE_HEADER_BYTES] = 0x99
    expect(m.data[0]).toBe(0x99)
  })

  it('small fixed fields are copies, independent of the frame', () => {
    const frame = encodeMessage({ type: 'hello-ack', nonce: seq(32), proof: seq(32, 100) })
    const m = decodeMessage(frame)
    frame.fill(0)
    expect(m).toEqual({ type: 'hello-ack', nonce: seq(32), proof: seq(32, 100) })
  })
})

describe('swarm messages: malformed input', () => {
  const hello = '01' + '01' + '00'.repeat(64)
  const ack = '02' + '00'.repeat(64)
  it.each([
    ['empty', '', 'MalformedMessageError'],
    ['type 0x00', '00', 'MalformedMessageError'],
    ['type 0x0a', '0a00000000', 'MalformedMessageError'],
    ['type 0xff', 'ff' + '00'.repeat(20), 'MalformedMessageError'],
    ['type byte only: hello', '01', 'MalformedMessageError'],
    ['short hello', hello.slice(0, -2), 'MalformedMessageError'],
    ['hello trailing byte', hello + '00', 'MalformedMessageError'],
    ['hello v0', '0100' + '00'.repeat(64), 'UnsupportedVersionError'],
    ['hello v2', '0102' + '00'.repeat(64), 'UnsupportedVersionError'],
    ['hello v255', '01ff' + '00'.repeat(64), 'UnsupportedVersionError'],
    ['short hello v2 (length is checked first)', '0102' + '00'.repeat(10), 'MalformedMessageError'],
    ['short hello-ack', ack.slice(0, -2), 'MalformedMessageError'],
    ['hello-ack trailing byte', ack + '00', 'MalformedMessageError'],
    ['short proof', '03' + '00'.repeat(31), 'MalformedMessageError'],
    ['long proof', '03' + '00'.repeat(33), 'MalformedMessageError'],
    ['have-map without count', '04000000', 'MalformedMessageError'],
    ['have-map pieces over the limit', '04' + (MAX_CHUNKS + 1).toString(16).padStart(8, '0'), 'MalformedMessageError'],
    ['have-map pieces 2^32-1', '04ffffffff' + '00'.repeat(40), 'MalformedMessageError'],
    ['have-map bitfield one byte short', '040000000aff', 'MalformedMessageError'],
    ['have-map bitfield one byte long', '040000000affc000', 'MalformedMessageError'],
    ['have-map 0 pieces with a byte', '040000000000', 'MalformedMessageError'],
    ['have-map spare bits', '040000000affc1', 'MalformedMessageError'],
    ['have-map top spare bit', '0400000001c0', 'MalformedMessageError'],
    ['short have', '05000001', 'MalformedMessageError'],
    ['have trailing byte', '050000000100', 'MalformedMessageError'],
    ['have index = MAX_CHUNKS', '05' + MAX_CHUNKS.toString(16).padStart(8, '0'), 'MalformedMessageError'],
    ['have index 2^32-1', '05ffffffff', 'MalformedMessageError'],
    ['short request', '060000000701000000', 'MalformedMessageError'],
    ['request trailing byte', '0600000007010000000300', 'MalformedMessageError'],
    ['request unknown kind', '06000000070300000003', 'MalformedMessageError'],
    ['request kind 0xff', '0600000007ff00000003', 'MalformedMessageError'],
    ['request index = MAX_CHUNKS', '060000000700' + MAX_CHUNKS.toString(16).padStart(8, '0'), 'MalformedMessageError'],
    ['request root at index 1', '06000000070200000001', 'MalformedMessageError'],
    ['short piece header', '070000000700000000', 'MalformedMessageError'],
    ['piece unknown kind', '07000000070500000003aa', 'MalformedMessageError'],
    ['piece index 2^32-1', '070000000700ffffffffaa', 'MalformedMessageError'],
    ['piece root at index 5', '07000000070200000005aa', 'MalformedMessageError'],
    ['short cancel', '0800', 'MalformedMessageError'],
    ['cancel trailing byte', '080000000100', 'MalformedMessageError'],
    ['short reject', '0900000009', 'MalformedMessageError'],
    ['reject unknown reason', '090000000907', 'MalformedMessageError'],
    ['reject reason 0xff', '0900000009ff', 'MalformedMessageError'],
    ['reject bad utf-8: truncated sequence', '0900000009' + '01' + 'c3', 'MalformedMessageError'],
    ['reject bad utf-8: lone continuation', '0900000009' + '01' + '80', 'MalformedMessageError'],
    ['reject bad utf-8: overlong', '0900000009' + '01' + 'c0af', 'MalformedMessageError'],
    ['reject bad utf-8: surrogate', '0900000009' + '01' + 'eda080', 'MalformedMessageError'],
    ['reject bad utf-8: over U+10FFFF', '0900000009' + '01' + 'f4908080', 'MalformedMessageError'],
    ['reject text over the limit', '0900000009' + '01' + '61'.repeat(MAX_REASON_BYTES + 1), 'MalformedMessageError']
  ])('refuses %s', (_what, h, name) => {
    expect(() => decodeMessage(unhex(h))).toThrow(expect.objectContaining({ name }))
  })

  it('refuses a piece larger than the largest chunk, and any body over the frame limit', () => {
    const big = new Uint8Array(PIECE_HEADER_BYTES + MAX_CHUNK_CIPHERTEXT + 1)
    big[0] = MESSAGE_TYPES.piece
    expect(big.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
    expect(() => decodeMessage(big)).toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
    for (const type of [0, 1, 4, 7, 9, 0xff]) {
      const huge = new Uint8Array(MAX_MESSAGE_BYTES + 1)
      huge[0] = type
      expect(() => decodeMessage(huge)).toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
    }
  })

  it('refuses non-bytes with MalformedMessageError', () => {
    expect(() => decodeMessage('0500000001' as unknown as Uint8Array)).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
    expect(() => decodeMessage(undefined as unknown as Uint8Array)).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
  })
})

describe('swarm messages: encoders refuse caller bugs', () => {
  const z = new Uint8Array(32)
  it.each<[string, () => unknown, ErrorConstructor]>([
    ['31-byte nonce', () => encodeMessage({ type: 'hello', version: 1, swarm: z, nonce: new Uint8Array(31) }), RangeError],
    ['33-byte swarm', () => encodeMessage({ type: 'hello', version: 1, swarm: new Uint8Array(33), nonce: z }), RangeError],
    ['hello version 2', () => encodeMessage({ type: 'hello', version: 2, swarm: z, nonce: z }), RangeError],
    ['nonce not bytes', () => encodeMessage({ type: 'hello-ack', nonce: [...z] as unknown as Uint8Array, proof: z }), TypeError],
    ['31-byte proof', () => encodeMessage({ type: 'proof', proof: new Uint8Array(31) }), RangeError],
    ['have-map pieces over the limit', () => encodeMessage({ type: 'have-map', pieces: MAX_CHUNKS + 1, bitfield: new Uint8Array(MAX_CHUNKS / 8 + 1) }), RangeError],
    ['have-map wrong bitfield length', () => encodeMessage({ type: 'have-map', pieces: 9, bitfield: new Uint8Array(1) }), RangeError],
    ['have-map spare bits', () => encodeMessage({ type: 'have-map', pieces: 9, bitfield: unhex('ff01') }), RangeError],
    ['have -1', () => encodeMessage({ type: 'have', index: -1 }), RangeError],
    ['have MAX_CHUNKS', () => encodeMessage({ type: 'have', index: MAX_CHUNKS }), RangeError],
    ['have 1.5', () => encodeMessage({ type: 'have', index: 1.5 }), RangeError],
    ['request id 2^32', () => encodeMessage({ type: 'request', id: 2 ** 32, kind: 'chunk', index: 0 }), RangeError],
    ['request unknown kind', () => encodeMessage({ type: 'request', id: 1, kind: 'x' as 'chunk', index: 0 }), TypeError],
    ['request root at index 1', () => encodeMessage({ type: 'request', id: 1, kind: 'root', index: 1 }), RangeError],
    ['piece too large', () => encodePiece(1, 'chunk', 0, new Uint8Array(MAX_CHUNK_CIPHERTEXT + 1)), RangeError],
    ['piece data not bytes', () => encodePiece(1, 'chunk', 0, 'abc' as unknown as Uint8Array), TypeError],
    ['piece id NaN', () => encodePiece(Number.NaN, 'chunk', 0, new Uint8Array(1)), RangeError],
    ['cancel -1', () => encodeMessage({ type: 'cancel', id: -1 }), RangeError],
    ['reject unknown reason', () => encodeMessage({ type: 'reject', id: 1, reason: 'nope' as 'busy', message: '' }), TypeError],
    ['reject text over the limit', () => encodeMessage({ type: 'reject', id: 1, reason: 'busy', message: 'a'.repeat(MAX_REASON_BYTES + 1) }), RangeError],
    ['reject lone surrogate', () => encodeMessage({ type: 'reject', id: 1, reason: 'busy', message: 'a\ud800b' }), TypeError],
    ['unknown type', () => encodeMessage({ type: 'ping' } as unknown as SwarmMessage), TypeError],
    ['not an object', () => encodeMessage(null as unknown as SwarmMessage), TypeError]
  ])('%s', (_what, f, E) => {
    expect(f).toThrow(E)
  })
})

describe('bitfield', () => {
  it('sets, clears, counts and round-trips (golden MSB-first layout)', () => {
    const b = new Bitfield(10)
    b.set(0); b.set(9); b.set(9)
    expect(b.count()).toBe(2)
    expect(b.get(9)).toBe(true)
    expect(b.get(1)).toBe(false)
    expect(hex(b.toBytes())).toBe('8040')
    expect(Bitfield.fromBytes(10, b.toBytes()).count()).toBe(2)
    b.clear(0); b.clear(0)
    expect(hex(b.toBytes())).toBe('0040')
    expect(b.count()).toBe(1)
  })

  it('matches a Set model under random operations (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }).chain(size => fc.tuple(
      fc.constant(size),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: size - 1 })), { maxLength: 400 })
    )), ([size, ops]) => {
      const b = new Bitfield(size)
      const model = new Set<number>()
      for (const [add, i] of ops) {
        if (add) { b.set(i); model.add(i) } else { b.clear(i); model.delete(i) }
      }
      expect(b.count()).toBe(model.size)
      expect(b.isComplete()).toBe(model.size === size)
      const got: number[] = []
      const want: number[] = []
      for (let i = 0; i < size; i++) { if (b.get(i)) got.push(i); if (model.has(i)) want.push(i) }
      expect(got).toEqual(want)
      // The byte layout, computed independently: piece i is bit 7 − i%8 of byte i>>3.
      const bytes = b.toBytes()
      const layout = new Uint8Array(Math.ceil(size / 8))
      for (const i of model) layout[i >> 3]! |= 0x80 >> (i % 8)
      expect(hex(bytes)).toBe(hex(layout))
      const again = Bitfield.fromBytes(size, bytes)
      expect(hex(again.toBytes())).toBe(hex(bytes))
      expect(again.count()).toBe(model.size)
    }), { numRuns: 500 })
  })

  it('isComplete, empty and full maps', () => {
    expect(new Bitfield(0).isComplete()).toBe(true)
    expect(new Bitfield(0).toBytes().length).toBe(0)
    const b = new Bitfield(9)
    for (let i = 0; i < 9; i++) b.set(i)
    expect(b.isComplete()).toBe(true)
    expect(hex(b.toBytes())).toBe('ff80')
    const max = new Bitfield(MAX_CHUNKS)
    expect(max.toBytes().length).toBe(MAX_CHUNKS / 8)
    max.set(MAX_CHUNKS - 1)
    expect(max.get(MAX_CHUNKS - 1)).toBe(true)
    expect(Bitfield.fromBytes(MAX_CHUNKS, new Uint8Array(MAX_CHUNKS / 8).fill(0xff)).isComplete()).toBe(true)
  })

  it('copies in and out', () => {
    const src = unhex('80')
    const b = Bitfield.fromBytes(1, src)
    src[0] = 0
    expect(b.get(0)).toBe(true)
    const out = b.toBytes()
    out[0] = 0
    expect(b.get(0)).toBe(true)
  })

  it('refuses out-of-range indices and sizes with RangeError', () => {
    const b = new Bitfield(10)
    for (const i of [-1, 10, 1.5, Number.NaN, 2 ** 32]) {
      expect(() => b.get(i)).toThrow(RangeError)
      expect(() => b.set(i)).toThrow(RangeError)
      expect(() => b.clear(i)).toThrow(RangeError)
    }
    for (const size of [-1, MAX_CHUNKS + 1, 2.5, Number.POSITIVE_INFINITY]) expect(() => new Bitfield(size)).toThrow(RangeError)
  })

  it.each([
    ['short', 10, '80'],
    ['long', 10, '800000'],
    ['spare bits', 10, '0001'],
    ['bytes for 0 pieces', 0, '00'],
    ['size over MAX_CHUNKS', MAX_CHUNKS + 1, ''],
    ['negative size', -8, '']
  ])('fromBytes refuses %s with MalformedMessageError', (_what, size, h) => {
    expect(() => Bitfield.fromBytes(size as number, unhex(h as string))).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
  })
})
