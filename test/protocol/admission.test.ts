import { createHmac } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { constantTimeEqual } from '../../protocol/bytes.js'
import {
  admissionTranscript, computeProof, decodeMessage, encodeMessage, newAdmissionNonce, verifyProof,
  type AdmissionRole, type AdmissionTranscript
} from '../../protocol/index.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
/** An Ed25519 peer ID's multihash shape (identity multihash, 36-byte protobuf key): 38 bytes. */
const peer = (fill: number): Uint8Array => Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Uint8Array(32).fill(fill)])

const key = new Uint8Array(32).fill(3)
const t: AdmissionTranscript = {
  swarm: new Uint8Array(32).fill(1),
  initiator: peer(2),
  responder: peer(4),
  initiatorNonce: new Uint8Array(32).fill(5),
  responderNonce: new Uint8Array(32).fill(6)
}
const roles: AdmissionRole[] = ['initiator', 'responder']

/** The spec, written out independently with node:crypto: label ‖ 0x00 ‖ (u16 BE len ‖ field)×5. */
function referenceProof (k: Uint8Array, role: AdmissionRole, tr: AdmissionTranscript): string {
  const lp = (b: Uint8Array): Buffer => { const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return Buffer.concat([l, b]) }
  const body = Buffer.concat([
    Buffer.from(`kith/v1/admit/${role}`, 'utf8'), Buffer.from([0]),
    lp(tr.swarm), lp(tr.initiator), lp(tr.responder), lp(tr.initiatorNonce), lp(tr.responderNonce)
  ])
  return createHmac('sha256', k).update(body).digest('hex')
}

const arbTranscript: fc.Arbitrary<AdmissionTranscript> = fc.record({
  swarm: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  initiator: fc.uint8Array({ minLength: 1, maxLength: 80 }),
  responder: fc.uint8Array({ minLength: 1, maxLength: 80 }),
  initiatorNonce: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  responderNonce: fc.uint8Array({ minLength: 32, maxLength: 32 })
})
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 })
const fields = ['swarm', 'initiator', 'responder', 'initiatorNonce', 'responderNonce'] as const

