/**
 * Which way a swarm session's connection runs, in the words `kith get --json` and `kith status`
 * use (docs/NETWORK.md, Direct connections):
 *   "direct (hole punched)"  WebRTC set up through a relay: the data flows peer to peer over UDP
 *   "direct"                 a TCP, WebSocket or WebRTC-Direct connection to the peer's own address
 *   "via a friend's node"    a circuit through a Kith relay without limits (a friend's public node)
 *   "via a public relay"     a limited circuit (a public libp2p relay): the swarm moves no data there
 * Platform-neutral. No address is kept: only the kind, and the relay's peer ID.
 */
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { connectionKind, type PeerKind } from '../peer-kind.js'

export type PathLabel = 'direct (hole punched)' | 'direct' | 'via a friend\'s node' | 'via a public relay'

export interface SessionPath {
  /** The peer's ID. */
  peer: string
  /** Transport, as `kith peers` shows it. */
  kind: PeerKind
  label: PathLabel
  /** True on a relayed connection with limits (data or time): never used for data. */
  limited: boolean
  /** The relay's peer ID on a relayed (or relay-signalled WebRTC) connection. */
  relay?: string
}

/** A path with the bytes that went over it (the swarm's `paths(share)`). */
export type SessionPathUse = SessionPath & { received: number, sent: number }

export function isCircuit (ma: Multiaddr): boolean {
  const names = ma.getComponents().map(c => c.name)
  return names.includes('p2p-circuit') && !names.includes('webrtc')
}

export function pathOf (connection: Pick<Connection, 'remoteAddr' | 'remotePeer' | 'limits'>): SessionPath {
  // (A connection without an address: only test doubles have none.)
  if ((connection.remoteAddr as Multiaddr | undefined) === undefined) return { peer: connection.remotePeer.toString(), kind: 'other', label: 'direct', limited: connection.limits != null }
  const kind = connectionKind(connection.remoteAddr)
  const limited = connection.limits != null
  const c = connection.remoteAddr.getComponents()
  const circuitAt = c.findIndex(x => x.name === 'p2p-circuit')
  const relay = circuitAt > 0 ? c.slice(0, circuitAt).filter(x => x.name === 'p2p').at(-1)?.value : undefined
  const label: PathLabel = kind === 'webrtc'
    ? 'direct (hole punched)'
    : isCircuit(connection.remoteAddr) ? (limited ? 'via a public relay' : 'via a friend\'s node') : 'direct'
  return { peer: connection.remotePeer.toString(), kind, label, limited, ...(relay !== undefined ? { relay } : {}) }
}

/**
 * The WebRTC address that signals through the same relay as circuit address `ma`:
 * `<relay>/p2p-circuit/p2p/<peer>` → `<relay>/p2p-circuit/webrtc/p2p/<peer>`. Undefined when
 * `ma` is not a circuit address.
 */
export function webrtcVia (ma: Multiaddr, peer: string): string | undefined {
  const c = ma.getComponents()
  const at = c.findIndex(x => x.name === 'p2p-circuit')
  if (at < 0 || c.some(x => x.name === 'webrtc')) return undefined
  const relay = ma.toString().split('/p2p-circuit')[0] as string
  if (relay === '' || !c.slice(0, at).some(x => x.name === 'p2p')) return undefined
  return `${relay}/p2p-circuit/webrtc/p2p/${peer}`
}
