import { ed25519 } from '@noble/curves/ed25519.js'
import { randomBytes } from '@noble/hashes/utils.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CircleEntryError, CircleEntryHiddenError, CircleQuotaError } from '../../protocol/circle/errors.js'
import { CircleLog, addMemberEntry, createCircle, postEntry, removeMemberEntry } from '../../protocol/circle/log.js'
import { sealPost, decodeEntry, signEntry, type Entry } from '../../protocol/circle/entry.js'
import { InviteCodeError } from '../../protocol/circle/errors.js'
import { formatInvite, inviteId, inviteProof, parseInvite } from '../../protocol/circle/invite.js'
import { MalformedCircleMessageError } from '../../protocol/circle/errors.js'
import { decodeCircleMessage, encodeCircleMessage } from '../../protocol/circle/messages.js'
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

// --- review findings: one member bricking a circle (quotas), and order-dependent validity ----------

const post = async (log: CircleLog, p: Person, name: string, time: number): Promise<Entry> =>
  await postEntry(backend, log, p.signer, { link: `kith:${name}`, name, size: 1 }, time)

/** A post signed by `p` naming exactly `prev`, whatever `p`'s log says (what a hostile member can do). */
async function rawPost (log: CircleLog, p: Person, prev: Uint8Array[], name: string, epoch = log.epoch): Promise<Entry> {
  return await signEntry(p.signer, { circle: log.circle, epoch, time: T + 100, prev, body: sealPost(backend, log.circle, p.signer.publicKey, log.epochKeys(epoch), { link: `kith:${name}`, name, size: 1 }) })
}

const feedIds = (l: CircleLog): string[] => l.feed().map(f => f.id).sort()

describe('circle quotas (a member cannot brick the circle)', () => {
  it('caps each author\'s posts per epoch by count and bytes; the cap picks the same posts whatever the order', async () => {
    const { b, la, entries } = await circleOfThree()
    const limits = { postsPerAuthorEpoch: 5 }
    const lb = replay(logOf(la.circle, b), entries)
    // 40 posts, all naming only the membership head: siblings, all heads (the flood of the finding).
    const spam: Entry[] = []
    for (let i = 0; i < 40; i++) spam.push(await rawPost(lb, b, [la.lastMembership as Uint8Array], `spam${i}`))
    const l1 = replay(new CircleLog(la.circle, backend, undefined, undefined, limits), entries)
    const l2 = replay(new CircleLog(la.circle, backend, undefined, undefined, limits), entries)
    l1.applyAll(spam)
    for (const e of [...spam].reverse()) { try { l2.apply(e) } catch (err) { expect(err).toBeInstanceOf(CircleEntryError) } }
    expect(l1.size).toBe(3 + 5)
    expect(l2.size).toBe(3 + 5)
    const kept = (l: CircleLog): string[] => l.entries().filter(r => r.kind === 'post').map(r => r.hex).sort()
    expect(kept(l1)).toEqual(kept(l2))
    // ... and they are the 5 smallest ids.
    expect(kept(l1)).toEqual(spam.map(e => Buffer.from(e.id).toString('hex')).sort().slice(0, 5))
    // Bytes: a budget of three posts' worth keeps three.
    const l3 = replay(new CircleLog(la.circle, backend, undefined, undefined, { postBytesPerAuthorEpoch: 3 * (spam[0] as Entry).bytes.length + 10 }), entries)
    l3.applyAll(spam)
    expect(l3.size).toBe(3 + 3)
    // The heads a sync offers stay bounded, the membership head first.
    expect(l1.heads(4).length).toBe(4)
    // A post naming no predecessor at all is refused (it would be a head for ever).
    const orphan = await rawPost(lb, b, [], 'orphan')
    expect(() => l1.apply(orphan)).toThrow(/non-member/)
  })

  it('a post that pushes out an earlier post it names keeps that one (hidden), so nothing it names goes missing', async () => {
    const { b, la, entries } = await circleOfThree()
    const lb = replay(logOf(la.circle, b), entries)
    const l = replay(new CircleLog(la.circle, backend, undefined, undefined, { postsPerAuthorEpoch: 1 }), entries)
    const first = await rawPost(lb, b, [la.lastMembership as Uint8Array], 'first')
    l.apply(first)
    // A successor with a smaller id (half of all tries have one): it counts, `first` no longer does.
    let next: Entry | undefined
    for (let i = 0; i < 64 && next === undefined; i++) {
      const e = await rawPost(lb, b, [first.id], `next${i}`)
      if (Buffer.compare(Buffer.from(e.id), Buffer.from(first.id)) < 0) next = e
    }
    expect(l.apply(next as Entry)).toBe(true)
    expect(l.has(first.id)).toBe(true)
    expect(l.ref(first.id)?.hidden).toBe(true)
    expect(l.ref((next as Entry).id)?.hidden).toBe(false)
    expect(l.size).toBe(3 + 2)
  })

  it('membership entries apply however full the log is: the admin removes the spammer and its posts leave the feed', async () => {
    const { a, b, c, la, entries } = await circleOfThree()
    const limits = { posts: 6 }
    const lf = new CircleLog(la.circle, backend, a.box, a.signer.publicKey, limits)
    replay(lf, entries)
    const lb = replay(logOf(la.circle, b), entries)
    const spam: Entry[] = []
    for (let i = 0; i < 10; i++) spam.push(await rawPost(lb, b, [la.lastMembership as Uint8Array], `spam${i}`))
    const r = lf.applyAll(spam)
    expect(r.applied.length).toBe(6)
    expect(r.rejected.every(x => x.error instanceof CircleQuotaError)).toBe(true)
    expect(lf.size).toBe(3 + 6)
    // The log is full of posts, yet the admin's removal applies.
    const rm = await removeMemberEntry(backend, lf, a.signer, b.signer.publicKey, T + 50)
    expect(lf.apply(rm)).toBe(true)
    expect(lf.epoch).toBe(1)
    expect(lf.isMember(b.signer.publicKey)).toBe(false)
    expect(lf.feed()).toEqual([])
    // Adds, too, are never refused for the post cap.
    const d = person('dave')
    expect(lf.apply(await addMemberEntry(backend, lf, a.signer, { key: d.signer.publicKey, name: 'dave', x: d.box.publicKey }, inviteId(randomBytes(32)), T + 51))).toBe(true)
    expect(lf.members().map(m => m.name).sort()).toEqual(['alice', 'carol', 'dave'])
    void c
  })

  it('the log keeps no entry bytes and the feed decrypts each post once', async () => {
    const { a, b, la, entries } = await circleOfThree()
    let opens = 0
    const counting = { ...backend, chachaOpen: (...args: Parameters<typeof backend.chachaOpen>) => { opens++; return backend.chachaOpen(...args) } }
    const lb = replay(new CircleLog(la.circle, counting, b.box, b.signer.publicKey), entries)
    for (let i = 0; i < 5; i++) lb.apply(await post(lb, b, `p${i}`, T + 10 + i))
    const after = opens
    for (let i = 0; i < 10; i++) expect(lb.feed().length).toBe(5)
    expect(opens).toBe(after)
    for (const r of lb.entries()) expect('bytes' in r || 'body' in r).toBe(false)
    // Our own post over our quota is refused before it is sent anywhere.
    const small = replay(new CircleLog(la.circle, backend, a.box, a.signer.publicKey, { postsPerAuthorEpoch: 1 }), entries)
    small.apply(await post(small, a, 'one', T + 20))
    await expect(post(small, a, 'two', T + 21)).rejects.toThrow(CircleQuotaError)
  })
})

