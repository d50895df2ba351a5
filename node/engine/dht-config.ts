/**
 * Kith's DHT, as both runtimes configure it: kad-dht on Kith's own protocol (never the public
 * IPFS DHT), with the validator and selector that make manifest records self-certifying
 * (protocol/dht-record.ts). node/libp2p/assembly.ts and web/peer/libp2p.ts both build it here.
 */
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT, type KadDHTComponents } from '@libp2p/kad-dht'
import { MANIFEST_NAMESPACE, selectManifestRecord, validateManifestRecord } from '../../protocol/dht-record.js'
import { DHT_K, KITH_DHT_PROTOCOL } from './constants.js'

export interface KithDhtInit {
  /** A client asks but does not answer (browsers; a node that cannot be reached). */
  clientMode: boolean
  /**
   * Keep private and loopback addresses in peer records (kad-dht's default mapper drops them):
   * for a LAN, a test, or a browser whose friends' nodes are on its own LAN.
   */
  allowPrivate: boolean
  /** A lone node (first of a circle, or tests) answers from its own store instead of waiting (default true). */
  answerAlone?: boolean
}

export function kithDht (init: KithDhtInit): (components: KadDHTComponents) => KadDHT {
  return kadDHT({
    protocol: KITH_DHT_PROTOCOL,
    kBucketSize: DHT_K,
    clientMode: init.clientMode,
    peerInfoMapper: init.allowPrivate ? passthroughMapper : removePrivateAddressesMapper,
    validators: { [MANIFEST_NAMESPACE]: validateManifestRecord },
    selectors: { [MANIFEST_NAMESPACE]: selectManifestRecord },
    allowQueryWithZeroPeers: init.answerAlone ?? true
  })
}
