/**
 * WebRTC between two nodes behind NAT (libp2p's private-to-private `/webrtc` transport, native
 * node-datachannel on Node): the SDP offer and answer and the ICE candidates go over a relayed
 * connection (circuit relay v2, even a limited one: the signalling protocol runs on limited
 * connections), then ICE punches a UDP path through both NATs and the data flows there. This is
 * how two homes get a direct connection: js-libp2p's DCUtR cannot punch TCP on Node (identify
 * drops observed TCP addresses; a NAT'd node announces no address of its own), while ICE learns
 * its public address from STUN.
 *
 * Which STUN server (docs/NETWORK.md, Direct connections): never a third party's by default.
 * Candidates, in order:
 *   1. the servers the user configured (`--stun host:port`, config `"stun"`);
 *   2. the node's public bootstrap peers (a friend's Kith node on a public address answers STUN on
 *      the UDP port numbered like its TCP port, node/libp2p/stun.ts);
 *   3. Kith peers we are connected to directly on a public TCP address (the relay that signals
 *      the connection is usually one).
 * libjuice (node-datachannel's ICE agent) uses one STUN server per connection, chosen at random
 * among those given, so each candidate is probed first (one Binding request, STUN_PROBE_MS, all at
 * once) and only the first in the order above that answers is handed to ICE, as soon as it and
 * every candidate before it have settled; answers are cached for STUN_CACHE_MS. With none,
 * ICE has host candidates only and the peers meet only where one can reach the other's address.
 */
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { SWARM_PROTOCOL } from '../../protocol/constants.js'
import { isPublicDirect } from './address-announce.js'
import { parseStunServer, stunBinding } from './stun.js'

/** How long a STUN probe waits for an answer. */
export const STUN_PROBE_MS = 1_500
/** How long a probe's verdict is kept. */
export const STUN_CACHE_MS = 5 * 60_000
/** Candidates probed per connection at most. */
const MAX_STUN_CANDIDATES = 8

export interface IceServerSource {
  /** Configured STUN servers, `host:port` (validated at start). */
  stun: string[]
  /** Bootstrap multiaddrs (public TCP ones name friends' nodes). */
  bootstrap: Multiaddr[]
  /** The node, once built (for its connections and peer store). */
  node: () => Libp2p | undefined
}

/** `host:port` of a public IPv4 TCP address (not relayed, not a WebSocket), else undefined. */
export function stunCandidateOf (ma: Multiaddr): string | undefined {
  if (!isPublicDirect(ma)) return undefined
  const c = ma.getComponents()
  const ip = c.find(x => x.name === 'ip4')?.value
  const tcp = c.find(x => x.name === 'tcp')?.value
  if (ip === undefined || tcp === undefined || c.some(x => x.name === 'ws' || x.name === 'wss')) return undefined
  return `${ip}:${tcp}`
}

/**
 * The rtcConfiguration function for @libp2p/webrtc: asked once per WebRTC connection, it returns
 * at most one STUN server (the first candidate that answers) and never a default one.
 */
export function iceServers (src: IceServerSource): () => Promise<RTCConfiguration> {
  const configured = src.stun.map(s => { const { host, port } = parseStunServer(s); return `${host}:${port}` })
  const verdicts = new Map<string, { ok: boolean, at: number }>()
  /** Peers identify reported as speaking Kith's swarm protocol (in memory, bounded). */
  const kith = new Set<string>()
  let watching: Libp2p | undefined
  const probe = async (hostPort: string): Promise<boolean> => {
    const cached = verdicts.get(hostPort)
    if (cached !== undefined && Date.now() - cached.at < STUN_CACHE_MS) return cached.ok
    const { host, port } = parseStunServer(hostPort)
    const ok = await stunBinding(host, port, STUN_PROBE_MS).then(r => r !== undefined, () => false)
    verdicts.delete(hostPort)
    if (verdicts.size >= 64) verdicts.delete(verdicts.keys().next().value as string)
    verdicts.set(hostPort, { ok, at: Date.now() })
    return ok
  }
  const kithPeers = (node: Libp2p): string[] => {
    const out: string[] = []
    for (const c of node.getConnections()) {
      const candidate = stunCandidateOf(c.remoteAddr)
      if (candidate !== undefined && kith.has(c.remotePeer.toString())) out.push(candidate)
    }
    return out
  }
  return async () => {
    const node = src.node()
    if (node !== undefined && watching !== node) {
      watching = node
      node.addEventListener('peer:identify', evt => {
        if (!evt.detail.protocols.includes(SWARM_PROTOCOL)) return
        if (kith.size >= 1_024) kith.delete(kith.values().next().value as string)
        kith.add(evt.detail.peerId.toString())
      })
      // Peers identified before the first WebRTC connection: the peer store has their protocols.
      for (const c of node.getConnections()) {
        const p = await node.peerStore.get(c.remotePeer).catch(() => undefined)
        if (p?.protocols.includes(SWARM_PROTOCOL) === true) kith.add(c.remotePeer.toString())
      }
    }
    const candidates = [...new Set([...configured, ...src.bootstrap.map(stunCandidateOf), ...(node !== undefined ? kithPeers(node) : [])])]
      .filter((c): c is string => c !== undefined)
      .slice(0, MAX_STUN_CANDIDATES)
    // Probed at once; the first in order that answers wins, without waiting for the later ones
    // (a bootstrap peer that runs no STUN responder, e.g. a Helia node, only answers by timing
    // out after STUN_PROBE_MS: waiting for it delayed every first WebRTC connection by that much).
    const probes = candidates.map(probe)
    let first: string | undefined
    for (let i = 0; i < probes.length && first === undefined; i++) if (await probes[i]) first = candidates[i]
    // Configured servers are used even when the probe failed (it may be a UDP hiccup): ICE retries.
    const chosen = first ?? configured[0]
    return { iceServers: chosen === undefined ? [] : [{ urls: [`stun:${chosen}`] }] }
  }
}
