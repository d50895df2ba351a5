/**
 * The one browser libp2p assembly: WebSockets and WebRTC-Direct to desktop nodes, WebRTC
 * browser↔browser (signalled over circuit relay v2 through a desktop node), Noise, yamux,
 * identify, ping, kad-dht in client mode on Kith's protocol ID with the manifest record
 * validator, and the same swarm service as the desktop node (node/engine/swarm/service.ts).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { ICE_SERVERS } from '../../node/engine/constants.js'
import { swarm, type Swarm } from '../../node/engine/swarm/service.js'
import { kithDht } from '../../node/engine/dht-config.js'

const isWebRTC = (a: string): boolean => /\/webrtc(\/|$)/.test(a)

export type BrowserNode = Libp2p<{ dht: KadDHT, swarm: Swarm, identify: unknown, ping: unknown }>

export async function createBrowserNode (privateKey?: PrivateKey): Promise<BrowserNode> {
  return await createLibp2p({
    ...(privateKey !== undefined ? { privateKey } : {}),
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    // No third-party STUN servers (node/engine/constants.ts, ICE_SERVERS).
    transports: [webSockets(), webRTCDirect({ rtcConfiguration: { iceServers: ICE_SERVERS } }), webRTC({ rtcConfiguration: { iceServers: ICE_SERVERS } }), circuitRelayTransport()],
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
}
