/**
 * The daemon's local HTTP API: the one schema shared by the server (node/daemon.ts), the client
 * (node/api-client.ts, used by the CLI) and, later, the web UI. Everything that crosses the wire
 * is declared here: paths, request and response bodies, the error body, the download progress
 * model, and the validators the server runs on every request body. docs/API.md documents it.
 *
 * Transport rules (enforced by daemon.ts):
 *  - HTTP on a loopback address only; the `Host` header must name that address or `localhost`
 *    with the server's port, else 403 (DNS-rebinding defence).
 *  - Every `/api/` request carries `Authorization: Bearer <token>`, the contents of the repo's
 *    `api-token` file, else 401.
 *  - Bodies are JSON, at most MAX_BODY_BYTES, else 413.
 *  - Errors are `{ "error": { "name", "message" } }` with a 4xx/5xx status.
 */
import { isAbsolute } from 'node:path'
import { KithError } from '../protocol/errors.js'
import type { GetProgressEvents, GetResult } from './get.js'
import type { PeerInfoSummary, ShareInfo } from './node.js'
import type { SeedProgressEvents, SeedResult } from './seed.js'
import { LIVE_CONFIG_FIELDS, configProblem, defaultConfig } from './repo-format.js'

export type { PeerInfoSummary, ShareInfo } from './node.js'

/** Every endpoint lives under this prefix; a breaking change gets a new one. */
export const API_PREFIX = '/api/v1'
/** Largest request body the server reads. */
export const MAX_BODY_BYTES = 64 * 1024
/** How often the CLI polls a running download. */
export const DOWNLOAD_POLL_MS = 250
/** Finished downloads the daemon remembers for GET /downloads/:id. */
export const MAX_FINISHED_DOWNLOADS = 64
/** Bootstrap addresses one download request may carry. */
export const MAX_DOWNLOAD_BOOTSTRAP = 16

export const ROUTES = {
  status: `${API_PREFIX}/status`,
  peers: `${API_PREFIX}/peers`,
  shares: `${API_PREFIX}/shares`,
  unshare: `${API_PREFIX}/shares/unshare`,
  share: (manifest: string) => `${API_PREFIX}/shares/${encodeURIComponent(manifest)}`,
  downloads: `${API_PREFIX}/downloads`,
  download: (id: string) => `${API_PREFIX}/downloads/${encodeURIComponent(id)}`,
  seeds: `${API_PREFIX}/seeds`,
  seed: (id: string) => `${API_PREFIX}/seeds/${encodeURIComponent(id)}`,
  circles: `${API_PREFIX}/circles`,
  circleJoin: `${API_PREFIX}/circles/join`,
  circle: (name: string, what: 'invite' | 'members' | 'feed' | 'remove' | 'auto-fetch') => `${API_PREFIX}/circles/${encodeURIComponent(name)}/${what}`,
  settings: `${API_PREFIX}/settings`
} as const

// --- bodies ---------------------------------------------------------------------------------------

/** `{ "error": { "name", "message" } }`: `name` is the error class (NoSeedersError, ...). */
export interface ApiErrorBody {
  error: { name: string, message: string }
}

/** GET /status */
export interface StatusResponse {
  /** Kith version of the daemon. */
  version: string
  pid: number
  peerId: string
  /** Listen addresses with /p2p/<peerId>. */
  addrs: string[]
  /** URL of this API. */
  api: string
  connections: number
  /** Shares being served. */
  shares: number
  /** Swarm sessions (share × peer). */
  sessions: number
  /** The repo's keys are sealed with a passphrase. */
  sealed: boolean
  /** Downloads in progress. */
  downloads: number
  /** Blind seeds still fetching (POST /seeds jobs running). */
  seeds: number
}

/** GET /peers */
export interface PeersResponse {
  peers: PeerInfoSummary[]
}

/** GET /shares */
export interface SharesResponse {
  shares: ShareInfo[]
}

/** POST /shares → ShareInfo */
export interface ShareRequest {
  /** Absolute path of the file or folder, on the daemon's machine. */
  path: string
  /** Plaintext chunk size in bytes (default: the repo's config). */
  chunkSize?: number
  /** Also post the link into this circle (by name). */
  circle?: string
}

// --- circles (node/circle/*) ------------------------------------------------------------------------

export interface CircleCreateRequest { name: string, memberName?: string }
export interface CircleJoinRequest { code: string, memberName?: string }
export interface CircleInviteRequest { ttlSeconds?: number }
export interface CircleRemoveRequest { peerId: string }
export interface CircleAutoFetchRequest { dir: string | null }

// --- settings (config.json) ----------------------------------------------------------------------

