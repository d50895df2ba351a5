/**
 * The reachability report: how peers on the internet can reach this node, and how each open
 * connection runs. `kith status` (and `--json`), GET /api/v1/status and the web UI's This node
 * page show it (types in node/api/schema.ts; documented in docs/NETWORK.md, "The reachability
 * report"). A libp2p service, part of every Kith node (node/libp2p/assembly.ts), because what it
 * reads is libp2p's internals: the address manager (what we announce, what is verified), the
 * UPnP service's mappings, the transport manager (bound addresses; the circuit-relay transport's reservation
 * store) and the peer store (which peers speak Kith, which are bootstrap peers).
 *
 * The NAT status rule, first match wins:
 *  1. `public` if the node announces a public, directly dialable address (not relayed, not a
 *     private, loopback or link-local IP) that is verified: one it binds (`bound`), one given with
 *     `--announce` (`announced`: the user says so), or an observed address a peer or AutoNAT
 *     confirmed, or one the router mapped by UPnP (node/libp2p/upnp.ts) (`confirmed`).
 *  2. `behind NAT` if a peer reported (identify), in the last OBSERVED_TTL_MS, a public address of
 *     ours that we do not bind (`observed`: a router translated it), or if this node has a direct outbound connection to a
 *     peer on a public IP while every address it binds is private or loopback (`private-source`:
 *     a private address reaches the internet only through NAT).
 *  3. `unknown` otherwise (only LAN or loopback peers so far, nothing to judge by).
 *
 * Privacy (SECURITY.md property 9): of observed addresses only the time one was last seen is
 * kept, in memory, never the address; the report, with peers' remote addresses, goes to the
 * local API only. Nothing here logs an address or writes one to disk.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { getNetConfig, isNetworkAddress } from '@libp2p/utils'
import type { Connection, IdentifyResult, PeerId, PeerStore, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { SWARM_PROTOCOL } from '../../protocol/constants.js'
import type { ConnectionPath, ConnectionTransport, NatBasis, NatStatus, ReachabilityReport, ReachConnection, RelayReservationInfo } from '../api/schema.js'
import { BOOTSTRAP_TAG } from '../engine/constants.js'
import type { NodeWatchComponents } from '../engine/components.js'
import { isPublicDirect, isRelayed } from './address-announce.js'
import { UPNP_TAG, type Upnp } from './upnp.js'

export type ReachabilityComponents = NodeWatchComponents

/** What the report needs to know of the node's people: a circle member's name by peer ID. */
export type PeerNames = (peerId: string) => string | undefined

/** The reservation store of @libp2p/circuit-relay-v2's transport, as far as this reads it. */
interface ReservationStoreView {
  hasReservation: (peer: PeerId) => boolean
  getReservation: (peer: PeerId) => { expire: bigint } | undefined
}

/**
 * How long one peer's report of a public address we do not bind counts for `behind NAT`
 * (`observed`): a laptop that moves to another network stops saying so, and a peer that lied
 * about what it saw misleads the report for this long at most.
 */
export const OBSERVED_TTL_MS = 30 * 60_000

