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
import { enforceConnectionCap } from './connection-cap.js'
import { BOOTSTRAP_ATTEMPTS, BOOTSTRAP_RETRY_MS, BOOTSTRAP_TAG, BOOTSTRAP_TAG_VALUE, DEFAULT_LISTEN, DIAL_TIMEOUT_MS, ICE_SERVERS, INBOUND_CONNECTION_THRESHOLD, MAX_CONNECTIONS, MAX_INCOMING_PENDING, MAX_PARALLEL_DIALS, PING_MAX_STREAMS, RELAY_IDENTIFY_WAIT_MS, RELAY_MAX_RESERVATIONS, YAMUX_MAX_STREAM_WINDOW } from '../engine/constants.js'
import { kithOnlyRelay } from './relay-gate.js'
import { kithDht } from '../engine/dht-config.js'
import { sleep } from '../engine/abort.js'
import { addressAnnounce } from './address-announce.js'

/** The services every Kith libp2p node has. `relay` is absent when `relayServer: false`. */
export interface KithServices extends ServiceMap {
  identify: Identify
  ping: Ping
  /** kad-dht on KITH_DHT_PROTOCOL. `routingTable.size` is how many DHT peers we know. */
  dht: SingleKadDHT
  relay?: CircuitRelayService
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
  maxConnections?: number
  /** Extra services, e.g. `{ swarm: swarm(init) }`; merged over the built-in ones. */
  services?: { [K in keyof S]: (components: KithComponents<S>) => S[K] }
}

const isWebRTCDirect = (a: string): boolean => a.split('/').includes('webrtc-direct')

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

  const transports: NonNullable<Libp2pOptions['transports']> = memoryOnly
    ? [memory(), circuitRelayTransport()]
    : [tcp(), webSockets(), circuitRelayTransport()]
  if (webrtc) {
    // Loaded only when used: it pulls in a native module (node-datachannel).
    const { webRTCDirect } = await import('@libp2p/webrtc')
    transports.push(webRTCDirect({ rtcConfiguration: { iceServers: ICE_SERVERS } }))
  }

  const services = {
    identify: identify(),
    ping: ping({ maxInboundStreams: PING_MAX_STREAMS, maxOutboundStreams: PING_MAX_STREAMS }),
    dht: kithDht({ clientMode: init.dhtClientMode ?? false, allowPrivate }),
    // Relayed connections are not cut at libp2p's default 128 KiB / 2 min: a browser sharing a
    // file through its own (or a friend's) node is reached this way for the whole transfer. The
    // relay sees Noise ciphertext only (docs/THREAT-MODEL.md §1, adversaries: relay operator).
    ...(init.relayServer === false ? {} : { relay: circuitRelayServer({ reservations: { maxReservations: RELAY_MAX_RESERVATIONS, applyDefaultLimit: false } }) }),
    // Behind a NAT: AutoNAT asks peers to dial us back to learn whether our addresses are
    // reachable; DCUtR upgrades a relayed connection to a direct one by hole punching. Neither
    // has anything to do on the in-memory test transport.
    ...(memoryOnly ? {} : { autoNAT: autoNAT(), dcutr: dcutr() }),
    // Public addresses announced without waiting for AutoNAT (see there).
    addressAnnounce: addressAnnounce(),
    ...init.services
  }

  // The relay gate needs the node it gates, which exists only once createLibp2p returns.
  const built: { node?: Libp2p } = {}
  const options: Libp2pOptions<KithServices & S> = {
    privateKey,
    addresses: { listen, ...(announce.length > 0 ? { appendAnnounce: announce } : {}) },
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
      ...(allowPrivate || memoryOnly ? {} : { denyDialMultiaddr: (ma: Multiaddr) => isPrivate(ma) }),
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
