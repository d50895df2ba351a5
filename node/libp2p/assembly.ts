/**
 * The one libp2p assembly for the Node runtime. Nothing else in node/ builds a libp2p node
 * (the browser has its own, web/peer/libp2p.ts).
 *
 * Transports: TCP and WebSockets (plus libp2p's in-memory transport for in-process tests, and
 * circuit relay so relayed peers can reach us), WebRTC-Direct when a listen address asks for it
 * (browsers dial it without a certificate authority); Noise; yamux; identify; ping; kad-dht on
 * Kith's own protocol ID with a validator that refuses any manifest record whose value does not
 * hash to its key; a circuit-relay v2 server (browser nodes reserve slots through it); a
 * connection manager with explicit limits. The swarm service is passed in through `services`.
 */
import './polyfills.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify, type Identify } from '@libp2p/identify'
import { type SingleKadDHT } from '@libp2p/kad-dht'
import { memory } from '@libp2p/memory'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { isPrivate } from '@libp2p/utils'
import { webSockets } from '@libp2p/websockets'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore, MountDatastore } from 'datastore-core'
import { Key, type Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2pOptions, type ServiceFactoryMap } from 'libp2p'
import type { Libp2p, PeerId, PrivateKey, ServiceMap } from '@libp2p/interface'
import { autoNAT } from '@libp2p/autonat'
import { dcutr } from '@libp2p/dcutr'
import { enforceConnectionCap, pendingUpgradesPerHost } from './connection-cap.js'
import { BOOTSTRAP_ATTEMPTS, BOOTSTRAP_RETRY_MS, BOOTSTRAP_TAG, BOOTSTRAP_TAG_VALUE, DEFAULT_LISTEN, DIAL_TIMEOUT_MS, ICE_SERVERS, INBOUND_CONNECTION_THRESHOLD, MAX_CONNECTIONS, MAX_INCOMING_PENDING, MAX_INCOMING_PENDING_PER_HOST, MAX_PARALLEL_DIALS, PING_MAX_STREAMS, RELAY_IDENTIFY_WAIT_MS, RELAY_MAX_RESERVATIONS, YAMUX_MAX_STREAM_WINDOW } from '../engine/constants.js'
import { kithOnlyRelay } from './relay-gate.js'
import { kithDht } from '../engine/dht-config.js'
import { sleep } from '../engine/abort.js'
import { addressAnnounce } from './address-announce.js'
import { isBareCircuit, relayReservations, RESERVE_TIMEOUT_MS, type RelayReservations, type RelayReservationsInit } from './relay-reservations.js'
import { reachability, type Reachability } from './reachability.js'
import { aminoDht } from './amino.js'
import { dialableRelayAddrs } from './relay-addresses.js'
import type { NetworkMode } from '../engine/constants.js'
import { stunService } from './stun.js'
import { iceServers } from './webrtc.js'
import { upnp, type Upnp, type UpnpInit } from './upnp.js'

/** The services every Kith libp2p node has. `relay` is absent when `relayServer: false`. */
export interface KithServices extends ServiceMap {
  identify: Identify
  ping: Ping
  /** kad-dht on KITH_DHT_PROTOCOL. `routingTable.size` is how many DHT peers we know. */
  dht: SingleKadDHT
  relay?: CircuitRelayService
  /** Automatic relay reservations (absent on the 'memory' transport or when turned off). */
  relayReservations?: RelayReservations
  /** The reachability report (node/libp2p/reachability.ts). */
  reachability: Reachability
  /** The public Amino DHT (`/ipfs/kad/1.0.0`, node/libp2p/amino.ts): only with `network: 'amino'`. */
  amino?: SingleKadDHT
  /** UPnP port mapping on the home router (node/libp2p/upnp.ts): only with `upnp`. */
  upnp?: Upnp
}

/** What a service factory passed in `services` receives: libp2p's components plus every service. */
export type KithComponents<S extends ServiceMap = ServiceMap> = Parameters<ServiceFactoryMap<KithServices & S>['dht']>[0]

