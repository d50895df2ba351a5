/**
 * Circle log entries as bytes (docs/PROTOCOL.md §9): the format constants, the entry codec
 * (canonical CBOR, signed with the author's Ed25519 key, named by the SHA-256 of the signed
 * bytes), and how a post's payload is sealed under its epoch's key. The rules that decide whether
 * an entry applies are the log's (log.ts). Pure: no I/O.
 */import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { Fields, decodeCanonicalMap, encodeCanonical } from '../_cbor.js'
import { concatBytes } from '../bytes.js'
import { defaultRandom, xchachaOpen, xchachaSeal, type CryptoBackend, type RandomSource } from '../crypto.js'
import { KEY_BYTES, MAX_CIRCLE_POSTS, MAX_MEMBERS, MAX_MEMBERSHIP_ENTRIES, MAX_MEMBERSHIP_ENTRY_BYTES, MAX_MEMBER_NAME_BYTES, XNONCE_BYTES } from '../constants.js'
import { type CircleSigner, type EpochKeys, type KeyBox } from './keys.js'
import { CircleEntryError } from './errors.js'
// --- constants (format) --------------------------------------------------------------------------

export const CIRCLE_PROTOCOL = '/kith/circle/1.0.0'
export const CIRCLE_VERSION = 1
/** Largest signed entry. A post holds one link (≤ 2 KiB) and a name. */
export const MAX_ENTRY_BYTES = 16 * 1024
export const MAX_PREV = 16
export const MAX_CIRCLE_NAME_BYTES = 64
/** Entries a node keeps per circle (posts plus membership entries); a sync never asks for more. */
export const MAX_CIRCLE_ENTRIES = MAX_CIRCLE_POSTS + MAX_MEMBERSHIP_ENTRIES

const DOMAINS = Object.freeze({
  entry: 'kith/v1/circle/entry',
  postAad: 'kith/v1/circle/post'
})
const enc = new TextEncoder()

// --- errors ---------------------------------------------------------------------------------------

// --- entries --------------------------------------------------------------------------------------

export type EntryKind = 'genesis' | 'add' | 'remove' | 'post'

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

export function checkText (s: string, max: number, what: string): string {
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

// --- posts ---------------------------------------------------------------------------------------

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