export type { SettingsRequest, SettingsResponse } from './api-types.js'
import type { SettingsRequest } from './api-types.js'

/** POST /shares/unshare */
export interface UnshareRequest {
  /** A `kith:` link or a manifest ID. */
  link: string
}

/** DELETE /shares/:manifest, POST /shares/unshare */
export interface UnshareResponse {
  manifest: string
  removed: true
}

/** POST /downloads → DownloadStatus (201) */
export interface DownloadRequest {
  link: string
  /** Absolute path of the folder to download into (created if missing). */
  outDir: string
  /** Give up when no peer makes progress for this long (default 60). */
  timeoutSeconds?: number
  /** Multiaddrs the daemon dials first (at most MAX_DOWNLOAD_BOOTSTRAP), e.g. the CLI's --bootstrap. */
  bootstrap?: string[]
}

export type DownloadState = 'running' | 'done' | 'failed'
/** Finer-grained than `state`, for display. */
export type DownloadPhase = 'finding' | 'verifying' | 'downloading' | 'finishing' | 'done' | 'failed'

/** The result of a finished download (GetResult). */
export type DownloadResult = GetResult

/** Progress of a download, from its progress events; what the CLI's progress bar draws. */
export interface DownloadProgress {
  phase: DownloadPhase
  /** Share name, once the manifest is open. */
  name?: string
  /** Plaintext bytes held / total (total is 0 until the manifest is open). */
  bytes: number
  total: number
  chunks: number
  totalChunks: number
  /** Peers in the share's swarm. */
  peers: number
}

/** GET /downloads/:id, and the answer to POST /downloads */
export interface DownloadStatus extends DownloadProgress {
  id: string
  /** Manifest ID of the share (never the key). */
  manifest: string
  state: DownloadState
  outDir: string
  /** ISO 8601. */
  started: string
  finished?: string
  result?: DownloadResult
  error?: { name: string, message: string }
}

/** GET /downloads */
export interface DownloadsResponse {
  downloads: DownloadStatus[]
}

/**
 * POST /seeds → SeedStatus (201): blind-seed a share. `link` may be a read link; the daemon keeps
 * only its seed-only form (the CLI sends that form in the first place).
 */
export interface SeedRequest {
  link: string
  /** Give up when no peer makes progress for this long (default 60). */
  timeoutSeconds?: number
  /** Multiaddrs the daemon dials first (at most MAX_DOWNLOAD_BOOTSTRAP). */
  bootstrap?: string[]
}

/** GET /seeds/:id, and the answer to POST /seeds. Progress counts ciphertext bytes; `name` is unset. */
export interface SeedStatus extends DownloadProgress {
  id: string
  manifest: string
  state: DownloadState
  started: string
  finished?: string
  result?: SeedResult
  error?: { name: string, message: string }
}

/** GET /seeds */
export interface SeedsResponse {
  seeds: SeedStatus[]
}

// --- errors ---------------------------------------------------------------------------------------

/** An error with an HTTP status, thrown by the server's request handling. */
export class HttpError extends KithError {
  static override name = 'HttpError'
  readonly status: number
  constructor (status: number, message: string) {
    super(message)
    this.status = status
  }
}

export class BadRequestError extends HttpError {
  static override name = 'BadRequestError'
  constructor (message: string) { super(400, message) }
}

export class UnauthorizedError extends HttpError {
  static override name = 'UnauthorizedError'
  constructor (message = 'missing or wrong API token (Authorization: Bearer <contents of the repo\'s api-token file>)') { super(401, message) }
}

export class ForbiddenError extends HttpError {
  static override name = 'ForbiddenError'
  constructor (message = 'the Host header must name this loopback server') { super(403, message) }
}

export class NotFoundError extends HttpError {
  static override name = 'NotFoundError'
  constructor (message = 'no such endpoint') { super(404, message) }
}

export class MethodNotAllowedError extends HttpError {
  static override name = 'MethodNotAllowedError'
  /** Value for the Allow header. */
  readonly allow: string | undefined
  constructor (message = 'method not allowed', allow?: string) {
    super(405, message)
    this.allow = allow
  }
}

export class ConflictError extends HttpError {
  static override name = 'ConflictError'
  constructor (message: string) { super(409, message) }
}

export class PayloadTooLargeError extends HttpError {
  static override name = 'PayloadTooLargeError'
  constructor (message = `request body larger than ${MAX_BODY_BYTES} bytes`) { super(413, message) }
}

export class ShareNotFoundError extends HttpError {
  static override name = 'ShareNotFoundError'
  constructor (message = 'no share with that link or manifest ID') { super(404, message) }
}

