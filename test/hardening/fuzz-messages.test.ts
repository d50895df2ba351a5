/**
 * Fuzz: ≥ 100,000 inputs into the swarm message decoder, and into Bitfield.fromBytes.
 *
 * Inputs mix pure random bytes, random bodies behind every valid type byte, and mutations of valid
 * encodings (bit flips, truncations, extensions, inflated length and count fields, random enum
 * bytes). The decoder must only ever throw MalformedMessageError, MessageTooLargeError or
 * UnsupportedVersionError, and anything it accepts must re-encode to exactly the input bytes
 * (canonical: one meaning, one encoding). Deterministic (seeded xorshift) so a failure reproduces.
 */
import { describe, expect, it } from 'vitest'
import { sized } from './long.js'
import {
  Bitfield, decodeMessage, encodeMessage, KithError, MAX_CHUNK_CIPHERTEXT, MAX_CHUNKS, MAX_MESSAGE_BYTES, type SwarmMessage
} from '../../protocol/index.js'

function prng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x }
}

const DECODE_ERRORS = new Set(['MalformedMessageError', 'MessageTooLargeError', 'UnsupportedVersionError'])

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const hexOf = (b: Uint8Array): string => Buffer.from(b.subarray(0, 64)).toString('hex') + (b.length > 64 ? `…(${b.length} B)` : '')

const valid: SwarmMessage[] = [
  { type: 'hello', version: 1, swarm: new Uint8Array(32).fill(1), nonce: new Uint8Array(32) },
  { type: 'hello-ack', nonce: new Uint8Array(32), proof: new Uint8Array(32).fill(2) },
  { type: 'proof', proof: new Uint8Array(32) },
  { type: 'have-map', pieces: 20, bitfield: new Uint8Array([1, 2, 0x30]) },
  { type: 'have-map', pieces: 0, bitfield: new Uint8Array(0) },
  { type: 'have-map', pieces: 257, bitfield: new Uint8Array(33).fill(0xff).map((v, i) => i === 32 ? 0x80 : v) },
  { type: 'have', index: 5 },
  { type: 'request', id: 1, kind: 'chunk', index: 4 },
  { type: 'request', id: 0xffffffff, kind: 'root', index: 0 },
  { type: 'piece', id: 1, kind: 'block', index: 4, data: new Uint8Array(100).fill(9) },
  { type: 'piece', id: 2, kind: 'root', index: 0, data: new Uint8Array(0) },
  { type: 'cancel', id: 3 },
  { type: 'reject', id: 3, reason: 'busy', message: 'try later' },
  { type: 'reject', id: 0, reason: 'unknown-swarm', message: 'é✓😀' }
]

/** Byte offsets of the u32 fields an attacker would inflate, per type byte. */
const U32_FIELDS: Record<number, number[]> = { 4: [1], 5: [1], 6: [1, 6], 7: [1, 6], 8: [1], 9: [1] }
/** Inputs per test: `npm test` / `npm run test:hardening`. */
const FRAMES = sized(120_000, 1_200_000)
const BITFIELDS = sized(50_000, 1_000_000)
const BOUND = sized(60_000, 900_000)
const BIG_U32 = [MAX_CHUNKS - 1, MAX_CHUNKS, MAX_CHUNKS + 1, 0x7fffffff, 0x80000000, 0xffffffff, MAX_CHUNK_CIPHERTEXT]

/** Runs one input; returns true if it was refused with a typed error. Throws on any other outcome. */
function check (input: Uint8Array): boolean {
  let m: SwarmMessage
  try {
    m = decodeMessage(input)
  } catch (err) {
    if (err instanceof KithError && DECODE_ERRORS.has(err.name)) return true
    throw new Error(`untyped ${(err as Error).name}: ${(err as Error).message} for ${hexOf(input)}`)
  }
  let again: Uint8Array
  try {
    again = encodeMessage(m)
  } catch (err) {
    throw new Error(`decoded ${m.type} does not re-encode (${(err as Error).message}) for ${hexOf(input)}`)
  }
  if (!sameBytes(again, input)) throw new Error(`non-canonical ${m.type} accepted: ${hexOf(input)}`)
  return false
}

