/**
 * Client for the daemon's local API (schema in node/api/schema.ts), used by the CLI.
 *
 * Uses node:http rather than fetch: a share of a large folder keeps POST /shares open while the
 * daemon encrypts it, longer than undici's default 5-minute headers timeout. Errors the daemon
 * reports come back as `RemoteError`s carrying the daemon's error name (NoSeedersError, ...), so
 * callers handle them exactly like local ones.
 */
import { request } from 'node:http'
import { ROUTES, type ApiErrorBody, type DownloadRequest, type DownloadStatus, type DownloadsResponse, type PeersResponse, type SeedRequest, type SeedStatus, type SettingsRequest, type SettingsResponse, type ShareInfo, type ShareRequest, type SharesResponse, type StatusResponse, type UnshareResponse } from './schema.js'
import { oneLine } from './errors.js'
import { readApiToken, readDaemonInfo } from '../repo/repo.js'
import type { DaemonInfo } from '../repo/format.js'
import type { CircleAutoFetchRequest, CircleCreateRequest, CircleInviteRequest, CircleJoinRequest, CircleRemoveRequest } from './schema.js'
import type { CircleFeedResponse, CircleInviteResponse, CircleMembersResponse, CircleRemoveResponse, CirclesResponse, CircleSummary } from './schema.js'
import { DaemonUnreachableError, RemoteError } from './errors.js'

/** Default per-request timeout; POST /shares has none. */
export const API_TIMEOUT_MS = 30_000

export interface ApiClientOptions {
  /** Base URL, e.g. http://127.0.0.1:5870 */
  url: string
  token: string
}

export class ApiClient {
  readonly url: string
  readonly #token: string

  constructor (opts: ApiClientOptions) {
    this.url = opts.url.replace(/\/+$/, '')
    this.#token = opts.token
  }

  async status (timeoutMs = API_TIMEOUT_MS): Promise<StatusResponse> {
    return await this.request<StatusResponse>('GET', ROUTES.status, undefined, timeoutMs)
  }

  async peers (): Promise<PeersResponse> {
    return await this.request<PeersResponse>('GET', ROUTES.peers)
  }

  async shares (): Promise<SharesResponse> {
    return await this.request<SharesResponse>('GET', ROUTES.shares)
  }

  /** Shares a file or folder (absolute path); waits until it is encrypted and published. */
  async share (req: ShareRequest): Promise<ShareInfo> {
    return await this.request<ShareInfo>('POST', ROUTES.shares, req, 0)
  }

  async unshare (linkOrManifest: string): Promise<UnshareResponse> {
    return await this.request<UnshareResponse>('POST', ROUTES.unshare, { link: linkOrManifest })
  }

  async startDownload (req: DownloadRequest): Promise<DownloadStatus> {
    return await this.request<DownloadStatus>('POST', ROUTES.downloads, req)
  }

  async download (id: string): Promise<DownloadStatus> {
    return await this.request<DownloadStatus>('GET', ROUTES.download(id))
  }

  async downloads (): Promise<DownloadsResponse> {
    return await this.request<DownloadsResponse>('GET', ROUTES.downloads)
  }

  /** Cancels a running download (or forgets a finished one). */
  async cancelDownload (id: string): Promise<DownloadStatus> {
    return await this.request<DownloadStatus>('DELETE', ROUTES.download(id))
  }

  /** Starts blind-seeding a share (send its seed-only link: the daemon needs no more). */
  async startSeed (req: SeedRequest): Promise<SeedStatus> {
    return await this.request<SeedStatus>('POST', ROUTES.seeds, req)
  }

  async seed (id: string): Promise<SeedStatus> {
    return await this.request<SeedStatus>('GET', ROUTES.seed(id))
  }

  /** Cancels a running seed job (what it fetched stays in the blockstore for a later run). */
  async cancelSeed (id: string): Promise<SeedStatus> {
    return await this.request<SeedStatus>('DELETE', ROUTES.seed(id))
  }

  // --- settings ---

