/**
 * The IPFS Amino DHT (`/ipfs/kad/1.0.0`, the public network of IPFS) as a second kad-dht
 * service, for nodes whose user chose `--network amino` (docs/NETWORK.md). Kith uses it for one
 * thing only: provider records under a share's epoch key (protocol/amino-key.ts). Manifests and
 * every other record stay on Kith's own DHT (node/engine/dht-config.ts) or travel over the swarm
 * protocol; nothing is ever `put` on Amino.
 *
 * The service is a DHT client: it asks Amino servers and answers nobody, so the node stores no
 * stranger's records and does not appear in Amino routing tables. Its records (its own provider
 * records, which kad-dht re-provides) live in memory, not in the repo: nothing on disk says which
 * epoch keys the node announced, and a restarted node does not re-provide keys of shares it
 * stopped serving (the Announcer provides the current ones again). Private and loopback
 * addresses are dropped from every peer record it sends or takes in.
 */
import { kadDHT, removePrivateAddressesMapper, type KadDHT, type KadDHTComponents } from '@libp2p/kad-dht'
import { MemoryDatastore } from 'datastore-core'

/** The Amino DHT's protocol ID. */
export const AMINO_PROTOCOL = '/ipfs/kad/1.0.0'

/**
 * The public Amino bootstrap nodes (as Helia and Kubo ship them). Used only by a node in amino
 * mode whose user configured no bootstrap peer at all; tests always pass their own list and never
 * reach these.
 */
export const AMINO_BOOTSTRAP: readonly string[] = Object.freeze([
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ'
])

/** The `amino` service for createKithLibp2p's `services`. */
export function aminoDht (): (components: KadDHTComponents) => KadDHT {
  const create = kadDHT({
    protocol: AMINO_PROTOCOL,
    clientMode: true,
    peerInfoMapper: removePrivateAddressesMapper,
    logPrefix: 'kith:amino',
    metricsPrefix: 'kith_amino_dht',
    datastorePrefix: '/amino'
  })
  return (components) => {
    // libp2p's components object is a proxy that throws on a missing service: not spreadable.
    const datastore = new MemoryDatastore()
    return create(new Proxy(components, { get: (target, prop, receiver) => prop === 'datastore' ? datastore : Reflect.get(target, prop, receiver) }))
  }
}
