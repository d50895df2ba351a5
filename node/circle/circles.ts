/**
 * The circles a node belongs to: their logs on disk and in memory (protocol/circle/log.ts holds the
 * rules), the member's own X25519 key per circle, and the invites it has handed out.
 *
 * On disk, under `<repo>/circles/<circle id hex>/` (folder 0700, files 0600):
 *   log         the entries, each as u32 (big-endian) length ‖ signed entry bytes, in the order
 *               applied (a causal order). Appended and fsynced; a torn last record (killed
 *               process) is cut off on load. Every entry is re-verified on load, and the file
 *               is rewritten without the posts the log no longer keeps (pushed out of their
 *               author's quota). Entry bytes are read from here when a peer wants them: the log
 *               in memory keeps only a small record per entry and the decrypted feed.
 *   local.json  this member's secrets and bookkeeping: X25519 secret key, outstanding invites
 *               (id, access key, expiry; the invite secret itself is never stored), auto-fetch.
 * Holds no peer address (docs/THREAT-MODEL.md §2.9).
 */
import type { CircleSummary, FeedEntry, MemberInfo } from '../api/schema.js'
import { randomBytes } from 'node:crypto'
import { open, readFile, readdir, truncate, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { TypedEventEmitter } from 'main-event'
import { CircleEntryError, CircleQuotaError } from '../../protocol/circle/errors.js'
import { CircleLog, addMemberEntry, createCircle, postEntry, removeMemberEntry, type CircleLimits } from '../../protocol/circle/log.js'
import { decodeEntry, type Entry, type PostPayload } from '../../protocol/circle/entry.js'
import { hexOf } from '../../protocol/bytes.js'
import { formatInvite, inviteAccessKey, inviteId } from '../../protocol/circle/invite.js'
import type { BoxKeyPair, CircleSigner } from '../../protocol/circle/keys.js'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { peerIdOfKey } from '../engine/peer-id.js'
import { makeDir, writeAtomic } from '../fs/fs-safe.js'
import { Vault, type SealedSecret } from '../repo/keystore.js'
import { CircleExistsError, CircleNotFoundError, MemberNotFoundError, NotCircleAdminError } from './errors.js'

export const DEFAULT_INVITE_TTL_MS = 24 * 60 * 60 * 1000
export const MAX_INVITE_TTL_MS = 30 * 24 * 60 * 60 * 1000
const MAX_OPEN_INVITES = 64
/**
 * The largest post auto-fetch downloads on its own (1 GiB). Auto-fetch runs with nobody deciding,
 * so without a cap one member's single post could fill every other member's disk; a larger post
 * is still listed in the feed and fetched by hand (`kith get <link>`). Checked against the size
 * the post claims and again against its verified manifest's, before anything is written.
 */
export const AUTO_FETCH_MAX_BYTES = 1024 * 1024 * 1024
/** A log file is rewritten once entries it no longer serves take this much (and half of it). */
const COMPACT_MIN_GARBAGE = 256 * 1024

interface LocalFile {
  version: 1
  /** X25519 secret key, sealed by the repo's vault (label `circle/<id>/box`). */
  box: SealedSecret
  /** Outstanding invites: id, access key (sealed, label `circle/<id>/invite/<invite id>`), expiry. */
  invites: Array<{ id: string, access: SealedSecret, expires: number }>
  autoFetch: string | null
}

const boxLabel = (id: string): string => `circle/${id}/box`
const inviteLabel = (id: string, inv: string): string => `circle/${id}/invite/${inv}`

/**
 * Re-seals every circle's secrets from vault `from` to vault `to` (when a repo gains a
 * passphrase). Each local.json is rewritten atomically.
 */
export async function resealCircles (repoDir: string, from: Vault, to: Vault): Promise<number> {
  const dir = join(repoDir, 'circles')
  let n = 0
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{64}$/.test(id)) continue
    const path = join(dir, id, 'local.json')
    let local: LocalFile
    try { local = JSON.parse(await readFile(path, 'utf8')) as LocalFile } catch { continue }
    local.box = to.seal(boxLabel(id), from.open(boxLabel(id), local.box))
    local.invites = local.invites.map(i => ({ ...i, access: to.seal(inviteLabel(id, i.id), from.open(inviteLabel(id, i.id), i.access)) }))
    await writeAtomic(path, JSON.stringify(local, null, 2) + '\n', 0o600)
    n++
  }
  return n
}

