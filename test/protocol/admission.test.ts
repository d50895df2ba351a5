import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { computeProof, verifyProof, type AdmissionTranscript } from '../../protocol/index.js'

const key = new Uint8Array(32).fill(3)
const t: AdmissionTranscript = {
  swarm: new Uint8Array(32).fill(1),
  initiator: new Uint8Array(38).fill(2),
  responder: new Uint8Array(38).fill(4),
  initiatorNonce: new Uint8Array(32).fill(5),
  responderNonce: new Uint8Array(32).fill(6)
}

describe('admission proofs', () => {
  it('verify for the right key, role and transcript', () => {
    expect(verifyProof(key, 'initiator', t, computeProof(key, 'initiator', t))).toBe(true)
    expect(verifyProof(key, 'responder', t, computeProof(key, 'responder', t))).toBe(true)
  })

  it('fail with another key', () => {
    expect(verifyProof(new Uint8Array(32).fill(9), 'initiator', t, computeProof(key, 'initiator', t))).toBe(false)
  })

  it('cannot be replayed to another peer (peer IDs bound) or reflected (roles bound)', () => {
    const p = computeProof(key, 'initiator', t)
    expect(verifyProof(key, 'initiator', { ...t, responder: new Uint8Array(38).fill(7) }, p)).toBe(false)
    expect(verifyProof(key, 'initiator', { ...t, initiator: t.responder, responder: t.initiator }, p)).toBe(false)
    expect(verifyProof(key, 'responder', t, p)).toBe(false)
  })

  it('any bit flipped in any transcript field or in the proof fails (property)', () => {
    const fields = ['swarm', 'initiator', 'responder', 'initiatorNonce', 'responderNonce', 'proof'] as const
    const p = computeProof(key, 'responder', t)
    fc.assert(fc.property(fc.constantFrom(...fields), fc.nat(), (field, bit) => {
      const tt = { ...t }
      let proof = p
      if (field === 'proof') {
        proof = Uint8Array.from(p); proof[(bit >> 3) % 32]! ^= 1 << (bit & 7)
      } else {
        const v = Uint8Array.from(tt[field]); v[(bit >> 3) % v.length]! ^= 1 << (bit & 7); (tt as Record<string, Uint8Array>)[field] = v
      }
      expect(verifyProof(key, 'responder', tt, proof)).toBe(false)
    }), { numRuns: 1000 })
  })

  it('refuses malformed inputs', () => {
    expect(verifyProof(key, 'initiator', t, new Uint8Array(31))).toBe(false)
    expect(() => computeProof(new Uint8Array(16), 'initiator', t)).toThrow(RangeError)
    expect(() => computeProof(key, 'initiator', { ...t, initiatorNonce: new Uint8Array(8) })).toThrow(RangeError)
  })
})
