import { ed25519 } from '@noble/curves/ed25519.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'
import { CircleEntryError, CircleLog, addMemberEntry, createCircle, decodeEntry, postEntry, removeMemberEntry, signEntry, type Entry } from '../../protocol/circle/log.js'
import { InviteCodeError, formatInvite, inviteId, inviteProof, parseInvite } from '../../protocol/circle/invite.js'
import { MalformedCircleMessageError, decodeCircleMessage, encodeCircleMessage } from '../../protocol/circle/messages.js'
import { generateBoxKeyPair, type BoxKeyPair, type CircleSigner } from '../../protocol/circle/keys.js'
import { nobleBackend as backend } from '../../protocol/crypto.js'

interface Person { signer: CircleSigner, box: BoxKeyPair, sk: Uint8Array, name: string }
function person (name: string): Person {
  const sk = randomBytes(32)
  return { sk, name, box: generateBoxKeyPair(), signer: { publicKey: ed25519.getPublicKey(sk), sign: (m: Uint8Array) => ed25519.sign(m, sk) } }
}
const logOf = (circle: Uint8Array, p: Person): CircleLog => new CircleLog(circle, backend, p.box, p.signer.publicKey)
const T = 1_700_000_000_000

async function circleOfThree (): Promise<{ a: Person, b: Person, c: Person, la: CircleLog, entries: Entry[] }> {
  const a = person('alice')
  const b = person('bob')
  const c = person('carol')
  const genesis = await createCircle(backend, a.signer, a.box, 'friends', a.name, T)
  const la = logOf(genesis.circle, a)
  la.apply(genesis)
  const addB = await addMemberEntry(backend, la, a.signer, { key: b.signer.publicKey, name: b.name, x: b.box.publicKey }, inviteId(randomBytes(32)), T + 1)
  la.apply(addB)
  const addC = await addMemberEntry(backend, la, a.signer, { key: c.signer.publicKey, name: c.name, x: c.box.publicKey }, inviteId(randomBytes(32)), T + 2)
  la.apply(addC)
  return { a, b, c, la, entries: [genesis, addB, addC] }
}

function replay (log: CircleLog, entries: readonly Entry[]): CircleLog {
  const r = log.applyAll(entries.map(e => decodeEntry(e.bytes)))
  expect(r.rejected).toEqual([])
  expect(r.pending).toEqual([])
  return log
}

