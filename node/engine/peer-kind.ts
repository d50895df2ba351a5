/** How a peer is connected, as the UI and `kith peers` show it. Platform-neutral. */
import type { Multiaddr } from '@multiformats/multiaddr'

export type PeerKind = 'tcp' | 'websocket' | 'webrtc' | 'webrtc-direct' | 'relayed' | 'memory' | 'other'

export interface PeerInfoSummary {
  peerId: string
  kind: PeerKind
  /** Swarm sessions with this peer. */
  sessions: number
}

export function connectionKind (addr: Multiaddr): PeerKind {
  const s = addr.toString()
  if (s.includes('/webrtc-direct')) return 'webrtc-direct'
  // A browser-to-browser WebRTC connection's address names the relay that signalled it.
  if (/\/webrtc(\/|$)/.test(s)) return 'webrtc'
  if (s.includes('/p2p-circuit')) return 'relayed'
  if (s.includes('/ws') || s.includes('/wss')) return 'websocket'
  if (s.includes('/tcp/')) return 'tcp'
  if (s.startsWith('/memory')) return 'memory'
  return 'other'
}
