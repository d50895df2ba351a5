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
 * X25519 key; every epoch key is recovered from the log with the latter (SECURITY.md §7).
 *
 * Rules that reject an entry (CircleEntryError): bad signature, wrong circle, unknown kind or
 * malformed body, over a size limit, a membership entry not by the admin or not extending the
 * membership chain, an `add` of a current or removed member or with a used invite, a `remove` of
 * the admin or a non-member or whose key boxes do not match the remaining members exactly, an
 * entry whose author is not a member (or was removed), a post for an epoch the author was not a
 * member of or that does not exist yet. A replayed entry has the same ID and is a no-op.
 *
 * Pure: no I/O. Signing is the caller's (a CircleSigner); randomness is injectable for vectors.
 * Keys and key boxes: circle-keys.ts; invite codes: circle-invite.ts; wire messages:
 * circle-messages.ts (all re-exported here).
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { Fields, decodeCanonicalMap, encodeCanonical } from '../_cbor.js'
import { concatBytes, constantTimeEqual } from '../bytes.js'
import { defaultRandom, xchachaOpen, xchachaSeal, type CryptoBackend, type RandomSource } from '../crypto.js'
import { KEY_BYTES, MAX_MEMBERS, MAX_MEMBERSHIP_ENTRY_BYTES, MAX_MEMBER_NAME_BYTES, XNONCE_BYTES } from '../constants.js'
import { DecryptionError, KithError, type KithErrorOptions } from '../errors.js'
import { deriveEpochKeys, openKeyBox, sealKeyBox, type BoxKeyPair, type CircleSigner, type EpochKeys, type KeyBox } from './keys.js'

// --- constants (format) --------------------------------------------------------------------------

export const CIRCLE_PROTOCOL = '/kith/circle/1.0.0'
export const CIRCLE_VERSION = 1
/** Largest signed entry. A post holds one link (≤ 2 KiB) and a name. */
export const MAX_ENTRY_BYTES = 16 * 1024
export const MAX_PREV = 16
export const MAX_CIRCLE_NAME_BYTES = 64
/** Entries a node keeps per circle; a sync never asks for more. */
export const MAX_CIRCLE_ENTRIES = 100_000

const DOMAINS = Object.freeze({
  entry: 'kith/v1/circle/entry',
  postAad: 'kith/v1/circle/post'
})
const enc = new TextEncoder()

// --- errors ---------------------------------------------------------------------------------------

/** An entry that breaks a rule of the log (forged, unauthorised, malformed, out of order). */
export class CircleEntryError extends KithError {
  static override name = 'CircleEntryError'
  constructor (message = 'invalid circle entry', options?: KithErrorOptions) { super(message, options) }
}

/** This node holds no key for the epoch (it was removed, or has not synced the rotation yet). */
export class NoEpochKeyError extends KithError {
  static override name = 'NoEpochKeyError'
  constructor (epoch: number) { super(`no key for epoch ${epoch} of this circle (removed from it, or not caught up yet)`) }
}

// --- entries --------------------------------------------------------------------------------------

export interface GenesisBody { kind: 'genesis', name: string, memberName: string, x: Uint8Array, box: KeyBox }
export interface AddBody { kind: 'add', m: Uint8Array, member: Uint8Array, memberName: string, x: Uint8Array, invite: Uint8Array, box: KeyBox }
export interface RemoveBody { kind: 'remove', m: Uint8Array, member: Uint8Array, boxes: KeyBox[] }
export interface PostBody { kind: 'post', nonce: Uint8Array, sealed: Uint8Array }
export type EntryBody = GenesisBody | AddBody | RemoveBody | PostBody

export interface Entry {
  readonly id: Uint8Array
  /** The signed bytes (what is stored and sent). */
  readonly bytes: Uint8Array
  readonly circle: Uint8Array
  readonly author: Uint8Array
  readonly epoch: number
  /** Milliseconds since 1970, as the author's clock said. Informational. */
  readonly time: number
  readonly prev: Uint8Array[]
  readonly body: EntryBody
}

/** What a post carries (encrypted). */
export interface PostPayload { link: string, name: string, size: number }

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

function signedMessage (unsigned: Uint8Array): Uint8Array {
  return concatBytes(enc.encode(DOMAINS.entry), new Uint8Array([0]), unsigned)
}

function boxToCbor (b: KeyBox): Record<string, unknown> {
  return { m: b.member, e: b.eph, n: b.nonce, s: b.sealed }
}