describe('circle log', () => {
  it('members join, post and read each other; every member rebuilds the same state from the log', async () => {
    const { b, c, la, entries } = await circleOfThree()
    const lb = replay(logOf(la.circle, b), entries)
    const post = await postEntry(backend, lb, b.signer, { link: 'kith:abc', name: 'holiday.jpg', size: 1234 }, T + 3)
    lb.apply(post)
    la.apply(decodeEntry(post.bytes))
    const lc = replay(logOf(la.circle, c), [...entries, post])
    for (const l of [la, lb, lc]) {
      expect(l.members().map(m => m.name).sort()).toEqual(['alice', 'bob', 'carol'])
      expect(l.feed().map(f => [f.name, f.link, f.size])).toEqual([['holiday.jpg', 'kith:abc', 1234]])
      expect(l.name).toBe('friends')
    }
  })

  it('removing a member rotates the key: the removed member cannot read later posts and holds no new key', async () => {
    const { a, b, c, la, entries } = await circleOfThree()
    const lcOld = replay(logOf(la.circle, c), entries)
    const rm = await removeMemberEntry(backend, la, a.signer, c.signer.publicKey, T + 10)
    la.apply(rm)
    expect(la.epoch).toBe(1)
    const lb = replay(logOf(la.circle, b), [...entries, rm])
    const post = await postEntry(backend, lb, b.signer, { link: 'kith:secret', name: 'after.txt', size: 1 }, T + 11)
    expect(post.epoch).toBe(1)
    la.apply(decodeEntry(post.bytes))
    expect(la.feed().map(f => f.name)).toEqual(['after.txt'])
    // Even with every entry in hand, C has no key for epoch 1 and reads nothing of it.
    const lc = logOf(la.circle, c)
    const r = lc.applyAll([...entries, rm].map(e => decodeEntry(e.bytes)))
    expect(r.rejected).toEqual([])
    expect(lc.epochKey(1)).toBeUndefined()
    expect(lc.knownEpochs()).toEqual([0])
    // ... and C's own post after removal is refused by everyone.
    await expect(postEntry(backend, lc, c.signer, { link: 'kith:x', name: 'x', size: 1 }, T + 12)).rejects.toThrow(/no key for epoch 1/)
    const late = await postEntry(backend, lcOld, c.signer, { link: 'kith:x', name: 'x', size: 1 }, T + 12)
    expect(() => la.apply(decodeEntry(late.bytes))).toThrow(/removed member/)
    expect(la.isMember(c.signer.publicKey)).toBe(false)
    expect(la.wasRemoved(c.signer.publicKey)).toBe(true)
  })

  it('rejects a forged entry (bad signature), a replay into another circle, and non-admin membership changes', async () => {
    const { a, b, c, la, entries } = await circleOfThree()
    const post = await postEntry(backend, la, a.signer, { link: 'kith:abc', name: 'n', size: 1 }, T + 3)
    const forged = Uint8Array.from(post.bytes)
    forged[forged.length - 5]! ^= 1 // inside the signature
    expect(() => decodeEntry(forged)).toThrow(CircleEntryError)
    const flipped = Uint8Array.from(post.bytes)
    flipped[40]! ^= 1 // inside the signed body
    expect(() => decodeEntry(flipped)).toThrow(CircleEntryError)
    // The same entry again is a no-op.
    expect(la.apply(decodeEntry(post.bytes))).toBe(true)
    expect(la.apply(decodeEntry(post.bytes))).toBe(false)
    expect(la.size).toBe(4)
    // An entry from another circle (valid signature) is refused.
    const other = await createCircle(backend, a.signer, a.box, 'other', 'alice', T)
    expect(() => la.apply(other)).toThrow(/another circle|one genesis/)
    const lo = logOf(other.circle, a)
    lo.apply(other)
    expect(() => lo.apply(decodeEntry(entries[1]!.bytes))).toThrow(/another circle/)
    // A removal signed by a non-admin member.
    const lb = replay(logOf(la.circle, b), entries)
    const bad = await removeMemberEntry(backend, lb, b.signer, c.signer.publicKey, T + 5)
    expect(() => la.apply(decodeEntry(bad.bytes))).toThrow(/only the circle's admin/)
    expect(la.isMember(c.signer.publicKey)).toBe(true)
    // An add by a non-admin.
    const d = person('dave')
    const badAdd = await addMemberEntry(backend, lb, b.signer, { key: d.signer.publicKey, name: 'dave', x: d.box.publicKey }, inviteId(randomBytes(32)), T + 6)
    expect(() => la.apply(decodeEntry(badAdd.bytes))).toThrow(/only the circle's admin/)
  })

  it('refuses a reused invite, a second genesis, removing the admin, and key boxes that skip a member', async () => {
    const { a, c, la } = await circleOfThree()
    const d = person('dave')
    const inv = inviteId(randomBytes(32))
    la.apply(await addMemberEntry(backend, la, a.signer, { key: d.signer.publicKey, name: 'dave', x: d.box.publicKey }, inv, T + 5))
    const e = person('eve')
    await expect(addMemberEntry(backend, la, a.signer, { key: e.signer.publicKey, name: 'eve', x: e.box.publicKey }, inv, T + 6).then(x => la.apply(x))).rejects.toThrow(/invite was used/)
    await expect(removeMemberEntry(backend, la, a.signer, a.signer.publicKey, T + 7).then(x => la.apply(x))).rejects.toThrow(/admin cannot be removed/)
    // A remove whose boxes leave out a remaining member.
    const rm = await removeMemberEntry(backend, la, a.signer, c.signer.publicKey, T + 8)
    if (rm.body.kind !== 'remove') throw new Error('unreachable')
    const short = await signEntry(a.signer, { circle: rm.circle, epoch: rm.epoch, time: rm.time, prev: rm.prev, body: { ...rm.body, boxes: rm.body.boxes.slice(1) } })
    expect(() => la.apply(short)).toThrow(/exactly the remaining members/)
    expect(la.epoch).toBe(0)
  })

  it('applies a batch in any order and leaves entries with missing predecessors pending', async () => {
    const { b, la, entries } = await circleOfThree()
    const lb = logOf(la.circle, b)
    const r = lb.applyAll([...entries].reverse().map(e => decodeEntry(e.bytes)))
    expect(r.applied.length).toBe(3)
    const lb2 = logOf(la.circle, b)
    const r2 = lb2.applyAll([entries[2]!].map(e => decodeEntry(e.bytes)))
    expect(r2.pending.length).toBe(1)
    expect(lb2.size).toBe(0)
  })
})

describe('invite codes', () => {
  const inv = { circle: randomBytes(32), inviter: randomBytes(32), secret: randomBytes(32), expires: 1_800_000_000, hints: [new TextEncoder().encode('/ip4/127.0.0.1/tcp/4001')] }
  it('round-trips and is case-insensitive', () => {
    const code = formatInvite(inv)
    expect(code.startsWith('kith-invite:')).toBe(true)
    for (const c of [code, code.toUpperCase().replace('KITH-INVITE:', 'kith-invite:'), `  ${code}\n`]) {
      const p = parseInvite(c)
      expect(Buffer.from(p.secret).equals(Buffer.from(inv.secret))).toBe(true)
      expect(p.expires).toBe(inv.expires)
      expect(p.hints.length).toBe(1)
    }
  })
  it('refuses tampered, truncated and foreign codes with a typed error that does not echo the code', () => {
    const code = formatInvite(inv)
    const i = code.length - 10
    const tampered = code.slice(0, i) + (code[i] === 'a' ? 'b' : 'a') + code.slice(i + 1)
    for (const bad of [tampered, code.slice(0, 40), 'kith:abc', 'hello', '', 'kith-invite:!!!!', 'x'.repeat(5000)]) {
      let err: unknown
      try { parseInvite(bad) } catch (e) { err = e }
      expect(err).toBeInstanceOf(InviteCodeError)
      expect((err as Error).message).not.toContain(code.slice(12, 40))
    }
  })
  it('invite proofs bind both peers, both nonces and the role', () => {
    const s = randomBytes(32)
    const j = randomBytes(34)
    const i = randomBytes(34)
    const n1 = randomBytes(32)
    const n2 = randomBytes(32)
    const p = inviteProof(s, 'joiner', j, i, n1, n2)
    expect(Buffer.from(p).equals(Buffer.from(inviteProof(s, 'joiner', j, i, n1, n2)))).toBe(true)
    for (const other of [inviteProof(s, 'inviter', j, i, n1, n2), inviteProof(s, 'joiner', i, j, n1, n2), inviteProof(s, 'joiner', j, i, n2, n1), inviteProof(randomBytes(32), 'joiner', j, i, n1, n2)]) {
      expect(Buffer.from(p).equals(Buffer.from(other))).toBe(false)
    }
  })
})

describe('circle messages', () => {
  it('round-trip and refuse malformed input', () => {
    const msgs = [
      { t: 'hello' as const, circle: randomBytes(32), epoch: 3, nonce: randomBytes(32) },
      { t: 'heads' as const, ids: [randomBytes(32), randomBytes(32)] },
      { t: 'entries' as const, entries: [randomBytes(100)] },
      { t: 'done' as const },
      { t: 'join-proof' as const, proof: randomBytes(32), name: 'bob', x: randomBytes(32) }
    ]
    for (const m of msgs) expect(decodeCircleMessage(encodeCircleMessage(m))).toEqual(m)
    for (let i = 0; i < 2000; i++) {
      const junk = randomBytes(1 + (i % 200))
      try { decodeCircleMessage(junk) } catch (e) { expect(e).toBeInstanceOf(MalformedCircleMessageError) }
    }
    expect(() => decodeCircleMessage(encodeCircleMessage({ t: 'want', ids: [randomBytes(31)] } as never))).toThrow(MalformedCircleMessageError)
  })
})
