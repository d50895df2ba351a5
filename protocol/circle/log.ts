/**
 * Friend circles (docs/PROTOCOL.md §9): a signed, append-only log that members replicate.
 *
 * A circle is its log. Every entry is canonical CBOR signed with its author's Ed25519 identity
 * key (the key behind the author's libp2p peer ID) and named by the SHA-256 of its signed bytes.
 * Entries name their predecessors (`prev`), so the log is a DAG that every member applies in a
 * causal order with the same rules:
 *
 *   genesis  the creator (the admin, forever) starts epoch 0; carries the epoch-0 key sealed
 *            to the admin's own X25519 key
 *   add      the admin admits a member (who proved a one-time invite) and seals the current
 *            epoch key to the member's X25519 key
 *   remove   the admin removes a member and starts epoch e+1: a fresh key sealed to each
 *            remaining member's X25519 key (not to the removed one)
 *   post     a member posts a share link, encrypted under the key of the epoch it names
 *
 * Membership entries (genesis, add, remove) form one chain: each names the previous one (`m`),
 * so every member orders them identically. A member's local secrets are its identity key and its
 * X25519 key; every epoch key is recovered from the log with the latter (docs/THREAT-MODEL.md §2.7).
 *
 * Every entry is judged against the membership in its own causal past: the newest membership
 * entry its `prev` reach (§9.2). So whether an entry stands depends only on the entry and its
 * ancestors, never on what the applier happened to receive first, and every member that holds
 * the same entries reaches the same state.
 *
 * Rules that reject an entry (CircleEntryError, nothing kept): bad signature, wrong circle,
 * unknown kind or malformed body, over a size limit, a membership entry not by the admin or not
 * extending the membership chain, an `add` of a current or removed member or with a used invite,
 * a `remove` of the admin or a non-member or whose key boxes do not match the remaining members
 * exactly, a post whose author is not a member in its causal past (never added there, or removed
 * there; a post naming no predecessor has no membership at all), a post for an epoch its author
 * was not a member of or that its causal past does not reach, a post over its author's quota for
 * its epoch (CircleQuotaError). A replayed entry has the same ID and is a no-op.
 *
 * Kept but hidden (CircleEntryHiddenError: stored and served, so entries naming it still apply,
 * never shown): a post by a member removed later (a removal hides all of the removed member's
 * posts, whenever they arrive), an over-quota post that another entry names.
 *
 * Pure: no I/O. Signing is the caller's (a CircleSigner); randomness is injectable for vectors.
 * Entries as bytes and sealed posts: entry.ts; keys and key boxes: keys.ts; invite codes:
 * invite.ts; wire messages: messages.ts; post quotas: quota.ts; errors: errors.ts.
 */
import { constantTimeEqual } from '../bytes.js'
import { defaultRandom, type CryptoBackend, type RandomSource } from '../crypto.js'
import { KEY_BYTES, MAX_CIRCLE_POSTS, MAX_HIDDEN_POSTS_PER_AUTHOR_EPOCH, MAX_MEMBERS, MAX_MEMBERSHIP_ENTRIES, MAX_MEMBER_NAME_BYTES, MAX_POSTS_PER_AUTHOR_EPOCH, MAX_POST_BYTES_PER_AUTHOR_EPOCH } from '../constants.js'
import { DecryptionError } from '../errors.js'
import { PostQuotas } from './quota.js'
import { deriveEpochKeys, openKeyBox, sealKeyBox, type BoxKeyPair, type CircleSigner, type EpochKeys, type KeyBox } from './keys.js'
import { CircleEntryError, CircleEntryHiddenError, CircleQuotaError, NoEpochKeyError } from './errors.js'
import { hexOf } from '../bytes.js'
import { MAX_CIRCLE_NAME_BYTES, MAX_PREV, checkText, openPost, sealPost, signEntry, type AddBody, type Entry, type EntryKind, type GenesisBody, type PostPayload, type RemoveBody } from './entry.js'
// --- the log --------------------------------------------------------------------------------------