export class Reachability implements Startable {
  readonly #c: ReachabilityComponents
  /** When a peer last told us (identify) it sees us at a public address we do not bind (0: never). */
  #observedAt = 0
  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => { this.#noteObserved(evt.detail.observedAddr) }

  constructor (components: ReachabilityComponents) {
    this.#c = components
  }

  readonly [Symbol.toStringTag] = 'kith:reachability'

  start (): void { this.#c.events.addEventListener('peer:identify', this.#onIdentify) }
  stop (): void { this.#c.events.removeEventListener('peer:identify', this.#onIdentify) }

  #noteObserved (observed: Multiaddr | undefined): void {
    if (observed === undefined || !isPublicDirect(observed)) return
    const seen = hostOf(observed)
    if (seen !== undefined && !this.#bound().some(b => hostOf(b) === seen)) this.#observedAt = Date.now()
  }

  #bound (): Multiaddr[] { return this.#c.transportManager.getAddrs() }

  #store (): ReservationStoreView | undefined {
    for (const t of this.#c.transportManager.getTransports()) {
      const store = (t as { reservationStore?: Partial<ReservationStoreView> }).reservationStore
      if (typeof store?.hasReservation === 'function' && typeof store.getReservation === 'function') return store as ReservationStoreView
    }
    return undefined
  }

  /**
   * The report, now. `names` gives circle members' names (none by default); `services` is the
   * libp2p node's service map, where the UPnP service (node/libp2p/upnp.ts) shows up when it runs.
   */
  async report (opts: { names?: PeerNames, services?: object } = {}): Promise<ReachabilityReport> {
    const names = opts.names ?? (() => undefined)
    const self = this.#c.peerId.toString()
    const withId = (ma: Multiaddr): string => { const s = ma.toString(); return s.endsWith(`/p2p/${self}`) ? s : `${s}/p2p/${self}` }
    const connections = this.#c.connectionManager.getConnections()
    const peers = new PeerFacts(this.#c.peerStore)

    // NAT status.
    const addrs = this.#c.addressManager.getAddressesWithMetadata().filter(a => a.verified && isPublicDirect(a.multiaddr))
    const publicAddrs = [...new Set(addrs.map(a => withId(a.multiaddr)))]
    let nat: NatStatus = 'unknown'
    let natBasis: NatBasis = 'none'
    if (addrs.some(a => a.type === 'transport')) {
      nat = 'public'
      natBasis = 'bound'
    } else if (addrs.some(a => a.type === 'announce')) {
      nat = 'public'
      natBasis = 'announced'
    } else if (addrs.length > 0) {
      nat = 'public'
      natBasis = 'confirmed'
    } else if (this.#observedAt > 0 && Date.now() - this.#observedAt < OBSERVED_TTL_MS) {
      nat = 'behind NAT'
      natBasis = 'observed'
    } else if (this.#privateSource(connections)) {
      nat = 'behind NAT'
      natBasis = 'private-source'
    }

    // Relay reservations: every connected peer that holds one for us (libp2p drops a reservation
    // when the connection to its relay closes).
    const store = this.#store()
    const ours = this.#c.addressManager.getAddresses().filter(isRelayed)
    const relays: RelayReservationInfo[] = []
    const candidates = new Map<string, PeerId>()
    for (const c of connections) candidates.set(c.remotePeer.toString(), c.remotePeer)
    for (const [id, peer] of candidates) {
      const reservation = store?.hasReservation(peer) === true ? store.getReservation(peer) : undefined
      if (reservation === undefined) continue
      const facts = await peers.get(peer)
      const name = names(id)
      relays.push({
        peerId: id,
        ...(name !== undefined ? { name } : {}),
        bootstrap: facts.bootstrap,
        kind: facts.kith ? 'kith' : 'public',
        limited: !facts.kith,
        expires: new Date(Number(reservation.expire) * 1000).toISOString(),
        addrs: ours.filter(a => relayOf(a) === id).map(a => a.toString())
      })
    }

    // UPnP: the public addresses the router mapped for us (node/libp2p/upnp.ts), when it runs.
    const upnp = Object.values(opts.services ?? {}).find(isUpnp)
    const mapped = upnp === undefined ? [] : [...new Set(upnp.mapped().map(withId))]

    const conns: ReachConnection[] = []
    for (const c of connections) conns.push(await describeConnection(c, peers, names))
    return { nat, natBasis, publicAddrs, relays, upnp: { enabled: upnp !== undefined, mapped }, connections: conns }
  }

  /** A direct outbound connection to a public IP, while every address we bind is private or loopback. */
  #privateSource (connections: Connection[]): boolean {
    const bound = this.#bound().filter(a => !isRelayed(a) && isNetworkAddress(a))
    if (bound.length === 0 || bound.some(isPublicDirect)) return false
    return connections.some(c => c.direction === 'outbound' && !isRelayed(c.remoteAddr) && c.limits === undefined && isPublicDirect(c.remoteAddr))
  }
}

/** Per report: what the peer store says of a peer (Kith or not, bootstrap or not), looked up once. */
class PeerFacts {
  readonly #store: PeerStore
  readonly #cache = new Map<string, Promise<{ kith: boolean, bootstrap: boolean }>>()
  constructor (store: PeerStore) { this.#store = store }
  async get (peer: PeerId): Promise<{ kith: boolean, bootstrap: boolean }> {
    const key = peer.toString()
    let p = this.#cache.get(key)
    if (p === undefined) {
      p = this.#store.get(peer).then(
        rec => ({ kith: rec.protocols.includes(SWARM_PROTOCOL), bootstrap: rec.tags.has(BOOTSTRAP_TAG) }),
        () => ({ kith: false, bootstrap: false })
      )
      this.#cache.set(key, p)
    }
    return await p
  }
}

/** One connection as the report shows it. */
async function describeConnection (c: Connection, peers: PeerFacts, names: PeerNames): Promise<ReachConnection> {
  const peerId = c.remotePeer.toString()
  const limited = c.limits !== undefined
  const transport = transportOf(c.remoteAddr)
  const relay = relayOf(c.remoteAddr)
  let path: ConnectionPath = 'direct'
  if (relay !== undefined) {
    // A WebRTC connection signalled over a relay runs directly between the two peers.
    if (transport === 'webrtc' && !limited) path = 'hole-punched'
    else {
      let relayPeer: PeerId | undefined
      try { relayPeer = peerIdFromString(relay) } catch {}
      const facts = relayPeer === undefined ? { kith: false, bootstrap: false } : await peers.get(relayPeer)
      path = facts.kith ? 'friend-relay' : 'public-relay'
    }
  }
  const name = names(peerId)
  const viaName = relay !== undefined ? names(relay) : undefined
  const facts = await peers.get(c.remotePeer)
  return {
    peerId,
    ...(name !== undefined ? { name } : {}),
    bootstrap: facts.bootstrap,
    path,
    ...(relay !== undefined ? { via: relay } : {}),
    ...(viaName !== undefined ? { viaName } : {}),
    transport,
    limited,
    direction: c.direction,
    remoteAddr: c.remoteAddr.toString(),
    label: pathLabel(path, relay, viaName, limited)
  }
}

/** The path in words a person understands. */
export function pathLabel (path: ConnectionPath, via: string | undefined, viaName: string | undefined, limited: boolean): string {
  const lim = limited ? ' (limited)' : ''
  switch (path) {
    case 'direct': return `direct${lim}`
    case 'hole-punched': return 'direct (hole punched)'
    case 'friend-relay': return `via ${viaName !== undefined ? `${viaName}'s node` : `Kith node …${(via ?? '').slice(-8)}`}${lim}`
    case 'public-relay': return `via a public relay${limited ? ' (limited)' : ''}`
  }
}

/** The relay's peer ID in a circuit address (the /p2p/ just before /p2p-circuit), if any. */
export function relayOf (ma: Multiaddr): string | undefined {
  const parts = ma.getComponents()
  const at = parts.findIndex(c => c.name === 'p2p-circuit')
  if (at < 0) return undefined
  for (let i = at - 1; i >= 0; i--) if (parts[i]?.name === 'p2p') return parts[i]?.value
  return undefined
}

/** The transport of an address; for a relayed one, of its hop to the relay (or webrtc on top). */
export function transportOf (ma: Multiaddr): ConnectionTransport {
  const names = ma.getComponents().map(c => c.name)
  if (names.includes('webrtc-direct')) return 'webrtc-direct'
  if (names.includes('webrtc')) return 'webrtc'
  if (names.includes('wss') || (names.includes('ws') && names.includes('tls'))) return 'wss'
  if (names.includes('ws')) return 'ws'
  if (names.includes('tcp')) return 'tcp'
  if (names.includes('memory')) return 'memory'
  return 'other'
}

function isUpnp (s: unknown): s is Upnp {
  return typeof s === 'object' && s !== null && (s as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === UPNP_TAG && typeof (s as { mapped?: unknown }).mapped === 'function'
}

function hostOf (ma: Multiaddr): string | undefined {
  try {
    const c = getNetConfig(ma)
    return c.type === 'ip4' || c.type === 'ip6' ? c.host : undefined
  } catch { return undefined }
}

/** The service factory (in node/libp2p/assembly.ts's `services`). */
export function reachability (): (components: ReachabilityComponents) => Reachability {
  return (components) => new Reachability(components)
}
