/**
 * UPnP and NAT-PMP port mapping, opt-in (`--upnp`, config `"upnp": true`; docs/NETWORK.md,
 * "UPnP"): the node asks the home router to forward the node's TCP listen port from the router's
 * public address, and announces that public address at once, so peers on the internet dial this
 * node directly. Two ways of asking, both at once: NAT-PMP (RFC 6886, node/libp2p/nat-pmp.ts) to
 * the default gateway, which answers in milliseconds where it speaks it, and UPnP IGD v2 (found by
 * an SSDP M-SEARCH on the LAN) for the ports NAT-PMP did not map.
 *
 * The UPnP part is @libp2p/upnp-nat's service, with three choices of Kith's:
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
 * every peer and put in links' hints and DHT records, as any public address is. NAT-PMP gives the
 * router no description at all (miniupnpd shows "NAT-PMP <port> tcp"). The mappings the router
 * made are kept in memory only, for the reachability report, and deleted from the router when
 * the node stops.
 */
import { uPnPNAT, type UPnPNATComponents, type UPnPNATInit } from '@libp2p/upnp-nat'
import { getNetConfig, isPrivate } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger, Startable } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'
import { defaultGateway4, natPmpExternalAddress, natPmpMapTcp } from './nat-pmp.js'

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
  /**
   * The router asked by NAT-PMP: default the IPv4 default gateway, or none when `gateways` is
   * given (the user named the routers); false: no NAT-PMP.
   */
  natPmp?: string | false
}

/** Lifetime asked for a NAT-PMP mapping (RFC 6886 recommends 2 hours); renewed at half of what the router grants. */
export const NAT_PMP_LIFETIME_S = 7_200
/** Each NAT-PMP exchange (external address, then the mapping) is bounded by this. */
const NAT_PMP_TIMEOUT_MS = 10_000
/** The router's deletion of our mappings when the node stops is waited for this long at most. */
const NAT_PMP_STOP_MS = 1_000
/** After the router did not answer or refused, NAT-PMP is not asked again (on address changes) for this long. */
export const NAT_PMP_BACKOFF_MS = 5 * 60_000

/** True for a plain TCP address (/ip4|ip6/…/tcp/…[/p2p/…], nothing on top): what Kith maps. */
function isPlainTcp (ma: Multiaddr): boolean {
  const names = ma.getComponents().map(c => c.name).filter(n => n !== 'p2p')
  return names.length === 2 && (names[0] === 'ip4' || names[0] === 'ip6') && names[1] === 'tcp'
}

export class Upnp implements Startable {
  readonly #inner: Startable
  /** The router's mappings, by `<internal host>-<internal port>-<protocol>`. */
  readonly #mappings = new Map<string, Multiaddr>()
  readonly #view: AddressManager
  readonly #am: AddressManager
  readonly #events: UPnPNATComponents['events']
  readonly #log: Logger
  readonly #natPmp: string | false | undefined
  /** NAT-PMP's own mappings (same keys), with their renewal timers. */
  readonly #pmp = new Map<string, { port: number, external: Multiaddr, ext: string, externalPort: number, renew?: ReturnType<typeof setTimeout> }>()
  #gateway: string | undefined
  #shutdown = new AbortController()
  #pmpRunning = false
  #pmpAgain = false
  /** Mappings (by key) whose renewal is due: renewed by the next run of `#mapNatPmp`. */
  readonly #pmpRenew = new Set<string>()
  /** No NAT-PMP request before this time (after a failure); Infinity behind a second NAT. */
  #pmpNotBefore = 0
  readonly #onUpdate = (): void => { void this.#mapNatPmp() }

