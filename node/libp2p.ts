/**
 * The one libp2p assembly for the Node runtime. Nothing else in node/ builds a libp2p node
 * (the browser has its own, web/libp2p.ts).
 *
 * Transports: TCP and WebSockets (plus libp2p's in-memory transport for in-process tests, and
 * circuit relay so relayed peers can reach us); Noise; yamux; identify; ping; kad-dht on Kith's
 * own protocol ID with a validator that refuses any manifest record whose value does not hash to
 * its key; a circuit-relay v2 server (browser nodes reserve slots through it); a connection
 * manager with explicit limits. The swarm service is passed in through `services`.
 */
import './polyfills.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { memory } from '@libp2p/memory'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, ServiceMap } from '@libp2p/interface'
import { Key, type Datastore } from 'interface-datastore'
import { MemoryDatastore, MountDatastore } from 'datastore-core'
import { MANIFEST_NAMESPACE, selectManifestRecord, validateManifestRecord } from '../protocol/dht-record.js'
import {
  BOOTSTRAP_ATTEMPTS, BOOTSTRAP_RETRY_MS, DEFAULT_LISTEN, DIAL_TIMEOUT_MS, INBOUND_CONNECTION_THRESHOLD, KITH_DHT_PROTOCOL,
  MAX_CONNECTIONS, MAX_INCOMING_PENDING, MAX_PARALLEL_DIALS, RELAY_MAX_RESERVATIONS, YAMUX_MAX_STREAM_WINDOW
} from './constants.js'

export interface KithServices extends ServiceMap {
  identify: Identify
  ping: Ping
  dht: KadDHT
}

export interface KithLibp2pInit<S extends ServiceMap = ServiceMap> {
  privateKey?: PrivateKey
  listen?: string[]
  /** Multiaddrs with /p2p/<id>: dialled after start, with retries. */
  bootstrap?: string[]
  /** 'memory' for in-process tests (listen on /memory/<name>). */
  transports?: 'tcp' | 'memory'
  /** Where the DHT keeps records. The peer store is always in memory: no peer address on disk. */
  datastore?: Datastore
  dhtClientMode?: boolean
  /** Keep loopback/private addresses in the DHT (tests, LANs). Default true. */
  allowPrivateAddresses?: boolean
  relayServer?: boolean
  maxConnections?: number
  services?: { [K in keyof S]: (components: any) => S[K] }
}

export async function createKithLibp2p<S extends ServiceMap = ServiceMap> (init: KithLibp2pInit<S> = {}): Promise<Libp2p<KithServices & S>> {
  const privateKey = init.privateKey ?? await generateKeyPair('Ed25519')
  const memoryOnly = init.transports === 'memory'
  const options: Libp2pOptions<KithServices & S> = {
    privateKey,
    addresses: { listen: init.listen ?? (memoryOnly ? [] : DEFAULT_LISTEN) },
    transports: memoryOnly
      ? [memory(), circuitRelayTransport()]
      : [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: YAMUX_MAX_STREAM_WINDOW } })],
    connectionManager: {
      maxConnections: init.maxConnections ?? MAX_CONNECTIONS,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING,
      inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD,
      maxParallelDials: MAX_PARALLEL_DIALS,
      dialTimeout: DIAL_TIMEOUT_MS
    },
    // Loopback and LAN peers are legitimate (friend circles on one network, tests).
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: KITH_DHT_PROTOCOL,
        clientMode: init.dhtClientMode ?? false,
        peerInfoMapper: (init.allowPrivateAddresses ?? true) ? passthroughMapper : removePrivateAddressesMapper,
        validators: { [MANIFEST_NAMESPACE]: validateManifestRecord },
        selectors: { [MANIFEST_NAMESPACE]: selectManifestRecord },
        allowQueryWithZeroPeers: true
      }),
      ...(init.relayServer === false ? {} : { relay: circuitRelayServer({ reservations: { maxReservations: RELAY_MAX_RESERVATIONS } }) }),
      ...(init.services ?? {})
    } as unknown as Libp2pOptions<KithServices & S>['services']
  }
  if (init.datastore !== undefined) options.datastore = withoutPeerPersistence(init.datastore)
  const node = await createLibp2p(options)
  if (init.bootstrap !== undefined && init.bootstrap.length > 0) void dialBootstrap(node, init.bootstrap)
  return node
}

/**
 * libp2p's peer store keeps peers' addresses under /peers in the node's datastore. Kith writes no
 * peer address to disk (SECURITY.md §9), so that prefix is mounted on memory; DHT records and
 * provider records (peer IDs and CIDs, no addresses) go to the repo's datastore.
 */
function withoutPeerPersistence (disk: Datastore): Datastore {
  return new MountDatastore([
    { prefix: new Key('/peers'), datastore: new MemoryDatastore() },
    { prefix: new Key('/'), datastore: disk }
  ])
}

/** Dials bootstrap peers with bounded retries; failures are logged, never fatal. */
async function dialBootstrap (node: Libp2p, addrs: string[]): Promise<void> {
  const log = node.logger.forComponent('kith:bootstrap')
  await Promise.all(addrs.map(async a => {
    for (let attempt = 1; attempt <= BOOTSTRAP_ATTEMPTS && node.status === 'started'; attempt++) {
      try {
        await node.dial(multiaddr(a), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
        return
      } catch (err) {
        log('bootstrap dial attempt %d failed: %s', attempt, (err as Error).message)
        await new Promise(resolve => setTimeout(resolve, BOOTSTRAP_RETRY_MS * attempt))
      }
    }
  }))
}
