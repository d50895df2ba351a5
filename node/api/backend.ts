/**
 * What the API server needs of a node: the daemon (node/daemon.ts) adapts a KithNode to this, and
 * tests can hand the server anything that implements it. Route modules take it as a parameter.
 */
import type { ShareLink } from '../../protocol/link.js'
import type { GetResult } from '../engine/get.js'
import type { PeerInfoSummary } from '../engine/peer-kind.js'
import type { ShareOptions } from '../engine/publish.js'
import type { SeedOptions, SeedResult } from '../engine/seed.js'
import type { NodeGetOptions } from '../download/writer.js'
import type { ReachabilityReport, CircleInviteResponse, CircleRemoveResponse, CircleSummary, FeedEntry, MemberInfo, SettingsRequest, SettingsResponse, ShareInfo } from './schema.js'
import type { NetworkMode } from '../engine/constants.js'

export interface ApiBackend {
  status: () => { peerId: string, addrs: string[], connections: number, shares: number, sessions: number, sealed: boolean, network: NetworkMode }
  peers: () => PeerInfoSummary[]
  /** The reachability report (GET /status's `reachability`). */
  reachability: () => Promise<ReachabilityReport>
  listShares: () => Promise<ShareInfo[]>
  share: (path: string, opts?: ShareOptions) => Promise<ShareInfo>
  unshare: (linkOrManifest: string) => Promise<boolean>
  get: (link: string, opts: NodeGetOptions) => Promise<GetResult>
  /** Blind-seeds a share (seed-only link): fetches its ciphertext and keeps serving it. */
  seed: (link: ShareLink, opts: SeedOptions) => Promise<SeedResult>
  /** Throws (AlreadyHeldError) if the node cannot blind-seed this share: checked before the job starts. */
  checkSeedable: (link: ShareLink) => Promise<void>
  /** Whether the node is already downloading or blind-seeding this share (manifest ID). */
  fetching: (manifest: string) => boolean
  /** Dials a peer by multiaddr. */
  dial: (addr: string, signal?: AbortSignal) => Promise<void>
  shareToCircle: (path: string, circle: string, opts?: ShareOptions) => Promise<ShareInfo>
  circleList: () => CircleSummary[]
  circleCreate: (name: string, memberName: string) => Promise<CircleSummary>
  circleJoin: (code: string, memberName: string, signal?: AbortSignal) => Promise<CircleSummary>
  circleInvite: (name: string, ttlMs: number) => Promise<CircleInviteResponse>
  circleMembers: (name: string) => MemberInfo[]
  circleFeed: (name: string) => FeedEntry[]
  circleRemove: (name: string, peerId: string) => Promise<CircleRemoveResponse>
  circleAutoFetch: (name: string, dir: string | null) => Promise<void>
  /** The repo's config (GET /settings). */
  settings: () => SettingsResponse
  /** Writes config.json and applies the change to the running node (PUT /settings). */
  updateSettings: (req: SettingsRequest) => Promise<SettingsResponse>
}
