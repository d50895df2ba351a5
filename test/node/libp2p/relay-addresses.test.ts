/**
 * A node's addresses through a relay are built from every address the relay lists in its
 * reservation, its loopback ones too. Only the ones a remote peer could dial may be announced
 * (identify, DHT provider and peer records, link hints, the reachability report):
 * node/libp2p/relay-addresses.ts `dialableRelayAddrs`, libp2p's `announceFilter` in the assembly.
 *
 * - The rule, on addresses (`dialableRelayAddrs`): a relay part on loopback is dropped unless we
 *   reach the relay on loopback; a LAN one, outside the local mode, unless we reach it on our LAN.
 * - Real libp2p nodes on one machine: a stock relay S on 127.0.0.1 that also announces a loopback,
 *   a LAN and a public address, and a Kith node A (node/libp2p/assembly.ts) with a reservation on
 *   S: A reaches S on loopback, so its loopback relay addresses stay (tests on 127.0.0.x work).
 * The other side on real sockets (A behind NAT reaches P on P's public address; P lists its
 * loopback one too): test/internet/relay.test.ts (a), in network namespaces.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { createKithLibp2p } from '../../../node/libp2p/assembly.js'
import { dialableRelayAddrs } from '../../../node/libp2p/relay-addresses.js'
import { waitFor } from '../helpers/nodes.js'

const PUBLIC = '/ip4/11.0.0.10/tcp/4001'
const LAN = '/ip4/192.168.1.10/tcp/4001'
const LOOP = '/ip4/127.0.0.1/tcp/4001'

async function stockRelay (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'], appendAnnounce: [LOOP, LAN, PUBLIC] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } }) }
  })
}

const relayAddrsOf = (n: Libp2p): string[] => n.getMultiaddrs().map(a => a.toString()).filter(a => a.includes('/p2p-circuit'))

describe('relay addresses a node announces', () => {
  const nodes: Libp2p[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  it('keeps them when the relay is on loopback for us too (one machine)', async () => {
    const s = await stockRelay()
    nodes.push(s)
    const sAddr = s.getMultiaddrs().map(a => a.toString()).find(a => a.startsWith('/ip4/127.0.0.1/tcp/')) as string
    const a = await createKithLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0', `${sAddr}/p2p-circuit`], relayServer: false, webrtc: false, stunServer: false })
    nodes.push(a)
    const sId = s.peerId.toString()
    const circuit = (hop: string): string => `${hop}/p2p/${sId}/p2p-circuit/p2p/${a.peerId.toString()}`
    await waitFor(() => relayAddrsOf(a).includes(circuit(PUBLIC)), 20_000, 'the reservation on S')
    const got = relayAddrsOf(a)
    expect(got).toContain(circuit(sAddr.split('/p2p/')[0] as string))
    expect(got).toContain(circuit(LOOP))
  }, 60_000)
})

describe('dialableRelayAddrs', () => {
  const me = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
  const r = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
  const via = (hop: string): string => `${hop}/p2p/${r}/p2p-circuit/p2p/${me}`
  const all = [`/ip4/192.168.1.2/tcp/4001/p2p/${me}`, via(LOOP), via(LAN), via(PUBLIC), via('/ip6/::1/tcp/4001'), `${via(LOOP).replace(`/p2p/${me}`, '')}/webrtc/p2p/${me}`]
  const run = (seen: string[], privateRelayAddrs: boolean): string[] =>
    dialableRelayAddrs(all.map(a => multiaddr(a)), id => id === r ? seen.map(a => multiaddr(a)) : [], { privateRelayAddrs }).map(a => a.toString())

  it('drops loopback relay parts unless the relay is on loopback for us', () => {
    expect(run(['/ip4/11.0.0.10/tcp/4001'], true)).toEqual([all[0], via(LAN), via(PUBLIC)])
    expect(run(['/ip4/127.0.0.1/tcp/4001'], false)).toEqual(all)
  })

  it('outside the local mode, drops LAN relay parts unless the relay is on our LAN', () => {
    expect(run(['/ip4/11.0.0.10/tcp/4001'], false)).toEqual([all[0], via(PUBLIC)])
    expect(run(['/ip4/192.168.1.10/tcp/4001'], false)).toEqual([all[0], via(LAN), via(PUBLIC)])
    // No connection to the relay known: only what anyone could dial.
    expect(run([], false)).toEqual([all[0], via(PUBLIC)])
  })
})