  constructor (components: UPnPNATComponents, init: UpnpInit = {}) {
    const am = components.addressManager
    this.#am = am
    this.#events = components.events
    this.#log = components.logger.forComponent('kith:upnp')
    this.#natPmp = init.natPmp ?? (init.gateways !== undefined ? false : undefined)
    // The library sees a view of the address manager: only plain TCP listen addresses to map,
    // and every mapping it adds or removes noted here for the report.
    const view = new Proxy(am, {
      get: (target, prop) => {
        if (prop === 'getAddressesWithMetadata') {
          // Ports NAT-PMP mapped are not asked of UPnP again.
          return () => target.getAddressesWithMetadata().filter(a => isPlainTcp(a.multiaddr) && !this.#pmp.has(keyOf(a.multiaddr)))
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
    this.#view = view
    const options: UPnPNATInit = {
      autoConfirmAddress: true,
      portMappingDescription: UPNP_DESCRIPTION,
      ...(init.gateways !== undefined ? { gateways: init.gateways } : {})
    }
    // (libp2p's components object is a proxy: its fields are read one by one, never spread.)
    this.#inner = uPnPNAT(options)({ peerId: components.peerId, nodeInfo: components.nodeInfo, logger: components.logger, events: components.events, addressManager: view }) as unknown as Startable
  }

  readonly [Symbol.toStringTag] = UPNP_TAG

  async start (): Promise<void> {
    this.#shutdown = new AbortController()
    await this.#inner.start()
    if (this.#natPmp !== false) {
      this.#events.addEventListener('self:peer:update', this.#onUpdate)
      void this.#mapNatPmp()
    }
  }

  async stop (): Promise<void> {
    this.#shutdown.abort()
    this.#events.removeEventListener('self:peer:update', this.#onUpdate)
    const gateway = this.#gateway
    const deletions = [...this.#pmp.values()].map(async m => {
      clearTimeout(m.renew)
      if (gateway !== undefined) await natPmpMapTcp(gateway, m.port, 0, AbortSignal.timeout(NAT_PMP_STOP_MS)).catch(() => {})
    })
    this.#pmp.clear()
    await Promise.all([this.#inner.stop(), ...deletions])
    this.#mappings.clear()
  }

  /**
   * NAT-PMP: maps every private IPv4 TCP listen address not mapped yet, and renews the mapping of
   * `renew` (a key) when given. One run at a time: a call meanwhile runs it again after, so a
   * renewal and an address change never ask the router at once.
   */
  async #mapNatPmp (renew?: string): Promise<void> {
    if (renew !== undefined) this.#pmpRenew.add(renew)
    if (this.#pmpRunning) { this.#pmpAgain = true; return }
    this.#pmpRunning = true
    try {
      do {
        this.#pmpAgain = false
        const renewals = new Set(this.#pmpRenew)
        this.#pmpRenew.clear()
        await this.#mapNatPmpOnce(renewals)
      } while (this.#pmpAgain && !this.#shutdown.signal.aborted)
    } finally {
      this.#pmpRunning = false
    }
  }

  async #mapNatPmpOnce (renew: Set<string>): Promise<void> {
    const shutdown = this.#shutdown.signal
    const backingOff = Date.now() < this.#pmpNotBefore
    if (shutdown.aborted || (renew.size === 0 && backingOff)) return
    this.#gateway ??= typeof this.#natPmp === 'string' ? this.#natPmp : await defaultGateway4()
    const gateway = this.#gateway
    if (gateway === undefined) return
    const todo = this.#am.getAddressesWithMetadata().flatMap(({ multiaddr: ma }) => {
      const t = isPlainTcp(ma) && isPrivate(ma) ? tcp4Of(ma) : undefined
      return t === undefined || t.host.startsWith('127.') ? [] : [{ ...t, key: keyFor(t.host, t.port) }]
    }).filter(t => renew.has(t.key) || (!backingOff && !this.#pmp.has(t.key) && !this.#mappings.has(t.key)))
    for (const { host, port, key } of todo) {
      try {
        const signal = AbortSignal.any([shutdown, AbortSignal.timeout(NAT_PMP_TIMEOUT_MS)])
        const ext = await natPmpExternalAddress(gateway, signal)
        if (isPrivate(multiaddr(`/ip4/${ext}`))) {
          this.#log('NAT-PMP: the router\'s external address is private (a second NAT): nothing mapped')
          this.#pmpNotBefore = Infinity
          return
        }
        const m = await natPmpMapTcp(gateway, port, NAT_PMP_LIFETIME_S, signal)
        if (shutdown.aborted) { await natPmpMapTcp(gateway, port, 0, AbortSignal.timeout(NAT_PMP_STOP_MS)).catch(() => {}); return }
        const external = multiaddr(`/ip4/${ext}/tcp/${m.externalPort}`)
        const before = this.#pmp.get(key)
        if (before !== undefined && !before.external.equals(external)) this.#view.removePublicAddressMapping(host, port, before.ext, before.externalPort, 'tcp')
        this.#view.addPublicAddressMapping(host, port, ext, m.externalPort, 'tcp')
        // Announced at once, as the UPnP part does (autoConfirmAddress): the router said so.
        this.#view.confirmObservedAddr(external, { ttl: Math.max(m.lifetime, 60) * 1000 })
        const renewIn = Math.max(m.lifetime / 2, 60) * 1000
        const renewTimer = setTimeout(() => { void this.#mapNatPmp(key) }, renewIn)
        renewTimer.unref?.()
        clearTimeout(before?.renew)
        this.#pmp.set(key, { port, external, ext, externalPort: m.externalPort, renew: renewTimer })
        this.#log('NAT-PMP: mapped TCP %s:%d to %a for %d s', host, port, external, m.lifetime)
      } catch (err) {
        if (shutdown.aborted) return
        this.#log('NAT-PMP: no mapping of TCP port %d from %s: %s', port, gateway, (err as Error).message)
        this.#pmpNotBefore = Date.now() + NAT_PMP_BACKOFF_MS
        // A renewal that failed: the address is no longer ours to announce.
        const lost = this.#pmp.get(key)
        if (lost !== undefined) {
          this.#pmp.delete(key)
          this.#view.removePublicAddressMapping(host, port, lost.ext, lost.externalPort, 'tcp')
        }
        return
      }
    }
  }

  /** The public addresses the router mapped to this node's TCP listen ports (without /p2p/). */
  mapped (): Multiaddr[] {
    return [...this.#mappings.values()]
  }
}

/** Host and port of a TCP address over IPv4, else undefined. */
function tcp4Of (ma: Multiaddr): { host: string, port: number } | undefined {
  try {
    const c = getNetConfig(ma)
    return c.type === 'ip4' && c.protocol === 'tcp' && c.port !== undefined ? { host: c.host, port: c.port } : undefined
  } catch {
    return undefined
  }
}

/** The mappings' key, as the report's: `<host>-<port>-tcp`. */
function keyOf (ma: Multiaddr): string {
  const t = tcp4Of(ma)
  return keyFor(t?.host ?? '', t?.port ?? 0)
}

function keyFor (host: string, port: number): string {
  return `${host}-${port}-tcp`
}

/** The service factory (node/libp2p/assembly.ts adds it with `upnp: true`). */
export function upnp (init: UpnpInit = {}): (components: UPnPNATComponents) => Upnp {
  return (components) => new Upnp(components, init)
}
