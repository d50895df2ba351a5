/**
 * Reachability without an operator: a node that is not publicly reachable takes circuit-relay v2
 * reservations by itself, on the public nodes it is connected to, so that peers outside its NAT
 * can dial it at `/…/p2p/<relay>/p2p-circuit/p2p/<me>`.
 *
 * Why not libp2p's own relay discovery (a bare `/p2p-circuit` listen address)? In the installed
 * @libp2p/circuit-relay-v2 (4.2.x) that starts `RelayDiscovery`, whose random walk over the DHT,
 * on a node whose DHT has no peer yet (Kith's DHT answers queries with zero peers:
 * `allowQueryWithZeroPeers`), gets an empty query back at once, again and again, on microtasks: the
 * loop never yields to I/O and the daemon never finishes starting. And it reserves on any relay it
 * meets, in no order. So Kith drives reservations itself, and a bare `/p2p-circuit` listen address
 * is dropped by node/libp2p/assembly.ts (it means "reserve on some relay", which this does):
 *
 * - **When.** While the node announces no public address it can be dialled on directly (no public
 *   address it binds, none configured with `--announce`, none a friend confirmed: see
 *   address-announce.ts). A node on a public address reserves nothing.
 * - **Where.** Peers it is connected to directly (not through a relay), on a public address (not
 *   a LAN or loopback one: nobody outside could use that relay), whose identify lists the relay
 *   hop protocol. Kith peers (identify lists Kith's swarm protocol: friends' public nodes,
 *   bootstrap nodes, circle members) first: their relays carry Kith peers without libp2p's
 *   128 KiB / 2 min limit (relay-gate.ts). Other libp2p relays (Helia, Kubo: limited, good for
 *   meeting only) only with `publicRelays` (amino mode), and only while there are too few Kith
 *   ones. Known relays not connected (peer store) are dialled when the connected ones are not
 *   enough.
 * - **How many.** `target` (RELAY_TARGET, 2): one relay dying leaves the node reachable while it
 *   finds another.
 * - **How.** Listening on `<relay address>/p2p-circuit` (the library's "configured" relay): the
 *   circuit transport makes the reservation, announces the relay addresses it returns, refreshes
 *   the reservation 5 minutes before it expires (Kith's relay grants 2 h), and withdraws the
 *   addresses when the connection to the relay closes. Then this service reserves on another
 *   relay (at once on the `relay:removed` event, and every CHECK_MS in any case). A relay that
 *   comes back is reserved on again through the same listener.
 * Every attempt is bounded (RESERVE_TIMEOUT_MS), one runs at a time, and a relay that refused or
 * failed is backed off (BACKOFF_MS, doubling to BACKOFF_MAX_MS).
 *
 * The relay sees who reserved and when (docs/THREAT-MODEL.md: relay operator); its addresses go
 * into this node's peer and provider records and its links (node/libp2p/relay-hints.ts).
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Connection, Logger, PeerId, Startable } from '@libp2p/interface'
import type { TransportManager } from '@libp2p/interface-internal'
import { SWARM_PROTOCOL } from '../../protocol/constants.js'
import type { NodeWatchComponents } from '../engine/components.js'
import { isPublicDirect, isRelayed } from './address-announce.js'

/** The circuit-relay v2 hop protocol: a peer that lists it in identify runs a relay server. */
export const RELAY_HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'
/** Reservations a node behind NAT keeps. */
export const RELAY_TARGET = 2
/** Re-check this often (relays lost, new candidates, back-offs over). */
export const CHECK_MS = 15_000
/** One reservation attempt (dial if needed + RESERVE) may take this long. */
export const RESERVE_TIMEOUT_MS = 15_000
/** Back-off after a failed attempt on a relay, doubling per failure up to BACKOFF_MAX_MS. */
export const BACKOFF_MS = 15_000
export const BACKOFF_MAX_MS = 10 * 60_000
/** Relays not connected that one check dials at most. */
const MAX_DIALS_PER_CHECK = 3
/** Relays this node tries at most in its lifetime (each try may leave a listener object behind). */
const MAX_RELAYS_TRIED = 64
/** Wait this long after an event before checking (bursts of identify events come together). */
const SOON_MS = 300

