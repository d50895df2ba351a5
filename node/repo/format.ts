/**
 * The repo's file formats: config, share records and the identity file; parsing that refuses
 * anything malformed with a RepoFormatError naming the field (never its value).
 */
import type { ShareKind, ShareRole } from '../api/schema.js'
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'

import { checkChunkSize } from '../../protocol/chunker.js'

import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../protocol/constants.js'

import { DEFAULT_API, DEFAULT_LISTEN, DEFAULT_NETWORK, NETWORKS, type NetworkMode } from '../engine/constants.js'
import { RepoFormatError } from './errors.js'
import type { KdfParams, SealedSecret, Vault } from './keystore.js'

export interface RepoConfig {
  version: 1
  /** libp2p listen multiaddrs. */
  listen: string[]
  /**
   * Addresses to announce besides those the node finds itself, e.g. a router's public address
   * with a forwarded port (multiaddrs; optional in config.json, default none).
   */
  announce: string[]
  /** Bootstrap peers (multiaddrs with /p2p/<id>). */
  bootstrap: string[]
  /**
   * Which network the node joins (docs/NETWORK.md): 'local' (default: the LAN and friends' nodes,
   * Kith's own DHT) or 'amino' (also the public IPFS Amino DHT). Optional in config.json.
   */
  network: NetworkMode
  /**
   * STUN servers for WebRTC hole punching, host:port (optional in config.json, default none:
   * friends' public Kith nodes answer STUN; no third party's server is ever used by default).
   */
  stun: string[]
  /**
   * Ask the home router (UPnP) to map the TCP listen port and announce the mapped public address
   * (node/libp2p/upnp.ts; optional in config.json, default false: it tells the router, and every
   * peer, the home's public IP).
   */
  upnp: boolean
  /** host:port of the local HTTP API and web UI. */
  api: string
  /** Chunk size for new shares. */
  chunkSize: number
  /** Bytes/s, 0 = unlimited. */
  uploadRate: number
  /** Bytes/s, 0 = unlimited. */
  downloadRate: number
}

export interface ShareRecord {
  version: 1
  /** The `kith:` link: it holds the share's key, hence the record's 0600 mode. */
  link: string
  name: string
  size: number
  chunks: number
  /** 'sealed' for a blind seed: its names and kind are encrypted under a key it does not hold. */
  kind: ShareKind
  /** Absolute path of the shared file/folder (publisher) or of the finished download; null if none (blind seed). */
  source: string | null
  role: ShareRole
  /** ISO 8601 time the share was added. */
  added: string
  complete: boolean
  /** base64 have-map while incomplete, else null. */
  have: string | null
}

/** Fields `updateShare` may change (a record's link, and so its name on disk, is fixed). */
export type ShareRecordPatch = Partial<Omit<ShareRecord, 'version' | 'link'>>

/** daemon.json: where the running daemon listens. Never holds the API token. */
export interface DaemonInfo { pid: number, api: string }

/**
 * identity.json, version 1: the private key in libp2p's protobuf encoding, base64; or, in a repo
 * sealed with a passphrase (node/repo/keystore.ts), `vault` (the KDF parameters and salt every secret
 * of the repo is sealed under) and `sealed` (the protobuf, sealed under label "identity").
 */
export interface PlainIdentityFile {
  version: 1
  type: 'Ed25519'
  privateKey: string
}

export interface SealedIdentityFile {
  version: 1
  type: 'Ed25519'
  vault: KdfParams
  sealed: SealedSecret
}

export function defaultConfig (): RepoConfig {
  return { version: 1, listen: [...DEFAULT_LISTEN], announce: [], bootstrap: [], network: DEFAULT_NETWORK, stun: [], upnp: false, api: DEFAULT_API, chunkSize: DEFAULT_CHUNK_SIZE, uploadRate: 0, downloadRate: 0 }
}

export function encodeIdentity (key: PrivateKey): string {
  if (key.type !== 'Ed25519') throw new TypeError('the node identity must be an Ed25519 key')
  const file: PlainIdentityFile = { version: 1, type: 'Ed25519', privateKey: Buffer.from(privateKeyToProtobuf(key)).toString('base64') }
  return JSON.stringify(file, null, 2) + '\n'
}