function boxFromCbor (f: Fields, v: unknown, what: string): KeyBox {
  const b = f.map_(v, what).only('m', 'e', 'n', 's')
  return { member: b.bytes('m', { exact: 32 }), eph: b.bytes('e', { exact: 32 }), nonce: b.bytes('n', { exact: XNONCE_BYTES }), sealed: b.bytes('s', { exact: KEY_BYTES + 16 }) }
}

function bodyToCbor (body: EntryBody): Record<string, unknown> {
  switch (body.kind) {
    case 'genesis': return { name: body.name, mn: body.memberName, x: body.x, box: boxToCbor(body.box) }
    case 'add': return { m: body.m, member: body.member, mn: body.memberName, x: body.x, inv: body.invite, box: boxToCbor(body.box) }
    case 'remove': return { m: body.m, member: body.member, boxes: body.boxes.map(boxToCbor) }
    case 'post': return { n: body.nonce, s: body.sealed }
  }
}

function checkText (s: string, max: number, what: string): string {
  if (enc.encode(s).length > max || /[\u0000-\u001f\u007f]/.test(s)) throw new CircleEntryError(`${what} is too long or has control characters`)
  return s
}

function bodyFromCbor (kind: string, f: Fields, v: unknown): EntryBody {
  const b = f.map_(v, 'entry body')
  switch (kind) {
    case 'genesis':
      b.only('name', 'mn', 'x', 'box')
      return { kind, name: checkText(b.string('name'), MAX_CIRCLE_NAME_BYTES, 'circle name'), memberName: checkText(b.string('mn'), MAX_MEMBER_NAME_BYTES, 'member name'), x: b.bytes('x', { exact: 32 }), box: boxFromCbor(b, (v as Record<string, unknown>).box, 'key box') }
    case 'add':
      b.only('m', 'member', 'mn', 'x', 'inv', 'box')
      return { kind, m: b.bytes('m', { exact: 32 }), member: b.bytes('member', { exact: 32 }), memberName: checkText(b.string('mn'), MAX_MEMBER_NAME_BYTES, 'member name'), x: b.bytes('x', { exact: 32 }), invite: b.bytes('inv', { exact: 32 }), box: boxFromCbor(b, (v as Record<string, unknown>).box, 'key box') }
    case 'remove': {
      b.only('m', 'member', 'boxes')
      const boxes = b.array('boxes', MAX_MEMBERS).map((x, i) => boxFromCbor(b, x, `key box ${i}`))
      return { kind, m: b.bytes('m', { exact: 32 }), member: b.bytes('member', { exact: 32 }), boxes }
    }
    case 'post':
      b.only('n', 's')
      return { kind, nonce: b.bytes('n', { exact: XNONCE_BYTES }), sealed: b.bytes('s', { max: MAX_ENTRY_BYTES }) }
    default:
      throw new CircleEntryError('unknown entry kind')
  }
}

export interface EntryDraft { circle: Uint8Array, epoch: number, time: number, prev: Uint8Array[], body: EntryBody }

/** Encodes and signs an entry. */
export async function signEntry (signer: CircleSigner, draft: EntryDraft): Promise<Entry> {
  const prev = [...draft.prev].sort(compareBytes)
  const unsigned = encodeCanonical({ v: CIRCLE_VERSION, c: draft.circle, a: signer.publicKey, e: draft.epoch, t: draft.time, p: prev, k: draft.body.kind, b: bodyToCbor(draft.body) })
  const sig = await signer.sign(signedMessage(unsigned))
  const bytes = encodeCanonical({ u: unsigned, s: sig })
  return decodeEntry(bytes)
}