export interface RelayReservationsInit {
  /** Reservations to keep (default RELAY_TARGET). */
  target?: number
  /** Also reserve on relays that do not speak Kith (public libp2p relays), when Kith ones are too few. */
  publicRelays?: boolean
  /** Accept relays reached on private or loopback addresses (in-process tests). Default false. */
  privateRelays?: boolean
  /** Reserve even when the node announces a public address (tests). Default false. */
  always?: boolean
}

export type RelayReservationsComponents = NodeWatchComponents

/** One reservation this node holds, as the status report shows it. */
export interface RelayReservationInfo {
  /** The relay's peer ID. */
  relay: string
  /** Whether the relay speaks Kith (unlimited for Kith peers) or is a public libp2p relay (limited). */
  kith: boolean
  /** When the reservation expires unless refreshed (ms since the epoch). */
  expires: number
  /** This node's addresses through that relay (with /p2p-circuit, without our /p2p/ suffix). */
  addrs: string[]
}

/** The part of @libp2p/circuit-relay-v2's transport reservation store this service uses. */
interface ReservationStoreLike {
  hasReservation: (peer: PeerId) => boolean
  getReservation: (peer: PeerId) => { expire: bigint, addrs: Uint8Array[] } | undefined
  addRelay: (peer: PeerId, type: 'configured') => Promise<unknown>
  addEventListener: (type: 'relay:removed', fn: () => void) => void
  removeEventListener: (type: 'relay:removed', fn: () => void) => void
}

interface Candidate { peer: PeerId, addr: Multiaddr, kith: boolean }

export class RelayReservations implements Startable {
  readonly #c: RelayReservationsComponents
  readonly #log: Logger
  readonly #target: number
  readonly #publicRelays: boolean
  readonly #privateRelays: boolean
  readonly #always: boolean
  /** Relays we reserved on, by peer ID text; `kith`: whether it speaks Kith. */
  readonly #mine = new Map<string, { peer: PeerId, kith: boolean }>()
  /** Relays whose circuit listener holds the relay (a later reservation there reuses it). */
  readonly #listening = new Set<string>()
  readonly #failures = new Map<string, { count: number, until: number }>()
  readonly #tried = new Set<string>()
  #store: ReservationStoreLike | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  #soon: ReturnType<typeof setTimeout> | undefined
  #running = false
  #again = false
  #stopped = true
  readonly #check = (): void => { this.#schedule() }

  constructor (components: RelayReservationsComponents, init: RelayReservationsInit = {}) {
    this.#c = components
    this.#log = components.logger.forComponent('kith:relay-reservations')
    this.#target = init.target ?? RELAY_TARGET
    this.#publicRelays = init.publicRelays ?? false
    this.#privateRelays = init.privateRelays ?? false
    this.#always = init.always ?? false
  }

  readonly [Symbol.toStringTag] = 'kith:relay-reservations'

  start (): void {
    this.#stopped = false
    this.#c.events.addEventListener('peer:identify', this.#check)
    this.#c.events.addEventListener('connection:close', this.#check)
    this.#c.events.addEventListener('self:peer:update', this.#check)
    this.#timer = setInterval(this.#check, CHECK_MS)
    this.#timer.unref?.()
  }

