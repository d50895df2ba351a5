/**
 * The circle protocol `/kith/circle/1.0.0` (docs/PROTOCOL.md §9.4) on one libp2p stream.
 *
 * Member sync (both sides must be current members, in their own log's view):
 *   I → R  hello {circle, epoch, nonce}          epoch: the first both were members in
 *   R → I  welcome {nonce, proof}                 HMAC under that epoch's access key (responder)
 *   I → R  proof {proof}                          (initiator); both bound to both peer IDs
 *   then two pulls, initiator first: the pusher sends `heads`; the puller sends `want` for what
 *   it lacks (heads, then missing predecessors) and gets `entries`, until it sends `done`.
 * A peer that is not a member (never was, or was removed) is refused after the proofs; a removed
 * member can neither fetch nor push anything.
 *
 * Join (the joiner holds an invite code):
 *   J → I  join {invite id, nonce}
 *   I → J  challenge {nonce, proof}               the inviter proves it issued the invite
 *   J → I  join-proof {proof, name, x25519 key}   the joiner proves it holds the invite
 *   I → J  entries… done                          the log, with the new `add` entry
 * The invite is spent (its add entry written and fsynced) before the log is sent.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { computeProof, verifyProof, type AdmissionTranscript } from '../../protocol/admission.js'
import { CircleEntryError, CircleQuotaError } from '../../protocol/circle/errors.js'
import { CircleLog, type EntryRef } from '../../protocol/circle/log.js'
import { MAX_CIRCLE_ENTRIES, decodeEntry, type Entry } from '../../protocol/circle/entry.js'
import { hexOf } from '../../protocol/bytes.js'
import { MAX_CIRCLE_MESSAGE_BYTES, MAX_IDS_PER_MESSAGE, decodeCircleMessage, encodeCircleMessage, type CircleMessage } from '../../protocol/circle/messages.js'
import { MalformedCircleMessageError } from '../../protocol/circle/errors.js'
import { generateBoxKeyPair } from '../../protocol/circle/keys.js'
import { inviteAccessKey, inviteId, inviteProof, type Invite } from '../../protocol/circle/invite.js'
import { constantTimeEqual as constantTimeEq } from '../../protocol/bytes.js'
import { defaultRandom } from '../../protocol/crypto.js'
import { scope } from '../engine/abort.js'
import type { Circle, Circles } from './circles.js'
import { CircleRefusedError, InviteRefusedError } from './errors.js'

export const CIRCLE_STREAM_TIMEOUT_MS = 30_000
const MAX_ROUNDS = 1000
const BATCH_BYTES = 512 * 1024

type Lp = LengthPrefixedStream<Stream>

async function read (lp: Lp, signal: AbortSignal): Promise<CircleMessage> {
  return decodeCircleMessage((await lp.read({ signal })).subarray())
}

async function write (lp: Lp, m: CircleMessage, signal: AbortSignal): Promise<void> {
  await lp.write(encodeCircleMessage(m), { signal })
}

const peerBytes = (p: PeerId): Uint8Array => p.toMultihash().bytes

function keyOf (p: PeerId): Uint8Array {
  const raw = p.publicKey?.raw
  if (raw === undefined || p.type !== 'Ed25519') throw new CircleRefusedError('peer has no Ed25519 identity')
  return raw
}

/**
 * One circle stream's life: framed messages, a deadline over the whole exchange, a polite close
 * when `fn` succeeds (its result is kept even if closing fails) and a reset when it throws.
 */
async function onStream<T> (stream: Stream, signal: AbortSignal | undefined, fn: (lp: Lp, signal: AbortSignal) => Promise<T>): Promise<T> {
  const lp = lpStream(stream, { maxDataLength: MAX_CIRCLE_MESSAGE_BYTES })
  const guard = scope(CIRCLE_STREAM_TIMEOUT_MS, signal)
  try {
    const result = await fn(lp, guard.signal)
    await stream.close({ signal: guard.signal }).catch(() => {})
    return result
  } catch (err) {
    stream.abort(err as Error)
    throw err
  } finally {
    guard.clear()
  }
}

/** Serves one inbound circle stream. */
export async function handleCircleStream (stream: Stream, local: PeerId, remote: PeerId, circles: Circles, signal?: AbortSignal): Promise<void> {
  await onStream(stream, signal, async (lp, deadline) => {
    const first = await read(lp, deadline)
    if (first.t === 'hello') await respondSync(lp, first, local, remote, circles, deadline)
    else if (first.t === 'join') await respondJoin(lp, first, local, remote, circles, deadline)
    else throw new MalformedCircleMessageError('expected hello or join')
  })
}

async function refuse (lp: Lp, reason: string, signal: AbortSignal): Promise<never> {
  await write(lp, { t: 'error', reason }, signal).catch(() => {})
  throw new CircleRefusedError(`refused a peer: ${reason}`)
}

