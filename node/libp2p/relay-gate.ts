/**
 * Who may use this node's circuit relay: Kith peers only.
 *
 * A Kith node runs a circuit-relay v2 server without libp2p's 128 KiB / 2 min limit, because a
 * browser sharing a file is reached through it for the whole transfer (node/libp2p/assembly.ts). Open to
 * every libp2p peer, that would make each user's node a free relay for the wider libp2p network,
 * carrying strangers' traffic from the user's IP address. So a reservation, and a relayed
 * connection, is granted only to a peer whose identify lists Kith's swarm protocol: browser and
 * desktop Kith nodes both serve it. A peer can claim a protocol it does not speak, so this keeps
 * out the network's drive-by relay users, not a determined abuser (docs/THREAT-MODEL.md).
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import { SWARM_PROTOCOL } from '../../protocol/constants.js'

/** The connection-gater hooks, for a node reached through `node()` once it exists. */
export function kithOnlyRelay (node: () => Libp2p | undefined, waitMs: number): {
  denyInboundRelayReservation: (source: PeerId) => Promise<boolean>
  denyOutboundRelayedConnection: (source: PeerId, target: PeerId) => Promise<boolean>
} {
  const speaksKith = async (n: Libp2p, peer: PeerId): Promise<boolean> => {
    try {
      return (await n.peerStore.get(peer)).protocols.includes(SWARM_PROTOCOL)
    } catch {
      return false // not in the peer store (yet)
    }
  }
  /** True once `peer` is known to speak Kith; waits (at most `waitMs`) for its identify. */
  const isKith = async (peer: PeerId): Promise<boolean> => {
    const n = node()
    if (n === undefined) return false
    let onIdentify: ((e: CustomEvent<{ peerId: PeerId }>) => void) | undefined
    const identified = new Promise<void>(resolve => {
      onIdentify = e => { if (e.detail.peerId.equals(peer)) resolve() }
      n.addEventListener('peer:identify', onIdentify)
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      if (await speaksKith(n, peer)) return true
      // A reservation often arrives before this side has finished identifying the new peer.
      await Promise.race([identified, new Promise<void>(resolve => { timer = setTimeout(resolve, waitMs) })])
      return await speaksKith(n, peer)
    } finally {
      clearTimeout(timer)
      if (onIdentify !== undefined) n.removeEventListener('peer:identify', onIdentify)
    }
  }
  return {
    denyInboundRelayReservation: async source => !(await isKith(source)),
    denyOutboundRelayedConnection: async source => !(await isKith(source))
  }
}