  /** The repo's config: rate caps, chunk size, listen/bootstrap/API addresses; repo path; sealed. */
  async settings (): Promise<SettingsResponse> {
    return await this.request<SettingsResponse>('GET', ROUTES.settings)
  }

  /** Changes rate caps and/or chunk size: written to config.json and applied at once. */
  async updateSettings (req: SettingsRequest): Promise<SettingsResponse> {
    return await this.request<SettingsResponse>('PUT', ROUTES.settings, req)
  }

  // --- circles ---

  async circles (): Promise<CirclesResponse> {
    return await this.request('GET', ROUTES.circles)
  }

  async circleCreate (req: CircleCreateRequest): Promise<CircleSummary> {
    return await this.request('POST', ROUTES.circles, req)
  }

  async circleJoin (req: CircleJoinRequest): Promise<CircleSummary> {
    return await this.request('POST', ROUTES.circleJoin, req, 60_000)
  }

  async circleInvite (name: string, req: CircleInviteRequest): Promise<CircleInviteResponse> {
    return await this.request('POST', ROUTES.circle(name, 'invite'), req)
  }

  async circleMembers (name: string): Promise<CircleMembersResponse> {
    return await this.request('GET', ROUTES.circle(name, 'members'))
  }

  async circleFeed (name: string): Promise<CircleFeedResponse> {
    return await this.request('GET', ROUTES.circle(name, 'feed'))
  }

  async circleRemove (name: string, req: CircleRemoveRequest): Promise<CircleRemoveResponse> {
    return await this.request('POST', ROUTES.circle(name, 'remove'), req)
  }

  async circleAutoFetch (name: string, req: CircleAutoFetchRequest): Promise<{ autoFetch: string | null }> {
    return await this.request('PUT', ROUTES.circle(name, 'auto-fetch'), req)
  }

  /** One request; `timeoutMs` 0 = none. Throws RemoteError for an error answer. */
  async request<T> (method: string, path: string, body?: unknown, timeoutMs = API_TIMEOUT_MS): Promise<T> {
    const url = new URL(this.url + path)
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8')
    const headers: Record<string, string> = { Authorization: `Bearer ${this.#token}`, Accept: 'application/json' }
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json'
      headers['Content-Length'] = String(payload.length)
    }
    const { status, text } = await new Promise<{ status: number, text: string }>((resolve, reject) => {
      const req = request(url, { method, headers }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => { chunks.push(c) })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }) })
        res.on('error', reject)
      })
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(new DaemonUnreachableError(`cannot reach the kith daemon at ${this.url}: ${err.code ?? err.message}`, { cause: err }))
      })
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => {
          req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`))
        })
      }
      req.end(payload)
    })
    let value: unknown
    try {
      value = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new RemoteError(status, { name: 'ApiProtocolError', message: `the daemon sent a non-JSON answer (HTTP ${status})` })
    }
    if (status < 200 || status >= 300) {
      const e = (value as Partial<ApiErrorBody> | undefined)?.error
      throw new RemoteError(status, {
        name: typeof e?.name === 'string' ? e.name : 'ApiError',
        message: oneLine(typeof e?.message === 'string' ? e.message : `HTTP ${status}`),
        category: e?.category
      })
    }
    return value as T
  }
}

export interface DaemonConnection {
  client: ApiClient
  info: DaemonInfo
  status: StatusResponse
}

/**
 * The daemon running for the repo at `dir`, or undefined when none is: no daemon.json, its
 * process is gone, or it does not answer on its API (a stale file). Does not open the repo (the
 * daemon holds its lock).
 */
export async function connectDaemon (dir: string, timeoutMs = 3_000): Promise<DaemonConnection | undefined> {
  const info = await readDaemonInfo(dir)
  if (info === undefined) return undefined
  let token: string
  try {
    token = await readApiToken(dir)
  } catch {
    return undefined
  }
  const client = new ApiClient({ url: info.api, token })
  try {
    const status = await client.status(timeoutMs)
    return { client, info, status }
  } catch (err) {
    if (err instanceof DaemonUnreachableError) return undefined
    throw err
  }
}