export interface Member {
  readonly key: Uint8Array
  readonly name: string
  readonly x: Uint8Array
  /** Epoch at which the member joined. */
  readonly since: number
  readonly admin: boolean
}

export interface FeedItem extends PostPayload {
  readonly id: string
  readonly author: Uint8Array
  readonly time: number
  readonly epoch: number
}

/** Limits of one log; the defaults are the protocol's (constants.ts). Tests pass smaller ones. */
export interface CircleLimits {
  readonly postsPerAuthorEpoch: number
  readonly postBytesPerAuthorEpoch: number
  readonly hiddenPerAuthorEpoch: number
  readonly posts: number
}

export const DEFAULT_CIRCLE_LIMITS: CircleLimits = Object.freeze({
  postsPerAuthorEpoch: MAX_POSTS_PER_AUTHOR_EPOCH,
  postBytesPerAuthorEpoch: MAX_POST_BYTES_PER_AUTHOR_EPOCH,
  hiddenPerAuthorEpoch: MAX_HIDDEN_POSTS_PER_AUTHOR_EPOCH,
  posts: MAX_CIRCLE_POSTS
})

/**
 * What the log keeps of an entry it holds: no body and no signed bytes (the caller stores those,
 * e.g. on disk, and serves them by id), so memory per entry is small and fixed.
 */
export interface EntryRef {
  readonly id: Uint8Array
  readonly hex: string
  readonly author: Uint8Array
  readonly kind: EntryKind
  readonly epoch: number
  readonly time: number
  /** Length of the signed bytes. */
  readonly size: number
  /** Hidden: held (so entries naming it apply) but not shown: over its author's quota. */
  readonly hidden: boolean
}

interface Held extends EntryRef {
  hidden: boolean
  /** Index in the membership chain of the newest membership entry in this entry's causal past. */
  readonly m: number
  readonly prev: Held[]
  /** Held entries naming this one in prev. */
  children: number
}

interface Person extends Member {
  /** Chain index of the entry that added (or created) the member. */
  readonly addedAt: number
  /** Chain index of the entry that removed the member, if any. */
  removedAt?: number
}

/**
 * One circle's replicated state, rebuilt by applying entries in causal order. Holds no secret but
 * the epoch keys it could open with `mine` (the member's X25519 key pair), if given.
 *
 * Every entry is judged against the membership in its own causal past (the newest membership
 * entry its `prev` reach), never against what the applier happens to know, so the result is the
 * same whatever order entries arrive in (docs/PROTOCOL.md §9.2). Membership entries apply however
 * many posts the log holds. Posts are bounded per author and epoch (circle-quota.ts).
 */
export class CircleLog {
  readonly circle: Uint8Array
  name = ''
  admin: Uint8Array | undefined
  epoch = 0
  readonly #held = new Map<string, Held>()
  /** Held entries in the order applied (a causal order); dropped ones are skipped on read. */
  #order: Held[] = []
  #dropped = 0
  readonly #heads = new Set<string>()
  /** The membership chain: genesis, then every add and remove, in order. */
  readonly #chain: Entry[] = []
  readonly #people = new Map<string, Person>()
  readonly #invites = new Set<string>()
  readonly #epochKeys = new Map<number, Uint8Array>()
  readonly #derived = new Map<number, EpochKeys>()
  /** Decrypted posts that count, in the order applied: the feed is read from here, never re-opened. */
  readonly #feed = new Map<string, FeedItem>()
  readonly #quotas: PostQuotas
  readonly #limits: CircleLimits
  #posts = 0

  constructor (circle: Uint8Array, private readonly backend: CryptoBackend, private readonly mine?: BoxKeyPair, private readonly me?: Uint8Array, limits: Partial<CircleLimits> = {}) {
    if (circle.length !== 32) throw new RangeError('circle id must be 32 bytes')
    this.circle = circle
    this.#limits = { ...DEFAULT_CIRCLE_LIMITS, ...limits }
    this.#quotas = new PostQuotas({ posts: this.#limits.postsPerAuthorEpoch, bytes: this.#limits.postBytesPerAuthorEpoch })
  }