describe('admission proofs', () => {
  it('verify for the right key, role and transcript', () => {
    for (const role of roles) expect(verifyProof(key, role, t, computeProof(key, role, t))).toBe(true)
  })

  it('match the spec computed independently (node:crypto HMAC over a hand-built transcript), any input (property)', () => {
    fc.assert(fc.property(arbKey, fc.constantFrom(...roles), arbTranscript, (k, role, tr) => {
      expect(hex(computeProof(k, role, tr))).toBe(referenceProof(k, role, tr))
    }), { numRuns: 500 })
  })

  it('known answers (a format change fails here)', () => {
    const label = hex(new TextEncoder().encode('kith/v1/admit/initiator'))
    expect(hex(admissionTranscript('initiator', t))).toBe(
      label + '00' + '0020' + '01'.repeat(32) + '0026' + hex(peer(2)) + '0026' + hex(peer(4)) + '0020' + '05'.repeat(32) + '0020' + '06'.repeat(32))
    expect(hex(computeProof(key, 'initiator', t))).toBe(referenceProof(key, 'initiator', t))
    expect(hex(computeProof(key, 'initiator', t))).toBe('200d1e367a59e40a3766fcda1d5482c4d828567779f12e2bc99a6d42b9a4e745')
    expect(hex(computeProof(key, 'responder', t))).toBe('a2e54cac5bfb3b6b505378a02961efda180def44988a4c5792710dab3128badb')
  })

  it('fail with another key', () => {
    for (const role of roles) expect(verifyProof(new Uint8Array(32).fill(9), role, t, computeProof(key, role, t))).toBe(false)
  })

  it('cannot be replayed to another peer: peer IDs are bound', () => {
    for (const role of roles) {
      const p = computeProof(key, role, t)
      expect(verifyProof(key, role, { ...t, responder: peer(7) }, p)).toBe(false)
      expect(verifyProof(key, role, { ...t, initiator: peer(7) }, p)).toBe(false)
      expect(verifyProof(key, role, { ...t, initiator: t.responder, responder: t.initiator }, p)).toBe(false)
    }
  })

  it('cannot be reflected: an initiator proof is not a responder proof', () => {
    expect(hex(computeProof(key, 'initiator', t))).not.toBe(hex(computeProof(key, 'responder', t)))
    expect(verifyProof(key, 'responder', t, computeProof(key, 'initiator', t))).toBe(false)
    expect(verifyProof(key, 'initiator', t, computeProof(key, 'responder', t))).toBe(false)
  })

  it('are fresh per session: changing or swapping either nonce fails', () => {
    for (const role of roles) {
      const p = computeProof(key, role, t)
      expect(verifyProof(key, role, { ...t, initiatorNonce: new Uint8Array(32) }, p)).toBe(false)
      expect(verifyProof(key, role, { ...t, responderNonce: new Uint8Array(32) }, p)).toBe(false)
      expect(verifyProof(key, role, { ...t, initiatorNonce: t.responderNonce, responderNonce: t.initiatorNonce }, p)).toBe(false)
      expect(verifyProof(key, role, { ...t, swarm: new Uint8Array(32).fill(8) }, p)).toBe(false)
    }
  })

  it('length prefixes keep field boundaries: moving bytes between peer IDs changes the proof', () => {
    const a = { ...t, initiator: Uint8Array.from([1, 2, 3]), responder: Uint8Array.from([4, 5]) }
    const b = { ...t, initiator: Uint8Array.from([1, 2]), responder: Uint8Array.from([3, 4, 5]) }
    expect(verifyProof(key, 'initiator', b, computeProof(key, 'initiator', a))).toBe(false)
  })

  it('flipping any bit of any transcript field, the key or the proof fails (property)', () => {
    fc.assert(fc.property(arbKey, fc.constantFrom(...roles), arbTranscript, fc.constantFrom(...fields, 'key' as const, 'proof' as const), fc.nat(), (k, role, tr, field, bit) => {
      const proof = computeProof(k, role, tr)
      const flip = (b: Uint8Array): Uint8Array => { const c = Uint8Array.from(b); c[(bit >> 3) % c.length]! ^= 1 << (bit & 7); return c }
      expect(verifyProof(k, role, tr, proof)).toBe(true)
      if (field === 'key') expect(verifyProof(flip(k), role, tr, proof)).toBe(false)
      else if (field === 'proof') expect(verifyProof(k, role, tr, flip(proof))).toBe(false)
      else expect(verifyProof(k, role, { ...tr, [field]: flip(tr[field]) }, proof)).toBe(false)
    }), { numRuns: 2000 })
  })

  it('a proof of the wrong length or type is false, not an exception (network input)', () => {
    const p = computeProof(key, 'initiator', t)
    expect(verifyProof(key, 'initiator', t, p.subarray(0, 31))).toBe(false)
    expect(verifyProof(key, 'initiator', t, new Uint8Array([...p, 0]))).toBe(false)
    expect(verifyProof(key, 'initiator', t, new Uint8Array(0))).toBe(false)
    expect(verifyProof(key, 'initiator', t, [...p] as unknown as Uint8Array)).toBe(false)
  })

  it('malformed keys and transcripts are caller bugs: RangeError/TypeError', () => {
    expect(() => computeProof(new Uint8Array(16), 'initiator', t)).toThrow(RangeError)
    expect(() => computeProof('k' as unknown as Uint8Array, 'initiator', t)).toThrow(TypeError)
    expect(() => computeProof(key, 'initiator', { ...t, initiatorNonce: new Uint8Array(8) })).toThrow(RangeError)
    expect(() => computeProof(key, 'initiator', { ...t, responderNonce: new Uint8Array(33) })).toThrow(RangeError)
    expect(() => computeProof(key, 'initiator', { ...t, swarm: new Uint8Array(31) })).toThrow(RangeError)
    expect(() => computeProof(key, 'initiator', { ...t, initiator: new Uint8Array(0) })).toThrow(RangeError)
    expect(() => computeProof(key, 'initiator', { ...t, responder: new Uint8Array(0x10000) })).toThrow(RangeError)
    expect(() => computeProof(key, 'both' as AdmissionRole, t)).toThrow(TypeError)
    expect(() => verifyProof(new Uint8Array(31), 'initiator', t, new Uint8Array(32))).toThrow(RangeError)
  })
})

describe('admission nonces', () => {
  it('come from the given random source, 32 bytes', () => {
    const asked: number[] = []
    const nonce = newAdmissionNonce(n => { asked.push(n); return new Uint8Array(n).fill(0xab) })
    expect(asked).toEqual([32])
    expect(hex(nonce)).toBe('ab'.repeat(32))
  })

  it('default to the CSPRNG (two nonces differ)', () => {
    const a = newAdmissionNonce()
    const b = newAdmissionNonce()
    expect(a.length).toBe(32)
    expect(hex(a)).not.toBe(hex(b))
  })

  it('refuse a broken random source', () => {
    expect(() => newAdmissionNonce(() => new Uint8Array(16))).toThrow(RangeError)
  })
})

