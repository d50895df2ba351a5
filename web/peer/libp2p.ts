/**
 * The one browser libp2p assembly: WebSockets and WebRTC-Direct to desktop nodes, WebRTC
 * browser↔browser (signalled over circuit relay v2 through a desktop node), Noise, yamux,
 * identify, ping, kad-dht in client mode on Kith's protocol ID with the manifest record
 * validator, and the same swarm service as the desktop node (node/engine/swarm/service.ts).
 *
 * STUN for WebRTC through a relay (a browser in one home, a node behind NAT in another): never a
 * third party's server (node/engine/constants.ts, ICE_SERVERS). As a desktop node does
 * (node/libp2p/webrtc.ts), the page asks the Kith nodes it is connected to directly on a public
 * address: a Kith node with a public address answers STUN on the UDP port numbered like its TCP
 * listener (node/libp2p/stun.ts), which identify told us. Without such a node ICE has the page's
 * host candidates only, and a peer behind another NAT is reached through the relay instead.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { isPrivate } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { ICE_SERVERS } from '../../node/engine/constants.js'
import { SWARM_PROTOCOL } from '../../protocol/constants.js'
import { swarm, type Swarm } from '../../node/engine/swarm/service.js'
import { kithDht } from '../../node/engine/dht-config.js'

const isWebRTC = (a: string): boolean => /\/webrtc(\/|$)/.test(a)

export type BrowserNode = Libp2p<{ dht: KadDHT, swarm: Swarm, identify: unknown, ping: unknown }>

/** STUN servers handed to one WebRTC connection at most (Chromium's ICE tries them all). */
const MAX_STUN_SERVERS = 4

/** `host:port` of a public IPv4 TCP address (not relayed, not a WebSocket): where a Kith node answers STUN. */
function stunOf (ma: Multiaddr): string | undefined {
  const c = ma.getComponents()
  const ip = c.find(x => x.name === 'ip4')?.value
  const tcp = c.find(x => x.name === 'tcp')?.value
  if (ip === undefined || tcp === undefined || isPrivate(ma)) return undefined
  if (c.some(x => x.name === 'ws' || x.name === 'wss' || x.name === 'p2p-circuit')) return undefined
  return `${ip}:${tcp}`
}

/**
 * The page's STUN servers, asked once per WebRTC connection: the Kith peers (identify lists the
 * swarm protocol) it is connected to directly, not through a relay, at the public TCP addresses
 * their identify gave (at most MAX_STUN_SERVERS). None: no STUN.
 */
async function friendStun (node: Libp2p | undefined): Promise<RTCConfiguration> {
  const servers = new Set<string>()
  for (const conn of node?.getConnections() ?? []) {
    if (servers.size >= MAX_STUN_SERVERS) break
    if (conn.status !== 'open' || conn.remoteAddr.getComponents().some(x => x.name === 'p2p-circuit')) continue
    const peer = await node?.peerStore.get(conn.remotePeer).catch(() => undefined)
    if (peer?.protocols.includes(SWARM_PROTOCOL) !== true) continue
    for (const { multiaddr } of peer.addresses) {
      const s = stunOf(multiaddr)
      if (s !== undefined && servers.size < MAX_STUN_SERVERS) servers.add(s)
    }
  }
  return { iceServers: [...ICE_SERVERS, ...(servers.size > 0 ? [{ urls: [...servers].map(s => `stun:${s}`) }] : [])] }
}

export async function createBrowserNode (privateKey?: PrivateKey): Promise<BrowserNode> {
  const built: { node?: Libp2p } = {}
  const node = await createLibp2p({
    ...(privateKey !== undefined ? { privateKey } : {}),
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    // No third-party STUN servers (node/engine/constants.ts, ICE_SERVERS).
    transports: [webSockets(), webRTCDirect({ rtcConfiguration: { iceServers: ICE_SERVERS } }), webRTC({ rtcConfiguration: async () => await friendStun(built.node) }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Friends' nodes are often on the same LAN or this machine: allow private addresses (the
    // browser default refuses them).
    connectionGater: { denyDialMultiaddr: () => false },
    // A peer reachable both through a relay and by WebRTC signalled through it: WebRTC first, so
    // the data flows browser to browser and the relay only carries the signalling.
    connectionManager: {
      addressSorter: (a, b) => {
        const d = Number(!isWebRTC(a.multiaddr.toString())) - Number(!isWebRTC(b.multiaddr.toString()))
        return d < 0 ? -1 : d > 0 ? 1 : 0
      }
    },
    services: {
      identify: identify(),
      ping: ping(),
      // Friends' nodes are often on this machine or the LAN: keep private addresses.
      dht: kithDht({ clientMode: true, allowPrivate: true, answerAlone: false }),
      swarm: swarm()
    }
  }) as unknown as BrowserNode
  built.node = node
  return node
}