/** The member name used when none is given: the login name, trimmed to the limit. */
export function defaultMemberName (): string {
  let name = ''
  try { name = userInfo().username } catch {}
  return name.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 32) || 'member'
}

/** Where each held entry's signed bytes sit in a circle's log file (the log keeps no bytes). */
class LogFile {
  readonly #at = new Map<string, { at: number, len: number }>()
  /** Bumped by every rewrite: a read that spans one stops rather than mix two files' offsets. */
  #generation = 0
  size = 0
  constructor (readonly path: string) {}

  /** Records that an entry of `len` bytes was framed at the end of the file. */
  note (hex: string, len: number): void {
    this.#at.set(hex, { at: this.size + 4, len })
    this.size += 4 + len
  }

  /** Forgets entries the log no longer holds (their bytes stay in the file until the next load). */
  prune (held: (hex: string) => boolean): void {
    for (const hex of [...this.#at.keys()]) if (!held(hex)) this.#at.delete(hex)
  }

  get count (): number { return this.#at.size }

  /** Bytes of the file that belong to entries it still serves. */
  get live (): number {
    let n = 0
    for (const w of this.#at.values()) n += 4 + w.len
    return n
  }

  /** After a rewrite: the file now holds exactly `entries`, in order. */
  reset (entries: ReadonlyArray<{ hex: string, len: number }>): void {
    this.#at.clear()
    this.#generation++
    this.size = 0
    for (const e of entries) this.note(e.hex, e.len)
  }

  /** The signed bytes of `ids` that the file holds, in order, up to `maxBytes` (at least one). */
  async read (ids: readonly string[], maxBytes = Number.MAX_SAFE_INTEGER): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let fh: FileHandle | undefined
    let total = 0
    const generation = this.#generation
    try {
      for (const hex of ids) {
        if (generation !== this.#generation) break
        const where = this.#at.get(hex)
        if (where === undefined) continue
        if (out.length > 0 && total + where.len > maxBytes) break
        fh ??= await open(this.path, 'r')
        const buf = new Uint8Array(where.len)
        const { bytesRead } = await fh.read(buf, 0, where.len, where.at)
        if (bytesRead !== where.len) continue // cut off under us: the entry is simply not served
        out.push(buf)
        total += where.len
      }
    } finally {
      await fh?.close()
    }
    return out
  }
}

/** One circle as this node holds it. */
export class Circle {
  constructor (readonly id: string, readonly log: CircleLog, readonly mine: BoxKeyPair, public local: LocalFile, readonly file: LogFile) {}
  get name (): string { return this.log.name }
}

export interface CirclesEvents {
  /** New entries were appended to circle `detail` (by us or by a sync). */
  change: CustomEvent<{ circle: string, entries: Entry[] }>
}

export class Circles extends TypedEventEmitter<CirclesEvents> {
  readonly #dir: string
  readonly #signer: CircleSigner
  readonly #backend: CryptoBackend
  readonly #vault: Vault
  readonly #circles = new Map<string, Circle>()
  /** Serialises writes per circle (log append + local.json). */
  readonly #locks = new Map<string, Promise<unknown>>()

  readonly #limits: Partial<CircleLimits>

  private constructor (dir: string, signer: CircleSigner, backend: CryptoBackend, vault: Vault, limits: Partial<CircleLimits>) {
    super()
    this.#limits = limits
    this.#vault = vault
    this.#dir = dir
    this.#signer = signer
    this.#backend = backend
  }

  get me (): Uint8Array { return this.#signer.publicKey }
  get backend (): CryptoBackend { return this.#backend }

  /** Loads every circle under `<repoDir>/circles`, re-verifying each log. */
  static async open (repoDir: string, signer: CircleSigner, backend: CryptoBackend, vault: Vault = Vault.plain(), limits: Partial<CircleLimits> = {}): Promise<Circles> {
    const c = new Circles(join(repoDir, 'circles'), signer, backend, vault, limits)
    await makeDir(c.#dir, 0o700)
    for (const name of await readdir(c.#dir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      try {
        await c.#load(name)
      } catch (err) {
        // One damaged circle must not keep the node from starting: it is left out (and its files
        // left alone for the user to inspect); the others load.
        c.broken.push({ id: name, error: (err as Error).message })
      }
    }
    return c
  }

  /** Circles whose files did not load (id and why), for `status`-style reporting. */
  readonly broken: Array<{ id: string, error: string }> = []

  async #load (id: string): Promise<void> {
    const dir = join(this.#dir, id)
    let local: LocalFile
    try {
      local = JSON.parse(await readFile(join(dir, 'local.json'), 'utf8')) as LocalFile
    } catch {
      return // an unfinished create or join: nothing usable
    }
    const secret = this.#vault.open(boxLabel(id), local.box)
    const mine: BoxKeyPair = { secretKey: secret, publicKey: x25519.getPublicKey(secret) }
    const log = new CircleLog(Buffer.from(id, 'hex'), this.#backend, mine, this.me, this.#limits)
    const path = join(dir, 'log')
    const bytes = await readFile(path).catch(() => Buffer.alloc(0))
    let at = 0
    const entries: Entry[] = []
    // Bounded by the file: every step consumes at least the 4-byte length.
    while (at + 4 <= bytes.length) {
      const len = bytes.readUInt32BE(at)
      if (at + 4 + len > bytes.length) break
      entries.push(decodeEntry(new Uint8Array(bytes.subarray(at + 4, at + 4 + len))))
      at += 4 + len
    }
    if (at !== bytes.length) await truncate(path, at) // torn tail from a killed process
    const r = log.applyAll(entries, { reload: true })
    // Posts refused for quota were kept once (before a post with a smaller id pushed them out):
    // they are garbage now, not damage. Anything else means the file was altered.
    if (r.rejected.some(x => !(x.error instanceof CircleQuotaError)) || r.pending.length > 0) throw new CircleEntryError(`circle ${id.slice(0, 8)}: its log on disk does not verify`)
    if (log.admin === undefined) return
    const file = new LogFile(path)
    if (log.size < entries.length) {
      await this.#rewrite(log, file, entries)
    } else {
      for (const e of entries) file.note(hexOf(e.id), e.bytes.length)
    }
    this.#circles.set(id, new Circle(id, log, mine, local, file))
  }

  /** Writes the log file anew with what `log` holds, in its order (atomic: temp file + rename). */
  async #rewrite (log: CircleLog, file: LogFile, entries: Entry[]): Promise<void> {
    const byId = new Map(entries.map(e => [hexOf(e.id), e]))
    const kept = log.entries().map(r => byId.get(r.hex) as Entry)
    await writeAtomic(file.path, Buffer.concat(kept.map(frame)), 0o600)
    file.reset(kept.map(e => ({ hex: hexOf(e.id), len: e.bytes.length })))
  }

  /**
   * Rewrites a circle's log file without the posts pushed out of their author's quota since it
   * was written, once they are most of it: the file stays within about twice what the log holds.
   */
  async #compact (c: Circle): Promise<void> {
    if (c.file.count <= c.log.size) return // every record in the file is still held: O(1) check
    c.file.prune(hex => c.log.has(Buffer.from(hex, 'hex')))
    if (c.file.size - c.file.live < Math.max(COMPACT_MIN_GARBAGE, c.file.live)) return
    const refs = c.log.entries()
    const bytes = await c.file.read(refs.map(r => r.hex))
    if (bytes.length !== refs.length) return // a record did not read back: leave the file as it is
    await writeAtomic(c.file.path, Buffer.concat(bytes.map(b => frame({ bytes: b }))), 0o600)
    c.file.reset(refs.map(r => ({ hex: r.hex, len: r.size })))
  }

  list (): CircleSummary[] {
    return [...this.#circles.values()].map(c => this.#summary(c))
  }

  #summary (c: Circle): CircleSummary {
    return {
      id: c.id,
      name: c.name,
      epoch: c.log.epoch,
      members: c.log.members().length,
      posts: c.log.feed().length,
      admin: c.log.admin !== undefined && Buffer.from(c.log.admin).equals(Buffer.from(this.me)),
      autoFetch: c.local.autoFetch
    }
  }

  /** Circles by exact name, or by id (or a unique id prefix of 8+ hex digits). */
  find (nameOrId: string): Circle {
    const byName = [...this.#circles.values()].filter(c => c.name === nameOrId)
    if (byName.length === 1) return byName[0] as Circle
    if (/^[0-9a-f]{8,64}$/.test(nameOrId)) {
      const byId = [...this.#circles.values()].filter(c => c.id.startsWith(nameOrId))
      if (byId.length === 1) return byId[0] as Circle
    }
    throw new CircleNotFoundError(nameOrId)
  }

  byId (id: Uint8Array | string): Circle | undefined {
    return this.#circles.get(typeof id === 'string' ? id : hexOf(id))
  }

  all (): Circle[] { return [...this.#circles.values()] }

  async create (name: string, myName: string): Promise<CircleSummary> {
    if ([...this.#circles.values()].some(c => c.name === name)) throw new CircleExistsError(name)
    const secret = new Uint8Array(randomBytes(32))
    const mine: BoxKeyPair = { secretKey: secret, publicKey: x25519.getPublicKey(secret) }
    const genesis = await createCircle(this.#backend, this.#signer, mine, name, myName, Date.now())
    return this.#summary(await this.adopt(genesis.circle, mine, [genesis]))
  }

  /** Starts holding a circle from a verified log (create, or join). */
  async adopt (circle: Uint8Array, mine: BoxKeyPair, entries: Entry[]): Promise<Circle> {
    const id = hexOf(circle)
    const log = new CircleLog(circle, this.#backend, mine, this.me, this.#limits)
    const r = log.applyAll(entries)
    if (r.rejected.some(x => !(x.error instanceof CircleQuotaError)) || log.admin === undefined) throw new CircleEntryError('the circle log does not verify')
    const dir = join(this.#dir, id)
    await makeDir(dir, 0o700)
    const local: LocalFile = { version: 1, box: this.#vault.seal(boxLabel(id), mine.secretKey), invites: [], autoFetch: null }
    const file = new LogFile(join(dir, 'log'))
    await this.#rewrite(log, file, entries)
    await writeAtomic(join(dir, 'local.json'), JSON.stringify(local, null, 2) + '\n', 0o600)
    const c = new Circle(id, log, mine, local, file)
    this.#circles.set(id, c)
    return c
  }

  /** A one-time invite code (admin only). `hints` are this node's addresses, as bytes. */
  async invite (nameOrId: string, ttlMs: number, hints: Uint8Array[]): Promise<{ code: string, expires: string }> {
    const c = this.find(nameOrId)
    if (!this.#isAdmin(c)) throw new NotCircleAdminError('invite members')
    const ttl = Math.max(1000, Math.min(ttlMs, MAX_INVITE_TTL_MS))
    const secret = new Uint8Array(randomBytes(32))
    const expires = Date.now() + ttl
    await this.#locked(c.id, async () => {
      const now = Date.now()
      c.local.invites = c.local.invites.filter(i => i.expires > now).slice(-(MAX_OPEN_INVITES - 1))
      const inv = hexOf(inviteId(secret))
      c.local.invites.push({ id: inv, access: this.#vault.seal(inviteLabel(c.id, inv), inviteAccessKey(secret)), expires })
      await this.#saveLocal(c)
    })
    const code = formatInvite({ circle: c.log.circle, inviter: this.me, secret, expires: Math.ceil(expires / 1000), hints })
    secret.fill(0)
    return { code, expires: new Date(expires).toISOString() }
  }

  /** The open (unused, unexpired) invite with this id, across circles. */
  findInvite (id: Uint8Array): { circle: Circle, access: Uint8Array } | undefined {
    const key = hexOf(id)
    const now = Date.now()
    for (const c of this.#circles.values()) {
      const inv = c.local.invites.find(i => i.id === key)
      if (inv === undefined) continue
      if (inv.expires <= now || c.log.inviteUsed(id)) return undefined
      return { circle: c, access: this.#vault.open(inviteLabel(c.id, inv.id), inv.access) }
    }
    return undefined
  }

  /** Admits a member who proved invite `id`: writes the add entry; the invite is then spent. */
  async admit (c: Circle, id: Uint8Array, member: { key: Uint8Array, name: string, x: Uint8Array }): Promise<Entry> {
    return await this.#locked(c.id, async () => {
      if (this.findInvite(id) === undefined) throw new CircleEntryError('invite unknown, used or expired')
      const entry = await addMemberEntry(this.#backend, c.log, this.#signer, member, id, Date.now())
      await this.#append(c, [entry])
      c.local.invites = c.local.invites.filter(i => i.id !== hexOf(id))
      await this.#saveLocal(c)
      return entry
    })
  }

  async post (nameOrId: string, payload: PostPayload): Promise<FeedEntry> {
    const c = this.find(nameOrId)
    const entry = await this.#locked(c.id, async () => {
      const e = await postEntry(this.#backend, c.log, this.#signer, payload, Date.now())
      await this.#append(c, [e])
      return e
    })
    return this.feed(c.id).find(f => f.id === hexOf(entry.id)) as FeedEntry
  }

  async remove (nameOrId: string, peerId: string): Promise<{ epoch: number }> {
    const c = this.find(nameOrId)
    if (!this.#isAdmin(c)) throw new NotCircleAdminError('remove members')
    const member = c.log.members().find(m => peerIdOfKey(m.key) === peerId)
    if (member === undefined) throw new MemberNotFoundError()
    await this.#locked(c.id, async () => {
      await this.#append(c, [await removeMemberEntry(this.#backend, c.log, this.#signer, member.key, Date.now())])
    })
    return { epoch: c.log.epoch }
  }

  async setAutoFetch (nameOrId: string, dir: string | null): Promise<void> {
    const c = this.find(nameOrId)
    await this.#locked(c.id, async () => { c.local.autoFetch = dir; await this.#saveLocal(c) })
  }

  members (nameOrId: string, online: (peerId: string) => boolean = () => false): MemberInfo[] {
    const c = this.find(nameOrId)
    const me = peerIdOfKey(this.me)
    return c.log.members().map(m => {
      const peerId = peerIdOfKey(m.key)
      return { peerId, name: m.name, admin: m.admin, since: m.since, online: peerId === me || online(peerId), me: peerId === me }
    })
  }

  feed (nameOrId: string): FeedEntry[] {
    const c = this.find(nameOrId)
    return c.log.feed().map(f => ({ id: f.id, name: f.name, size: f.size, link: f.link, author: peerIdOfKey(f.author), authorName: c.log.person(f.author)?.name ?? '', time: new Date(f.time).toISOString(), epoch: f.epoch }))
  }

  /** Applies entries received from a member; stores what was new. */
  async receive (c: Circle, entries: Entry[]): Promise<{ applied: number, rejected: number, pending: Entry[] }> {
    return await this.#locked(c.id, async () => {
      const r = c.log.applyAll(entries)
      // Hidden entries are stored too: entries naming them need them, here and at other members.
      const kept = r.kept.filter(e => c.log.has(e.id))
      if (kept.length > 0) await this.#append(c, kept, false)
      await this.#compact(c)
      return { applied: r.applied.length, rejected: r.rejected.length, pending: r.pending }
    })
  }

  /** Signed bytes of the entries `ids` this node holds, read from disk, up to about `maxBytes`. */
  async entryBytes (c: Circle, ids: readonly Uint8Array[], maxBytes?: number): Promise<Uint8Array[]> {
    return await c.file.read(ids.filter(id => c.log.has(id)).map(hexOf), maxBytes)
  }

  #isAdmin (c: Circle): boolean {
    return c.log.admin !== undefined && Buffer.from(c.log.admin).equals(Buffer.from(this.me))
  }

  /** Writes entries to the log file; `apply` first adds them to the in-memory log. */
  async #append (c: Circle, entries: Entry[], apply = true): Promise<void> {
    if (apply) for (const e of entries) c.log.apply(e)
    const fh = await open(join(this.#dir, c.id, 'log'), 'a', 0o600)
    try {
      await fh.write(Buffer.concat(entries.map(frame)))
      await fh.sync()
    } finally {
      await fh.close()
    }
    for (const e of entries) c.file.note(hexOf(e.id), e.bytes.length)
    this.dispatchEvent(new CustomEvent('change', { detail: { circle: c.id, entries } }))
  }

  async #saveLocal (c: Circle): Promise<void> {
    await writeAtomic(join(this.#dir, c.id, 'local.json'), JSON.stringify(c.local, null, 2) + '\n', 0o600)
  }

  async #locked<T> (id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    this.#locks.set(id, run.catch(() => {}))
    return await run
  }
}

function frame (e: { bytes: Uint8Array }): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(e.bytes.length)
  return Buffer.concat([head, e.bytes])
}