export interface KithLibp2pInit<S extends ServiceMap = ServiceMap> {
  /** Ed25519 identity; a fresh one is generated if absent. */
  privateKey?: PrivateKey
  /** Listen multiaddrs. Default DEFAULT_LISTEN (tcp), or one `/memory/kith-<uuid>` (memory). */
  listen?: string[]
  /**
   * Addresses to announce besides the ones libp2p finds (libp2p's `appendAnnounce`): announced as
   * given, at once, e.g. a router's public address with a forwarded port. Public addresses the
   * node binds are announced at once anyway (node/libp2p/address-announce.ts).
   */
  announce?: string[]
  /** Multiaddrs with /p2p/<id>: dialled after start with bounded retries, tagged against pruning. */
  bootstrap?: string[]
  /** 'memory' for in-process tests (listen on /memory/<name>); default 'tcp' (TCP + WebSockets). */
  transports?: 'tcp' | 'memory'
  /**
   * WebRTC-Direct transport (@libp2p/webrtc, native node-datachannel). Default: on if a listen
   * address is `/webrtc-direct`. When off, such listen addresses are dropped. Ignored for 'memory'.
   */
  webrtcDirect?: boolean
  /**
   * WebRTC through relays (@libp2p/webrtc's private-to-private transport, listening `/webrtc`):
   * how two nodes behind NAT get a direct connection (node/libp2p/webrtc.ts). Default on; ignored
   * for 'memory'.
   */
  webrtc?: boolean
  /** STUN servers for WebRTC, `host:port` (node/libp2p/webrtc.ts); friends' public nodes are tried after them. */
  stun?: string[]
  /** Answer STUN on UDP while the node announces a public TCP address (node/libp2p/stun.ts). Default true. */
  stunServer?: boolean
  /** Where the DHT keeps records. The peer store is always in memory: no peer address on disk. */
  datastore?: Datastore
  /** true = DHT client only (answers no queries). Default false: server from the start. */
  dhtClientMode?: boolean
  /**
   * Keep loopback/private addresses (tests, LANs). Default true. When false, the DHT drops them
   * from peer records and the node refuses to dial them.
   */
  allowPrivateAddresses?: boolean
  /** Circuit relay v2 server with reservations (for browser nodes). Default true. */
  relayServer?: boolean
  /**
   * Relay reservations this node takes by itself while it is not publicly reachable
   * (node/libp2p/relay-reservations.ts). Default on (Kith relays only) except on the 'memory'
   * transport; `false` turns them off. `publicRelays: true` (amino mode) also uses public libp2p
   * relays when too few Kith ones are around.
   */
  relayReservations?: false | RelayReservationsInit
  /** How long this node's relay grants a reservation (default libp2p's 2 h; tests shorten it). */
  relayReservationTtlMs?: number
  maxConnections?: number
  /** 'amino' adds the public Amino DHT as service `amino` (node/libp2p/amino.ts). Default 'local'. */
  network?: NetworkMode
  /**
   * Ask the home router (UPnP IGD) to map the TCP listen port and announce the mapped public
   * address (node/libp2p/upnp.ts). Default off: it tells the router, and through the announced
   * address every peer, the home's public IP. An object sets the service's options. Ignored for
   * 'memory'.
   */
  upnp?: boolean | UpnpInit
  /** Extra services, e.g. `{ swarm: swarm(init) }`; merged over the built-in ones. */
  services?: { [K in keyof S]: (components: KithComponents<S>) => S[K] }
}

const isWebRTCDirect = (a: string): boolean => a.split('/').includes('webrtc-direct')
const isWebRTC = (a: string): boolean => a.split('/').includes('webrtc')

