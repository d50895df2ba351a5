/**
 * Swarm admission proofs (SECURITY.md §6, docs/PROTOCOL.md §7.2).
 *
 * proof = HMAC-SHA256(accessKey, label ‖ 0x00 ‖ lp(swarm) ‖ lp(initiator) ‖ lp(responder)
 *                                 ‖ lp(initiatorNonce) ‖ lp(responderNonce)),  lp(x) = u16(len) ‖ x
 * label = "kith/v1/admit/initiator" or "kith/v1/admit/responder".
 *
 * Binding both Noise-authenticated peer IDs and both sides' fresh nonces means a proof is good for
 * one session between two specific peers only; the role label stops a responder's proof from
 * being reflected back as an initiator's. Verification is constant-time.
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { constantTimeEqual } from './bytes.js'
import { ADMISSION_NONCE_BYTES, ADMISSION_PROOF_BYTES, DOMAINS, KEY_BYTES } from './constants.js'

export type AdmissionRole = 'initiator' | 'responder'

export interface AdmissionTranscript {
  /** The share's swarm ID (its discovery key). */
  readonly swarm: Uint8Array
  /** Peer ID bytes (multihash) of the side that opened the stream. */
  readonly initiator: Uint8Array
  readonly responder: Uint8Array
  readonly initiatorNonce: Uint8Array
  readonly responderNonce: Uint8Array
}

const encoder = new TextEncoder()

function transcriptBytes (role: AdmissionRole, t: AdmissionTranscript): Uint8Array {
  if (t.initiatorNonce.length !== ADMISSION_NONCE_BYTES || t.responderNonce.length !== ADMISSION_NONCE_BYTES) {
    throw new RangeError(`admission nonces must be ${ADMISSION_NONCE_BYTES} bytes`)
  }
  const label = encoder.encode(role === 'initiator' ? DOMAINS.admitInitiator : DOMAINS.admitResponder)
  const fields = [t.swarm, t.initiator, t.responder, t.initiatorNonce, t.responderNonce]
  let n = label.length + 1
  for (const f of fields) {
    if (f.length > 0xffff) throw new RangeError('admission transcript field too long')
    n += 2 + f.length
  }
  const out = new Uint8Array(n)
  out.set(label)
  let at = label.length + 1
  for (const f of fields) {
    out[at] = f.length >> 8
    out[at + 1] = f.length & 0xff
    out.set(f, at + 2)
    at += 2 + f.length
  }
  return out
}

/** The proof `role` sends for transcript `t`. */
export function computeProof (accessKey: Uint8Array, role: AdmissionRole, t: AdmissionTranscript): Uint8Array {
  if (accessKey.length !== KEY_BYTES) throw new RangeError(`access key must be ${KEY_BYTES} bytes`)
  return hmac(sha256, accessKey, transcriptBytes(role, t))
}

/** True if `proof` is `role`'s proof for `t` under `accessKey` (constant-time comparison). */
export function verifyProof (accessKey: Uint8Array, role: AdmissionRole, t: AdmissionTranscript, proof: Uint8Array): boolean {
  if (proof.length !== ADMISSION_PROOF_BYTES) return false
  return constantTimeEqual(computeProof(accessKey, role, t), proof)
}
