import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Bitfield, decodeMessage, encodeMessage, encodePiece, MAX_CHUNK_CIPHERTEXT, MAX_CHUNKS, type SwarmMessage } from '../../protocol/index.js'

const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const idx = fc.integer({ min: 0, max: MAX_CHUNKS - 1 })
const kind = fc.constantFrom('chunk' as const, 'block' as const, 'root' as const)
const reason = fc.constantFrom('not-found' as const, 'busy' as const, 'rate-limited' as const, 'bad-request' as const, 'not-admitted' as const, 'shutting-down' as const, 'unknown-swarm' as const)
const haveMap = fc.integer({ min: 0, max: 200 }).chain(pieces => fc.uint8Array({ minLength: Math.ceil(pieces / 8), maxLength: Math.ceil(pieces / 8) }).map(bytes => {
  const b = Uint8Array.from(bytes)
  const spare = b.length * 8 - pieces
  if (spare > 0) b[b.length - 1]! &= 0xff << spare
  return { type: 'have-map' as const, pieces, bitfield: b }
}))

const arbMessage: fc.Arbitrary<SwarmMessage> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), version: fc.constant(1), swarm: b32, nonce: b32 }),
  fc.record({ type: fc.constant('hello-ack' as const), nonce: b32, proof: b32 }),
  fc.record({ type: fc.constant('proof' as const), proof: b32 }),
  haveMap,
  fc.record({ type: fc.constant('have' as const), index: idx }),
  fc.record({ type: fc.constant('request' as const), id: u32, kind, index: idx }),
  fc.record({ type: fc.constant('piece' as const), id: u32, kind, index: idx, data: fc.uint8Array({ maxLength: 3000 }) }),
  fc.record({ type: fc.constant('cancel' as const), id: u32 }),
  fc.record({ type: fc.constant('reject' as const), id: u32, reason, message: fc.string({ maxLength: 60 }) })
)

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('swarm messages', () => {
  it('every message round-trips (property)', () => {
    fc.assert(fc.property(arbMessage, m => { expect(decodeMessage(encodeMessage(m))).toEqual(m) }), { numRuns: 2000 })
  })

  it('golden bytes for each type (a format change fails here)', () => {
    const z = new Uint8Array(32)
    const o = new Uint8Array(32).fill(1)
    expect(hex(encodeMessage({ type: 'hello', version: 1, swarm: o, nonce: z }))).toBe('0101' + '01'.repeat(32) + '00'.repeat(32))
    expect(hex(encodeMessage({ type: 'hello-ack', nonce: z, proof: o }))).toBe('02' + '00'.repeat(32) + '01'.repeat(32))
    expect(hex(encodeMessage({ type: 'proof', proof: o }))).toBe('03' + '01'.repeat(32))
    expect(hex(encodeMessage({ type: 'have-map', pieces: 10, bitfield: new Uint8Array([0xff, 0xc0]) }))).toBe('040000000affc0')
    expect(hex(encodeMessage({ type: 'have', index: 258 }))).toBe('0500000102')
    expect(hex(encodeMessage({ type: 'request', id: 7, kind: 'block', index: 3 }))).toBe('06000000070100000003')
    expect(hex(encodeMessage({ type: 'piece', id: 7, kind: 'chunk', index: 3, data: new Uint8Array([0xaa, 0xbb]) }))).toBe('06'.replace('06', '07') + '000000070000000003aabb')
    expect(hex(encodeMessage({ type: 'cancel', id: 9 }))).toBe('0800000009')
    expect(hex(encodeMessage({ type: 'reject', id: 9, reason: 'busy', message: 'ok' }))).toBe('0900000009016f6b')
  })

  it('pieces decode as a view and encode without copying the chunk', () => {
    const data = new Uint8Array(1000).fill(5)
    const [header, body] = encodePiece(1, 'chunk', 2, data)
    expect(body).toBe(data)
    const frame = new Uint8Array([...header, ...data])
    const m = decodeMessage(frame)
    if (m.type !== 'piece') throw new Error('not a piece')
    expect(m.data.buffer).toBe(frame.buffer)
  })

  it.each([
    ['empty', '', 'MalformedMessageError'],
    ['unknown type', '7f', 'MalformedMessageError'],
    ['short hello', '0101', 'MalformedMessageError'],
    ['hello v2', '0102' + '00'.repeat(64), 'UnsupportedVersionError'],
    ['long proof', '03' + '00'.repeat(33), 'MalformedMessageError'],
    ['have-map pieces over the limit', '04' + (MAX_CHUNKS + 1).toString(16).padStart(8, '0'), 'MalformedMessageError'],
    ['have-map wrong length', '040000000aff', 'MalformedMessageError'],
    ['have-map spare bits', '040000000affc1', 'MalformedMessageError'],
    ['have out of range', '05ffffffff', 'MalformedMessageError'],
    ['request unknown kind', '06000000070900000003', 'MalformedMessageError'],
    ['request trailing byte', '0600000007010000000300', 'MalformedMessageError'],
    ['piece unknown kind', '07000000070500000003', 'MalformedMessageError'],
    ['reject unknown reason', '090000000963', 'MalformedMessageError'],
    ['reject bad utf-8', '0900000009' + '01' + 'c3', 'MalformedMessageError'],
    ['reject reason too long', '0900000009' + '01' + '61'.repeat(257), 'MalformedMessageError']
  ])('refuses %s', (_what, h, name) => {
    expect(() => decodeMessage(Uint8Array.from(Buffer.from(h, 'hex')))).toThrow(expect.objectContaining({ name }))
  })

  it('refuses a piece larger than the largest chunk, and any message over the frame limit', () => {
    const big = new Uint8Array(10 + MAX_CHUNK_CIPHERTEXT + 1)
    big[0] = 7
    expect(() => decodeMessage(big)).toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
    expect(() => decodeMessage(new Uint8Array(MAX_CHUNK_CIPHERTEXT + 200))).toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
  })

  it('encoders refuse caller bugs with RangeError/TypeError', () => {
    expect(() => encodeMessage({ type: 'proof', proof: new Uint8Array(31) })).toThrow(RangeError)
    expect(() => encodeMessage({ type: 'have', index: -1 })).toThrow(RangeError)
    expect(() => encodeMessage({ type: 'request', id: 1, kind: 'x' as 'chunk', index: 0 })).toThrow(TypeError)
  })
})

describe('bitfield', () => {
  it('sets, counts and round-trips', () => {
    const b = new Bitfield(10)
    b.set(0); b.set(9); b.set(9)
    expect(b.count()).toBe(2)
    expect(b.get(9)).toBe(true)
    expect(hex(b.toBytes())).toBe('8040')
    expect(Bitfield.fromBytes(10, b.toBytes()).count()).toBe(2)
    expect(() => b.get(10)).toThrow(RangeError)
    expect(() => Bitfield.fromBytes(10, new Uint8Array([0, 0x3f]))).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
  })

  it('any bytes into fromBytes: a bitfield or a typed error (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), fc.uint8Array({ maxLength: 16 }), (n, bytes) => {
      try { Bitfield.fromBytes(n, bytes) } catch (e) { expect((e as Error).name).toBe('MalformedMessageError') }
    }), { numRuns: 5000 })
  })
})