/** Builds and starts a libp2p node. The caller stops it (`node.stop()`). */
export async function createKithLibp2p<S extends ServiceMap = ServiceMap> (init: KithLibp2pInit<S> = {}): Promise<Libp2p<KithServices & S>> {
  const privateKey = init.privateKey ?? await generateKeyPair('Ed25519')
  const memoryOnly = init.transports === 'memory'
  const allowPrivate = init.allowPrivateAddresses ?? true
  const bootstrap = parseBootstrap(init.bootstrap ?? [])
  const announce = parseAnnounce(init.announce ?? [], privateKey)

  // (Not /memory/<peer id>: libp2p then omits the /p2p/ suffix from the advertised address.)
  let listen = init.listen ?? (memoryOnly ? [`/memory/kith-${globalThis.crypto.randomUUID()}`] : [...DEFAULT_LISTEN])
  const webrtc = !memoryOnly && (init.webrtcDirect ?? listen.some(isWebRTCDirect))
  if (!webrtc) listen = listen.filter(a => !isWebRTCDirect(a))
  // A bare /p2p-circuit ("reserve on some relay") would start libp2p's own relay discovery, whose
  // random walk spins without yielding while the DHT has no peer; the reservations service does
  // that job instead (relay-reservations.ts). `<relay>/p2p-circuit` stays: that relay is used too.
  const autoRelay = init.relayReservations !== false && (!memoryOnly || init.relayReservations !== undefined)
  listen = listen.filter(a => !isBareCircuit(a))
  const viaRelay = !memoryOnly && init.webrtc !== false
  if (viaRelay && !listen.some(isWebRTC)) listen = [...listen, '/webrtc']
  if (!viaRelay) listen = listen.filter(a => !isWebRTC(a))

  const transports: NonNullable<Libp2pOptions['transports']> = memoryOnly
    ? [memory(), circuitRelayTransport({ reservationCompletionTimeout: RESERVE_TIMEOUT_MS })]
    : [tcp(), webSockets(), circuitRelayTransport({ reservationCompletionTimeout: RESERVE_TIMEOUT_MS })]
  if (webrtc) {
    // Loaded only when used: it pulls in a native module (node-datachannel).
    const { webRTCDirect } = await import('@libp2p/webrtc')
    transports.push(webRTCDirect({ rtcConfiguration: { iceServers: ICE_SERVERS } }))
  }
  // The relay gate and the ICE server choice need the node, which exists only once createLibp2p returns.
  const built: { node?: Libp2p } = {}
  if (viaRelay) {
    const { webRTC } = await import('@libp2p/webrtc')
    transports.push(webRTC({ rtcConfiguration: iceServers({ stun: init.stun ?? [], bootstrap, node: () => built.node }) }))
  }

  const services = {
    identify: identify(),
    ping: ping({ maxInboundStreams: PING_MAX_STREAMS, maxOutboundStreams: PING_MAX_STREAMS }),
    dht: kithDht({ clientMode: init.dhtClientMode ?? false, allowPrivate }),
    // Relayed connections are not cut at libp2p's default 128 KiB / 2 min: a browser sharing a
    // file through its own (or a friend's) node is reached this way for the whole transfer. The
    // relay sees Noise ciphertext only (docs/THREAT-MODEL.md §1, adversaries: relay operator).
    ...(init.relayServer === false ? {} : { relay: circuitRelayServer({ reservations: { maxReservations: RELAY_MAX_RESERVATIONS, applyDefaultLimit: false, ...(init.relayReservationTtlMs !== undefined ? { reservationTtl: init.relayReservationTtlMs } : {}) } }) }),
    // Behind NAT: relay reservations on friends' public nodes, without being told which.
    ...(autoRelay ? { relayReservations: relayReservations(init.relayReservations === false ? {} : init.relayReservations) } : {}),
    // Behind a NAT: AutoNAT asks peers to dial us back to learn whether our addresses are
    // reachable; DCUtR upgrades a relayed connection to a direct one by hole punching. Neither
    // has anything to do on the in-memory test transport.
    ...(memoryOnly ? {} : { autoNAT: autoNAT(), dcutr: dcutr() }),
    // Public addresses announced without waiting for AutoNAT (see there).
    addressAnnounce: addressAnnounce(),
    reachability: reachability(),
    ...(init.network === 'amino' ? { amino: aminoDht() } : {}),
    // Opt-in: the router maps our TCP port and we announce the home's public IP (node/libp2p/upnp.ts).
    ...(memoryOnly || init.upnp === undefined || init.upnp === false ? {} : { upnp: upnp(init.upnp === true ? {} : init.upnp) }),
    // A node with a public address answers STUN for its friends' WebRTC (node/libp2p/stun.ts).
    ...(memoryOnly || init.stunServer === false ? {} : { stun: stunService() }),
    ...init.services
  }

  const options: Libp2pOptions<KithServices & S> = {
    privateKey,
    addresses: {
      listen,
      ...(announce.length > 0 ? { appendAnnounce: announce } : {}),
      // Only relay addresses a remote peer could dial (not the relay's loopback ones; on the
      // public network not its LAN ones either, unless the relay is on ours): node/libp2p/relay-addresses.ts.
      announceFilter: (addrs: Multiaddr[]) => dialableRelayAddrs(addrs, relay => connectedAddrs(built.node, relay), { privateRelayAddrs: init.network !== 'amino' })
    },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: YAMUX_MAX_STREAM_WINDOW } })],
    connectionManager: {
      maxConnections: init.maxConnections ?? MAX_CONNECTIONS,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING,
      inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD,
      maxParallelDials: MAX_PARALLEL_DIALS,
      dialTimeout: DIAL_TIMEOUT_MS
    },
    // libp2p's Node default gater allows every address; only narrow it when asked to.
    connectionGater: {
      // Private addresses only where asked; and no hole punch (WebRTC over a circuit) to a peer the
      // swarm found reachable only through a public relay lately, unless the swarm asks again.
      denyDialMultiaddr: (ma: Multiaddr) => (!allowPrivate && !memoryOnly && isPrivate(ma)) || holePunchHeldOff(built.node?.services, ma),
      // One address cannot hold every inbound handshake slot with sockets that never speak.
      ...pendingUpgradesPerHost(MAX_INCOMING_PENDING_PER_HOST),
      // The relay serves Kith peers only (node/libp2p/relay-gate.ts).
      ...(init.relayServer === false ? {} : kithOnlyRelay(() => built.node, RELAY_IDENTIFY_WAIT_MS))
    },
    services: services as unknown as ServiceFactoryMap<KithServices & S>
  }
  if (init.datastore !== undefined) options.datastore = withoutPeerPersistence(init.datastore)
  const node = await createLibp2p(options)
  built.node = node
  enforceConnectionCap(node, init.maxConnections ?? MAX_CONNECTIONS, peer => deliveredBy(node.services, peer))
  if (bootstrap.length > 0) void dialBootstrap(node, bootstrap)
  return node
}

