/**
 * Swarm admission proofs (docs/THREAT-MODEL.md §2.6, docs/PROTOCOL.md §7.2).
 *
 * Security property: before a seeder reveals what it has or sends a byte of a chunk, the other
 * side proves knowledge of the share's access key, bound to both Noise-authenticated peer IDs,
 * so a proof cannot be replayed to another peer.
 *
 *   proof = HMAC-SHA256(accessKey, transcript)
 *   transcript = utf8(label) ‖ 0x00 ‖ lp(swarm) ‖ lp(initiator) ‖ lp(responder)
 *                ‖ lp(initiatorNonce) ‖ lp(responderNonce)          lp(x) = u16 BE len(x) ‖ x
 *   label = "kith/v1/admit/initiator" | "kith/v1/admit/responder"   (DOMAINS in constants.ts)
 *
 * Why each part:
 *  - accessKey is derived from the seed key (keys.ts): anyone who can seed or read the share has
 *    it, nobody else does. The swarm id (discovery key) is public in the DHT, so it proves nothing.
 *  - Both peer IDs are the identities Noise authenticated for this connection (the caller passes
 *    `peerId.toMultihash().bytes`). A man in the middle M relaying A's proof to B fails: B
 *    computes the transcript with M's peer ID, not A's.
 *  - Both nonces are fresh per session, chosen by each side: an old proof (a recorded session)
 *    is useless, and neither side can force a transcript the other has answered before.
 *  - The role label keeps a responder's proof from being reflected back as the initiator's
 *    (the two proofs over the same transcript are independent MACs).
 *  - Length prefixes make the encoding injective: bytes cannot move from one field to the next
 *    (peer IDs have varying lengths) and yield the same transcript.
 *  - Verification compares in constant time (bytes.ts), so a forger learns nothing from timing.
 *
 * Order of the handshake (messages.ts): the initiator sends hello {nonceI}; the responder answers
 * hello-ack {nonceR, proofR}; the initiator verifies proofR and only then sends proof {proofI};
 * the responder verifies proofI before sending its have-map or any piece.
 *
 * Non-goals: hiding which swarm a peer asks for from the responder (it must know, to pick the
 * key), forward secrecy (Noise provides it for the stream), and revocation (a new share is the
 * only way to exclude someone who has the link).
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { constantTimeEqual, writeU16 } from './bytes.js'
import { ADMISSION_NONCE_BYTES, ADMISSION_PROOF_BYTES, DOMAINS, KEY_BYTES } from './constants.js'

export type AdmissionRole = 'initiator' | 'responder'

export interface AdmissionTranscript {
  /** The share's swarm ID (its 32-byte discovery key), as sent in hello. */
  readonly swarm: Uint8Array
  /** Peer ID bytes (multihash) of the side that opened the stream, as authenticated by Noise. */
  readonly initiator: Uint8Array
  /** Peer ID bytes (multihash) of the side that accepted the stream, as authenticated by Noise. */
  readonly responder: Uint8Array
  /** The initiator's fresh nonce (from hello). */
  readonly initiatorNonce: Uint8Array
  /** The responder's fresh nonce (from hello-ack). */
  readonly responderNonce: Uint8Array
}

const encoder = new TextEncoder()
const ROLE_LABELS: Readonly<Record<AdmissionRole, Uint8Array>> = Object.freeze({
  initiator: encoder.encode(DOMAINS.admitInitiator),
  responder: encoder.encode(DOMAINS.admitResponder)
})

function checkBytes (what: string, b: unknown, n?: number): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`)
  if (n !== undefined && b.length !== n) throw new RangeError(`${what} must be ${n} bytes, got ${b.length}`)
}

/**
 * The exact bytes that are MACed for `role` (exported for test vectors and documentation).
 * Throws TypeError/RangeError on a malformed transcript: a wrong-length swarm id or nonce, or a
 * peer ID that is empty or over 65535 bytes. Those are caller bugs, never network input: the
 * message decoder has already fixed the lengths of everything that came from the peer.
 */
export function admissionTranscript (role: AdmissionRole, t: AdmissionTranscript): Uint8Array {
  const label = ROLE_LABELS[role]
  if (label === undefined) throw new TypeError(`unknown admission role ${String(role)}`)
  checkBytes('swarm', t.swarm, KEY_BYTES)
  checkBytes('initiatorNonce', t.initiatorNonce, ADMISSION_NONCE_BYTES)
  checkBytes('responderNonce', t.responderNonce, ADMISSION_NONCE_BYTES)
  checkBytes('initiator', t.initiator)
  checkBytes('responder', t.responder)
  const fields = [t.swarm, t.initiator, t.responder, t.initiatorNonce, t.responderNonce]
  let n = label.length + 1
  for (const f of fields) {
    if (f.length === 0 || f.length > 0xffff) throw new RangeError('admission transcript field must be 1..65535 bytes')
    n += 2 + f.length
  }
  const out = new Uint8Array(n)
  out.set(label)
  // out[label.length] = 0x00 already: the separator after the label.
  let at = label.length + 1
  for (const f of fields) {
    writeU16(out, at, f.length)
    out.set(f, at + 2)
    at += 2 + f.length
  }
  return out
}

/** The proof `role` sends for transcript `t`: HMAC-SHA256(accessKey, admissionTranscript(role, t)). */
export function computeProof (accessKey: Uint8Array, role: AdmissionRole, t: AdmissionTranscript): Uint8Array {
  checkBytes('access key', accessKey, KEY_BYTES)
  return hmac(sha256, accessKey, admissionTranscript(role, t))
}

/**
 * True if `proof` is `role`'s proof for `t` under `accessKey`. Constant-time in the proof's
 * content. A proof of the wrong length or type (network input) is simply false; a malformed key
 * or transcript (caller bug) throws as in computeProof.
 */
export function verifyProof (accessKey: Uint8Array, role: AdmissionRole, t: AdmissionTranscript, proof: Uint8Array): boolean {
  const expected = computeProof(accessKey, role, t)
  if (!(proof instanceof Uint8Array) || proof.length !== ADMISSION_PROOF_BYTES) return false
  return constantTimeEqual(expected, proof)
}

/**
 * A fresh admission nonce. `random` is a parameter (default: @noble/hashes `randomBytes`, the
 * platform CSPRNG) so tests are deterministic and protocol/ uses no platform API directly. A
 * source that returns the wrong length is a bug: RangeError rather than a short nonce.
 */
export function newAdmissionNonce (random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  const nonce = random(ADMISSION_NONCE_BYTES)
  checkBytes('random output', nonce, ADMISSION_NONCE_BYTES)
  return nonce
}
