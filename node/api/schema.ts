/**
 * The daemon's local HTTP API: the one schema shared by the server (node/api/server.ts), the
 * client (node/api/client.ts, used by the CLI) and the web UI (web/ui/api.ts). Every type that
 * crosses the wire is declared here, once: paths, request and response bodies, the error body,
 * the download progress model. Types and constants only, no platform import: web/ imports this
 * module with `import type` (docs/ARCHITECTURE.md). Validators: validate.ts; errors: errors.ts;
 * progress folding: progress.ts. docs/API.md documents it.
 *
 * Transport rules (enforced by daemon.ts):
 *  - HTTP on a loopback address only; the `Host` header must name that address or `localhost`
 *    with the server's port, else 403 (DNS-rebinding defence).
 *  - Every `/api/` request carries `Authorization: Bearer <token>`, the contents of the repo's
 *    `api-token` file, else 401.
 *  - Bodies are JSON, at most MAX_BODY_BYTES, else 413.
 *  - Errors are `{ "error": { "name", "message" } }` with a 4xx/5xx status (errors.ts).
 */
import type { ErrorCategory } from '../../protocol/errors.js'
import type { GetResult } from '../engine/get.js'
import type { PeerInfoSummary } from '../engine/peer-kind.js'
import type { SeedResult } from '../engine/seed.js'
import type { NetworkMode } from '../engine/constants.js'

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

/**
 * `{ "error": { "name", "message", "category" } }`: `name` is the error class (NoSeedersError,
 * ...), `category` what kind of failure it is (protocol/errors.ts ErrorCategory), from which the
 * HTTP status and the CLI's exit status are derived.
 */
export interface ApiErrorBody {
  error: ApiError
}

/** An error as the API reports it, in error bodies and in failed jobs. */
export interface ApiError { name: string, message: string, category: ErrorCategory }

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
  /** The network this node is on: 'local' or 'amino' (docs/NETWORK.md). */
  network: NetworkMode
  /** Downloads in progress. */
  downloads: number
  /** Blind seeds still fetching (POST /seeds jobs running). */
  seeds: number
  /** How this node is reached and how each peer is connected (node/libp2p/reachability.ts). */
  reachability: ReachabilityReport
}

// --- the reachability report (docs/NETWORK.md, "The reachability report") -----------------------

/**
 * Whether peers on the internet can dial this node: `public` (it announces a public address it
 * binds, was told to announce, or a peer or AutoNAT confirmed), `behind NAT` (no such address, and
 * it reaches public peers from a private address, or peers see it at a public address it does not
 * bind), `unknown` (neither: e.g. only LAN or loopback peers so far).
 */
export type NatStatus = 'public' | 'behind NAT' | 'unknown'
/**
 * What the NAT status rests on: `bound` (a listener on a public IP), `announced` (`--announce` /
 * config `announce`), `confirmed` (a peer or AutoNAT confirmed an observed or mapped address),
 * `observed` (peers see us at a public address we do not bind), `private-source` (we reach public
 * peers directly from private addresses only), `none`.
 */
export type NatBasis = 'bound' | 'announced' | 'confirmed' | 'observed' | 'private-source' | 'none'
/** How a connection runs: see ReachConnection.path. */
export type ConnectionPath = 'direct' | 'hole-punched' | 'friend-relay' | 'public-relay'
/** The transport under a connection (for a relayed one: the hop to the relay). */
export type ConnectionTransport = 'tcp' | 'ws' | 'wss' | 'webrtc' | 'webrtc-direct' | 'memory' | 'other'

export interface ReachabilityReport {
  nat: NatStatus
  natBasis: NatBasis
  /** The public, directly dialable addresses this node announces (with /p2p/<peerId>). */
  publicAddrs: string[]
  /** Circuit-relay v2 reservations this node holds (it can be reached through these relays). */
  relays: RelayReservationInfo[]
  upnp: UpnpInfo
  /** One entry per open libp2p connection. */
  connections: ReachConnection[]
}

export interface RelayReservationInfo {
  /** The relay's peer ID. */
  peerId: string
  /** A circle member's name for the relay, when it is one. */
  name?: string
  /** The relay is one of this node's bootstrap peers. */
  bootstrap: boolean
  /** `kith`: a Kith node (relays Kith peers without limits); `public`: any other libp2p relay. */
  kind: 'kith' | 'public'
  /** Circuits through it are limited (libp2p's default 128 KiB / 2 min): true for `public`. */
  limited: boolean
  /** When the reservation runs out unless renewed (ISO 8601, UTC). */
  expires: string
  /** This node's addresses through the relay (/…/p2p/<relay>/p2p-circuit/p2p/<us>). */
  addrs: string[]
}

