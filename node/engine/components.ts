/**
 * The libp2p components Kith's libp2p services are built from (js-libp2p hands them to every
 * service factory): one definition, so the swarm service (here, platform-neutral) and the Node
 * host's services (node/libp2p/reachability.ts, relay-reservations.ts) each take the part they
 * use (`Pick`) instead of declaring their own copy. Types only: nothing here is Node-specific.
 */
import type { ComponentLogger, Libp2pEvents, PeerId, PeerStore, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'

export interface Libp2pComponents {
  peerId: PeerId
  addressManager: AddressManager
  transportManager: TransportManager
  connectionManager: ConnectionManager
  peerStore: PeerStore
  registrar: Registrar
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** What a service that watches the node's addresses, connections and relays reads (reachability, relay reservations). */
export type NodeWatchComponents = Pick<Libp2pComponents, 'peerId' | 'addressManager' | 'transportManager' | 'connectionManager' | 'peerStore' | 'events' | 'logger'>