export class DownloadNotFoundError extends HttpError {
  static override name = 'DownloadNotFoundError'
  constructor (message = 'no download with that ID') { super(404, message) }
}

export class SeedNotFoundError extends HttpError {
  static override name = 'SeedNotFoundError'
  constructor (message = 'no seed job with that ID') { super(404, message) }
}

/** Errors whose cause is the request itself: 400 rather than 500. */
const CLIENT_ERRORS = new Set([
  'NotAKithLinkError', 'LinkChecksumError', 'TruncatedLinkError', 'MalformedLinkError', 'UnsupportedVersionError',
  'SeedOnlyLinkError', 'SourceError', 'OutputPathError', 'LimitError', 'UnsafePathError',
  'InviteCodeError', 'InviteRefusedError', 'CircleExistsError', 'AlreadyHeldError'
])
/** Errors that name something the daemon does not have: 404. */
const NOT_FOUND_ERRORS = new Set(['CircleNotFoundError', 'MemberNotFoundError'])

/** HTTP status for an error thrown while handling a request. */
export function statusForError (err: unknown): number {
  if (err instanceof HttpError) return err.status
  const name = (err as Error | undefined)?.name ?? ''
  if (CLIENT_ERRORS.has(name)) return 400
  if (NOT_FOUND_ERRORS.has(name)) return 404
  if (name === 'NotCircleAdminError') return 403
  if (name === 'InviterUnreachableError') return 504
  if (name === 'ShareBusyError') return 409
  if (name === 'CircleQuotaError') return 429 // this member's post quota for the epoch is used up
  if (name === 'DiskFullError') return 507
  return 500
}

export function errorBody (err: unknown): ApiErrorBody {
  const e = err as Error | undefined
  const name = typeof e?.name === 'string' && e.name !== '' ? e.name : 'Error'
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err)
  return { error: { name, message: oneLine(message) } }
}

export function oneLine (text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}

// --- request validation ---------------------------------------------------------------------------

function object (body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('the body must be a JSON object')
  return body as Record<string, unknown>
}

function onlyKeys (o: Record<string, unknown>, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new BadRequestError(`unknown field "${k}"`)
}

function text (o: Record<string, unknown>, key: string, maxLength = 4096): string {
  const v = o[key]
  if (typeof v !== 'string' || v.length === 0) throw new BadRequestError(`"${key}" must be a non-empty string`)
  if (v.length > maxLength) throw new BadRequestError(`"${key}" is too long`)
  if (v.includes('\0')) throw new BadRequestError(`"${key}" contains a NUL character`)
  return v
}

function absolutePath (o: Record<string, unknown>, key: string): string {
  const p = text(o, key)
  if (!isAbsolute(p)) throw new BadRequestError(`"${key}" must be an absolute path`)
  return p
}

function positive (o: Record<string, unknown>, key: string, integer: boolean): number | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isSafeInteger(v))) {
    throw new BadRequestError(`"${key}" must be a positive ${integer ? 'integer' : 'number'}`)
  }
  return v
}

export function parseShareRequest (body: unknown): ShareRequest {
  const o = object(body)
  onlyKeys(o, ['path', 'chunkSize', 'circle'])
  const req: ShareRequest = { path: absolutePath(o, 'path') }
  const chunkSize = positive(o, 'chunkSize', true)
  if (chunkSize !== undefined) req.chunkSize = chunkSize
  if (o.circle !== undefined) req.circle = text(o, 'circle', 256)
  return req
}

export function parseCircleCreate (body: unknown): CircleCreateRequest {
  const o = object(body)
  onlyKeys(o, ['name', 'memberName'])
  return { name: text(o, 'name', 64), ...(o.memberName !== undefined ? { memberName: text(o, 'memberName', 64) } : {}) }
}

export function parseCircleJoin (body: unknown): CircleJoinRequest {
  const o = object(body)
  onlyKeys(o, ['code', 'memberName'])
  return { code: text(o, 'code', 1024), ...(o.memberName !== undefined ? { memberName: text(o, 'memberName', 64) } : {}) }
}

export function parseCircleInvite (body: unknown): CircleInviteRequest {
  const o = body === undefined ? {} : object(body)
  onlyKeys(o, ['ttlSeconds'])
  const ttlSeconds = positive(o, 'ttlSeconds', false)
  return ttlSeconds !== undefined ? { ttlSeconds } : {}
}

export function parseCircleRemove (body: unknown): CircleRemoveRequest {
  const o = object(body)
  onlyKeys(o, ['peerId'])
  return { peerId: text(o, 'peerId', 128) }
}

export function parseCircleAutoFetch (body: unknown): CircleAutoFetchRequest {
  const o = object(body)
  onlyKeys(o, ['dir'])
  return { dir: o.dir === null ? null : absolutePath(o, 'dir') }
}

