/**
 * Kith's DHT, as both runtimes configure it: kad-dht on Kith's own protocol (never the public
 * IPFS DHT), with the validator and selector that make manifest records self-certifying
 * (protocol/dht-record.ts), and the gate on what it stores for other peers (dht-put-gate.ts:
 * rate, closeness, caps). node/libp2p/assembly.ts and web/peer/libp2p.ts both build it here.
 */
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT, type KadDHTComponents } from '@libp2p/kad-dht'
import { MANIFEST_NAMESPACE, selectManifestRecord, validateManifestRecord } from '../../protocol/dht-record.js'
import { DHT_K, KITH_DHT_PROTOCOL } from './constants.js'
import { DEFAULT_DHT_PUT_LIMITS, installPutGate, type DhtPutLimits } from './dht-put-gate.js'

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
  /**
   * What this node stores for others (node/engine/dht-put-gate.ts); defaults from constants.ts.
   * `closest` defaults to k; tests lower it to exercise the closeness check with a few nodes.
   */
  putLimits?: Partial<DhtPutLimits>
}

export function kithDht (init: KithDhtInit): (components: KadDHTComponents) => KadDHT {
  const limits: DhtPutLimits = { ...DEFAULT_DHT_PUT_LIMITS, closest: DHT_K, ...init.putLimits }
  const create = kadDHT({
    protocol: KITH_DHT_PROTOCOL,
    kBucketSize: DHT_K,
    clientMode: init.clientMode,
    peerInfoMapper: init.allowPrivate ? passthroughMapper : removePrivateAddressesMapper,
    validators: { [MANIFEST_NAMESPACE]: validateManifestRecord },
    selectors: { [MANIFEST_NAMESPACE]: selectManifestRecord },
    allowQueryWithZeroPeers: init.answerAlone ?? true
  })
  return (components) => {
    const dht = create(components)
    installPutGate(dht, components, limits)
    return dht
  }
}