async function respondSync (lp: Lp, hello: Extract<CircleMessage, { t: 'hello' }>, local: PeerId, remote: PeerId, circles: Circles, signal: AbortSignal): Promise<void> {
  const c = circles.byId(hello.circle)
  const key = c?.log.epochKey(hello.epoch)
  if (c === undefined || key === undefined) return await refuse(lp, 'unknown circle', signal)
  const access = c.log.epochKeys(hello.epoch).access
  const nonce = defaultRandom(32)
  const t: AdmissionTranscript = { swarm: c.log.circle, initiator: peerBytes(remote), responder: peerBytes(local), initiatorNonce: hello.nonce, responderNonce: nonce }
  await write(lp, { t: 'welcome', nonce, proof: computeProof(access, 'responder', t) }, signal)
  const proof = await read(lp, signal)
  if (proof.t !== 'proof' || !verifyProof(access, 'initiator', t, proof.proof)) return await refuse(lp, 'bad proof', signal)
  if (!c.log.isMember(keyOf(remote))) return await refuse(lp, 'not a member', signal)
  await write(lp, { t: 'done' }, signal) // admitted
  await push(lp, c, circles, signal)
  await pull(lp, c, circles, signal)
}

/** Syncs circle `c` with `peer` over a new stream (both directions). Returns entries gained. */
export async function syncWith (stream: Stream, c: Circle, circles: Circles, local: PeerId, remote: PeerId, signal?: AbortSignal): Promise<number> {
  return await onStream(stream, signal, async (lp, deadline) => {
    const them = c.log.members().find(m => constantTimeEq(m.key, keyOf(remote)))
    const me = c.log.members().find(m => constantTimeEq(m.key, circles.me))
    if (them === undefined || me === undefined) throw new CircleRefusedError('not syncing with a non-member')
    // The first epoch both sides were members of: both hold its key even if one is behind on
    // rotations (the proof only shows knowledge of the circle; membership is checked by peer ID).
    const epoch = Math.max(them.since, me.since)
    const access = c.log.epochKeys(epoch).access
    const nonce = defaultRandom(32)
    await write(lp, { t: 'hello', circle: c.log.circle, epoch, nonce }, deadline)
    const welcome = await read(lp, deadline)
    if (welcome.t === 'error') throw new CircleRefusedError(`the peer refused: ${welcome.reason}`)
    if (welcome.t !== 'welcome') throw new MalformedCircleMessageError('expected welcome')
    const t: AdmissionTranscript = { swarm: c.log.circle, initiator: peerBytes(local), responder: peerBytes(remote), initiatorNonce: nonce, responderNonce: welcome.nonce }
    if (!verifyProof(access, 'responder', t, welcome.proof)) throw new CircleRefusedError('the peer does not hold this circle\'s key')
    await write(lp, { t: 'proof', proof: computeProof(access, 'initiator', t) }, deadline)
    const admitted = await read(lp, deadline)
    if (admitted.t === 'error') throw new CircleRefusedError(`the peer refused: ${admitted.reason}`)
    if (admitted.t !== 'done') throw new MalformedCircleMessageError('expected admission')
    const gained = await pull(lp, c, circles, deadline)
    await push(lp, c, circles, deadline)
    return gained
  })
}

/**
 * Pusher side: heads (at most one message's worth, ranked by the log so that one author's flood
 * cannot crowd out the others), then answer wants from the log file until `done`.
 */
async function push (lp: Lp, c: Circle, circles: Circles, signal: AbortSignal): Promise<void> {
  await write(lp, { t: 'heads', ids: c.log.heads(MAX_IDS_PER_MESSAGE) }, signal)
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const m = await read(lp, signal)
    if (m.t === 'done') return
    if (m.t !== 'want') throw new MalformedCircleMessageError('expected want or done')
    await write(lp, { t: 'entries', entries: await circles.entryBytes(c, m.ids, BATCH_BYTES) }, signal)
  }
  throw new MalformedCircleMessageError('too many sync rounds')
}

/** Puller side: ask for unknown heads, then for missing predecessors, until nothing is missing. */
async function pull (lp: Lp, c: Circle, circles: Circles, signal: AbortSignal): Promise<number> {
  const first = await read(lp, signal)
  if (first.t !== 'heads') throw new MalformedCircleMessageError('expected heads')
  let want = first.ids.filter(id => !c.log.has(id))
  const held = new Map<string, Entry>()
  const asked = new Set<string>()
  let gained = 0
  for (let round = 0; round < MAX_ROUNDS && want.length > 0; round++) {
    want = want.filter(id => !asked.has(hexOf(id))).slice(0, MAX_IDS_PER_MESSAGE)
    if (want.length === 0) break
    for (const id of want) asked.add(hexOf(id))
    if (asked.size > MAX_CIRCLE_ENTRIES) throw new MalformedCircleMessageError('the peer offers more entries than a circle may hold')
    await write(lp, { t: 'want', ids: want }, signal)
    const m = await read(lp, signal)
    if (m.t !== 'entries') throw new MalformedCircleMessageError('expected entries')
    const wanted = new Set(want.map(hexOf))
    for (const bytes of m.entries) {
      const e = decodeEntry(bytes) // throws CircleEntryError on a forged entry: the stream ends
      if (!wanted.has(hexOf(e.id))) throw new CircleEntryError('the peer sent an entry that was not asked for')
      held.set(hexOf(e.id), e)
    }
    const r = await circles.receive(c, [...held.values()])
    gained += r.applied
    held.clear()
    for (const e of r.pending) held.set(hexOf(e.id), e)
    // Ask again for what was not sent, and for predecessors of what is still pending.
    const next: Uint8Array[] = want.filter(id => !c.log.has(id) && !held.has(hexOf(id)))
    for (const e of r.pending) for (const p of e.prev) if (!c.log.has(p) && !held.has(hexOf(p))) next.push(p)
    want = next
  }
  await write(lp, { t: 'done' }, signal)
  return gained
}