export function encodeSealedIdentity (key: PrivateKey, vault: Vault): string {
  if (key.type !== 'Ed25519') throw new TypeError('the node identity must be an Ed25519 key')
  if (vault.params === undefined) throw new TypeError('a sealed identity needs a sealed vault')
  const file: SealedIdentityFile = { version: 1, type: 'Ed25519', vault: vault.params, sealed: vault.seal('identity', privateKeyToProtobuf(key)) }
  return JSON.stringify(file, null, 2) + '\n'
}

/** identity.json read: a plain key, or the sealed form to open with the passphrase. */
export type IdentityRead = { kind: 'plain', key: PrivateKey } | { kind: 'sealed', vault: unknown, sealed: unknown }

/** Parses identity.json, plain or sealed. Throws `RepoFormatError` for anything else. */
export function readIdentity (text: string, where = 'identity.json'): IdentityRead {
  let file: Partial<SealedIdentityFile>
  try {
    file = JSON.parse(text)
  } catch (err) {
    throw new RepoFormatError(`${where} is not valid JSON`, { cause: err })
  }
  if (file !== null && typeof file === 'object' && 'sealed' in file) {
    if (file.version !== 1) throw new RepoFormatError(`${where}: unknown identity version ${String(file.version)}; upgrade Kith`)
    if (file.type !== 'Ed25519') throw new RepoFormatError(`${where}: unsupported key type (Kith uses Ed25519)`)
    return { kind: 'sealed', vault: file.vault, sealed: file.sealed }
  }
  return { kind: 'plain', key: decodeIdentity(text, where) }
}

/** The private key from its protobuf bytes (a sealed identity, opened). */
export function identityFromBytes (bytes: Uint8Array, where = 'identity.json'): PrivateKey {
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new RepoFormatError(`${where}: the private key does not decode`, { cause: err })
  }
  if (key.type !== 'Ed25519') throw new RepoFormatError(`${where}: unsupported key type (Kith uses Ed25519)`)
  return key
}

/** Parses a plain identity.json. Throws `RepoFormatError` for anything but a plain version-1 Ed25519 identity. */
export function decodeIdentity (text: string, where = 'identity.json'): PrivateKey {
  let file: Partial<PlainIdentityFile & SealedIdentityFile>
  try {
    file = JSON.parse(text)
  } catch (err) {
    throw new RepoFormatError(`${where} is not valid JSON`, { cause: err })
  }
  if (file === null || typeof file !== 'object') throw new RepoFormatError(`${where}: unknown identity format`)
  if (file.version !== 1) throw new RepoFormatError(`${where}: unknown identity version ${String(file.version)}; upgrade Kith`)
  if (file.type !== 'Ed25519') throw new RepoFormatError(`${where}: unsupported key type (Kith uses Ed25519)`)
  if ('sealed' in file) throw new RepoFormatError(`${where} is sealed with a passphrase: open the repo with it`)
  if (typeof file.privateKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(file.privateKey)) {
    throw new RepoFormatError(`${where}: unknown identity format (no privateKey)`)
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(Buffer.from(file.privateKey, 'base64'))
  } catch (err) {
    // The cause names the decoding step only; the key bytes are not echoed.
    throw new RepoFormatError(`${where}: the private key does not decode`, { cause: err })
  }
  if (key.type !== 'Ed25519') throw new RepoFormatError(`${where}: unsupported key type (Kith uses Ed25519)`)
  return key
}

function isStringArray (x: unknown): x is string[] {
  return Array.isArray(x) && x.every(s => typeof s === 'string')
}

function isMultiaddr (s: string): boolean {
  try {
    multiaddr(s)
    return true
  } catch {
    return false
  }
}

/** True for a network name `--network` and config.json's "network" accept. */
export function isNetwork (x: unknown): x is NetworkMode {
  return typeof x === 'string' && (NETWORKS as readonly string[]).includes(x)
}

function isRate (x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0
}

/** Config fields a running node may change (the settings API): they take effect at once. */
export type LiveConfig = Pick<RepoConfig, 'uploadRate' | 'downloadRate' | 'chunkSize'>
export const LIVE_CONFIG_FIELDS = ['uploadRate', 'downloadRate', 'chunkSize'] as const satisfies ReadonlyArray<keyof LiveConfig>
/** Config fields the settings API may change that take effect when the node next starts. */
export type RestartConfig = Pick<RepoConfig, 'network' | 'upnp'>

