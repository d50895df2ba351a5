/**
 * Which of this node's own public addresses it announces, and when.
 *
 * libp2p announces a public (non-private) address only once AutoNAT has confirmed it: four
 * successful dial-backs from peers in four different /8s (@libp2p/autonat's
 * REQUIRED_SUCCESSFUL_DIALS, per network segment). A small circle of friends never provides that,
 * so a node on a public address announced nothing but loopback and private addresses: its links
 * carried no usable hint and its DHT peer and provider records no address anyone could dial.
 *
 * This service, part of every Kith node (node/libp2p/assembly.ts), decides instead:
 * - a public address the node binds (a listener on a public IP, or on 0.0.0.0 of a host with
 *   one) is announced at once: it is this machine's own address, not a guess;
 * - an address a friend reached us on counts as confirmed: when a Kith peer dials in directly
 *   (not relayed) and tells us, in identify, the public address it dialled, and that address has
 *   the port of one of our listeners, it is announced (as libp2p's IP mapping for that listener,
 *   e.g. a port forwarded by a home router). A peer can lie about the address it dialled; only a
 *   peer that speaks Kith is believed, and only for a port we listen on.
 * - a relay address is never handed to AutoNAT for a dial-back. A peer that reached us through a
 *   relay reports that relay address as the one it observed (identify), libp2p files it as an
 *   unverified observed address, and AutoNAT asks that very peer to dial it back: its AutoNAT
 *   server's dial returns the relayed connection it already has to us, and it closes that
 *   connection when done (@libp2p/autonat closes whatever connection its dial returned). Measured
 *   on the simulated internet: every relayed swarm session died within ~100 ms of opening, and a
 *   3 MiB download through a relay took 19-21 s instead of about 4 s
 *   (test/internet/friend-node.test.ts). So an observed relay address is dropped from the observed
 *   list as identify reports it (before AutoNAT, which first awaits the peer store, looks), and our
 *   own relay addresses stay confirmed as transport addresses.
 * Addresses configured with `--announce` / config `announce` go to libp2p's `appendAnnounce` and are
 * announced as given (node/libp2p/assembly.ts).
 *
 * Confirmations are renewed every CONFIRM_TTL_MS / 2 while the listener stays bound, so AutoNAT,
 * if it checks them again, has no expired entry to drop.
 */
import { getNetConfig, isNetworkAddress, isPrivate, isGlobalUnicast } from '@libp2p/utils'
import type { ComponentLogger, IdentifyResult, Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import { SWARM_PROTOCOL } from '../../protocol/constants.js'

/** How long a confirmation holds before it is renewed (libp2p's own default TTL is 10 min). */
export const CONFIRM_TTL_MS = 60 * 60_000

export interface AddressAnnounceComponents {
  addressManager: AddressManager
  transportManager: TransportManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** True for a relay address: this node reached through a circuit-relay server. */
export function isRelayed (ma: Multiaddr): boolean {
  return ma.getComponents().some(c => c.name === 'p2p-circuit')
}

/** True for a directly dialable address on a public IP (not relayed, not private, not loopback). */
export function isPublicDirect (ma: Multiaddr): boolean {
  if (ma.getComponents().some(c => c.name === 'p2p-circuit')) return false
  if (!isNetworkAddress(ma)) return false
  let config: ReturnType<typeof getNetConfig>
  try { config = getNetConfig(ma) } catch { return false }
  if (config.type === 'ip4') return !isPrivate(ma)
  if (config.type === 'ip6') return isGlobalUnicast(ma)
  return false
}

class AddressAnnounce implements Startable {
  readonly #c: AddressAnnounceComponents
  readonly #log: Logger
  #timer: ReturnType<typeof setInterval> | undefined
  readonly #onListening = (): void => { this.confirmBound() }
  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => { this.#friendConfirms(evt.detail) }

  constructor (components: AddressAnnounceComponents) {
    this.#c = components
    this.#log = components.logger.forComponent('kith:address-announce')
  }

  readonly [Symbol.toStringTag] = 'kith:address-announce'

  start (): void {
    this.#c.events.addEventListener('transport:listening', this.#onListening)
    this.#c.events.addEventListener('peer:identify', this.#onIdentify)
    this.#timer = setInterval(this.#onListening, CONFIRM_TTL_MS / 2)
    this.#timer.unref?.()
  }

  afterStart (): void { this.confirmBound() }

  stop (): void {
    this.#c.events.removeEventListener('transport:listening', this.#onListening)
    this.#c.events.removeEventListener('peer:identify', this.#onIdentify)
    clearInterval(this.#timer)
  }

  /** Every public address a listener is bound to, and every relay reservation's: announced now. */
  confirmBound (): void {
    for (const ma of this.#c.transportManager.getAddrs()) {
      if (!isPublicDirect(ma) && !isRelayed(ma)) continue
      this.#log('announcing %s address %a', isRelayed(ma) ? 'relay' : 'bound public', ma)
      this.#c.addressManager.confirmObservedAddr(ma, { type: 'transport', ttl: CONFIRM_TTL_MS })
    }
  }

  #friendConfirms (id: IdentifyResult): void {
    const observed = id.observedAddr
    if (observed !== undefined && isRelayed(observed)) { this.#dropObservedRelay(observed); return }
    const conn = id.connection
    if (observed === undefined || conn.direction !== 'inbound' || conn.limits !== undefined) return
    if (conn.remoteAddr.getComponents().some(c => c.name === 'p2p-circuit')) return
    if (!id.protocols.includes(SWARM_PROTOCOL) || !isPublicDirect(observed)) return
    const seen = getNetConfig(observed)
    const bound = this.#c.transportManager.getAddrs().flatMap(ma => { try { return [getNetConfig(ma)] } catch { return [] } })
    if (!bound.some(b => b.port === seen.port)) return
    this.#log('a friend reached us on %a', observed)
    // Our own bound address (already announced), or one a NAT forwards to us: for that, libp2p
    // makes an IP mapping of the listener with that port when it can.
    const own = bound.some(b => b.host === seen.host && b.port === seen.port)
    this.#c.addressManager.confirmObservedAddr(observed, { type: own ? 'transport' : 'observed', ttl: CONFIRM_TTL_MS })
  }

  /** Removes an observed relay address (see the top of this file); re-confirms our own. */
  #dropObservedRelay (observed: Multiaddr): void {
    // removeObservedAddr also unconfirms a transport address with the same host and port.
    this.#c.addressManager.removeObservedAddr(observed)
    this.confirmBound()
  }
}

/** The service factory (in node/libp2p/assembly.ts's `services`). */
export function addressAnnounce (): (components: AddressAnnounceComponents) => AddressAnnounce {
  return (components) => new AddressAnnounce(components)
}