  /** Entries held (shown and hidden). */
  get size (): number { return this.#held.size }
  has (id: Uint8Array): boolean { return this.#held.has(hexOf(id)) }
  ref (id: Uint8Array): EntryRef | undefined { return this.#held.get(hexOf(id)) }
  /** Held entries in the order they were applied (a causal order). */
  entries (): EntryRef[] {
    return this.#order.filter(h => this.#held.get(h.hex) === h)
  }

  /**
   * Entries nothing else names as prev, for a new entry's prev and for sync, at most `limit`: the
   * membership head first, then posts of the authors with the fewest posts (so a flood by one
   * author cannot crowd out everyone else's), newest first. Hidden entries are left out: nothing
   * needs them unless something names them.
   */
  heads (limit = Number.MAX_SAFE_INTEGER): Uint8Array[] {
    const tip = this.#chain.at(-1)
    const out: Uint8Array[] = []
    if (tip !== undefined && this.#heads.has(hexOf(tip.id))) out.push(tip.id)
    const rank: Array<{ h: Held, load: number, at: number }> = []
    let at = 0
    for (const hex of this.#heads) {
      const h = this.#held.get(hex) as Held
      at++
      if (h.kind !== 'post' || h.hidden || this.#isRemoved(h.author)) continue
      rank.push({ h, load: this.#quotas.count(hexOf(h.author), h.epoch), at })
    }
    rank.sort((a, b) => a.load - b.load || b.at - a.at)
    for (const r of rank) {
      if (out.length >= limit) break
      out.push(r.h.id)
    }
    return out.slice(0, limit)
  }

  members (): Member[] { return [...this.#people.values()].filter(p => p.removedAt === undefined).map(memberOf) }
  /** A current or former member (its name for the feed), if ever admitted. */
  person (key: Uint8Array): Member | undefined {
    const p = this.#people.get(hexOf(key))
    return p === undefined ? undefined : memberOf(p)
  }

  isMember (key: Uint8Array): boolean { const p = this.#people.get(hexOf(key)); return p !== undefined && p.removedAt === undefined }
  wasRemoved (key: Uint8Array): boolean { return this.#isRemoved(key) }
  #isRemoved (key: Uint8Array): boolean { return this.#people.get(hexOf(key))?.removedAt !== undefined }
  inviteUsed (inviteId: Uint8Array): boolean { return this.#invites.has(hexOf(inviteId)) }
  get lastMembership (): Uint8Array | undefined { return this.#chain.at(-1)?.id }

  /** The key of `epoch`, if this member could open it. */
  epochKey (epoch: number): Uint8Array | undefined { return this.#epochKeys.get(epoch) }
  epochKeys (epoch = this.epoch): EpochKeys {
    const k = this.#epochKeys.get(epoch)
    if (k === undefined) throw new NoEpochKeyError(epoch)
    let d = this.#derived.get(epoch)
    if (d === undefined) {
      d = deriveEpochKeys(epoch, k)
      this.#derived.set(epoch, d)
    }
    return d
  }

  /** Epochs whose key this member holds. */
  knownEpochs (): number[] { return [...this.#epochKeys.keys()].sort((a, b) => a - b) }

  /** Whether `author` may post `size` more bytes in `epoch` without going over its quota. */
  canPost (author: Uint8Array, epoch: number, size: number): boolean {
    return this.#posts < this.#limits.posts && this.#quotas.fits(hexOf(author), epoch, size)
  }

  /**
   * Applies one entry. Returns false if it is already held (a replay is a no-op); throws
   * CircleEntryError if it breaks a rule or a predecessor is missing (nothing is kept), and
   * CircleEntryHiddenError if it is kept but hidden (by a removed member, or over quota yet named
   * by another entry: `named` holds the ids other entries name, see applyAll).
   */
  apply (e: Entry, named?: ReadonlySet<string>, uncapped = false): boolean {
    const hex = hexOf(e.id)
    if (this.#held.has(hex)) return false
    if (!constantTimeEqual(e.circle, this.circle)) throw new CircleEntryError('entry belongs to another circle')
    const prev: Held[] = []
    let m = -1
    for (const p of e.prev) {
      const h = this.#held.get(hexOf(p))
      if (h === undefined) throw new CircleEntryError('entry names a predecessor this log does not have')
      prev.push(h)
      if (h.m > m) m = h.m
    }
    if (e.body.kind !== 'post') {
      this.#applyMembership(e, e.body, m)
      this.#keep(e, hex, prev, this.#chain.length - 1, false)
      return true
    }
    return this.#applyPost(e, hex, prev, m, named, uncapped)
  }

  #applyMembership (e: Entry, body: GenesisBody | AddBody | RemoveBody, m: number): void {
    if (this.admin === undefined) {
      if (body.kind !== 'genesis' || e.epoch !== 0 || e.prev.length !== 0) throw new CircleEntryError('a circle log starts with its genesis entry')
      if (!constantTimeEqual(body.box.member, e.author)) throw new CircleEntryError('genesis key box is not for its author')
    } else if (body.kind === 'genesis') {
      throw new CircleEntryError('a circle has one genesis entry')
    }
    if (this.#chain.length >= MAX_MEMBERSHIP_ENTRIES) throw new CircleEntryError('this circle has had as many membership changes as it may')
    const isAdmin = this.admin !== undefined && constantTimeEqual(e.author, this.admin)
    const index = this.#chain.length
    switch (body.kind) {
      case 'genesis':
        this.admin = e.author
        this.name = body.name
        this.#people.set(hexOf(e.author), { key: e.author, name: body.memberName, x: body.x, since: 0, admin: true, addedAt: 0 })
        this.#openBox(0, body.box)
        break
      case 'add': {
        this.#checkMembershipStep(e, isAdmin, body.m, m, this.epoch, 'add')
        const key = hexOf(body.member)
        const p = this.#people.get(key)
        if (p !== undefined && p.removedAt === undefined) throw new CircleEntryError('add: already a member')
        if (p !== undefined) throw new CircleEntryError('add: a removed member cannot be added again')
        if (this.#invites.has(hexOf(body.invite))) throw new CircleEntryError('add: this invite was used already')
        if (!constantTimeEqual(body.box.member, body.member)) throw new CircleEntryError('add: key box is not for the new member')
        if (this.members().length >= MAX_MEMBERS) throw new CircleEntryError('circle is full')
        this.#people.set(key, { key: body.member, name: body.memberName, x: body.x, since: this.epoch, admin: false, addedAt: index })
        this.#invites.add(hexOf(body.invite))
        this.#openBox(this.epoch, body.box)
        break
      }
      case 'remove': {
        this.#checkMembershipStep(e, isAdmin, body.m, m, this.epoch + 1, 'remove')
        const key = hexOf(body.member)
        const p = this.#people.get(key)
        if (p === undefined || p.removedAt !== undefined) throw new CircleEntryError('remove: not a member')
        if (p.admin) throw new CircleEntryError('remove: the admin cannot be removed')
        const remaining = this.members().map(x => hexOf(x.key)).filter(k => k !== key)
        const boxed = body.boxes.map(b => hexOf(b.member))
        if (boxed.length !== remaining.length || new Set(boxed).size !== boxed.length || !remaining.every(k => boxed.includes(k))) {
          throw new CircleEntryError('remove: the new epoch key must be sealed to exactly the remaining members')
        }
        // The removed member's posts (past, and any still to arrive that predate the removal in
        // their causal past) stay held, so entries naming them apply, but leave the feed.
        p.removedAt = index
        this.epoch += 1
        const mine = body.boxes.find(b => this.me !== undefined && constantTimeEqual(b.member, this.me))
        if (mine !== undefined) this.#openBox(this.epoch, mine)
        break
      }
    }
    this.#chain.push(e)
  }

  #checkMembershipStep (e: Entry, isAdmin: boolean, mField: Uint8Array, m: number, epoch: number, what: string): void {
    if (!isAdmin) throw new CircleEntryError(`${what}: only the circle's admin may ${what} members`)
    const tip = this.#chain.at(-1)
    // The chain is linear: `m` must be its newest entry, which the entry's prev must reach.
    if (tip === undefined || !constantTimeEqual(mField, tip.id) || m !== this.#chain.length - 1 || !e.prev.some(p => constantTimeEqual(p, mField))) {
      throw new CircleEntryError(`${what}: does not extend the membership chain`)
    }
    if (e.epoch !== epoch) throw new CircleEntryError(`${what}: wrong epoch`)
  }

  #applyPost (e: Entry, hex: string, prev: Held[], m: number, named: ReadonlySet<string> | undefined, uncapped: boolean): boolean {
    if (this.admin === undefined) throw new CircleEntryError('a circle log starts with its genesis entry')
    const author = hexOf(e.author)
    const p = this.#people.get(author)
    // Membership as of the post's causal past: added at or before `m`, not removed by then.
    if (m < 0 || p === undefined || p.addedAt > m) throw new CircleEntryError('entry by a non-member')
    if (p.removedAt !== undefined && p.removedAt <= m) throw new CircleEntryError('entry by a removed member')
    const epochThen = (this.#chain[m] as Entry).epoch
    if (e.epoch > epochThen || e.epoch < p.since) throw new CircleEntryError('post for an epoch its author was not a member of')
    if (this.#posts >= this.#limits.posts) throw new CircleQuotaError('this circle holds as many posts as a node keeps')
    const q = this.#quotas.admit(author, e.epoch, hex, e.bytes.length)
    // Keep the new entry before forgetting what it pushed out, so that a pushed-out post it names
    // counts as named (and stays, hidden) instead of leaving it with a missing predecessor.
    if (!q.counts) {
      const keep = named?.has(hex) === true && (uncapped || this.#quotas.hidden(author, e.epoch) < this.#limits.hiddenPerAuthorEpoch)
      if (keep) {
        this.#quotas.noteHidden(author, e.epoch)
        this.#keep(e, hex, prev, m, true)
      }
      for (const x of q.evicted) this.#evict(x)
      if (!keep) throw new CircleQuotaError('post over its author\'s quota for this epoch')
      throw new CircleEntryHiddenError('post over its author\'s quota: kept hidden, as another entry names it')
    }
    const h = this.#keep(e, hex, prev, m, false)
    for (const x of q.evicted) this.#evict(x)
    const k = this.#epochKeys.get(e.epoch)
    if (k !== undefined) {
      try {
        const payload = openPost(this.backend, this.circle, e, this.epochKeys(e.epoch))
        this.#feed.set(hex, { ...payload, id: hex, author: h.author, time: e.time, epoch: e.epoch })
      } catch {
        // A post that does not open under its epoch key stays in the log but cannot be shown.
      }
    }
    if (p.removedAt !== undefined) {
      throw new CircleEntryHiddenError('entry by a removed member: kept, hidden, as it predates the removal in its causal past')
    }
    return true
  }

  #keep (e: Entry, hex: string, prev: Held[], m: number, hidden: boolean): Held {
    // The author key is the member record's own copy: `e.author` is a view into the entry's
    // bytes, and holding it would keep every entry's bytes in memory.
    const author = this.#people.get(hexOf(e.author))?.key ?? e.author.slice()
    const h: Held = { id: e.id, hex, author, kind: e.body.kind, epoch: e.epoch, time: e.time, size: e.bytes.length, hidden, m, prev, children: 0 }
    this.#held.set(hex, h)
    this.#order.push(h)
    this.#heads.add(hex)
    for (const p of prev) if (p.children++ === 0) this.#heads.delete(p.hex)
    if (h.kind === 'post') this.#posts++
    return h
  }

  /** A post pushed out of its author's quota: hidden if something names it, else forgotten. */
  #evict (hex: string): void {
    const h = this.#held.get(hex)
    this.#feed.delete(hex)
    if (h === undefined) return
    if (h.children > 0) {
      h.hidden = true
      this.#quotas.noteHidden(hexOf(h.author), h.epoch)
      return
    }
    this.#held.delete(hex)
    this.#heads.delete(hex)
    this.#posts--
    for (const p of h.prev) if (--p.children === 0) this.#heads.add(p.hex)
    // Forgotten records leave the order list once they are half of it (amortised O(1)).
    if (++this.#dropped > this.#order.length / 2) {
      this.#order = this.#order.filter(x => this.#held.get(x.hex) === x)
      this.#dropped = 0
    }
  }

  #openBox (epoch: number, box: KeyBox): void {
    if (this.mine === undefined || this.me === undefined || !constantTimeEqual(box.member, this.me)) return
    try {
      const k = openKeyBox(this.backend, this.circle, epoch, box, this.mine)
      if (k.length === KEY_BYTES) this.#epochKeys.set(epoch, k)
    } catch (err) {
      if (!(err instanceof DecryptionError)) throw err
      // A box for us that does not open: the admin sealed to another key. The entry stands (it is
      // validly signed); we simply hold no key for this epoch.
    }
  }

  /**
   * Applies a batch in any order: entries whose predecessors are not in yet wait for them.
   * Returns the entries applied, those kept hidden (store them too: entries naming them need
   * them), the ones rejected (with why), and those still missing a predecessor (`pending`).
   * An over-quota post is kept hidden only if an entry of the batch names it, at most
   * hiddenPerAuthorEpoch of them unless `reload` (a node re-reading what it stored itself:
   * everything named then is kept again, so the log cannot come back with entries pending).
   * `kept` is applied and hidden together, in the order applied (a causal order).
   */
  applyAll (batch: Entry[], { reload = false } = {}): { applied: Entry[], hidden: Entry[], kept: Entry[], rejected: Array<{ entry: Entry, error: CircleEntryError }>, pending: Entry[] } {
    const kept: Entry[] = []
    const applied: Entry[] = []
    const hidden: Entry[] = []
    const rejected: Array<{ entry: Entry, error: CircleEntryError }> = []
    const named = new Set<string>()
    for (const e of batch) for (const p of e.prev) named.add(hexOf(p))
    // Kahn's algorithm: each entry waits on its predecessors that are not held; bounded by the
    // batch's entries plus their prev references.
    const missing = new Map<Entry, number>()
    const waiters = new Map<string, Entry[]>()
    const ready: Entry[] = []
    const seen = new Set<string>()
    for (const e of batch) {
      const hex = hexOf(e.id)
      if (seen.has(hex) || this.#held.has(hex)) continue
      seen.add(hex)
      let n = 0
      for (const p of e.prev) {
        const ph = hexOf(p)
        if (this.#held.has(ph)) continue
        n++
        const w = waiters.get(ph)
        if (w === undefined) waiters.set(ph, [e])
        else w.push(e)
      }
      missing.set(e, n)
      if (n === 0) ready.push(e)
    }
    for (let i = 0; i < ready.length; i++) {
      const e = ready[i] as Entry
      missing.delete(e)
      try {
        if (this.apply(e, named, reload)) { applied.push(e); kept.push(e) }
      } catch (err) {
        if (err instanceof CircleEntryHiddenError) { hidden.push(e); kept.push(e) } else if (err instanceof CircleEntryError) rejected.push({ entry: e, error: err })
        else throw err
      }
      if (!this.has(e.id)) continue
      for (const w of waiters.get(hexOf(e.id)) ?? []) {
        const n = (missing.get(w) as number) - 1
        missing.set(w, n)
        if (n === 0) ready.push(w)
      }
    }
    return { applied, hidden, kept, rejected, pending: [...missing.keys()] }
  }

  /** Decrypted posts this member can read, oldest first (none by a removed member). */
  feed (): FeedItem[] {
    const out: FeedItem[] = []
    for (const f of this.#feed.values()) if (!this.#isRemoved(f.author)) out.push(f)
    return out
  }
}

function memberOf (p: Person): Member {
  return { key: p.key, name: p.name, x: p.x, since: p.since, admin: p.admin }
}

// --- building entries -----------------------------------------------------------------------------

/** A new circle: its id, the genesis entry (epoch 0 key sealed to the creator). */
export async function createCircle (backend: CryptoBackend, signer: CircleSigner, mine: BoxKeyPair, name: string, memberName: string, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  checkText(name, MAX_CIRCLE_NAME_BYTES, 'circle name')
  const circle = random(32)
  const key = random(KEY_BYTES)
  const box = sealKeyBox(backend, circle, 0, signer.publicKey, mine.publicKey, key, random)
  key.fill(0)
  return await signEntry(signer, { circle, epoch: 0, time, prev: [], body: { kind: 'genesis', name, memberName, x: mine.publicKey, box } })
}

/**
 * prev for a new entry: the membership head first (so the entry is judged against the newest
 * membership its author knows), then the heads `heads()` ranks first, at most MAX_PREV in all.
 */
function prevFor (log: CircleLog): Uint8Array[] {
  const m = log.lastMembership
  const out: Uint8Array[] = m !== undefined ? [m] : []
  for (const h of log.heads(MAX_PREV + 1)) {
    if (out.length >= MAX_PREV) break
    if (!out.some(x => constantTimeEqual(x, h))) out.push(h)
  }
  return out
}

export async function addMemberEntry (backend: CryptoBackend, log: CircleLog, signer: CircleSigner, member: { key: Uint8Array, name: string, x: Uint8Array }, inviteId: Uint8Array, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  const key = log.epochKey(log.epoch)
  if (key === undefined) throw new NoEpochKeyError(log.epoch)
  const m = log.lastMembership as Uint8Array
  const box = sealKeyBox(backend, log.circle, log.epoch, member.key, member.x, key, random)
  return await signEntry(signer, { circle: log.circle, epoch: log.epoch, time, prev: prevFor(log), body: { kind: 'add', m, member: member.key, memberName: checkText(member.name, MAX_MEMBER_NAME_BYTES, 'member name'), x: member.x, invite: inviteId, box } })
}

export async function removeMemberEntry (backend: CryptoBackend, log: CircleLog, signer: CircleSigner, member: Uint8Array, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  const m = log.lastMembership as Uint8Array
  const epoch = log.epoch + 1
  const key = random(KEY_BYTES)
  const boxes = log.members().filter(x => !constantTimeEqual(x.key, member)).map(x => sealKeyBox(backend, log.circle, epoch, x.key, x.x, key, random))
  key.fill(0)
  return await signEntry(signer, { circle: log.circle, epoch, time, prev: prevFor(log), body: { kind: 'remove', m, member, boxes } })
}

export async function postEntry (backend: CryptoBackend, log: CircleLog, signer: CircleSigner, payload: PostPayload, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  const keys = log.epochKeys(log.epoch)
  const e = await signEntry(signer, { circle: log.circle, epoch: log.epoch, time, prev: prevFor(log), body: sealPost(backend, log.circle, signer.publicKey, keys, payload, random) })
  // Our own post must never push out one of our earlier ones (§9.2): refuse it here instead.
  if (!log.canPost(signer.publicKey, e.epoch, e.bytes.length)) throw new CircleQuotaError('you have posted as much as this circle allows per member until its next epoch')
  return e
}
