/**
 * The on-disk repo (default `$KITH_REPO` or `~/.kith`):
 *
 *   identity.json   0600  the node's Ed25519 key (libp2p protobuf, base64)
 *   api-token       0600  bearer token for the local API (32 random bytes, hex)
 *   config.json           listen/bootstrap addresses, API address, chunk size, rate caps
 *   shares/         0700  one JSON record per share (holds the link: the user's own disk)
 *   blocks/               content-addressed store of manifest blocks and ciphertext (blockstore-fs)
 *   datastore/            LevelDB: DHT records and provider records (no peer addresses, see libp2p.ts)
 *   daemon.json           pid and API URL of the running daemon, removed on exit
 *
 * Writes are atomic (temporary file, fsync, rename). No peer address is ever written here.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, stat, chmod } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'
import { KithError } from '../protocol/errors.js'
import { parseLink } from '../protocol/link.js'
import { DEFAULT_CHUNK_SIZE } from '../protocol/constants.js'
import { KithBlockstore } from './blockstore.js'
import { DEFAULT_API, DEFAULT_LISTEN } from './constants.js'

export class RepoNotInitialisedError extends KithError {
  static override name = 'RepoNotInitialisedError'
  constructor (dir: string) { super(`no kith repo at ${dir}: run \`kith init\` first`) }
}

export class RepoFormatError extends KithError {
  static override name = 'RepoFormatError'
  constructor (message: string, options?: { cause?: unknown }) { super(message, options) }
}

export class DiskFullError extends KithError {
  static override name = 'DiskFullError'
  constructor (where: string, options?: { cause?: unknown }) { super(`disk full: cannot write to ${where}`, options) }
}

/** Rethrows ENOSPC/EDQUOT as DiskFullError; other errors unchanged. */
export function mapDiskError (err: unknown, where: string): never {
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') throw new DiskFullError(where, { cause: err })
  throw err
}

export interface RepoConfig {
  version: 1
  listen: string[]
  bootstrap: string[]
  api: string
  chunkSize: number
  /** Bytes/s, 0 = unlimited. */
  uploadRate: number
  downloadRate: number
}

export interface ShareRecord {
  version: 1
  link: string
  name: string
  size: number
  chunks: number
  kind: 'file' | 'dir'
  /** Absolute path of the shared file/folder, or of a completed download; null for blind seeds. */
  source: string | null
  role: 'publisher' | 'downloader' | 'seed'
  added: string
  complete: boolean
  /** base64 have-map for incomplete shares, else null. */
  have: string | null
}

export interface DaemonInfo { pid: number, api: string }

export function defaultConfig (): RepoConfig {
  return { version: 1, listen: [...DEFAULT_LISTEN], bootstrap: [], api: DEFAULT_API, chunkSize: DEFAULT_CHUNK_SIZE, uploadRate: 0, downloadRate: 0 }
}

/** Writes a file atomically: temp file, fsync, rename. */
export async function writeAtomic (path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const fh = await open(tmp, 'w', mode)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    mapDiskError(err, path)
  }
}

async function exists (path: string): Promise<boolean> {
  try { await stat(path); return true } catch { return false }
}

/** Registry files are named by the manifest CID of the share's link. */
function manifestFromLink (link: string): string {
  return parseLink(link).manifest.toString()
}

export class Repo {
  readonly dir: string
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  readonly blocks: KithBlockstore
  readonly datastore: LevelDatastore
  config: RepoConfig
  readonly apiToken: string

  private constructor (dir: string, key: PrivateKey, config: RepoConfig, token: string, blocks: KithBlockstore, datastore: LevelDatastore) {
    this.dir = dir
    this.privateKey = key
    this.peerId = peerIdFromPrivateKey(key)
    this.config = config
    this.apiToken = token
    this.blocks = blocks
    this.datastore = datastore
  }

  static defaultPath (env: NodeJS.ProcessEnv = process.env): string {
    return env.KITH_REPO !== undefined && env.KITH_REPO !== '' ? env.KITH_REPO : join(homedir(), '.kith')
  }

  /** True if `dir` holds a repo. */
  static async exists (dir: string): Promise<boolean> {
    return await exists(join(dir, 'identity.json'))
  }