/** Decodes a signed entry and checks its signature and limits (not its place in the log). */
export function decodeEntry (bytes: Uint8Array): Entry {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_MEMBERSHIP_ENTRY_BYTES) throw new CircleEntryError('entry too large')
  const outer = new Fields(decodeCanonicalMap(bytes, CircleEntryError, 'entry'), CircleEntryError, 'entry').only('u', 's')
  const unsigned = outer.bytes('u')
  const sig = outer.bytes('s', { exact: 64 })
  const map = decodeCanonicalMap(unsigned, CircleEntryError, 'entry')
  const f = new Fields(map, CircleEntryError, 'entry').only('v', 'c', 'a', 'e', 't', 'p', 'k', 'b')
  if (f.uint('v') !== CIRCLE_VERSION) throw new CircleEntryError('unsupported circle entry version')
  const kind = f.string('k')
  const body = bodyFromCbor(kind, f, map.b)
  if (body.kind === 'post' && bytes.length > MAX_ENTRY_BYTES) throw new CircleEntryError('post entry too large')
  const prev = f.array('p', MAX_PREV).map(p => {
    if (!(p instanceof Uint8Array) || p.length !== 32) throw new CircleEntryError('entry: prev must be 32-byte ids')
    return p
  })
  for (let i = 1; i < prev.length; i++) if (compareBytes(prev[i - 1] as Uint8Array, prev[i] as Uint8Array) >= 0) throw new CircleEntryError('entry: prev must be sorted and distinct')
  const author = f.bytes('a', { exact: 32 })
  let ok = false
  try {
    ok = ed25519.verify(sig, signedMessage(unsigned), author)
  } catch {
    ok = false
  }
  if (!ok) throw new CircleEntryError('entry signature does not verify (forged or corrupted)')
  return { id: sha256(bytes), bytes, circle: f.bytes('c', { exact: 32 }), author, epoch: f.uint('e', 0xffffffff), time: f.uint('t'), prev, body }
}

export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  return a.length - b.length
}

export const hexOf = (b: Uint8Array): string => Array.from(b, x => x.toString(16).padStart(2, '0')).join('')

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

/**
 * One circle's replicated state, rebuilt by applying entries in causal order. Holds no secret but
 * the epoch keys it could open with `mine` (the member's X25519 key pair), if given.
 */
export class CircleLog {
  readonly circle: Uint8Array
  name = ''
  admin: Uint8Array | undefined
  epoch = 0
  readonly #entries = new Map<string, Entry>()
  readonly #order: Entry[] = []
  readonly #members = new Map<string, Member>()
  readonly #removed = new Set<string>()
  readonly #invites = new Set<string>()
  readonly #epochKeys = new Map<number, Uint8Array>()
  readonly #children = new Set<string>()
  #lastMembership: Uint8Array | undefined

  constructor (circle: Uint8Array, private readonly backend: CryptoBackend, private readonly mine?: BoxKeyPair, private readonly me?: Uint8Array) {
    if (circle.length !== 32) throw new RangeError('circle id must be 32 bytes')
    this.circle = circle
  }