async function respondJoin (lp: Lp, join: Extract<CircleMessage, { t: 'join' }>, local: PeerId, remote: PeerId, circles: Circles, signal: AbortSignal): Promise<void> {
  const inv = circles.findInvite(join.invite)
  if (inv === undefined) return await refuse(lp, 'invite unknown, used or expired', signal)
  const nonce = defaultRandom(32)
  const j = peerBytes(remote)
  const i = peerBytes(local)
  await write(lp, { t: 'challenge', nonce, proof: inviteProof(inv.access, 'inviter', j, i, join.nonce, nonce) }, signal)
  const m = await read(lp, signal)
  if (m.t !== 'join-proof') throw new MalformedCircleMessageError('expected join-proof')
  const expected = inviteProof(inv.access, 'joiner', j, i, join.nonce, nonce)
  if (!constantTimeEq(expected, m.proof)) return await refuse(lp, 'bad invite proof', signal)
  const key = keyOf(remote)
  if (inv.circle.log.isMember(key) || inv.circle.log.wasRemoved(key)) return await refuse(lp, 'already a member, or removed from this circle', signal)
  await circles.admit(inv.circle, join.invite, { key, name: m.name, x: m.x })
  await sendAll(lp, inv.circle, circles, signal)
}

/** The whole log, in its (causal) order, read from disk one batch at a time. */
async function sendAll (lp: Lp, c: Circle, circles: Circles, signal: AbortSignal): Promise<void> {
  const refs = c.log.entries()
  let at = 0
  // Every message carries at least one entry, so this ends after at most refs.length messages.
  while (at < refs.length) {
    let bytes = 0
    let end = at
    while (end < refs.length && (end === at || bytes + (refs[end] as EntryRef).size <= BATCH_BYTES)) bytes += (refs[end++] as EntryRef).size
    const batch = await circles.entryBytes(c, refs.slice(at, end).map(r => r.id))
    if (batch.length > 0) await write(lp, { t: 'entries', entries: batch }, signal)
    at = end
  }
  await write(lp, { t: 'done' }, signal)
}

/** Joins a circle with `invite` over a stream to its inviter. Returns the verified log. */
export async function joinWith (stream: Stream, invite: Invite, myName: string, circles: Circles, local: PeerId, remote: PeerId, signal?: AbortSignal): Promise<Circle> {
  return await onStream(stream, signal, async (lp, deadline) => {
    const nonce = defaultRandom(32)
    await write(lp, { t: 'join', invite: inviteId(invite.secret), nonce }, deadline)
    const ch = await read(lp, deadline)
    if (ch.t === 'error') throw new InviteRefusedError(ch.reason)
    if (ch.t !== 'challenge') throw new MalformedCircleMessageError('expected challenge')
    const j = peerBytes(local)
    const i = peerBytes(remote)
    const access = inviteAccessKey(invite.secret)
    if (!constantTimeEq(inviteProof(access, 'inviter', j, i, nonce, ch.nonce), ch.proof)) throw new InviteRefusedError('the peer did not issue this invite')
    const mine = generateBoxKeyPair()
    await write(lp, { t: 'join-proof', proof: inviteProof(access, 'joiner', j, i, nonce, ch.nonce), name: myName, x: mine.publicKey }, deadline)
    const entries: Entry[] = []
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const m = await read(lp, deadline)
      if (m.t === 'error') throw new InviteRefusedError(m.reason)
      if (m.t === 'done') break
      if (m.t !== 'entries') throw new MalformedCircleMessageError('expected entries')
      for (const b of m.entries) entries.push(decodeEntry(b))
      if (entries.length > MAX_CIRCLE_ENTRIES) throw new MalformedCircleMessageError('too many entries')
    }
    // The log must be this circle's, started by the inviter, and admit us.
    const check = new CircleLog(invite.circle, circles.backend, mine, circles.me)
    const r = check.applyAll(entries)
    if (r.rejected.some(x => !(x.error instanceof CircleQuotaError)) || r.pending.length > 0) throw new CircleEntryError('the inviter sent a log that does not verify')
    if (check.admin === undefined || !constantTimeEq(check.admin, invite.inviter)) throw new CircleEntryError('the log was not started by the inviter')
    if (!check.isMember(circles.me) || check.epochKey(check.epoch) === undefined) throw new CircleEntryError('the log does not admit us')
    return await circles.adopt(invite.circle, mine, entries)
  })
}