export interface UpnpInfo {
  /** A UPnP / NAT-PMP service runs on this node (opt-in); false: "off". */
  enabled: boolean
  /** External addresses the router mapped for us. */
  mapped: string[]
}

export interface ReachConnection {
  peerId: string
  /** A circle member's name for the peer, when it is one. */
  name?: string
  /** The peer is one of this node's bootstrap peers. */
  bootstrap: boolean
  /**
   * `direct`: a direct connection; `hole-punched`: a direct WebRTC connection set up over a relay;
   * `friend-relay`: through a Kith node's relay; `public-relay`: through another libp2p relay.
   */
  path: ConnectionPath
  /** The relay's peer ID (relayed and hole-punched connections). */
  via?: string
  /** A circle member's name for the relay, when it is one. */
  viaName?: string
  transport: ConnectionTransport
  /** The connection has data or time limits (a limited relay circuit). */
  limited: boolean
  direction: 'inbound' | 'outbound'
  /** The peer's address as libp2p sees it. Local API only: never logged, never on disk. */
  remoteAddr: string
  /** The path in words: "direct", "direct (hole punched)", "via Ben's node", "via a public relay (limited)". */
  label: string
}

/** GET /peers */
export interface PeersResponse {
  peers: PeerInfoSummary[]
}

/** What the API and `kith ls` show of a share (node/share/share-info.ts builds it). */
export interface ShareInfo {
  link: string
  manifest: string
  name: string
  size: number
  chunks: number
  /** 'sealed' for a blind seed: its names and kind are encrypted under a key it does not hold. */
  kind: ShareKind
  role: ShareRole
  complete: boolean
  /** Live figures (0 when not being served). */
  peers: number
  uploaded: number
  serving: boolean
}

export type ShareKind = 'file' | 'dir' | 'sealed'
export type ShareRole = 'publisher' | 'downloader' | 'seed'

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

/** GET /circles: one circle as the node sees it. */
export interface CircleSummary {
  id: string
  name: string
  epoch: number
  members: number
  posts: number
  admin: boolean
  autoFetch: string | null
}

/** GET /circles/:name/members */
export interface MemberInfo { peerId: string, name: string, admin: boolean, since: number, online: boolean, me: boolean }

/** GET /circles/:name/feed: one post. */
export interface FeedEntry { id: string, name: string, size: number, link: string, author: string, authorName: string, time: string, epoch: number }

/** GET /circles */
export interface CirclesResponse { circles: CircleSummary[] }
/** GET /circles/:name/members */
export interface CircleMembersResponse { members: MemberInfo[] }
/** GET /circles/:name/feed */
export interface CircleFeedResponse { feed: FeedEntry[] }
/** POST /circles/:name/invite: a one-time code and when it stops working (ISO 8601, UTC). */
export interface CircleInviteResponse { code: string, expires: string }
/** POST /circles/:name/remove: the circle's key epoch after the rotation. */
export interface CircleRemoveResponse { epoch: number }

// --- settings (config.json) ----------------------------------------------------------------------

/** GET /settings, and the answer to PUT /settings: the repo's config and what it is. */
export interface SettingsResponse {
  /** Upload cap of the whole node, bytes/s; 0 = unlimited. */
  uploadRate: number
  /** Download cap of the whole node, bytes/s; 0 = unlimited. */
  downloadRate: number
  /** Plaintext chunk size of new shares, bytes. */
  chunkSize: number
  /** config.json's listen multiaddrs (take effect at restart; the running ones are in GET /status). */
  listen: string[]
  /** config.json's bootstrap peers (take effect at restart). */
  bootstrap: string[]
  /** config.json's extra addresses to announce (take effect at restart). */
  announce: string[]
  /** config.json's API address, host:port (takes effect at restart). */
  api: string
  /** config.json's network, 'local' or 'amino' (takes effect at restart; the running one is in GET /status). */
  network: NetworkMode
  /**
   * config.json's upnp: ask the home router (UPnP) to map the TCP listen port and announce the
   * home's public IP (takes effect at restart; whether it runs is in GET /status, reachability.upnp).
   */
  upnp: boolean
  /** Absolute path of the repo. */
  repo: string
  /** The repo's keys are sealed with a passphrase. */
  sealed: boolean
}

/**
 * PUT /settings → SettingsResponse: any of these, validated as config.json is, written to it
 * atomically and applied to the running node at once (rates: every transfer; chunk size: new shares).
 */
export interface SettingsRequest {
  uploadRate?: number
  downloadRate?: number
  chunkSize?: number
  /** Written to config.json; takes effect when the node next starts. */
  network?: NetworkMode
  /** Written to config.json; takes effect when the node next starts. */
  upnp?: boolean
}

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
  error?: ApiError
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
  error?: ApiError
}

/** GET /seeds */
export interface SeedsResponse {
  seeds: SeedStatus[]
}