/** The remote addresses of `node`'s open connections to the peer with ID text `peer`. */
function connectedAddrs (node: Libp2p | undefined, peer: string): Multiaddr[] {
  if (node === undefined) return []
  return node.getConnections().filter(c => c.status === 'open' && c.remotePeer.toString() === peer).map(c => c.remoteAddr)
}

/** True if `ma` is a WebRTC address over a circuit whose peer the swarm service (when there is one) holds hole punches off for. */
function holePunchHeldOff (services: unknown, ma: Multiaddr): boolean {
  const swarm = (services as { swarm?: { holdsOffHolePunch?: (peer: string) => boolean } } | undefined)?.swarm
  if (swarm?.holdsOffHolePunch === undefined) return false
  const parts = ma.getComponents()
  const circuit = parts.findIndex(c => c.name === 'p2p-circuit')
  if (circuit < 0 || !parts.slice(circuit).some(c => c.name === 'webrtc')) return false
  const peer = parts.at(-1)?.name === 'p2p' ? parts.at(-1)?.value : undefined
  return peer !== undefined && swarm.holdsOffHolePunch(peer)
}

/** True if a swarm session with `peer` has moved a piece either way (the swarm service, when there is one). */
function deliveredBy (services: unknown, peer: PeerId): boolean {
  const swarm = (services as { swarm?: { allSessions?: () => Array<{ remotePeer: PeerId, received: number, sent: number }> } }).swarm
  return swarm?.allSessions?.().some(s => s.received + s.sent > 0 && s.remotePeer.equals(peer)) ?? false
}

