/** Fuzz: ≥ 100,000 inputs into the swarm message decoder; typed errors only. */
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage, KithError, type SwarmMessage } from '../../protocol/index.js'

function prng (seed: number): () => number {
  let x = seed >>> 0
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x }
}

const valid: SwarmMessage[] = [
  { type: 'hello', version: 1, swarm: new Uint8Array(32).fill(1), nonce: new Uint8Array(32) },
  { type: 'hello-ack', nonce: new Uint8Array(32), proof: new Uint8Array(32).fill(2) },
  { type: 'proof', proof: new Uint8Array(32) },
  { type: 'have-map', pieces: 20, bitfield: new Uint8Array([1, 2, 0x30]) },
  { type: 'have', index: 5 },
  { type: 'request', id: 1, kind: 'chunk', index: 4 },
  { type: 'piece', id: 1, kind: 'block', index: 4, data: new Uint8Array(100).fill(9) },
  { type: 'cancel', id: 3 },
  { type: 'reject', id: 3, reason: 'busy', message: 'try later' }
].map(m => m as SwarmMessage)

describe('fuzz: swarm messages', () => {
  it('100,000 random and mutated frames: typed errors only', () => {
    const r = prng(7)
    const encoded = valid.map(encodeMessage)
    let typed = 0
    for (let i = 0; i < 100_000; i++) {
      let input: Uint8Array
      const mode = i % 4
      if (mode === 0) {
        input = Uint8Array.from({ length: r() % 300 }, () => r() & 0xff)
      } else if (mode === 1) {
        input = Uint8Array.from({ length: 1 + (r() % 120) }, () => r() & 0xff)
        input[0] = 1 + (r() % 9)
      } else {
        const base = encoded[r() % encoded.length]!
        input = Uint8Array.from(base)
        const op = r() % 3
        if (op === 0 && input.length > 0) { const bit = r() % (input.length * 8); input[bit >> 3]! ^= 1 << (bit & 7) }
        if (op === 1) input = input.subarray(0, r() % input.length)
        if (op === 2) { const e = new Uint8Array(input.length + 1 + (r() % 8)); e.set(input); e[input.length] = r() & 0xff; input = e }
      }
      try {
        const m = decodeMessage(input)
        // Anything accepted must re-encode to exactly the input (one meaning, one encoding).
        expect(Buffer.from(encodeMessage(m)).equals(Buffer.from(input))).toBe(true)
      } catch (err) {
        if (!(err instanceof KithError)) throw new Error(`untyped ${(err as Error).name} for ${Buffer.from(input).toString('hex')}`)
        expect(['MalformedMessageError', 'MessageTooLargeError', 'UnsupportedVersionError']).toContain(err.name)
        typed++
      }
    }
    expect(typed).toBeGreaterThan(10_000)
  })
})
