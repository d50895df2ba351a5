/**
 * Finding a share's seeders while it is fetched: the link's address hints, then provider records
 * under the share's discovery key in the Kith DHT and, in amino mode, under its epoch keys
 * (current and previous epoch, protocol/amino-key.ts) on the public Amino DHT. What finds them
 * (`Discovery`) is the host's: node/engine/context.ts builds it from the libp2p node.
 *
 * Each seeder the swarm joined is reported with how it was found (`DiscoverySource`): `kith get
 * --json` lists them as "seeders": [{"peer", "via"}] (docs/NETWORK.md).
 */
import type { Logger, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isPrivate } from '@libp2p/utils'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { aminoLookupKeys } from '../../protocol/amino-key.js'
import { scope, sleep } from './abort.js'
import { DISCOVERY_BACKOFF_MAX_MS, DISCOVERY_BACKOFF_MS, DISCOVERY_MAX_QUEUED, DISCOVERY_MAX_REMEMBERED } from './constants.js'
import type { ShareState } from './share/share-state.js'
import type { Swarm } from './swarm/service.js'

/** Waits between provider lookups (the last one repeats). */
export const DISCOVERY_INTERVALS_MS = [0, 2_000, 5_000, 10_000, 20_000, 30_000]
/**
 * After a session with a seeder ended while the download still needs chunks, discovery runs again
 * at once, then after this, doubling (up to the normal interval) until that seeder is back; and
 * never two rounds closer than this, so a flapping peer cannot make it spin.
 */
export const DISCOVERY_WAKE_MIN_MS = 2_000
/** How long a lost seeder is looked for on the short ladder (and retried on a short back-off). */
const LOST_WINDOW_MS = 60_000
/** Lost seeders remembered at once. */
const MAX_LOST = 64
/** Swarm dials in flight at once per fetch: a few seeders suffice, and each dial holds a stream and a handshake. */
const MAX_PARALLEL_DIALS = 8

/** Where the node finds roots and seeders (the DHT, in node.ts). */
export interface Discovery {
  /** The root block for `cid`, verified against it; throws if not found. */
  getRoot: (cid: CID, signal: AbortSignal) => Promise<Uint8Array>
  /** Seeders announced under a discovery CID. */
  findProviders: (cid: CID, signal: AbortSignal) => AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }>
  /** Announces this node under a discovery CID. */
  provide: (cid: CID, signal: AbortSignal) => Promise<void>
  /** Seeders on the public Amino DHT under an epoch key; only in amino mode. */
  findAminoProviders?: (key: CID, signal: AbortSignal) => AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }>
}

/**
 * How a seeder was found: `hint` (an address in the link), `kith-dht` (a provider record on Kith's
 * DHT), `amino` (a provider record under the share's epoch key on the public Amino DHT). A peer
 * found several ways is reported with the first one that queued it.
 */
export type DiscoverySource = 'hint' | 'kith-dht' | 'amino'

/** What finding seeders needs from the host. */
export interface DiscoveryContext {
  swarm: Swarm
  discovery: Discovery
  log: Logger
  localPeer: PeerId
  /** Adds addresses for a peer to the in-memory peer store. */
  rememberAddresses: (peer: PeerId, addrs: Multiaddr[]) => Promise<void>
  /**
   * Whether a link's address hints may point at private addresses (loopback, the LAN): true
   * (the default) in the local network mode and for a page served from this machine or its LAN;
   * false on the public network, where a link from anyone must not make the node or the browser
   * probe ports on the user's own machine or network (docs/THREAT-MODEL.md §2.9). Addresses the
   * user configures (bootstrap, --announce) are not hints and are not affected.
   */
  privateHints?: boolean
  /** Waits between provider lookups (default DISCOVERY_INTERVALS_MS; tests set them long). */
  discoveryIntervalsMs?: readonly number[]
}

/**
 * Finds and connects to seeders until `signal` aborts: link hints first, then DHT providers.
 *
 * Anyone can announce themselves as a provider, and a fake one can accept the stream and never
 * answer (docs/THREAT-MODEL.md §5, Denial of service). So providers wait in a queue for one of
 * MAX_PARALLEL_DIALS dial slots (none is dropped because the slots are busy, up to
 * DISCOVERY_MAX_QUEUED), are dialled in random order (not the order the DHT returned them, which
 * an attacker near the key controls), and one whose dial or admission failed or timed out is
 * backed off for this fetch (DISCOVERY_BACKOFF_MS, doubling); the swarm gives the admission answer
 * a short deadline of its own (ADMISSION_ANSWER_TIMEOUT_MS).
 *
 * When a session of this share ends while chunks are still missing (a link drop, a seeder
 * restart), that seeder is "lost": discovery wakes at once (not before DISCOVERY_WAKE_MIN_MS
 * since the last round), re-dials the link's hints and looks the providers up again, and keeps
 * doing so on a short ladder (DISCOVERY_WAKE_MIN_MS, doubling, up to the normal interval) until
 * every lost seeder is back or LOST_WINDOW_MS passed; a lost seeder's failed dials are backed off
 * on the same short ladder.
 */
