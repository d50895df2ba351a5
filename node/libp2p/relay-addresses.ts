/**
 * What a node does with its addresses once relays are part of them: which of them its links carry
 * as hints, and telling the network when they change (relay-reservations.ts gains and loses them).
 */
import { isPrivate } from '@libp2p/utils'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { isPublicDirect, isRelayed } from './address-announce.js'

export interface LinkHintOptions {
  /** How many hints (at most). */
  count: number
  /** Longest hint in bytes; longer addresses are left out. */
  maxBytes: number
  /**
   * Whether loopback and private (LAN) addresses may be hints. They mean nothing outside the
   * sharer's network and tell whoever holds the link about it: off where the node joins the public
   * network (the engine's `privateHints`).
   */
  privateAddrs: boolean
}

const isLoopback = (s: string): boolean => s.startsWith('/ip4/127.') || s.startsWith('/ip6/::1/')
const relayOf = (ma: Multiaddr): string | undefined => {
  const s = ma.toString()
  const i = s.indexOf('/p2p-circuit')
  return i < 0 ? undefined : s.slice(0, i).split('/p2p/').at(-1)
}

/**
 * The addresses a link carries as hints, best first: public addresses dialled directly, then
 * this node's addresses through its relays (`/…/p2p/<relay>/p2p-circuit/p2p/<me>`: how a friend
 * outside the NAT reaches it, so they come before LAN ones), then LAN addresses, then relay
 * addresses on a relay's private ones, then loopback.
 * One WebSocket address among them when there is one (browsers can dial nothing else), and two
 * relay hints name two different relays when there are two (one of them may be gone). WebRTC
 * addresses are left out: their certhash changes on restart.
 */
export function linkHintAddrs (addrs: Multiaddr[], opts: LinkHintOptions): Multiaddr[] {
  const rank = (ma: Multiaddr): number => {
    // A relay address is as good as the relay's own address in it (a relay's loopback one: none).
    if (isRelayed(ma)) return isPrivate(ma) ? 3 : 1
    if (isPublicDirect(ma)) return 0
    return isLoopback(ma.toString()) ? 4 : 2
  }
  const usable = addrs
    .filter(a => { const s = a.toString(); return !s.includes('/webrtc') && a.bytes.length <= opts.maxBytes })
    // (A relay address is private when the relay's is.)
    .filter(a => opts.privateAddrs || !isPrivate(a))
    .map((a, i) => ({ a, i, r: rank(a) }))
    .sort((x, y) => x.r - y.r || x.i - y.i)
    .map(x => x.a)
  const ws = usable.find(a => a.toString().includes('/ws'))
  const first = usable.find(a => a !== ws) ?? ws
  const picked: Multiaddr[] = first === undefined ? [] : [first]
  if (ws !== undefined && ws !== first) picked.push(ws)
  const usedRelays = new Set(picked.map(relayOf).filter(r => r !== undefined))
  const rest = usable.filter(a => !picked.includes(a))
  const otherRelay = first !== undefined && isRelayed(first)
    ? rest.find(a => { const r = relayOf(a); return r !== undefined && !usedRelays.has(r) })
    : undefined
  for (const a of otherRelay !== undefined ? [otherRelay, ...rest] : rest) {
    if (!picked.includes(a)) picked.push(a)
  }
  return picked.slice(0, opts.count)
}

/** Where an address's IP is, as far as reaching it goes. Non-IP addresses (memory, DNS): `other`. */
type Scope = 'loopback' | 'private' | 'public' | 'other'

function scopeOf (ma: Multiaddr): Scope {
  const ip = ma.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
  if (ip === undefined) return 'other'
  if (isLoopback(ma.toString())) return 'loopback'
  return isPrivate(ma) ? 'private' : 'public'
}

export interface DialableRelayOptions {
  /**
   * Whether a relay's private (LAN) addresses are kept in our relay addresses even when we reach
   * the relay on a public one: true in the local network mode (a LAN peer of the relay can use
   * them), false on the public network.
   */
  privateRelayAddrs: boolean
}

/**
 * This node's relay addresses that a remote peer could dial, for libp2p's `announceFilter`
 * (node/libp2p/assembly.ts): so identify, the DHT's provider and peer records, links' hints and
 * the reachability report carry only these. A relay's reservation lists every address of the
 * relay, its loopback ones too (`/ip4/127.0.0.1/tcp/4001/p2p/<relay>/p2p-circuit/p2p/<me>`):
 * useless to anyone else, and a peer given one dials its own machine. So a relay address whose
 * relay part is
 *   - loopback is kept only when we reach that relay on loopback ourselves (tests, one machine);
 *   - private (LAN) is kept in the local mode, or when we reach the relay on a private or
 *     loopback address (the relay is on our LAN);
 *   - public, or not an IP address (memory, DNS), is kept.
 * `seenAt(relay)` gives the remote addresses of our direct connections to that relay (peer ID
 * text); none (the connection is gone): loopback and, outside the local mode, private are dropped.
 * Addresses that are not relayed pass unchanged.
 */
export function dialableRelayAddrs (addrs: Multiaddr[], seenAt: (relay: string) => Multiaddr[], opts: DialableRelayOptions): Multiaddr[] {
  const seen = new Map<string, Set<Scope>>()
  const scopesOf = (relay: string): Set<Scope> => {
    let s = seen.get(relay)
    if (s === undefined) { s = new Set(seenAt(relay).filter(a => !isRelayed(a)).map(scopeOf)); seen.set(relay, s) }
    return s
  }
  return addrs.filter(ma => {
    if (!isRelayed(ma)) return true
    const s = ma.toString()
    const relay = relayOf(ma)
    const hop = multiaddrPrefix(s)
    if (relay === undefined || hop === undefined) return true
    const scope = scopeOf(hop)
    if (scope === 'public' || scope === 'other') return true
    const via = scopesOf(relay)
    if (scope === 'loopback') return via.has('loopback')
    return opts.privateRelayAddrs || via.has('private') || via.has('loopback')
  })
}

/** The relay's own address in a relay address: everything before the first /p2p-circuit. */
function multiaddrPrefix (s: string): Multiaddr | undefined {
  const i = s.indexOf('/p2p-circuit')
  if (i <= 0) return undefined
  try { return multiaddr(s.slice(0, i)) } catch { return undefined }
}

/** How long the addresses must stay the same before `onAddressChange` reports them. */
export const ADDRESS_SETTLE_MS = 2_000

/**
 * Calls `onChange` when the set of addresses others can dial this node on (public and relayed;
 * not loopback or LAN) has changed and then stayed the same for ADDRESS_SETTLE_MS: a relay
 * reservation gained or lost, a public address confirmed. The node then re-announces its shares,
 * so the DHT's provider records point at addresses that work (node/node.ts). Returns a function
 * that stops watching.
 */
export function onAddressChange (node: Libp2p, onChange: (addrs: string[]) => void): () => void {
  const key = (): string => node.getMultiaddrs().filter(a => isRelayed(a) || isPublicDirect(a)).map(a => a.toString()).sort().join(' ')
  let last = key()
  let timer: ReturnType<typeof setTimeout> | undefined
  const onUpdate = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      const now = key()
      if (now === last) return
      last = now
      onChange(now === '' ? [] : now.split(' '))
    }, ADDRESS_SETTLE_MS)
    timer.unref?.()
  }
  node.addEventListener('self:peer:update', onUpdate)
  return () => {
    clearTimeout(timer)
    node.removeEventListener('self:peer:update', onUpdate)
  }
}