  /** Opens the repo at `dir`; with `create`, initialises it first if missing (idempotent). */
  static async open (dir: string, opts: { create?: boolean } = {}): Promise<Repo> {
    const idPath = join(dir, 'identity.json')
    if (!(await exists(idPath))) {
      if (opts.create !== true) throw new RepoNotInitialisedError(dir)
      await Repo.#init(dir)
    }
    let identity: { version?: number, type?: string, privateKey?: string, sealed?: unknown }
    try {
      identity = JSON.parse(await readFile(idPath, 'utf8'))
    } catch (err) {
      throw new RepoFormatError(`unreadable identity in ${dir}`, { cause: err })
    }
    if (identity.version !== 1 || identity.type !== 'Ed25519' || typeof identity.privateKey !== 'string') {
      throw new RepoFormatError(`unknown identity format in ${dir} (sealed identities need a newer Kith)`)
    }
    const key = privateKeyFromProtobuf(Buffer.from(identity.privateKey, 'base64'))
    let config = defaultConfig()
    try {
      config = { ...config, ...JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RepoFormatError(`unreadable config.json in ${dir}`, { cause: err })
    }
    const token = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
    const blocks = new KithBlockstore(join(dir, 'blocks'))
    await blocks.open()
    const datastore = new LevelDatastore(join(dir, 'datastore'))
    await datastore.open()
    return new Repo(dir, key, config, token, blocks, datastore)
  }

  static async #init (dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await mkdir(join(dir, 'shares'), { recursive: true, mode: 0o700 })
    const key = await generateKeyPair('Ed25519')
    // Token first: identity.json is what marks a repo as initialised.
    await writeAtomic(join(dir, 'api-token'), randomBytes(32).toString('hex') + '\n', 0o600)
    if (!(await exists(join(dir, 'config.json')))) await writeAtomic(join(dir, 'config.json'), JSON.stringify(defaultConfig(), null, 2) + '\n')
    await writeAtomic(join(dir, 'identity.json'), JSON.stringify({ version: 1, type: 'Ed25519', privateKey: Buffer.from(privateKeyToProtobuf(key)).toString('base64') }) + '\n', 0o600)
    await chmod(join(dir, 'identity.json'), 0o600)
  }

  async saveConfig (): Promise<void> {
    await writeAtomic(join(this.dir, 'config.json'), JSON.stringify(this.config, null, 2) + '\n')
  }

  #sharePath (manifest: string): string {
    if (!/^[a-z0-9]+$/.test(manifest)) throw new RepoFormatError('bad manifest id')
    return join(this.dir, 'shares', `${manifest}.json`)
  }

  async addShare (rec: ShareRecord): Promise<void> {
    await mkdir(join(this.dir, 'shares'), { recursive: true, mode: 0o700 })
    await writeAtomic(this.#sharePath(manifestFromLink(rec.link)), JSON.stringify(rec, null, 2) + '\n', 0o600)
  }

  async updateShare (manifest: string, patch: Partial<ShareRecord>): Promise<void> {
    const rec = await this.getShare(manifest)
    if (rec === undefined) return
    await writeAtomic(this.#sharePath(manifest), JSON.stringify({ ...rec, ...patch }, null, 2) + '\n', 0o600)
  }

  async getShare (manifest: string): Promise<ShareRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.#sharePath(manifest), 'utf8')) as ShareRecord
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new RepoFormatError('unreadable share record', { cause: err })
    }
  }

  async listShares (): Promise<ShareRecord[]> {
    let names: string[]
    try { names = await readdir(join(this.dir, 'shares')) } catch { return [] }
    const out: ShareRecord[] = []
    for (const n of names.sort()) {
      if (!n.endsWith('.json')) continue
      const rec = await this.getShare(n.slice(0, -5)).catch(() => undefined)
      if (rec !== undefined) out.push(rec)
    }
    return out
  }

  async removeShare (manifest: string): Promise<boolean> {
    const p = this.#sharePath(manifest)
    if (!(await exists(p))) return false
    await rm(p, { force: true })
    return true
  }

  async writeDaemonInfo (info: DaemonInfo): Promise<void> {
    await writeAtomic(join(this.dir, 'daemon.json'), JSON.stringify(info) + '\n', 0o600)
  }

  /** The running daemon for this repo, or undefined (no file, or its process is gone). */
  async readDaemonInfo (): Promise<DaemonInfo | undefined> {
    return await readDaemonInfo(this.dir)
  }

  async clearDaemonInfo (): Promise<void> {
    await rm(join(this.dir, 'daemon.json'), { force: true })
  }

  async close (): Promise<void> {
    await this.blocks.close()
    await this.datastore.close()
  }
}

/** Reads daemon.json without opening the repo (the daemon holds the LevelDB lock). */
export async function readDaemonInfo (dir: string): Promise<DaemonInfo | undefined> {
  let info: DaemonInfo
  try {
    info = JSON.parse(await readFile(join(dir, 'daemon.json'), 'utf8'))
  } catch {
    return undefined
  }
  if (!Number.isInteger(info.pid) || typeof info.api !== 'string') return undefined
  try {
    process.kill(info.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined
  }
  return info
}

/** Reads the API token without opening the repo. */
export async function readApiToken (dir: string): Promise<string> {
  return (await readFile(join(dir, 'api-token'), 'utf8')).trim()
}
