/**
 * The page's client for the local API of the Kith node that served it (docs/API.md), used by the
 * managed pages (circles.ts, node-page.ts, settings.ts). Every request and answer is typed by
 * node/api/schema.ts, imported as types only (web/ never loads server code). The paths are
 * written here rather than taken from the schema's ROUTES (a value): they are relative to the page,
 * which the daemon serves next to its `api/v1/`.
 *
 * Authorised by the node's API token. It arrives once in the fragment (`#token=…`, as
 * `kith daemon` prints it), is kept in sessionStorage for this tab only, and is removed from the
 * address bar at once (adoptToken).
 */
import { KithError } from '../../protocol/errors.js'
import type {
  ApiErrorBody, CircleCreateRequest, CircleFeedResponse, CircleInviteRequest, CircleInviteResponse, CircleJoinRequest,
  CircleMembersResponse, CircleRemoveRequest, CircleRemoveResponse, CirclesResponse, CircleSummary, DownloadsResponse,
  PeersResponse, SeedRequest, SeedStatus, SettingsRequest, SettingsResponse, ShareInfo, ShareRequest, SharesResponse, StatusResponse
} from '../../node/api/schema.js'

const TOKEN_KEY = 'kith-api-token'
/** schema.ts's API_PREFIX, relative to the page. */
const PREFIX = 'api/v1'

/** Takes `#token=…` out of the address bar into sessionStorage. True if a token is known. */
export function adoptToken (): boolean {
  const m = /^#token=([0-9a-f]{64})$/.exec(location.hash)
  if (m !== null) {
    sessionStorage.setItem(TOKEN_KEY, m[1] as string)
    history.replaceState(null, '', `${location.pathname}#circles`)
  }
  return sessionStorage.getItem(TOKEN_KEY) !== null
}

/**
 * The node answered with an error (`{ "error": { "name", "message" } }`): the message is the
 * node's, and `name` the node's error name (NoSeedersError, BadRequestError, …) when it sent one,
 * as node/api/client.ts's RemoteError has it for the CLI.
 */
export class ApiError extends KithError {
  static override name = 'ApiError'
  readonly status: number
  constructor (status: number, message: string, name?: string) {
    super(message)
    this.status = status
    if (name !== undefined && name !== '') this.name = name
  }
}

/** The page was not opened with the node's token, so it cannot ask the node anything. */
export class NoApiTokenError extends KithError {
  static override name = 'NoApiTokenError'
  constructor (message = 'open this page from the address `kith daemon` prints (it carries the access token)') { super(message) }
}

async function request<T> (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const token = sessionStorage.getItem(TOKEN_KEY)
  if (token === null) throw new NoApiTokenError()
  const res = await fetch(new URL(`${PREFIX}${path}`, new URL('./', location.href)), {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    cache: 'no-store'
  })
  const value: unknown = await res.json().catch(() => ({}))
  if (!res.ok) {
    const error = (value as Partial<ApiErrorBody> | null)?.error
    throw new ApiError(res.status, error?.message ?? `HTTP ${res.status}`, error?.name)
  }
  return value as T
}

const circle = (name: string, what: 'invite' | 'members' | 'feed' | 'remove'): string => `/circles/${encodeURIComponent(name)}/${what}`

/** One method per request the pages make. */
export const api = {
  /** The node's status, with its reachability report. */
  status: async (): Promise<StatusResponse> => await request('GET', '/status'),
  shares: async (): Promise<SharesResponse> => await request('GET', '/shares'),
  /** Shares a file or folder by its path on the node's machine. */
  share: async (req: ShareRequest): Promise<ShareInfo> => await request('POST', '/shares', req),
  peers: async (): Promise<PeersResponse> => await request('GET', '/peers'),
  downloads: async (): Promise<DownloadsResponse> => await request('GET', '/downloads'),
  /** Starts a blind seed (send the seed-only link: the node needs no more). */
  startSeed: async (req: SeedRequest): Promise<SeedStatus> => await request('POST', '/seeds', req),
  seed: async (id: string): Promise<SeedStatus> => await request('GET', `/seeds/${encodeURIComponent(id)}`),

  circles: async (): Promise<CirclesResponse> => await request('GET', '/circles'),
  circleCreate: async (req: CircleCreateRequest): Promise<CircleSummary> => await request('POST', '/circles', req),
  circleJoin: async (req: CircleJoinRequest): Promise<CircleSummary> => await request('POST', '/circles/join', req),
  circleInvite: async (name: string, req: CircleInviteRequest): Promise<CircleInviteResponse> => await request('POST', circle(name, 'invite'), req),
  circleMembers: async (name: string): Promise<CircleMembersResponse> => await request('GET', circle(name, 'members')),
  circleFeed: async (name: string): Promise<CircleFeedResponse> => await request('GET', circle(name, 'feed')),
  circleRemove: async (name: string, req: CircleRemoveRequest): Promise<CircleRemoveResponse> => await request('POST', circle(name, 'remove'), req),

  settings: async (): Promise<SettingsResponse> => await request('GET', '/settings'),
  /** Written to config.json and applied to the running node at once. */
  updateSettings: async (req: SettingsRequest): Promise<SettingsResponse> => await request('PUT', '/settings', req)
}
