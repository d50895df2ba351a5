/**
 * The engine's context, built once per node from its libp2p node: the swarm service, discovery
 * through the DHT, where blocks live and which crypto runs. Node (node/node.ts) and the browser
 * (web/main.ts) each build theirs here; the download, publish and seed flows take it.
 */
import type { Libp2p, Logger } from '@libp2p/interface'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { findProviders, getManifest, provide, type WithDht } from './dht.js'
import type { Discovery, NodeContext } from './get.js'
import type { ChunkCryptoFactory } from './share/chunk-crypto.js'
import type { BlockStore } from './share/share-state.js'
import type { Swarm } from './swarm/service.js'

/** A libp2p node with the services the engine uses. */
export type EngineLibp2p = Libp2p<{ swarm: Swarm }> & WithDht

export interface EngineContextInit {
  blocks: BlockStore
  backend: CryptoBackend
  /** Per-chunk content crypto (default: inline with `backend`; the browser uses Web Workers). */
  chunkCrypto?: ChunkCryptoFactory
  log: Logger
  /** Whether link hints may point at private addresses (NodeContext.privateHints; default true). */
  privateHints?: boolean
}

/** Discovery through the node's Kith DHT: manifest roots and provider records. */
export function dhtDiscovery (node: WithDht): Discovery {
  return {
    getRoot: async (cid, signal) => await getManifest(node, cid, { signal }),
    findProviders: (cid, signal) => findProviders(node, cid, { signal }),
    provide: async (cid, signal) => { await provide(node, cid, { signal }) }
  }
}

export function engineContext (node: EngineLibp2p, init: EngineContextInit): NodeContext {
  return {
    swarm: node.services.swarm,
    discovery: dhtDiscovery(node),
    blocks: init.blocks,
    backend: init.backend,
    ...(init.chunkCrypto !== undefined ? { chunkCrypto: init.chunkCrypto } : {}),
    log: init.log,
    ...(init.privateHints !== undefined ? { privateHints: init.privateHints } : {}),
    localPeer: node.peerId,
    // In memory only: peer addresses never reach the disk (docs/THREAT-MODEL.md §2.9).
    rememberAddresses: async (peer, multiaddrs) => { await node.peerStore.merge(peer, { multiaddrs }) }
  }
}