  afterStart (): void {
    this.#store = findStore(this.#c.transportManager)
    this.#store?.addEventListener('relay:removed', this.#check)
    if (this.#store === undefined) this.#log('no circuit-relay transport: no reservations')
    this.#schedule()
  }

  stop (): void {
    this.#stopped = true
    this.#c.events.removeEventListener('peer:identify', this.#check)
    this.#c.events.removeEventListener('connection:close', this.#check)
    this.#c.events.removeEventListener('self:peer:update', this.#check)
    this.#store?.removeEventListener('relay:removed', this.#check)
    clearInterval(this.#timer)
    clearTimeout(this.#soon)
  }

  /** The reservations held now. */
  reservations (): RelayReservationInfo[] {
    const store = this.#store
    if (store === undefined) return []
    const out: RelayReservationInfo[] = []
    // Only the relay addresses this node announces: the address manager's filter drops the ones
    // nobody else could dial (a relay's loopback ones, relay-addresses.ts `dialableRelayAddrs`).
    const me = `/p2p/${this.#c.peerId.toString()}`
    const announced = new Set(this.#c.addressManager.getAddresses().map(a => a.toString()))
    for (const [id, { peer, kith }] of this.#mine) {
      const r = store.hasReservation(peer) ? store.getReservation(peer) : undefined
      if (r === undefined) continue
      const addrs = r.addrs.map(b => multiaddr(b).encapsulate('/p2p-circuit').toString()).filter(a => announced.has(`${a}${me}`))
      out.push({ relay: id, kith, expires: Number(r.expire) * 1000, addrs })
    }
    return out
  }

  /** Whether this node needs relays: it announces no address it can be dialled on directly. */
  needsRelays (): boolean {
    if (this.#always) return true
    return !this.#c.addressManager.getAddresses().some(ma => isPublicDirect(ma))
  }

  #schedule (): void {
    if (this.#stopped || this.#soon !== undefined) return
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      void this.#run()
    }, SOON_MS)
    this.#soon.unref?.()
  }

  /** One check at a time; an event during a check runs one more after it. */
  async #run (): Promise<void> {
    if (this.#running) { this.#again = true; return }
    this.#running = true
    try {
      do {
        this.#again = false
        await this.#checkOnce()
      } while (this.#again && !this.#stopped)
    } catch (err) {
      this.#log.error('relay reservation check failed: %s', (err as Error).name)
    } finally {
      this.#running = false
    }
  }

  async #checkOnce (): Promise<void> {
    const store = this.#store
    if (store === undefined || this.#stopped || !this.needsRelays()) return
    for (const [id, { peer }] of [...this.#mine]) if (!store.hasReservation(peer)) this.#mine.delete(id)
    const held = this.#mine.size
    const kithHeld = [...this.#mine.values()].filter(r => r.kith).length
    if (kithHeld >= this.#target) return

    const candidates = await this.#connectedCandidates(store)
    let dials = 0
    if (candidates.filter(c => c.kith).length + kithHeld < this.#target) {
      for (const c of await this.#knownCandidates(store, candidates)) {
        if (dials++ >= MAX_DIALS_PER_CHECK) break
        candidates.push(c)
      }
    }
    // Kith relays first; among equals, the order connections were made.
    candidates.sort((x, y) => Number(y.kith) - Number(x.kith))
    let total = held
    let kith = kithHeld
    for (const c of candidates) {
      if (this.#stopped || kith >= this.#target) return
      // A public (limited) relay only fills a free slot; a Kith one is always worth having.
      if (!c.kith && total >= this.#target) continue
      if (await this.#reserve(store, c)) {
        total++
        if (c.kith) kith++
      }
    }
  }

  #backedOff (id: string): boolean {
    return (this.#failures.get(id)?.until ?? 0) > Date.now()
  }

  /** Connected peers that could relay for us, not yet holding our reservation. */
  async #connectedCandidates (store: ReservationStoreLike): Promise<Candidate[]> {
    const out: Candidate[] = []
    const seen = new Set<string>()
    for (const conn of this.#c.connectionManager.getConnections()) {
      const id = conn.remotePeer.toString()
      if (seen.has(id) || conn.status !== 'open' || isRelayed(conn.remoteAddr)) continue
      seen.add(id)
      if (store.hasReservation(conn.remotePeer) || this.#backedOff(id)) continue
      if (!this.#privateRelays && !isPublicDirect(conn.remoteAddr)) continue
      const kith = await this.#relayKind(conn.remotePeer)
      if (kith === undefined) continue
      out.push({ peer: conn.remotePeer, addr: withPeer(conn, conn.remoteAddr), kith })
    }
    return out
  }

  /** Relays in the peer store we are not connected to, with an address we may dial. */
  async #knownCandidates (store: ReservationStoreLike, connected: Candidate[]): Promise<Candidate[]> {
    const out: Candidate[] = []
    const peers = await this.#c.peerStore.all({
      filters: [p => p.protocols.includes(RELAY_HOP_PROTOCOL) && (this.#publicRelays || p.protocols.includes(SWARM_PROTOCOL))]
    })
    for (const p of peers) {
      const id = p.id.toString()
      if (p.id.equals(this.#c.peerId) || connected.some(c => c.peer.equals(p.id)) || this.#backedOff(id)) continue
      if (this.#c.connectionManager.getConnections(p.id).length > 0 || store.hasReservation(p.id)) continue
      const addr = p.addresses.map(a => a.multiaddr).find(ma => !isRelayed(ma) && (this.#privateRelays || isPublicDirect(ma)))
      if (addr === undefined) continue
      const kith = p.protocols.includes(SWARM_PROTOCOL)
      out.push({ peer: p.id, addr: addr.getComponents().some(c => c.name === 'p2p') ? addr : addr.encapsulate(`/p2p/${id}`), kith })
    }
    return out.sort((x, y) => Number(y.kith) - Number(x.kith))
  }

  /** true: a Kith relay; false: another libp2p relay we may use; undefined: not a relay for us. */
  async #relayKind (peer: PeerId): Promise<boolean | undefined> {
    let protocols: string[]
    try { protocols = (await this.#c.peerStore.get(peer)).protocols } catch { return undefined }
    if (!protocols.includes(RELAY_HOP_PROTOCOL)) return undefined
    if (protocols.includes(SWARM_PROTOCOL)) return true
    return this.#publicRelays ? false : undefined
  }

  async #reserve (store: ReservationStoreLike, c: Candidate): Promise<boolean> {
    const id = c.peer.toString()
    if (!this.#listening.has(id) && !this.#tried.has(id) && this.#tried.size >= MAX_RELAYS_TRIED) return false
    this.#tried.add(id)
    const t0 = Date.now()
    const signal = AbortSignal.timeout(RESERVE_TIMEOUT_MS)
    try {
      // Connected first, here: a dial that fails inside the reservation store puts the relay on
      // its never-again list (a cuckoo filter only its own discovery resets).
      await this.#c.connectionManager.openConnection(c.addr, { signal })
      await withTimeout(this.#listening.has(id)
        // The circuit listener made for this relay before picks the new reservation up.
        ? store.addRelay(c.peer, 'configured')
        // (By peer ID: the connection is open, and so it works whatever transport carries it.)
        : this.#c.transportManager.listen([multiaddr(`/p2p/${id}/p2p-circuit`)]), RESERVE_TIMEOUT_MS)
      if (!store.hasReservation(c.peer)) throw new Error('no reservation after listening')
      this.#listening.add(id)
      this.#mine.set(id, { peer: c.peer, kith: c.kith })
      this.#failures.delete(id)
      this.#log('reserved a slot on %s relay %p in %d ms', c.kith ? 'Kith' : 'public', c.peer, Date.now() - t0)
      return true
    } catch (err) {
      const count = (this.#failures.get(id)?.count ?? 0) + 1
      this.#failures.set(id, { count, until: Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_MS * 2 ** (count - 1)) })
      this.#log('could not reserve on relay %p (attempt %d): %s', c.peer, count, (err as Error).name)
      return false
    }
  }
}

/** The circuit-relay transport's reservation store, if the node has that transport. */
function findStore (tm: TransportManager): ReservationStoreLike | undefined {
  for (const t of tm.getTransports()) {
    const store = (t as { reservationStore?: ReservationStoreLike }).reservationStore
    if (store !== undefined && typeof store.addRelay === 'function' && typeof store.hasReservation === 'function') return store
  }
  return undefined
}

function withPeer (conn: Connection, ma: Multiaddr): Multiaddr {
  return ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${conn.remotePeer.toString()}`)
}

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(Object.assign(new Error('reservation timed out'), { name: 'TimeoutError' })) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** True for a bare `/p2p-circuit` listen address ("reserve on some relay"), which this service does instead. */
export function isBareCircuit (addr: string): boolean {
  return addr.replace(/\/+$/, '') === '/p2p-circuit'
}

/** The service factory (node/libp2p/assembly.ts's `services`). */
export function relayReservations (init: RelayReservationsInit = {}): (components: RelayReservationsComponents) => RelayReservations {
  return (components) => new RelayReservations(components, init)
}