describe('fuzz: swarm messages', () => {
  it(`${FRAMES.toLocaleString('en')} random and mutated frames: typed errors only, accepted frames are canonical`, () => {
    const r = prng(0x6b697468)
    const encoded = valid.map(encodeMessage)
    const started = Date.now()
    const refused = new Map<string, number>()
    let accepted = 0
    let total = 0
    const run = (mode: string, input: Uint8Array): void => {
      total++
      if (check(input)) refused.set(mode, (refused.get(mode) ?? 0) + 1)
      else accepted++
    }

    for (let i = 0; i < FRAMES; i++) {
      const mode = i % 6
      if (mode === 0) {
        // Pure random bytes, length 0..300.
        run('random', Uint8Array.from({ length: r() % 301 }, () => r() & 0xff))
      } else if (mode === 1) {
        // Random body behind every valid type byte (and its neighbours 0x00, 0x0a), 0..120 bytes.
        const input = Uint8Array.from({ length: 1 + (r() % 121) }, () => r() & 0xff)
        input[0] = r() % 11
        run('typed-random', input)
      } else {
        const base = encoded[r() % encoded.length]!
        let input = Uint8Array.from(base)
        const op = mode === 2 ? 'flip' : mode === 3 ? 'truncate' : mode === 4 ? 'extend' : 'inflate'
        if (op === 'flip') {
          // 1..3 bit flips anywhere, including the type byte.
          for (let f = 1 + (r() % 3); f > 0; f--) { const bit = r() % (input.length * 8); input[bit >> 3]! ^= 1 << (bit & 7) }
        } else if (op === 'truncate') {
          input = input.subarray(0, r() % input.length)
        } else if (op === 'extend') {
          const e = new Uint8Array(input.length + 1 + (r() % 8))
          e.set(input)
          for (let j = input.length; j < e.length; j++) e[j] = r() & 0xff
          input = e
        } else {
          // Inflate a count/id/index field, or set an enum byte (kind, reason, version) at random.
          const type = input[0]!
          const offsets = U32_FIELDS[type]
          if (offsets !== undefined && r() % 3 !== 0) {
            const at = offsets[r() % offsets.length]!
            const v = r() % 2 === 0 ? BIG_U32[r() % BIG_U32.length]! : r()
            new DataView(input.buffer, input.byteOffset).setUint32(at, v)
          } else if (input.length > 5) {
            input[type === 1 ? 1 : 5] = r() & 0xff
          }
        }
        run(op, input)
      }
    }

    // Frames over the limit, behind each type byte: refused before any parsing.
    const huge = new Uint8Array(MAX_MESSAGE_BYTES + 1)
    for (let type = 0; type < 11; type++) {
      huge[0] = type
      expect(() => decodeMessage(huge)).toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
      total++
    }

    const elapsed = Date.now() - started
    expect(total).toBeGreaterThanOrEqual(FRAMES)
    // Every mode must actually exercise the refusal paths, and valid-looking mutations must get through sometimes.
    for (const mode of ['random', 'typed-random', 'flip', 'truncate', 'extend', 'inflate']) expect(refused.get(mode) ?? 0).toBeGreaterThan(1000)
    expect(accepted).toBeGreaterThan(1000)
    expect(elapsed).toBeLessThan(sized(15_000, 300_000))
    console.log(`fuzz swarm messages: ${total} inputs, ${elapsed} ms, 0 crashes`)
  }, BOUND)
})

describe('fuzz: Bitfield.fromBytes', () => {
  it(`${BITFIELDS.toLocaleString('en')} random and near-miss inputs: a bitfield equal to its input, or MalformedMessageError`, () => {
    const r = prng(0xb17f1e1d)
    let ok = 0
    let refused = 0
    for (let i = 0; i < BITFIELDS; i++) {
      let size: number
      let bytes: Uint8Array
      if (i % 2 === 0) {
        // Unrelated size and bytes.
        size = r() % 3 === 0 ? [-1, MAX_CHUNKS + 1, 0, 2 ** 32, 1.5][r() % 5]! : r() % 200
        bytes = Uint8Array.from({ length: r() % 30 }, () => r() & 0xff)
      } else {
        // The right length, random content: valid exactly when the spare bits are clear.
        size = r() % 200
        bytes = Uint8Array.from({ length: Math.ceil(size / 8) }, () => r() & 0xff)
        if (r() % 2 === 0 && bytes.length > 0) bytes[bytes.length - 1]! &= 0xff << (bytes.length * 8 - size)
      }
      let b: Bitfield
      try {
        b = Bitfield.fromBytes(size, bytes)
      } catch (err) {
        if ((err as Error).name !== 'MalformedMessageError') throw new Error(`untyped ${(err as Error).name} for size ${size}`)
        refused++
        continue
      }
      ok++
      if (!sameBytes(b.toBytes(), bytes) || b.size !== size) throw new Error(`bitfield does not round-trip for size ${size}`)
      let count = 0
      for (let j = 0; j < size; j++) if (b.get(j)) count++
      if (count !== b.count()) throw new Error(`count ${b.count()} ≠ ${count} for size ${size}`)
    }
    expect(ok).toBeGreaterThan(5_000)
    expect(refused).toBeGreaterThan(5_000)
  }, BOUND)
})
