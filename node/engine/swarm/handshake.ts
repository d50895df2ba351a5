/**
 * Swarm admission (docs/THREAT-MODEL.md §2.6, docs/PROTOCOL.md §7.2): before either side reveals what it
 * holds, each proves knowledge of the share's access key, bound to both Noise-authenticated peer
 * IDs and to fresh nonces from both sides, so a proof cannot be replayed to another peer or in
 * another session.
 *
 *   initiator → responder  hello     { version, swarm, nonceI }
 *   responder → initiator  hello-ack { nonceR, proofR }      (or reject unknown-swarm)
 *   initiator → responder  proof     { proofI }              (after checking proofR)
 *   responder: checks proofI; on failure sends reject not-admitted and resets.
 *
 * The responder learns nothing it did not already know from the DHT (the swarm ID is the
 * discovery key); the initiator learns that the responder knows the access key before it sends
 * its own proof. Each step has a deadline, so a silent peer cannot hold a stream open.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { computeProof, verifyProof, type AdmissionTranscript } from '../../../protocol/admission.js'
import { ADMISSION_NONCE_BYTES, FORMAT_VERSION, MAX_MESSAGE_BYTES } from '../../../protocol/constants.js'
import { defaultRandom } from '../../../protocol/crypto.js'
import { AdmissionError } from '../../../protocol/errors.js'
import { decodeMessage, encodeMessage, type SwarmMessage } from '../../../protocol/messages.js'
import { scope } from '../abort.js'
import { encode as lpEncode } from 'it-length-prefixed'
import type { ShareState } from '../share/share-state.js'

export const HANDSHAKE_TIMEOUT_MS = 10_000
/** The largest admission message is 66 bytes: nothing bigger is read before admission. */
export const HANDSHAKE_MAX_FRAME = 128
const HANDSHAKE_MAX_BUFFER = 4096
/**
 * After admission: frames up to MAX_MESSAGE_BYTES; received-but-unread bytes up to 24 MiB (a
 * window of requested pieces plus slack; yamux's 16 MiB window bounds what a peer can push).
 */
export const SESSION_MAX_BUFFER = 24 * 1024 * 1024

/** Re-frames an admitted stream for the session (bytes read ahead are handed back, not lost). */
function sessionStream (lp: LengthPrefixedStream<Stream>): LengthPrefixedStream<Stream> {
  return lpStream(lp.unwrap(), { maxDataLength: MAX_MESSAGE_BYTES, maxBufferSize: SESSION_MAX_BUFFER })
}

async function readMessage (lp: LengthPrefixedStream<Stream>, signal: AbortSignal): Promise<SwarmMessage> {
  const frame = await lp.read({ signal })
  return decodeMessage(frame.subarray())
}

function peerBytes (peer: PeerId): Uint8Array {
  return peer.toMultihash().bytes
}

/** Runs the initiator side. Returns the stream's lpStream for the session to continue on. */
export async function initiateAdmission (stream: Stream, share: ShareState, local: PeerId, remote: PeerId, signal?: AbortSignal, answerTimeoutMs?: number): Promise<LengthPrefixedStream<Stream>> {
  const lp = lpStream(stream, { maxDataLength: HANDSHAKE_MAX_FRAME, maxBufferSize: HANDSHAKE_MAX_BUFFER })
  const guard = scope(HANDSHAKE_TIMEOUT_MS, signal)
  try {
    await initiate(lp, share, local, remote, guard.signal, answerTimeoutMs)
  } finally {
    guard.clear()
  }
  return sessionStream(lp)
}

async function initiate (lp: LengthPrefixedStream<Stream>, share: ShareState, local: PeerId, remote: PeerId, deadline: AbortSignal, answerTimeoutMs?: number): Promise<void> {
  const nonceI = defaultRandom(ADMISSION_NONCE_BYTES)
  await lp.write(encodeMessage({ type: 'hello', version: FORMAT_VERSION, swarm: share.swarmId, nonce: nonceI }), { signal: deadline })
  // The first answer has its own, shorter deadline (ADMISSION_ANSWER_TIMEOUT_MS): an honest
  // responder answers at once, and a fake provider that stays silent must not hold the dial long.
  const answer = scope(answerTimeoutMs, deadline)
  let ack: SwarmMessage
  try {
    ack = await readMessage(lp, answer.signal)
  } finally {
    answer.clear()
  }
  if (ack.type === 'reject') throw new AdmissionError(`peer refused admission: ${ack.reason}`)
  if (ack.type !== 'hello-ack') throw new AdmissionError(`expected hello-ack, got ${ack.type}`)
  const t: AdmissionTranscript = { swarm: share.swarmId, initiator: peerBytes(local), responder: peerBytes(remote), initiatorNonce: nonceI, responderNonce: ack.nonce }
  if (!verifyProof(share.keys.access.bytes, 'responder', t, ack.proof)) throw new AdmissionError('peer does not know this share (bad admission proof)')
  await lp.write(encodeMessage({ type: 'proof', proof: computeProof(share.keys.access.bytes, 'initiator', t) }), { signal: deadline })
}

/**
 * Runs the responder side. `findShare` maps a swarm ID to a share this node serves. Returns the
 * admitted share and the lpStream. Throws AdmissionError after telling the peer why.
 */
export async function respondAdmission (stream: Stream, findShare: (swarmId: Uint8Array) => ShareState | undefined, local: PeerId, remote: PeerId, signal?: AbortSignal): Promise<{ share: ShareState, lp: LengthPrefixedStream<Stream> }> {
  const lp = lpStream(stream, { maxDataLength: HANDSHAKE_MAX_FRAME, maxBufferSize: HANDSHAKE_MAX_BUFFER })
  const guard = scope(HANDSHAKE_TIMEOUT_MS, signal)
  let share: ShareState
  try {
    share = await respond(lp, findShare, local, remote, guard.signal)
  } finally {
    guard.clear()
  }
  return { share, lp: sessionStream(lp) }
}

async function respond (lp: LengthPrefixedStream<Stream>, findShare: (swarmId: Uint8Array) => ShareState | undefined, local: PeerId, remote: PeerId, deadline: AbortSignal): Promise<ShareState> {
  const hello = await readMessage(lp, deadline)
  if (hello.type !== 'hello') throw new AdmissionError(`expected hello, got ${hello.type}`)
  const share = findShare(hello.swarm)
  if (share === undefined || !share.serving) {
    await lp.write(encodeMessage({ type: 'reject', id: 0, reason: 'unknown-swarm', message: '' }), { signal: deadline })
    throw new AdmissionError('peer asked for a swarm this node does not serve')
  }
  const nonceR = defaultRandom(ADMISSION_NONCE_BYTES)
  const t: AdmissionTranscript = { swarm: share.swarmId, initiator: peerBytes(remote), responder: peerBytes(local), initiatorNonce: hello.nonce, responderNonce: nonceR }
  await lp.write(encodeMessage({ type: 'hello-ack', nonce: nonceR, proof: computeProof(share.keys.access.bytes, 'responder', t) }), { signal: deadline })
  const proof = await readMessage(lp, deadline)
  if (proof.type !== 'proof' || !verifyProof(share.keys.access.bytes, 'initiator', t, proof.proof)) {
    // Best effort and never blocking: the peer may not be reading.
    lp.unwrap().send(lpEncode.single(encodeMessage({ type: 'reject', id: 0, reason: 'not-admitted', message: '' })))
    throw new AdmissionError()
  }
  return share
}