describe('circle validity does not depend on arrival order', () => {
  it('a removed member\'s backdated post, and what a not-yet-synced member builds on it, apply the same everywhere', async () => {
    const { a, b, c, la, entries } = await circleOfThree()
    const lb = replay(logOf(la.circle, b), entries) // B has not seen the removal yet
    const lc = replay(logOf(la.circle, c), entries)
    const rm = await removeMemberEntry(backend, la, a.signer, c.signer.publicKey, T + 10)
    la.apply(rm)
    // C, removed, plants a post built on the old state; B (stale) accepts it and posts on top of it.
    const late = await post(lc, c, 'backdated', T + 11)
    expect(lb.apply(decodeEntry(late.bytes))).toBe(true)
    const onTop = await post(lb, b, 'honest', T + 12)
    lb.apply(onTop)
    expect(onTop.prev.some(p => Buffer.from(p).equals(Buffer.from(late.id)))).toBe(true)
    // A saw the removal first: the backdated post is kept hidden, B's post applies.
    expect(() => la.apply(decodeEntry(late.bytes))).toThrow(CircleEntryHiddenError)
    expect(la.apply(decodeEntry(onTop.bytes))).toBe(true)
    // B then learns the removal; a fresh member gets everything in another order.
    lb.apply(decodeEntry(rm.bytes))
    const fresh = logOf(la.circle, b)
    const r = fresh.applyAll([onTop, rm, late, ...entries].map(e => decodeEntry(e.bytes)))
    expect(r.pending).toEqual([])
    expect(r.rejected).toEqual([])
    for (const l of [la, lb, fresh]) {
      expect(l.feed().map(f => f.name)).toEqual(['honest'])
      expect(l.has(late.id)).toBe(true)
      expect(l.isMember(c.signer.publicKey)).toBe(false)
    }
    // After the removal, in its causal past, C is refused outright (and nothing is kept).
    const lc2 = replay(logOf(la.circle, c), [...entries, rm])
    const after = await rawPost(lc2, c, [rm.id], 'after', 0)
    expect(() => la.apply(decodeEntry(after.bytes))).toThrow(/removed member/)
    expect(la.has(after.id)).toBe(false)
  })

  it('property: any arrival order (and any batching) gives the same members, epoch and feed', async () => {
    // A universe with every hard case: a spammer over a small quota (siblings and a chain), an
    // honest post racing a removal, a removed member's backdated post and an honest post on it.
    const limits = { postsPerAuthorEpoch: 3 }
    const { a, b, c, la, entries } = await circleOfThree()
    const d = person('dave')
    const addD = await addMemberEntry(backend, la, a.signer, { key: d.signer.publicKey, name: 'dave', x: d.box.publicKey }, inviteId(randomBytes(32)), T + 3)
    la.apply(addD)
    const base = [...entries, addD]
    const lb = replay(logOf(la.circle, b), base)
    const lc = replay(logOf(la.circle, c), base)
    const ld = replay(logOf(la.circle, d), base)
    const universe: Entry[] = [...base]
    const m0 = la.lastMembership as Uint8Array
    for (let i = 0; i < 8; i++) universe.push(await rawPost(ld, d, [m0], `sib${i}`))
    let tip = m0
    for (let i = 0; i < 6; i++) { const e = await rawPost(ld, d, [tip], `chain${i}`); universe.push(e); tip = e.id }
    const race = await post(lb, b, 'race', T + 20) // B posts, not yet knowing of the removal
    lb.apply(race)
    const rm = await removeMemberEntry(backend, la, a.signer, c.signer.publicKey, T + 21)
    la.apply(rm)
    const late = await post(lc, c, 'late', T + 22)
    lb.apply(late)
    const onLate = await post(lb, b, 'on-late', T + 23)
    lb.apply(onLate)
    lb.apply(rm)
    const afterRm = await post(lb, b, 'after', T + 24)
    universe.push(race, rm, late, onLate, afterRm)
    // D's chain tip named by an honest post: over-quota entries it names must still be kept.
    const onSpam = await rawPost(lb, b, [rm.id, tip], 'on-spam', 1)
    universe.push(onSpam)
    const bytes = universe.map(e => e.bytes)
    const byId = new Map(universe.map(e => [Buffer.from(e.id).toString('hex'), e]))

    const run = (order: number[], cuts: number[]): { feed: string[], members: string[], epoch: number, pending: number } => {
      const log = new CircleLog(la.circle, backend, a.box, a.signer.publicKey, limits)
      const shuffled = order.map(i => decodeEntry(bytes[i] as Uint8Array))
      let pending: Entry[] = []
      let at = 0
      for (const cut of [...cuts, shuffled.length]) {
        const r = log.applyAll([...pending, ...shuffled.slice(at, Math.max(at, cut))])
        pending = r.pending
        at = Math.max(at, cut)
      }
      // Then sync as a puller does: ask for whatever pending entries name and the log lacks.
      for (let round = 0; round < universe.length && pending.length > 0; round++) {
        const want = pending.flatMap(e => e.prev).filter(p => !log.has(p)).map(p => byId.get(Buffer.from(p).toString('hex'))).filter((e): e is Entry => e !== undefined)
        pending = log.applyAll([...pending, ...want]).pending
      }
      return { feed: feedIds(log), members: log.members().map(m => m.name).sort(), epoch: log.epoch, pending: pending.length }
    }
    const reference = run(universe.map((_, i) => i), [])
    expect(reference.pending).toBe(0)
    expect(reference.members).toEqual(['alice', 'bob', 'dave'])
    expect(reference.epoch).toBe(1)
    const names = (ids: string[]): string[] => { const l = new CircleLog(la.circle, backend, a.box, a.signer.publicKey, limits); l.applyAll(universe); return l.feed().filter(f => ids.includes(f.id)).map(f => f.name).sort() }
    const shown = names(reference.feed)
    expect(shown.filter(n => !n.startsWith('sib') && !n.startsWith('chain'))).toEqual(['after', 'on-late', 'on-spam', 'race'])
    expect(shown.filter(n => n.startsWith('sib') || n.startsWith('chain')).length).toBe(3)
    fc.assert(fc.property(
      fc.shuffledSubarray(universe.map((_, i) => i), { minLength: universe.length }),
      fc.array(fc.nat(universe.length), { maxLength: 6 }).map(a => a.sort((x, y) => x - y)),
      (order, cuts) => {
        expect(run(order, cuts)).toEqual(reference)
      }
    ), { numRuns: 60 })
    void b
  }, 120_000)
})
