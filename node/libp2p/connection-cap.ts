/**
 * A hard connection cap (docs/THREAT-MODEL.md §2.8). libp2p's connection manager refuses inbound
 * connections once `maxConnections` are open, but connections that are still being upgraded are
 * not counted, so a burst of simultaneous dials gets through; and its pruner runs only when a
 * connection opens and never closes one with a stream in use (identify and ping are, right after
 * connecting). Measured on loopback: 8 simultaneous dialers against a cap of 3 left 8 connections
 * open for good.
 *
 * This closes the excess shortly after each connection opens, and again on a timer until the
 * count is under the cap: newest inbound connections first, then newest outbound; connections to
 * peers we have Kith swarm or circle streams with come later, and connections to peers that have
 * delivered (a swarm session that moved a piece either way: `delivered`) last of all, so throwaway
 * identities that hold sessions open and move nothing cannot push out the peers a download lives
 * on (docs/THREAT-MODEL.md §2.8). libp2p's own pruner still picks first when it can.
 */
import type { Connection, Libp2p, MultiaddrConnection, PeerId } from '@libp2p/interface'

const SETTLE_MS = 1_000
const CHECK_MS = 5_000

function busy (c: Connection): boolean {
  return c.streams.some(s => s.protocol?.startsWith('/kith/swarm/') === true || s.protocol?.startsWith('/kith/circle/') === true)
}

/** Newest first; inbound before outbound; idle before busy; peers that delivered last. The first `excess` get closed. */
export function pickExcess (connections: Connection[], max: number, delivered: (peer: PeerId) => boolean = () => false): Connection[] {
  const excess = connections.length - max
  if (excess <= 0) return []
  const rank = (c: Connection): number => (delivered(c.remotePeer) ? 4 : busy(c) ? 2 : 0) + (c.direction === 'outbound' ? 1 : 0)
  return [...connections]
    .sort((a, b) => rank(a) - rank(b) || b.timeline.open - a.timeline.open)
    .slice(0, excess)
}

export function enforceConnectionCap (node: Libp2p, max: number, delivered?: (peer: PeerId) => boolean): void {
  let timer: ReturnType<typeof setTimeout> | undefined
  const check = (): void => {
    timer = undefined
    if (node.status !== 'started') return
    const excess = pickExcess(node.getConnections(), max, delivered)
    for (const c of excess) c.abort(new Error('connection limit reached'))
    if (node.getConnections().length > max) schedule(CHECK_MS)
  }
  const schedule = (ms: number): void => {
    if (timer === undefined) timer = setTimeout(check, ms)
  }
  node.addEventListener('connection:open', () => {
    if (node.getConnections().length > max) schedule(SETTLE_MS)
  })
  node.addEventListener('stop', () => { if (timer !== undefined) clearTimeout(timer) })
}

/**
 * At most `max` inbound connections per remote IP address in their upgrade (Noise, muxer) at
 * once, as connection-gater hooks. libp2p bounds upgrades in progress for the whole node
 * (MAX_INCOMING_PENDING) and new connections per second per IP, but a socket that connects and
 * never speaks holds its upgrade slot until the upgrade timeout (10 s): measured on loopback, one
 * address re-opening such sockets kept every slot full, and an honest downloader found no seeder
 * for 120 s. With this, one address holds at most `max` of the slots; the rest stay free for
 * everyone else. A slot is given back when the upgrade completes or the connection closes.
 */
export function pendingUpgradesPerHost (max: number): {
  denyInboundConnection: (maConn: MultiaddrConnection) => boolean
  denyInboundUpgradedConnection: (peer: PeerId, maConn: MultiaddrConnection) => boolean
} {
  const pending = new Map<string, number>()
  const release = new WeakMap<MultiaddrConnection, () => void>()
  const hostOf = (maConn: MultiaddrConnection): string | undefined =>
    maConn.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
  return {
    denyInboundConnection: maConn => {
      const host = hostOf(maConn)
      if (host === undefined) return false // relayed or in-memory: no address to count
      const n = pending.get(host) ?? 0
      if (n >= max) return true
      pending.set(host, n + 1)
      let done = false
      const free = (): void => {
        if (done) return
        done = true
        maConn.removeEventListener('close', free)
        const left = (pending.get(host) ?? 1) - 1
        if (left > 0) pending.set(host, left)
        else pending.delete(host)
      }
      release.set(maConn, free)
      maConn.addEventListener('close', free)
      return false
    },
    denyInboundUpgradedConnection: (_peer, maConn) => {
      release.get(maConn)?.()
      return false
    }
  }
}