/**
 * The first field of `config` that config.json may not hold, and what it must be; undefined if
 * every field is valid. parseConfig and the settings API (node/api/schema.ts) both check with this.
 */
export function configProblem (config: Record<string, unknown>): { field: string, must: string } | undefined {
  const rate = 'a number of bytes per second ≥ 0 (0 = unlimited)'
  if (config.version !== 1) return { field: 'version', must: '1 (this Kith knows no other config version)' }
  if (!isStringArray(config.listen)) return { field: 'listen', must: 'a list of multiaddr strings' }
  if (!isStringArray(config.announce) || !config.announce.every(isMultiaddr)) return { field: 'announce', must: 'a list of multiaddr strings' }
  if (!isStringArray(config.bootstrap)) return { field: 'bootstrap', must: 'a list of multiaddr strings' }
  if (!isNetwork(config.network)) return { field: 'network', must: NETWORKS.map(n => `"${n}"`).join(' or ') }
  if (!isStringArray(config.stun) || !config.stun.every(isStunServer)) return { field: 'stun', must: 'a list of host:port strings' }
  if (typeof config.upnp !== 'boolean') return { field: 'upnp', must: 'true or false' }
  if (typeof config.api !== 'string' || config.api.length === 0) return { field: 'api', must: 'a host:port string' }
  try {
    checkChunkSize(config.chunkSize as number)
  } catch {
    return { field: 'chunkSize', must: `a power of two from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes` }
  }
  if (!isRate(config.uploadRate)) return { field: 'uploadRate', must: rate }
  if (!isRate(config.downloadRate)) return { field: 'downloadRate', must: rate }
  return undefined
}

/** True for a STUN server as `--stun` and config `stun` take it: host:port (port 1-65535), optionally `stun:` first. */
export function isStunServer (s: string): boolean {
  const m = /^(?:stun:)?[A-Za-z0-9.-]{1,253}(?::(\d{1,5}))?$/.exec(s)
  return m !== null && (m[1] === undefined || (Number(m[1]) >= 1 && Number(m[1]) <= 65535))
}

/** Parses config.json over the defaults (missing fields take their default). Throws `RepoFormatError`. */
export function parseConfig (text: string, where = 'config.json'): RepoConfig {
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new RepoFormatError(`${where} is not valid JSON`, { cause: err })
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RepoFormatError(`${where} must hold a JSON object`)
  const config = { ...defaultConfig(), ...raw } as RepoConfig & Record<string, unknown>
  const problem = configProblem(config)
  if (problem !== undefined) throw new RepoFormatError(`${where}: "${problem.field}" must be ${problem.must}`)
  return config
}

/** Checks a share record's shape. Throws `RepoFormatError` naming the bad field (never the link). */
export function checkShareRecord (rec: unknown, where = 'share record'): ShareRecord {
  const r = rec as Record<string, unknown>
  const bad = (field: string): never => { throw new RepoFormatError(`${where}: bad or missing "${field}"`) }
  if (r === null || typeof r !== 'object') throw new RepoFormatError(`${where}: not an object`)
  if (r.version !== 1) bad('version')
  if (typeof r.link !== 'string') bad('link')
  if (typeof r.name !== 'string') bad('name')
  if (!Number.isSafeInteger(r.size) || (r.size as number) < 0) bad('size')
  if (!Number.isSafeInteger(r.chunks) || (r.chunks as number) < 0) bad('chunks')
  if (r.kind !== 'file' && r.kind !== 'dir' && r.kind !== 'sealed') bad('kind')
  if (r.source !== null && typeof r.source !== 'string') bad('source')
  if (r.role !== 'publisher' && r.role !== 'downloader' && r.role !== 'seed') bad('role')
  if (typeof r.added !== 'string' || Number.isNaN(Date.parse(r.added))) bad('added')
  if (typeof r.complete !== 'boolean') bad('complete')
  if (r.have !== null && typeof r.have !== 'string') bad('have')
  return r as unknown as ShareRecord
}