  get size (): number { return this.#order.length }
  has (id: Uint8Array): boolean { return this.#entries.has(hexOf(id)) }
  get (id: Uint8Array): Entry | undefined { return this.#entries.get(hexOf(id)) }
  /** Entries in the order they were applied (a causal order). */
  entries (): readonly Entry[] { return this.#order }
  /** Entries nothing else names as prev. */
  heads (): Uint8Array[] { return this.#order.filter(e => !this.#children.has(hexOf(e.id))).map(e => e.id) }
  members (): Member[] { return [...this.#members.values()] }
  isMember (key: Uint8Array): boolean { return this.#members.has(hexOf(key)) }
  wasRemoved (key: Uint8Array): boolean { return this.#removed.has(hexOf(key)) }
  inviteUsed (inviteId: Uint8Array): boolean { return this.#invites.has(hexOf(inviteId)) }
  get lastMembership (): Uint8Array | undefined { return this.#lastMembership }

  /** The key of `epoch`, if this member could open it. */
  epochKey (epoch: number): Uint8Array | undefined { return this.#epochKeys.get(epoch) }
  epochKeys (epoch = this.epoch): EpochKeys {
    const k = this.#epochKeys.get(epoch)
    if (k === undefined) throw new NoEpochKeyError(epoch)
    return deriveEpochKeys(epoch, k)
  }

  /** Epochs whose key this member holds. */
  knownEpochs (): number[] { return [...this.#epochKeys.keys()].sort((a, b) => a - b) }

  /**
   * Applies one entry. Returns false if it is already in the log (a replay is a no-op); throws
   * CircleEntryError if it breaks a rule or a predecessor is missing.
   */
  apply (e: Entry): boolean {
    const key = hexOf(e.id)
    if (this.#entries.has(key)) return false
    if (!constantTimeEqual(e.circle, this.circle)) throw new CircleEntryError('entry belongs to another circle')
    if (this.#order.length >= MAX_CIRCLE_ENTRIES) throw new CircleEntryError('circle log is full')
    for (const p of e.prev) if (!this.#entries.has(hexOf(p))) throw new CircleEntryError('entry names a predecessor this log does not have')
    const author = hexOf(e.author)
    const body = e.body
    if (this.admin === undefined) {
      if (body.kind !== 'genesis' || e.epoch !== 0 || e.prev.length !== 0) throw new CircleEntryError('a circle log starts with its genesis entry')
      if (!constantTimeEqual(body.box.member, e.author)) throw new CircleEntryError('genesis key box is not for its author')
    } else if (body.kind === 'genesis') {
      throw new CircleEntryError('a circle has one genesis entry')
    } else if (!this.#members.has(author)) {
      throw new CircleEntryError(this.#removed.has(author) ? 'entry by a removed member' : 'entry by a non-member')
    }
    const isAdmin = this.admin !== undefined && constantTimeEqual(e.author, this.admin)
    switch (body.kind) {
      case 'genesis':
        this.admin = e.author
        this.name = body.name
        this.#members.set(author, { key: e.author, name: body.memberName, x: body.x, since: 0, admin: true })
        this.#openBox(0, body.box)
        this.#lastMembership = e.id
        break
      case 'add': {
        this.#checkMembershipStep(e, isAdmin, body.m, this.epoch, 'add')
        const m = hexOf(body.member)
        if (this.#members.has(m)) throw new CircleEntryError('add: already a member')
        if (this.#removed.has(m)) throw new CircleEntryError('add: a removed member cannot be added again')
        if (this.#invites.has(hexOf(body.invite))) throw new CircleEntryError('add: this invite was used already')
        if (!constantTimeEqual(body.box.member, body.member)) throw new CircleEntryError('add: key box is not for the new member')
        if (this.#members.size >= MAX_MEMBERS) throw new CircleEntryError('circle is full')
        this.#members.set(m, { key: body.member, name: body.memberName, x: body.x, since: this.epoch, admin: false })
        this.#invites.add(hexOf(body.invite))
        this.#openBox(this.epoch, body.box)
        this.#lastMembership = e.id
        break
      }
      case 'remove': {
        this.#checkMembershipStep(e, isAdmin, body.m, this.epoch + 1, 'remove')
        const m = hexOf(body.member)
        if (!this.#members.has(m)) throw new CircleEntryError('remove: not a member')
        if (this.admin !== undefined && constantTimeEqual(body.member, this.admin)) throw new CircleEntryError('remove: the admin cannot be removed')
        const remaining = [...this.#members.keys()].filter(k => k !== m)
        const boxed = body.boxes.map(b => hexOf(b.member))
        if (boxed.length !== remaining.length || new Set(boxed).size !== boxed.length || !remaining.every(k => boxed.includes(k))) {
          throw new CircleEntryError('remove: the new epoch key must be sealed to exactly the remaining members')
        }
        this.#members.delete(m)
        this.#removed.add(m)
        this.epoch += 1
        const mine = body.boxes.find(b => this.me !== undefined && constantTimeEqual(b.member, this.me))
        if (mine !== undefined) this.#openBox(this.epoch, mine)
        this.#lastMembership = e.id
        break
      }
      case 'post': {
        const member = this.#members.get(author) as Member
        if (e.epoch > this.epoch || e.epoch < member.since) throw new CircleEntryError('post for an epoch its author was not a member of')
        break
      }
    }
    this.#entries.set(key, e)
    this.#order.push(e)
    for (const p of e.prev) this.#children.add(hexOf(p))
    return true
  }

  #checkMembershipStep (e: Entry, isAdmin: boolean, m: Uint8Array, epoch: number, what: string): void {
    if (!isAdmin) throw new CircleEntryError(`${what}: only the circle's admin may ${what} members`)
    if (this.#lastMembership === undefined || !constantTimeEqual(m, this.#lastMembership) || !e.prev.some(p => constantTimeEqual(p, m))) {
      throw new CircleEntryError(`${what}: does not extend the membership chain`)
    }
    if (e.epoch !== epoch) throw new CircleEntryError(`${what}: wrong epoch`)
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
   * Returns the entries applied and the ones rejected (with why); entries still missing a
   * predecessor after the batch are returned as `pending`.
   */
  applyAll (batch: Entry[]): { applied: Entry[], rejected: Array<{ entry: Entry, error: CircleEntryError }>, pending: Entry[] } {
    const applied: Entry[] = []
    const rejected: Array<{ entry: Entry, error: CircleEntryError }> = []
    let waiting = batch.filter(e => !this.has(e.id))
    for (let round = 0; round <= batch.length && waiting.length > 0; round++) {
      const next: Entry[] = []
      for (const e of waiting) {
        if (this.has(e.id)) continue
        if (!e.prev.every(p => this.has(p))) { next.push(e); continue }
        try {
          if (this.apply(e)) applied.push(e)
        } catch (err) {
          if (!(err instanceof CircleEntryError)) throw err
          rejected.push({ entry: e, error: err })
        }
      }
      if (next.length === waiting.length) { waiting = next; break }
      waiting = next
    }
    return { applied, rejected, pending: waiting }
  }

  /** Decrypted posts this member can read, oldest first. */
  feed (): FeedItem[] {
    const out: FeedItem[] = []
    for (const e of this.#order) {
      if (e.body.kind !== 'post') continue
      const k = this.#epochKeys.get(e.epoch)
      if (k === undefined) continue
      try {
        const p = openPost(this.backend, this.circle, e, deriveEpochKeys(e.epoch, k))
        out.push({ ...p, id: hexOf(e.id), author: e.author, time: e.time, epoch: e.epoch })
      } catch {
        // A post that does not open under its epoch key is skipped (it cannot be shown).
      }
    }
    return out
  }
}

// --- building entries -----------------------------------------------------------------------------

function postAad (circle: Uint8Array, epoch: number, author: Uint8Array): Uint8Array {
  return concatBytes(enc.encode(DOMAINS.postAad), new Uint8Array([0]), circle, u32(epoch), author)
}

export function sealPost (backend: CryptoBackend, circle: Uint8Array, author: Uint8Array, keys: EpochKeys, payload: PostPayload, random: RandomSource = defaultRandom): PostBody {
  const nonce = random(XNONCE_BYTES)
  const plain = encodeCanonical({ link: payload.link, name: payload.name, size: payload.size })
  return { kind: 'post', nonce, sealed: xchachaSeal(backend, keys.post, nonce, plain, postAad(circle, keys.epoch, author)) }
}

export function openPost (backend: CryptoBackend, circle: Uint8Array, e: Entry, keys: EpochKeys): PostPayload {
  if (e.body.kind !== 'post') throw new CircleEntryError('not a post')
  const plain = xchachaOpen(backend, keys.post, e.body.nonce, e.body.sealed, postAad(circle, e.epoch, e.author))
  const f = new Fields(decodeCanonicalMap(plain, CircleEntryError, 'post'), CircleEntryError, 'post').only('link', 'name', 'size')
  return { link: f.string('link'), name: f.string('name'), size: f.uint('size') }
}

/** A new circle: its id, the genesis entry (epoch 0 key sealed to the creator). */
export async function createCircle (backend: CryptoBackend, signer: CircleSigner, mine: BoxKeyPair, name: string, memberName: string, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  checkText(name, MAX_CIRCLE_NAME_BYTES, 'circle name')
  const circle = random(32)
  const key = random(KEY_BYTES)
  const box = sealKeyBox(backend, circle, 0, signer.publicKey, mine.publicKey, key, random)
  key.fill(0)
  return await signEntry(signer, { circle, epoch: 0, time, prev: [], body: { kind: 'genesis', name, memberName, x: mine.publicKey, box } })
}

/** prev for a new entry: the current heads (at most MAX_PREV of them, the membership head first). */
function prevFor (log: CircleLog, must?: Uint8Array): Uint8Array[] {
  const heads = log.heads()
  const out: Uint8Array[] = must !== undefined ? [must] : []
  for (const h of heads) {
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
  return await signEntry(signer, { circle: log.circle, epoch: log.epoch, time, prev: prevFor(log, m), body: { kind: 'add', m, member: member.key, memberName: checkText(member.name, MAX_MEMBER_NAME_BYTES, 'member name'), x: member.x, invite: inviteId, box } })
}

export async function removeMemberEntry (backend: CryptoBackend, log: CircleLog, signer: CircleSigner, member: Uint8Array, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  const m = log.lastMembership as Uint8Array
  const epoch = log.epoch + 1
  const key = random(KEY_BYTES)
  const boxes = log.members().filter(x => !constantTimeEqual(x.key, member)).map(x => sealKeyBox(backend, log.circle, epoch, x.key, x.x, key, random))
  key.fill(0)
  return await signEntry(signer, { circle: log.circle, epoch, time, prev: prevFor(log, m), body: { kind: 'remove', m, member, boxes } })
}

export async function postEntry (backend: CryptoBackend, log: CircleLog, signer: CircleSigner, payload: PostPayload, time: number, random: RandomSource = defaultRandom): Promise<Entry> {
  const keys = log.epochKeys(log.epoch)
  return await signEntry(signer, { circle: log.circle, epoch: log.epoch, time, prev: prevFor(log), body: sealPost(backend, log.circle, signer.publicKey, keys, payload, random) })
}