export async function discoverPeers (ctx: DiscoveryContext, state: ShareState, hints: readonly Uint8Array[], signal: AbortSignal, onSeeder?: (peer: PeerId, via: DiscoverySource) => void): Promise<void> {
  const connecting = new Set<string>()
  const queued = new Map<string, { target: PeerId | Multiaddr, via: DiscoverySource }>()
  const failures = new Map<string, { count: number, until: number }>()
  const intervals = ctx.discoveryIntervalsMs ?? DISCOVERY_INTERVALS_MS
  /** Seeders whose session ended while chunks were missing (peer ID → when), bounded. */
  const lost = new Map<string, number>()
  let wakeRetries = 0
  let nap: AbortController | undefined
  const stillLost = (): boolean => {
    for (const [id, at] of lost) {
      if (Date.now() - at > LOST_WINDOW_MS || ctx.swarm.sessions(state).some(x => x.remotePeer.toString() === id)) lost.delete(id)
    }
    return lost.size > 0
  }
  const unsubscribe = ctx.swarm.onSessionEnd(state, s => {
    // (Not when another session with that peer runs: a relayed one replaced by a direct one.)
    // (Nor when it was dropped for misbehaviour: it is not coming back, and waking for it would
    // keep discovery on the short ladder for LOST_WINDOW_MS per offender.)
    const id = s.remotePeer.toString()
    if (signal.aborted || state.have?.isComplete() === true || state.banned.has(id) || ctx.swarm.hasSession(state, s.remotePeer)) return
    lost.delete(id)
    if (lost.size >= MAX_LOST) lost.delete(lost.keys().next().value as string)
    lost.set(id, Date.now())
    failures.delete(id)
    wakeRetries = 0
    ctx.log('a seeder session ended with chunks missing: looking for seeders again')
    nap?.abort()
  })
  signal.addEventListener('abort', unsubscribe, { once: true })
  const dial = async (target: PeerId | Multiaddr, key: string, via: DiscoverySource): Promise<void> => {
    connecting.add(key)
    const guard = scope(15_000, signal)
    try {
      const session = await ctx.swarm.connect(target, state, guard.signal)
      failures.delete(key)
      ctx.log('joined the swarm via a peer found through %s', via)
      onSeeder?.(session.remotePeer, via)
    } catch (err) {
      ctx.log('could not join swarm via a peer: %s', (err as Error).name)
      if (!signal.aborted) {
        const count = (failures.get(key)?.count ?? 0) + 1
        failures.delete(key) // re-inserted last: the oldest failure is the first forgotten
        if (failures.size >= DISCOVERY_MAX_REMEMBERED) failures.delete(failures.keys().next().value as string)
        // A seeder we just lost is likely back soon (a restart): retried on the short ladder.
        const base = lost.has(key) ? DISCOVERY_WAKE_MIN_MS : DISCOVERY_BACKOFF_MS
        failures.set(key, { count, until: Date.now() + Math.min(DISCOVERY_BACKOFF_MAX_MS, base * 2 ** (count - 1)) })
      }
    } finally {
      guard.clear()
      connecting.delete(key)
      pump()
    }
  }
  // Starts queued dials while slots are free. Bounded: every pass takes an entry off the queue.
  const pump = (): void => {
    while (connecting.size < MAX_PARALLEL_DIALS && queued.size > 0 && !signal.aborted) {
      const keys = [...queued.keys()]
      const key = keys[Math.floor(Math.random() * keys.length)] as string
      const { target, via } = queued.get(key) as { target: PeerId | Multiaddr, via: DiscoverySource }
      queued.delete(key)
      if (!isMultiaddr(target) && ctx.swarm.hasSession(state, target)) continue
      void dial(target, key, via)
    }
  }
  const tryConnect = (target: PeerId | Multiaddr, key: string, via: DiscoverySource): void => {
    if (connecting.has(key) || queued.has(key) || queued.size >= DISCOVERY_MAX_QUEUED) return
    if ((failures.get(key)?.until ?? 0) > Date.now()) return
    queued.set(key, { target, via })
    pump()
  }
  // Hints for the same peer are dialled together (by peer ID, after learning every address), so
  // the transport that fits picks its own: a browser dials the /ws one, a node the TCP one.
  const byPeer = new Map<string, Multiaddr[]>()
  for (const h of hints) {
    try {
      const ma = multiaddr(h)
      if (ctx.privateHints === false && isPrivate(ma)) { ctx.log('ignoring an address hint to a private address'); continue }
      const id = ma.getComponents().filter(c => c.name === 'p2p').at(-1)?.value
      if (id === undefined) { tryConnect(ma, ma.toString(), 'hint'); continue }
      byPeer.set(id, [...(byPeer.get(id) ?? []), ma])
    } catch {
      ctx.log('ignoring an unreadable address hint in the link')
    }
  }
  // The hinted peers, dialled again every round they have no session: a session can end under a
  // download (a dropped link, a connection reset under load) while the peer stays up, and one
  // known only from the link (its provider record missing: a provide that reached nobody) would
  // otherwise never be found again, and the download stalls with its seeder up (the soak,
  // test/hardening/soak.test.ts). Failed ones are backed off like providers.
  const hinted: Array<{ peer: PeerId, key: string }> = []
  for (const [id, addrs] of byPeer) {
    try {
      const peer = peerIdFromString(id)
      if (peer.equals(ctx.localPeer)) continue
      await ctx.rememberAddresses(peer, addrs).catch(() => {})
      hinted.push({ peer, key: id })
      tryConnect(peer, id, 'hint')
    } catch {
      ctx.log('ignoring an address hint with an unreadable peer ID')
    }
  }
  let lastRound = 0
  for (let round = 0; round < 10_000 && !signal.aborted; round++) {
    const normal = intervals[Math.min(round, intervals.length - 1)] as number
    // Woken by a lost seeder, or looking for one: the short ladder; never closer than the minimum.
    const wakeAt = (): number => lastRound + DISCOVERY_WAKE_MIN_MS * 2 ** wakeRetries
    // (lastRound: when the previous round's lookups ended.)
    const dueAt = (): number => stillLost() ? Math.min(lastRound + normal, Math.max(wakeAt(), lastRound + DISCOVERY_WAKE_MIN_MS)) : lastRound + normal
    // Bounded: each pass sleeps until the due time or a wake, and a wake moves the due time at most to now + DISCOVERY_WAKE_MIN_MS.
    for (let naps = 0; naps < 1_000 && !signal.aborted && Date.now() < dueAt(); naps++) {
      nap = new AbortController()
      const woken = nap.signal
      await sleep(Math.max(1, dueAt() - Date.now()), AbortSignal.any([signal, woken])).catch(() => {})
      nap = undefined
    }
    if (signal.aborted) return
    if (stillLost()) wakeRetries++
    // A hinted peer with no session is dialled again every round (its addresses are in the peer
    // store), and at once when a seeder was lost.
    for (const { peer, key } of hinted) {
      if (!state.banned.has(key) && !ctx.swarm.hasSession(state, peer)) tryConnect(peer, key, 'hint')
    }
    const lookup = scope(20_000, signal)
    // Kith's DHT under the discovery key and, in amino mode, Amino under the epoch keys, at once.
    const lookups: Array<{ via: DiscoverySource, found: AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }> }> = [
      { via: 'kith-dht', found: ctx.discovery.findProviders(state.keys.discoveryCid, lookup.signal) }
    ]
    const amino = ctx.discovery.findAminoProviders
    if (amino !== undefined) {
      for (const key of aminoLookupKeys(state.keys.discovery, Date.now())) lookups.push({ via: 'amino', found: amino(key, lookup.signal) })
    }
    try {
      await Promise.all(lookups.map(async ({ via, found }) => {
        try {
          for await (const p of found) {
            if (p.id.equals(ctx.localPeer) || state.banned.has(p.id.toString()) || ctx.swarm.hasSession(state, p.id)) continue
            // Learn its addresses (in memory only), then dial by peer ID.
            if (p.multiaddrs.length > 0) await ctx.rememberAddresses(p.id, p.multiaddrs).catch(() => {})
            tryConnect(p.id, p.id.toString(), via)
          }
        } catch (err) {
          if (!signal.aborted) ctx.log('provider lookup (%s) failed: %s', via, (err as Error).name)
        }
      }))
    } finally {
      lookup.clear()
      lastRound = Date.now()
    }
  }
  unsubscribe()
}
