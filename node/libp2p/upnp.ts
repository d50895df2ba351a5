/**
 * UPnP port mapping, opt-in (`--upnp`, config `"upnp": true`; docs/NETWORK.md, "UPnP"): the node
 * asks the home router (a UPnP Internet Gateway Device v2, found by an SSDP M-SEARCH on the LAN)
 * to forward the node's TCP listen port from the router's public address, and announces that
 * public address at once, so peers on the internet dial this node directly.
 *
 * It is @libp2p/upnp-nat's service, with three choices of Kith's:
 * - **Only the plain TCP listen port** is mapped (the library would also map WebSocket ports): one
 *   hole in the router, the one Kith peers dial.
 * - **The mapped address is announced at once** (`autoConfirmAddress`): left to AutoNAT it would
 *   wait for four dial-backs from four /8s, which a small circle of friends never provides (see
 *   node/libp2p/address-announce.ts). The router saying so is taken as `--announce` is: the user
 *   asked for it.
 * - **The mapping's description on the router is "Kith"**, not the library's default (libp2p's
 *   name, version and this node's peer ID): the router's page and logs get no peer ID.
 *
 * Privacy (docs/THREAT-MODEL.md): this is why it is off by default. The router learns that a
 * Kith node runs on this LAN host; and the mapped address, the home's public IP, is announced to
 * every peer and put in links' hints and DHT records, as any public address is. (@libp2p/upnp-nat
 * v4 speaks UPnP IGD only, not NAT-PMP/PCP.) The mappings the router made are kept in memory only,
 * for the reachability report, and deleted from the router when the node stops.
 */
import { uPnPNAT, type UPnPNATComponents, type UPnPNATInit } from '@libp2p/upnp-nat'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Startable } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'

/** The port mapping's description on the router. */
export const UPNP_DESCRIPTION = 'Kith'
/** The service's tag (what node/libp2p/reachability.ts looks for). */
export const UPNP_TAG = 'kith:upnp'

export interface UpnpInit {
  /**
   * The router's UPnP device descriptor URLs, e.g. `http://192.168.1.1:5000/rootDesc.xml`, for a
   * router that does not answer SSDP searches; default: search the LAN (SSDP M-SEARCH).
   */
  gateways?: string[]
}

/** True for a plain TCP address (/ip4|ip6/…/tcp/…[/p2p/…], nothing on top): what Kith maps. */
function isPlainTcp (ma: Multiaddr): boolean {
  const names = ma.getComponents().map(c => c.name).filter(n => n !== 'p2p')
  return names.length === 2 && (names[0] === 'ip4' || names[0] === 'ip6') && names[1] === 'tcp'
}

export class Upnp implements Startable {
  readonly #inner: Startable
  /** The router's mappings, by `<internal host>-<internal port>-<protocol>`. */
  readonly #mappings = new Map<string, Multiaddr>()

  constructor (components: UPnPNATComponents, init: UpnpInit = {}) {
    const am = components.addressManager
    // The library sees a view of the address manager: only plain TCP listen addresses to map,
    // and every mapping it adds or removes noted here for the report.
    const view = new Proxy(am, {
      get: (target, prop) => {
        if (prop === 'getAddressesWithMetadata') {
          return () => target.getAddressesWithMetadata().filter(a => isPlainTcp(a.multiaddr))
        }
        if (prop === 'addPublicAddressMapping') {
          return (ih: string, ip: number, eh: string, ep: number, protocol?: 'tcp' | 'udp') => {
            target.addPublicAddressMapping(ih, ip, eh, ep, protocol)
            this.#mappings.set(`${ih}-${ip}-${protocol ?? 'tcp'}`, multiaddr(`/ip${eh.includes(':') ? 6 : 4}/${eh}/${protocol ?? 'tcp'}/${ep}`))
          }
        }
        if (prop === 'removePublicAddressMapping') {
          return (ih: string, ip: number, eh: string, ep: number, protocol?: 'tcp' | 'udp') => {
            target.removePublicAddressMapping(ih, ip, eh, ep, protocol)
            this.#mappings.delete(`${ih}-${ip}-${protocol ?? 'tcp'}`)
          }
        }
        const v: unknown = Reflect.get(target, prop, target)
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v
      }
    }) satisfies AddressManager
    const options: UPnPNATInit = {
      autoConfirmAddress: true,
      portMappingDescription: UPNP_DESCRIPTION,
      ...(init.gateways !== undefined ? { gateways: init.gateways } : {})
    }
    // (libp2p's components object is a proxy: its fields are read one by one, never spread.)
    this.#inner = uPnPNAT(options)({ peerId: components.peerId, nodeInfo: components.nodeInfo, logger: components.logger, events: components.events, addressManager: view }) as unknown as Startable
  }

  readonly [Symbol.toStringTag] = UPNP_TAG

  async start (): Promise<void> { await this.#inner.start() }
  async stop (): Promise<void> {
    await this.#inner.stop()
    this.#mappings.clear()
  }

  /** The public addresses the router mapped to this node's TCP listen ports (without /p2p/). */
  mapped (): Multiaddr[] {
    return [...this.#mappings.values()]
  }
}

/** The service factory (node/libp2p/assembly.ts adds it with `upnp: true`). */
export function upnp (init: UpnpInit = {}): (components: UPnPNATComponents) => Upnp {
  return (components) => new Upnp(components, init)
}
