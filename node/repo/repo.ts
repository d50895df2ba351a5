/**
 * The on-disk repo (default `$KITH_REPO`, else `~/.kith`):
 *
 *   identity.json   0600  the node's Ed25519 key (libp2p protobuf, base64), or with a passphrase the
 *                         key sealed and the vault's KDF parameters (keystore.ts); marks the repo as initialised
 *   api-token       0600  bearer token for the daemon's local HTTP API (32 random bytes, hex)
 *   config.json           listen/bootstrap addresses, API address, chunk size, rate caps
 *   shares/         0700  one JSON record per share, named by manifest CID (0600: it holds the link);
 *                         with a passphrase the whole record is sealed by the vault (label
 *                         `share/<manifest CID>`), so link, name and path are unreadable at rest
 *   blocks/               content-addressed manifest blocks and ciphertext (blockstore.ts)
 *   datastore/            LevelDB for DHT and provider records; libp2p's peer store is kept in
 *                         memory (libp2p.ts), so no peer address is ever written here
 *   daemon.json     0600  pid and API address of the running daemon (no token), removed on exit
 *
 * Every file is written atomically (temporary file, fsync, rename, fsync of the folder), so a
 * crash leaves the old or the new version, never half of one. Files that must not be replaced
 * once they exist (identity, token) are created with link(2), which fails if another process got
 * there first. Running out of space anywhere is reported as `DiskFullError`.
 *
 * One process at a time: LevelDB locks `datastore/`, so a second `Repo.open` of the same repo
 * fails with `RepoLockedError`; `daemon.json` tells other processes (the CLI) which daemon to ask.
 */
import { randomBytes } from 'node:crypto'
import { chmod, readdir, readFile, rm, unlink } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { LevelDatastore } from 'datastore-level'
import { CID } from 'multiformats/cid'

import { digestFromCid } from '../../protocol/cid.js'

import { parseLink } from '../../protocol/link.js'
import { KithBlockstore } from './blockstore.js'
import { DiskFullError } from '../errors.js'
import { RepoFormatError, RepoLockedError, RepoNotInitialisedError } from './errors.js'
import { KithError } from '../../protocol/errors.js'
import { exists, keepPrivate, makeDir, syncDir, writeAtomic, writeExclusive } from '../fs/fs-safe.js'
import { PassphraseRequiredError, WrongPassphraseError } from './errors.js'
import { Vault } from './keystore.js'

import { LIVE_CONFIG_FIELDS, checkShareRecord, defaultConfig, encodeIdentity, encodeSealedIdentity, identityFromBytes, parseConfig, readIdentity, type DaemonInfo, type LiveConfig, type RepoConfig, type RestartConfig, type ShareRecord, type ShareRecordPatch } from './format.js'

export interface RepoOpenOptions {
  /** Initialise the repo if it has no identity yet. */
  create?: boolean
  /** Asked only if the repo is sealed; undefined → PassphraseRequiredError. */
  passphrase?: () => Promise<string | undefined>
  /** With `create`: asked only when a new repo is made; a string seals it. */
  createPassphrase?: () => Promise<string | undefined>
}

const IDENTITY = 'identity.json'
const CONFIG = 'config.json'
const API_TOKEN = 'api-token'
const SHARES = 'shares'
/** A share record's JSON: a have-map of MAX_CHUNKS in base64 (2.8 MB) plus room for the rest. */
const MAX_SHARE_RECORD_BYTES = 4 * 1024 * 1024
const shareLabel = (manifest: string): string => `share/${manifest}`
const BLOCKS = 'blocks'
const DATASTORE = 'datastore'
const DAEMON = 'daemon.json'
/** Names `init` accepts in a folder it turns into a repo (a half-finished init, or dotfiles). */
const REPO_ENTRIES = new Set([IDENTITY, CONFIG, API_TOKEN, SHARES, BLOCKS, DATASTORE, DAEMON])

// --- types ---------------------------------------------------------------------------------------

