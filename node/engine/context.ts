/**
 * The engine's context, built once per node from its libp2p node: the swarm service, discovery
 * through the DHT, where blocks live and which crypto runs. Node (node/node.ts) and the browser
 * (web/main.ts) each build theirs here; the download, publish and seed flows take it.
 */
import type { Libp2p, Logger, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { findProviders, getManifest, provide, type WithDht } from './dht.js'
import type { Discovery } from './discovery.js'
import type { NodeContext } from './get.js'
import type { ChunkCryptoFactory } from './share/chunk-crypto.js'
import type { BlockStore } from './share/share-state.js'
import type { Swarm } from './swarm/service.js'

/** A libp2p node with the services the engine uses (`amino` only in amino mode). */
export type EngineLibp2p = Libp2p<{ swarm: Swarm, amino?: KadDHT }> & WithDht

export interface EngineContextInit {
  blocks: BlockStore
  backend: CryptoBackend
  /** Per-chunk content crypto (default: inline with `backend`; the browser uses Web Workers). */
  chunkCrypto?: ChunkCryptoFactory
  log: Logger
  /** Whether link hints may point at private addresses (NodeContext.privateHints; default true). */
  privateHints?: boolean
}

/**
 * Discovery through the node's Kith DHT (manifest roots and provider records), and in amino mode
 * provider lookups on the Amino DHT too (epoch keys only, node/engine/discovery.ts).
 */
export function dhtDiscovery (node: WithDht & Libp2p<{ amino?: KadDHT }>): Discovery {
  const amino = node.services.amino
  return {
    getRoot: async (cid, signal) => await getManifest(node, cid, { signal }),
    findProviders: (cid, signal) => findProviders(node, cid, { signal }),
    provide: async (cid, signal) => { await provide(node, cid, { signal }) },
    ...(amino !== undefined ? { findAminoProviders: (key: CID, signal: AbortSignal) => aminoProviders(amino, node.peerId, key, signal) } : {})
  }
}

/** Providers of `key` on the Amino DHT, de-duplicated, never this node. */
async function * aminoProviders (dht: KadDHT, self: PeerId, key: CID, signal: AbortSignal): AsyncGenerator<{ id: PeerId, multiaddrs: Multiaddr[] }> {
  const seen = new Set<string>([self.toString()])
  for await (const evt of dht.findProviders(key, { signal })) {
    if (evt.name !== 'PROVIDER') continue
    for (const p of evt.providers) {
      if (seen.has(p.id.toString())) continue
      seen.add(p.id.toString())
      yield { id: p.id, multiaddrs: p.multiaddrs }
    }
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