/** Parses bootstrap multiaddrs up front so a bad config fails at start, not silently later. */
function parseBootstrap (addrs: string[]): Multiaddr[] {
  return addrs.map(a => {
    const ma = multiaddr(a)
    if (!ma.getComponents().some(c => c.name === 'p2p')) throw new TypeError(`bootstrap address ${a} has no /p2p/<peer id>`)
    return ma
  })
}

/**
 * Parses announce multiaddrs up front. One ending in /p2p/<id> must name this node; the suffix is
 * dropped (libp2p adds it to every address it announces).
 */
function parseAnnounce (addrs: string[], key: PrivateKey): string[] {
  const self = peerIdFromPrivateKey(key)
  return addrs.map(a => {
    let ma = multiaddr(a)
    const last = ma.getComponents().at(-1)
    if (last?.name === 'p2p') {
      if (last.value !== self.toString()) throw new TypeError(`announce address ${a} names another peer`)
      ma = ma.decapsulateCode(last.code)
    }
    return ma.toString()
  })
}

/**
 * libp2p's peer store keeps peers' addresses under /peers in the node's datastore. Kith writes no
 * peer address to disk (docs/THREAT-MODEL.md §2.9), so that prefix is mounted on memory; DHT records and
 * provider records (peer IDs and CIDs, no addresses) go to the repo's datastore.
 */
function withoutPeerPersistence (disk: Datastore): Datastore {
  return new MountDatastore([
    { prefix: new Key('/peers'), datastore: new MemoryDatastore() },
    { prefix: new Key('/'), datastore: disk }
  ])
}

/**
 * Dials bootstrap peers with bounded retries (BOOTSTRAP_ATTEMPTS, linear back-off), after tagging
 * them so the connection manager prunes them last. Once connected, identify reports their DHT
 * protocol and kad-dht adds them to the routing table: they seed our first lookups. Failures
 * are logged, never fatal; everything stops when the node stops.
 */
async function dialBootstrap (node: Libp2p, addrs: Multiaddr[]): Promise<void> {
  const log = node.logger.forComponent('kith:bootstrap')
  const stopped = new AbortController()
  const onStop = (): void => { stopped.abort() }
  node.addEventListener('stop', onStop, { once: true })
  try {
    await Promise.all(addrs.map(async ma => {
      const peerIdText = ma.getComponents().filter(c => c.name === 'p2p').pop()?.value
      try {
        if (peerIdText !== undefined) {
          const peer = peerIdFromString(peerIdText)
          if (peer.equals(node.peerId)) return
          await node.peerStore.merge(peer, { tags: { [BOOTSTRAP_TAG]: { value: BOOTSTRAP_TAG_VALUE } } })
        }
      } catch (err) {
        log('cannot tag a bootstrap peer: %s', (err as Error).name)
      }
      for (let attempt = 1; attempt <= BOOTSTRAP_ATTEMPTS && node.status === 'started'; attempt++) {
        try {
          await node.dial(ma, { signal: AbortSignal.any([stopped.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
          log('connected to a bootstrap peer')
          return
        } catch (err) {
          log('bootstrap dial attempt %d/%d failed: %s', attempt, BOOTSTRAP_ATTEMPTS, (err as Error).name)
          if (attempt < BOOTSTRAP_ATTEMPTS) await sleep(BOOTSTRAP_RETRY_MS * attempt, stopped.signal).catch(() => {})
        }
      }
    }))
  } finally {
    node.removeEventListener('stop', onStop)
  }
}