export function parseSettingsRequest (body: unknown): SettingsRequest {
  const o = object(body)
  onlyKeys(o, [...LIVE_CONFIG_FIELDS])
  const req: SettingsRequest = {}
  for (const k of LIVE_CONFIG_FIELDS) {
    if (o[k] === undefined) continue
    // The very check config.json gets when the repo opens (over valid defaults: only `k` can fail).
    const problem = configProblem({ ...defaultConfig(), [k]: o[k] })
    if (problem !== undefined) throw new BadRequestError(`"${problem.field}" must be ${problem.must}`)
    req[k] = o[k] as number
  }
  if (Object.keys(req).length === 0) throw new BadRequestError(`nothing to change: set any of ${LIVE_CONFIG_FIELDS.map(k => `"${k}"`).join(', ')}`)
  return req
}

export function parseUnshareRequest (body: unknown): UnshareRequest {
  const o = object(body)
  onlyKeys(o, ['link'])
  return { link: text(o, 'link') }
}

export function parseDownloadRequest (body: unknown): DownloadRequest {
  const o = object(body)
  onlyKeys(o, ['link', 'outDir', 'timeoutSeconds', 'bootstrap'])
  return { link: text(o, 'link'), outDir: absolutePath(o, 'outDir'), ...fetchOptions(o) }
}

export function parseSeedRequest (body: unknown): SeedRequest {
  const o = object(body)
  onlyKeys(o, ['link', 'timeoutSeconds', 'bootstrap'])
  return { link: text(o, 'link'), ...fetchOptions(o) }
}

/** `timeoutSeconds` and `bootstrap`, as downloads and seeds take them. */
function fetchOptions (o: Record<string, unknown>): { timeoutSeconds?: number, bootstrap?: string[] } {
  const out: { timeoutSeconds?: number, bootstrap?: string[] } = {}
  const timeoutSeconds = positive(o, 'timeoutSeconds', false)
  if (timeoutSeconds !== undefined) out.timeoutSeconds = timeoutSeconds
  if (o.bootstrap !== undefined) {
    const list = o.bootstrap
    if (!Array.isArray(list) || list.length > MAX_DOWNLOAD_BOOTSTRAP || list.some(a => typeof a !== 'string' || a.length === 0 || a.length > 1024)) {
      throw new BadRequestError(`"bootstrap" must be an array of at most ${MAX_DOWNLOAD_BOOTSTRAP} multiaddr strings`)
    }
    out.bootstrap = list as string[]
  }
  return out
}

// --- progress -------------------------------------------------------------------------------------

export function initialProgress (): DownloadProgress {
  return { phase: 'finding', bytes: 0, total: 0, chunks: 0, totalChunks: 0, peers: 0 }
}

/** Folds one `seedShare` progress event into `p` (bytes are ciphertext; there is no name). */
export function applySeedProgress (p: DownloadProgress, evt: SeedProgressEvents): void {
  switch (evt.type) {
    case 'kith:seed:peers':
      p.peers = evt.detail.peers
      break
    case 'kith:seed:manifest':
      p.total = evt.detail.bytes
      p.totalChunks = evt.detail.chunks
      p.phase = 'downloading'
      break
    case 'kith:seed:chunk':
      applyChunk(p, evt.detail)
      break
  }
}

/** A chunk landed: the counts every chunk event carries. */
function applyChunk (p: DownloadProgress, d: Pick<DownloadProgress, 'bytes' | 'total' | 'chunks' | 'totalChunks' | 'peers'>): void {
  p.phase = 'downloading'
  p.bytes = d.bytes
  p.total = d.total
  p.chunks = d.chunks
  p.totalChunks = d.totalChunks
  p.peers = d.peers
}

/** Folds one `getShare` progress event into `p` (the daemon and the foreground CLI both use it). */
export function applyGetProgress (p: DownloadProgress, evt: GetProgressEvents): void {
  switch (evt.type) {
    case 'kith:get:peers':
      p.peers = evt.detail.peers
      break
    case 'kith:get:manifest':
      p.name = evt.detail.name
      p.total = evt.detail.size
      p.totalChunks = evt.detail.chunks
      if (p.phase === 'finding') p.phase = 'downloading'
      break
    case 'kith:get:verify':
      p.phase = 'verifying'
      break
    case 'kith:get:chunk':
      applyChunk(p, evt.detail)
      if (p.chunks >= p.totalChunks && p.totalChunks > 0) p.phase = 'finishing'
      break
    case 'kith:get:file':
      p.phase = 'finishing'
      break
  }
}