describe('admission handshake over the wire codec', () => {
  interface Party { id: Uint8Array, key: Uint8Array }
  /**
   * Runs hello → hello-ack → proof between an initiator and a responder, each computing its
   * transcript from the peer IDs *it* sees (as Noise would report them). Returns what each
   * side concluded.
   */
  function handshake (i: Party, r: Party, iSees: Uint8Array, rSees: Uint8Array, swarm: Uint8Array, tamper?: (frame: Uint8Array) => Uint8Array): { initiatorOk: boolean, responderOk: boolean } {
    const wire = (f: Uint8Array): Uint8Array => tamper === undefined ? f : tamper(f)
    const nonceI = newAdmissionNonce()
    const hello = decodeMessage(wire(encodeMessage({ type: 'hello', version: 1, swarm, nonce: nonceI })))
    if (hello.type !== 'hello') throw new Error('expected hello')
    const nonceR = newAdmissionNonce()
    const tR: AdmissionTranscript = { swarm: hello.swarm, initiator: rSees, responder: r.id, initiatorNonce: hello.nonce, responderNonce: nonceR }
    const ack = decodeMessage(wire(encodeMessage({ type: 'hello-ack', nonce: nonceR, proof: computeProof(r.key, 'responder', tR) })))
    if (ack.type !== 'hello-ack') throw new Error('expected hello-ack')
    const tI: AdmissionTranscript = { swarm, initiator: i.id, responder: iSees, initiatorNonce: nonceI, responderNonce: ack.nonce }
    if (!verifyProof(i.key, 'responder', tI, ack.proof)) return { initiatorOk: false, responderOk: false }
    const proof = decodeMessage(wire(encodeMessage({ type: 'proof', proof: computeProof(i.key, 'initiator', tI) })))
    if (proof.type !== 'proof') throw new Error('expected proof')
    return { initiatorOk: true, responderOk: verifyProof(r.key, 'initiator', tR, proof.proof) }
  }

  const swarm = new Uint8Array(32).fill(0x5a)
  const alice: Party = { id: peer(0xa1), key }
  const bob: Party = { id: peer(0xb0), key }

  it('two members admit each other', () => {
    expect(handshake(alice, bob, bob.id, alice.id, swarm)).toEqual({ initiatorOk: true, responderOk: true })
  })

  it('a non-member is refused by the initiator before the initiator proves anything', () => {
    const eve: Party = { id: peer(0xee), key: new Uint8Array(32).fill(0xee) }
    expect(handshake(alice, eve, eve.id, alice.id, swarm)).toEqual({ initiatorOk: false, responderOk: false })
    // And a non-member initiator is refused by the responder.
    expect(handshake(eve, bob, bob.id, eve.id, swarm).responderOk).toBe(false)
  })

  it('a relaying man in the middle is refused: each side sees the relay\'s peer ID, not the other member\'s', () => {
    const mallory = peer(0x66)
    // Alice dials Mallory, Mallory dials Bob and forwards every frame unchanged.
    expect(handshake(alice, bob, mallory, mallory, swarm)).toEqual({ initiatorOk: false, responderOk: false })
  })

  it('any bit flipped on the wire breaks admission or the frame', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 }), fc.nat(), (which, bit) => {
      let n = 0
      const tamper = (f: Uint8Array): Uint8Array => {
        if (n++ !== which) return f
        const c = Uint8Array.from(f)
        const at = 1 + ((bit >> 3) % (c.length - 1)) // keep the type byte so the flow continues
        c[at]! ^= 1 << (bit & 7)
        return c
      }
      let result: { initiatorOk: boolean, responderOk: boolean }
      try {
        result = handshake(alice, bob, bob.id, alice.id, swarm, tamper)
      } catch (err) {
        expect((err as Error).name).toBe('UnsupportedVersionError') // the version byte was flipped
        return
      }
      expect(result.responderOk).toBe(false)
    }), { numRuns: 300 })
  })
})

describe('constantTimeEqual', () => {
  it('is equality on bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      expect(constantTimeEqual(a, b)).toBe(hex(a) === hex(b))
      expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true)
    }), { numRuns: 1000 })
    const a = new Uint8Array(32)
    for (let i = 0; i < 32; i++) {
      const b = new Uint8Array(32); b[i] = 1
      expect(constantTimeEqual(a, b)).toBe(false)
    }
  })
})
