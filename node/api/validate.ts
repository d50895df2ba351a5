/**
 * Validators the server runs on every request body: each returns the typed request (schema.ts)
 * or throws BadRequestError (400) naming the field. Unknown fields are refused.
 */
import { isAbsolute } from 'node:path'
import { LIVE_CONFIG_FIELDS, configProblem, defaultConfig } from '../repo/format.js'
import type { NetworkMode } from '../engine/constants.js'
import { BadRequestError } from './errors.js'
import { MAX_DOWNLOAD_BOOTSTRAP, type CircleAutoFetchRequest, type CircleCreateRequest, type CircleInviteRequest, type CircleJoinRequest, type CircleRemoveRequest, type DownloadRequest, type SeedRequest, type SettingsRequest, type ShareRequest, type UnshareRequest } from './schema.js'

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
  onlyKeys(o, [...LIVE_CONFIG_FIELDS, 'network', 'upnp'])
  const req: SettingsRequest = {}
  if (o.network !== undefined) {
    const problem = configProblem({ ...defaultConfig(), network: o.network })
    if (problem !== undefined) throw new BadRequestError(`"${problem.field}" must be ${problem.must}`)
    req.network = o.network as NetworkMode
  }
  if (o.upnp !== undefined) {
    const problem = configProblem({ ...defaultConfig(), upnp: o.upnp })
    if (problem !== undefined) throw new BadRequestError(`"${problem.field}" must be ${problem.must}`)
    req.upnp = o.upnp as boolean
  }
  for (const k of LIVE_CONFIG_FIELDS) {
    if (o[k] === undefined) continue
    // The very check config.json gets when the repo opens (over valid defaults: only `k` can fail).
    const problem = configProblem({ ...defaultConfig(), [k]: o[k] })
    if (problem !== undefined) throw new BadRequestError(`"${problem.field}" must be ${problem.must}`)
    req[k] = o[k] as number
  }
  if (Object.keys(req).length === 0) throw new BadRequestError(`nothing to change: set any of ${[...LIVE_CONFIG_FIELDS, 'network', 'upnp'].map(k => `"${k}"`).join(', ')}`)
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