/** The canonical string of a Kith manifest CID, or undefined if `id` is not one. */
function manifestKey (id: string): string | undefined {
  if (typeof id !== 'string' || id.length > 200) return undefined
  try {
    const cid = CID.parse(id)
    digestFromCid(cid)
    const s = cid.toString()
    return /^[a-z2-7]+$/.test(s) ? s : undefined
  } catch {
    return undefined
  }
}

function isProcessAlive (pid: number): boolean {
  // pid 0 and negative pids would address process groups: never probe those.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

// --- the repo ----------------------------------------------------------------------------------

export class Repo {
  readonly dir: string
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  readonly blocks: KithBlockstore
  /** LevelDB for the DHT's records (opened and closed with the repo). */
  readonly datastore: LevelDatastore
  /** Edit, then `saveConfig()`. */
  config: RepoConfig
  /** Bearer token of the local API. Never log it. */
  readonly apiToken: string
  /** Seals the repo's other secrets (circle keys) like the identity: plain without a passphrase. */
  secrets: Vault
  readonly #shareLocks = new Map<string, Promise<unknown>>()
  #configWrites: Promise<unknown> = Promise.resolve()
  #closed = false

  private constructor (dir: string, key: PrivateKey, config: RepoConfig, token: string, blocks: KithBlockstore, datastore: LevelDatastore, secrets: Vault) {
    this.secrets = secrets
    this.dir = dir
    this.privateKey = key
    this.peerId = peerIdFromPrivateKey(key)
    this.config = config
    this.apiToken = token
    this.blocks = blocks
    this.datastore = datastore
  }

  /** `$KITH_REPO` if set, else `~/.kith`. */
  static defaultPath (env: NodeJS.ProcessEnv = process.env): string {
    const fromEnv = env.KITH_REPO
    return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(homedir(), '.kith')
  }

  /** True if `dir` holds an initialised repo. */
  static async exists (dir: string): Promise<boolean> {
    return await exists(join(dir, IDENTITY))
  }

  /**
   * Opens the repo at `dir`. With `create`, initialises it first if it has no identity yet
   * (idempotent: an existing repo is opened as is). Throws `RepoNotInitialisedError`,
   * `RepoFormatError`, `RepoLockedError` or `DiskFullError`.
   */
  static async open (dir: string, opts: RepoOpenOptions = {}): Promise<Repo> {
    const root = resolve(dir)
    const idPath = join(root, IDENTITY)
    let identityText: string
    try {
      identityText = await readFile(idPath, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new RepoFormatError(`cannot read ${idPath}`, { cause: err })
      if (opts.create !== true) throw new RepoNotInitialisedError(root)
      const created = typeof opts.createPassphrase === 'function' ? await opts.createPassphrase() : undefined
      await Repo.#init(root, created !== undefined ? await Vault.create(created) : undefined)
      identityText = await readFile(idPath, 'utf8')
    }
    const { key, vault } = await Repo.#openIdentity(identityText, idPath, opts)
    await keepPrivate(idPath)

    let config = defaultConfig()
    try {
      config = parseConfig(await readFile(join(root, CONFIG), 'utf8'), join(root, CONFIG))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (err instanceof RepoFormatError) throw err
        throw new RepoFormatError(`cannot read ${join(root, CONFIG)}`, { cause: err })
      }
    }

    const token = await Repo.#loadToken(root)
    await makeDir(join(root, SHARES), 0o700)

    const blocks = new KithBlockstore(join(root, BLOCKS))
    await blocks.open()
    const datastore = new LevelDatastore(join(root, DATASTORE))
    try {
      await datastore.open()
    } catch (err) {
      await blocks.close().catch(() => {})
      throw await Repo.#datastoreError(root, datastore, err)
    }
    return new Repo(root, key, config, token, blocks, datastore, vault)
  }

  /** The identity key, opening it with the passphrase if the repo is sealed. */
  static async #openIdentity (text: string, where: string, opts: RepoOpenOptions): Promise<{ key: PrivateKey, vault: Vault }> {
    const id = readIdentity(text, where)
    if (id.kind === 'plain') return { key: id.key, vault: Vault.plain() }
    const passphrase = opts.passphrase === undefined ? undefined : await opts.passphrase()
    if (passphrase === undefined) throw new PassphraseRequiredError()
    const vault = await Vault.unlock(passphrase, id.vault)
    return { key: identityFromBytes(vault.open('identity', id.sealed), where), vault }
  }

  /** True if this repo's keys are sealed with a passphrase. */
  get sealed (): boolean { return this.secrets.sealed }

  /**
   * Seals the identity of a plain repo with a passphrase (the caller re-seals other secrets, e.g.
   * circles, with `from`/`to`). Returns the old (plain) vault and the new one.
   */
  async seal (passphrase: string): Promise<{ from: Vault, to: Vault }> {
    if (this.secrets.sealed) throw new RepoFormatError('this repo is sealed already')
    const from = this.secrets
    const to = await Vault.create(passphrase)
    await writeAtomic(join(this.dir, IDENTITY), encodeSealedIdentity(this.privateKey, to), 0o600)
    // Share records hold links (keys), names and paths: read them plain, write them sealed.
    const records: Array<[string, ShareRecord]> = []
    for (const rec of await this.listShares()) records.push([parseLink(rec.link).manifest.toString(), rec])
    this.secrets = to
    for (const [manifest, rec] of records) await this.#serial(manifest, async () => { await this.#writeShare(manifest, rec) })
    return { from, to }
  }

  static async #init (dir: string, vault?: Vault): Promise<void> {
    await makeDir(dir, 0o700)
    // Refuse to scatter repo files over a folder that is something else (KITH_REPO=~ by mistake).
    const foreign = (await readdir(dir)).filter(n => !REPO_ENTRIES.has(n) && !n.startsWith('.'))
    if (foreign.length > 0) throw new RepoFormatError(`${dir} is not empty and is not a kith repo: choose an empty or new folder`)
    await chmod(dir, 0o700).catch(() => {})
    await makeDir(join(dir, SHARES), 0o700)
    await writeExclusive(join(dir, API_TOKEN), randomBytes(32).toString('hex') + '\n', 0o600)
    await writeExclusive(join(dir, CONFIG), JSON.stringify(defaultConfig(), null, 2) + '\n', 0o644)
    // Last: identity.json is what marks the repo as initialised.
    const key = await generateKeyPair('Ed25519')
    await writeExclusive(join(dir, IDENTITY), vault !== undefined ? encodeSealedIdentity(key, vault) : encodeIdentity(key), 0o600)
  }

  static async #loadToken (dir: string): Promise<string> {
    const path = join(dir, API_TOKEN)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RepoFormatError(`cannot read ${path}`, { cause: err })
      // Lost: make a new one (clients read it from here, so nothing else needs to change).
      await writeExclusive(path, randomBytes(32).toString('hex') + '\n', 0o600)
      text = await readFile(path, 'utf8')
    }
    const token = text.trim()
    if (!/^[0-9a-f]{64}$/.test(token)) throw new RepoFormatError(`${path} is malformed: delete it and a new token will be made`)
    await keepPrivate(path)
    return token
  }

  static async #datastoreError (dir: string, datastore: LevelDatastore, err: unknown): Promise<Error> {
    // datastore-level drops LevelDB's reason; asking the db again tells a held lock from damage.
    let locked = false
    try {
      await datastore.db.open()
      await datastore.db.close()
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause
      locked = cause?.code === 'LEVEL_LOCKED'
    }
    if (locked) return new RepoLockedError(dir, (await readDaemonInfo(dir))?.pid, { cause: err })
    if (DiskFullError.matches(err)) return new DiskFullError(join(dir, DATASTORE), { cause: err })
    return new RepoFormatError(`cannot open ${join(dir, DATASTORE)}: it may be damaged`, { cause: err })
  }

  /** Writes `config` to config.json (atomically). */
  async saveConfig (): Promise<void> {
    await this.#writeConfig(this.config)
  }

  /**
   * Changes config fields of the running node (the settings API): validates the result as
   * config.json is validated on open, writes it atomically, and only then takes it as `config`.
   * Bad values throw `RepoFormatError` and change nothing. Concurrent updates apply in turn.
   */
  async updateConfig (patch: Partial<LiveConfig & RestartConfig>): Promise<RepoConfig> {
    const next = this.#configWrites.catch(() => {}).then(async () => {
      const config: RepoConfig = { ...this.config }
      for (const k of LIVE_CONFIG_FIELDS) {
        const v = patch[k]
        if (v !== undefined) config[k] = v
      }
      if (patch.network !== undefined) config.network = patch.network
      if (patch.upnp !== undefined) config.upnp = patch.upnp
      await this.#writeConfig(config)
      this.config = config
      return config
    })
    this.#configWrites = next
    return await next
  }

  async #writeConfig (config: RepoConfig): Promise<void> {
    const text = JSON.stringify(config, null, 2) + '\n'
    parseConfig(text) // never write a config the next open would refuse
    await writeAtomic(join(this.dir, CONFIG), text, 0o644)
  }

  // --- share registry ----------------------------------------------------------------------------

  #sharePath (manifest: string): string {
    return join(this.dir, SHARES, `${manifest}.json`)
  }

  /** Runs `fn` after any pending registry change of the same share (read-modify-write safety). */
  async #serial<T> (manifest: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#shareLocks.get(manifest) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.#shareLocks.set(manifest, next)
    try {
      return await next
    } finally {
      if (this.#shareLocks.get(manifest) === next) this.#shareLocks.delete(manifest)
    }
  }

  async #readShare (manifest: string): Promise<ShareRecord | undefined> {
    const path = this.#sharePath(manifest)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new RepoFormatError(`cannot read ${path}`, { cause: err })
    }
    let json: unknown
    try {
      json = JSON.parse(text)
      // A sealed record: the whole record (link, name, path) under the vault, bound to its manifest.
      const sealed = (json as { sealed?: unknown } | null)?.sealed
      if (sealed !== undefined) json = JSON.parse(new TextDecoder().decode(this.secrets.open(shareLabel(manifest), sealed, MAX_SHARE_RECORD_BYTES)))
    } catch (err) {
      // The repo's passphrase was right (the identity opened): a record that does not open was
      // altered or moved here from another manifest's name.
      if (err instanceof WrongPassphraseError) throw new RepoFormatError(`${path}: the sealed record does not open (altered, or moved from another share)`, { cause: err })
      if (err instanceof KithError) throw err
      throw new RepoFormatError(`${path} is not valid JSON`, { cause: err })
    }
    return checkShareRecord(json, path)
  }

  /**
   * Writes a share record: in a sealed repo as `{ "version": 1, "sealed": … }` (the record's JSON
   * sealed under the passphrase vault, labelled with its manifest), else as plain JSON; 0600 either way.
   */
  async #writeShare (manifest: string, rec: ShareRecord): Promise<void> {
    await makeDir(join(this.dir, SHARES), 0o700)
    const body = this.secrets.sealed
      ? { version: 1, sealed: this.secrets.seal(shareLabel(manifest), new TextEncoder().encode(JSON.stringify(rec))) }
      : rec
    await writeAtomic(this.#sharePath(manifest), JSON.stringify(body, null, 2) + '\n', 0o600)
  }

  /** Records a share (replacing any record of the same manifest). Returns its manifest CID string. */
  async addShare (rec: ShareRecord): Promise<string> {
    checkShareRecord(rec)
    const manifest = parseLink(rec.link).manifest.toString()
    const clean: ShareRecord = {
      version: 1,
      link: rec.link.trim(),
      name: rec.name,
      size: rec.size,
      chunks: rec.chunks,
      kind: rec.kind,
      source: rec.source,
      role: rec.role,
      added: rec.added,
      complete: rec.complete,
      have: rec.have
    }
    await this.#serial(manifest, async () => { await this.#writeShare(manifest, clean) })
    return manifest
  }

  /** The record of a share by manifest CID string, or undefined (also for a string that is no CID). */
  async getShare (manifest: string): Promise<ShareRecord | undefined> {
    const key = manifestKey(manifest)
    if (key === undefined) return undefined
    return await this.#readShare(key)
  }

  /** Changes fields of a share's record. Returns the new record, or undefined if there is none. */
  async updateShare (manifest: string, patch: ShareRecordPatch): Promise<ShareRecord | undefined> {
    const key = manifestKey(manifest)
    if (key === undefined) return undefined
    return await this.#serial(key, async () => {
      const rec = await this.#readShare(key)
      if (rec === undefined) return undefined
      const { version: _v, link: _l, ...fields } = patch as Partial<ShareRecord>
      const next = checkShareRecord({ ...rec, ...fields })
      await this.#writeShare(key, next)
      return next
    })
  }

  /** Every share record, oldest first. Unreadable records are skipped (never fatal to the node). */
  async listShares (): Promise<ShareRecord[]> {
    let names: string[]
    try {
      names = await readdir(join(this.dir, SHARES))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const out: Array<{ key: string, rec: ShareRecord }> = []
    for (const n of names) {
      if (!n.endsWith('.json')) continue
      const key = manifestKey(n.slice(0, -'.json'.length))
      if (key === undefined) continue
      const rec = await this.#readShare(key).catch(() => undefined)
      if (rec !== undefined) out.push({ key, rec })
    }
    out.sort((a, b) => a.rec.added < b.rec.added ? -1 : a.rec.added > b.rec.added ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    return out.map(x => x.rec)
  }

  /** Forgets a share. Returns false if there was no record. Files on disk are not touched. */
  async removeShare (manifest: string): Promise<boolean> {
    const key = manifestKey(manifest)
    if (key === undefined) return false
    return await this.#serial(key, async () => {
      try {
        await unlink(this.#sharePath(key))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
        throw err
      }
      await syncDir(join(this.dir, SHARES))
      return true
    })
  }

  // --- daemon.json -------------------------------------------------------------------------------

  /** Records the running daemon. Throws `RepoLockedError` if another live daemon is recorded. */
  async writeDaemonInfo (info: DaemonInfo): Promise<void> {
    if (!Number.isSafeInteger(info.pid) || info.pid <= 0 || typeof info.api !== 'string') throw new TypeError('daemon info needs a pid and an API address')
    const current = await this.readDaemonInfo()
    if (current !== undefined && current.pid !== info.pid) throw new RepoLockedError(this.dir, current.pid)
    await writeAtomic(join(this.dir, DAEMON), JSON.stringify({ pid: info.pid, api: info.api }) + '\n', 0o600)
  }

  /** The running daemon for this repo, or undefined (no daemon.json, or its process is gone). */
  async readDaemonInfo (): Promise<DaemonInfo | undefined> {
    return await readDaemonInfo(this.dir)
  }

  /** Removes daemon.json, unless it names another process that is still alive. */
  async clearDaemonInfo (): Promise<void> {
    const current = await this.readDaemonInfo()
    if (current !== undefined && current.pid !== process.pid) return
    await rm(join(this.dir, DAEMON), { force: true })
  }

  /** Closes the block store and the datastore. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled([...this.#shareLocks.values()])
    await this.blocks.close()
    await this.datastore.close()
  }
}

/** Reads daemon.json without opening the repo (the daemon holds the datastore's lock). */
export async function readDaemonInfo (dir: string): Promise<DaemonInfo | undefined> {
  let info: Partial<DaemonInfo>
  try {
    info = JSON.parse(await readFile(join(dir, DAEMON), 'utf8'))
  } catch {
    return undefined
  }
  if (info === null || typeof info !== 'object' || typeof info.pid !== 'number' || typeof info.api !== 'string') return undefined
  if (!isProcessAlive(info.pid)) return undefined
  return { pid: info.pid, api: info.api }
}

/** Reads the API token without opening the repo. */
export async function readApiToken (dir: string): Promise<string> {
  return (await readFile(join(dir, API_TOKEN), 'utf8')).trim()
}
