import { afterAll, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from '@libp2p/interface'
import { createKithLibp2p, type KithServices } from '../../../node/libp2p/assembly.js'
import { KITH_DHT_PROTOCOL } from '../../../node/engine/constants.js'

const started: Libp2p[] = []
afterAll(async () => { await Promise.all(started.map(async n => { await n.stop() })) }, 30_000)

async function make (init: Parameters<typeof createKithLibp2p>[0] = {}): Promise<Libp2p<KithServices>> {
  const node = await createKithLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'], ...init })
  started.push(node)
  return node
}

/** Polls `cond` every 25 ms until true, or throws after `ms`. */
async function waitFor (cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

describe('createKithLibp2p', () => {
  it('two nodes on loopback TCP connect, ping, and speak only the Kith DHT protocol', async () => {
    const a = await make()
    const b = await make()
    const addr = a.getMultiaddrs().find(m => m.toString().startsWith('/ip4/127.0.0.1/tcp/'))
    expect(addr).toBeDefined()
    expect(b.services.dht.getMode()).toBe('server')

    const rtt = await b.services.ping.ping(addr!, { signal: AbortSignal.timeout(5_000) })
    expect(rtt).toBeGreaterThanOrEqual(0)
    expect(b.getConnections(a.peerId).length).toBeGreaterThan(0)

    expect(a.getProtocols()).toContain(KITH_DHT_PROTOCOL)
    expect(KITH_DHT_PROTOCOL).toBe('/kith/kad/1.0.0')
    expect(a.getProtocols()).not.toContain('/ipfs/kad/1.0.0')
    expect(a.getProtocols().filter(p => p.includes('/kad/'))).toEqual([KITH_DHT_PROTOCOL])
    // NAT helpers: AutoNAT (reachability) and DCUtR (relayed → direct upgrade).
    expect(a.getProtocols()).toContain('/libp2p/dcutr')
    expect(a.getProtocols().some(p => p.includes('/autonat/'))).toBe(true)

    // What the remote learned through identify: the same list.
    await waitFor(async () => (await b.peerStore.get(a.peerId)).protocols.includes(KITH_DHT_PROTOCOL), 5_000, 'identify')
    const remote = (await b.peerStore.get(a.peerId)).protocols
    expect(remote).not.toContain('/ipfs/kad/1.0.0')
    // And the DHT took the peer into its routing table.
    await waitFor(() => b.services.dht.routingTable.size >= 1, 5_000, 'routing table')
  })

  it('dials bootstrap peers on start', async () => {
    const seed = await make()
    const joiner = await make({ bootstrap: seed.getMultiaddrs().map(String) })
    await waitFor(() => joiner.getConnections(seed.peerId).length > 0, 10_000, 'bootstrap connection')
    await waitFor(() => joiner.services.dht.routingTable.size >= 1, 5_000, 'routing table')
    const tags = (await joiner.peerStore.get(seed.peerId)).tags
    expect(tags.get('kith-bootstrap')?.value).toBe(50)
  })

  it('refuses bootstrap addresses without a peer id', async () => {
    await expect(createKithLibp2p({ listen: [], bootstrap: ['/ip4/127.0.0.1/tcp/1'] })).rejects.toThrow(/p2p/)
  })

  it('listens on WebSockets and connects over it', async () => {
    const a = await make({ listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
    const b = await make({ listen: [] })
    const ws = a.getMultiaddrs().find(m => m.toString().includes('/ws'))
    expect(ws).toBeDefined()
    await b.services.ping.ping(ws!, { signal: AbortSignal.timeout(5_000) })
  })

  it('listens on WebRTC-Direct and connects over it', async () => {
    const a = await make({ listen: ['/ip4/127.0.0.1/udp/0/webrtc-direct'] })
    const b = await make({ listen: [], webrtcDirect: true })
    const addr = a.getMultiaddrs().find(m => m.toString().includes('/webrtc-direct/certhash/'))
    expect(addr).toBeDefined()
    await b.services.ping.ping(addr!, { signal: AbortSignal.timeout(10_000) })
    expect(b.getConnections(a.peerId).some(c => c.remoteAddr.toString().includes('/webrtc-direct'))).toBe(true)
  })

  it('drops WebRTC-Direct listen addresses when it is off', async () => {
    const a = await make({ listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/webrtc-direct'], webrtcDirect: false })
    expect(a.getMultiaddrs().some(m => m.toString().includes('webrtc'))).toBe(false)
    expect(a.getMultiaddrs().length).toBeGreaterThan(0)
  })

  it('runs a circuit relay server by default, and none when asked', async () => {
    const a = await make()
    const b = await make({ relayServer: false })
    expect(a.services.relay).toBeDefined()
    expect(a.getProtocols()).toContain('/libp2p/circuit/relay/0.2.0/hop')
    expect(b.services.relay).toBeUndefined()
    expect(b.getProtocols()).not.toContain('/libp2p/circuit/relay/0.2.0/hop')
  })

  it('with allowPrivateAddresses false, refuses to dial loopback', async () => {
    const a = await make()
    const b = await make({ listen: [], allowPrivateAddresses: false })
    await expect(b.dial(a.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    expect(b.getConnections(a.peerId)).toHaveLength(0)
  })

  it('memory transport: a unique /memory/ listen address by default; DHT client mode is honoured', async () => {
    const a = await make({ transports: 'memory', listen: undefined })
    const b = await make({ transports: 'memory', listen: undefined, dhtClientMode: true })
    expect(a.getMultiaddrs()[0]!.toString()).toMatch(new RegExp(`^/memory/kith-[0-9a-f-]{36}/p2p/${a.peerId.toString()}$`))
    expect(b.services.dht.getMode()).toBe('client')
    await b.services.ping.ping(multiaddr(a.getMultiaddrs()[0]!.toString()), { signal: AbortSignal.timeout(5_000) })
    // A client is not announced as a DHT server: a does not put b in its routing table.
    await waitFor(async () => (await a.peerStore.get(b.peerId)).protocols.length > 0, 5_000, 'identify')
    expect((await a.peerStore.get(b.peerId)).protocols).not.toContain(KITH_DHT_PROTOCOL)
  })

  it('passes extra services the libp2p components', async () => {
    let seen: string | undefined
    const node = await make({
      listen: [],
      services: {
        probe: (components) => {
          seen = components.peerId.toString()
          return { registrar: typeof components.registrar.handle }
        }
      }
    })
    expect(seen).toBe(node.peerId.toString())
    expect((node.services as unknown as { probe: { registrar: string } }).probe.registrar).toBe('function')
  })
})

describe('circuit relay', () => {
  // A Kith node relays without libp2p's default limits (browser shares), so it relays for Kith
  // peers only: node/libp2p/relay-gate.ts.
  it('grants a reservation to a Kith peer (it serves the swarm protocol) and refuses any other libp2p peer', async () => {
    const { swarm } = await import('../../../node/engine/swarm/service.js')
    const relay = await make()
    const relayAddr = relay.getMultiaddrs().find(m => m.toString().startsWith('/ip4/127.0.0.1/tcp/'))!
    const circuit = `${relayAddr.toString()}/p2p-circuit`
    const reserved = async (services: Record<string, unknown>): Promise<boolean> => {
      let node: Libp2p
      try {
        node = await createKithLibp2p({ listen: [circuit], relayServer: false, services: services as never })
      } catch {
        return false // its only listen address, the reservation, was refused
      }
      started.push(node)
      try {
        await waitFor(() => node.getMultiaddrs().some(m => m.toString().includes('/p2p-circuit')), 8_000, 'a relay reservation')
        return true
      } catch {
        return false
      }
    }
    expect(await reserved({ swarm: swarm() })).toBe(true)
    expect(await reserved({})).toBe(false)
  }, 60_000)
})
