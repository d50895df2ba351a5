/**
 * A seeder known only by circuit addresses (behind NAT, reached through a friend's relay) is
 * dialled through a plain circuit first (node/engine/swarm/service.ts `connect`): libp2p's own dial
 * of the peer would try its /webrtc addresses first, and a hole punch that cannot get through
 * port-randomising NATs held that dial for its whole deadline. And when that deadline (ours) cuts
 * a dial short, the hole punch is tried again rather than taken as failed. A real `Swarm` on both sides over
 * in-memory streams (helpers/mem-swarm.ts); the downloader's connection manager is a stub whose
 * dial of the bare peer ID hangs (a hole punch that never completes) and whose WebRTC dial fails.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { defaultLogger } from '@libp2p/logger'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerStore } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { NoPathError } from '../../node/engine/errors.js'
import { Swarm, type SwarmInit } from '../../node/engine/swarm/service.js'
import type { Session } from '../../node/engine/swarm/session.js'
import { MemNet, newPeer, shareFixture } from './helpers/mem-swarm.js'

let net: MemNet
let mine: Swarm | undefined
afterEach(async () => { await mine?.stop(); await net?.stop() })

/** A seeder (a real Swarm) behind relay R, and `connect`, which starts our Swarm on the given connection manager and peer-store addresses and connects to the seeder. */
async function world (): Promise<{ seeder: PeerId, circuit: Multiaddr, relay: PeerId, open: () => Promise<Stream>, hang: (opts: { signal?: AbortSignal }) => Promise<never>, connect: (cm: object, addresses: Multiaddr[], init: SwarmInit) => Promise<Session>, again: () => Promise<Session> }> {
  net = new MemNet()
  const f = await shareFixture()
  const seeder = await net.swarm()
  seeder.swarm.addShare(f.seeder)
  const me = await newPeer()
  const relay = await newPeer()
  let again: (() => Promise<Session>) | undefined
  const circuit = multiaddr(`/ip4/11.0.0.10/tcp/4001/p2p/${relay.toString()}/p2p-circuit/p2p/${seeder.peerId.toString()}`)
  return {
    seeder: seeder.peerId,
    circuit,
    relay,
    open: async () => await net.open(me, seeder.peerId),
    // libp2p's dial of the peer ID, still busy (a hole punch) when the deadline aborts it.
    hang: async opts => await new Promise<never>((_resolve, reject) => { opts.signal?.addEventListener('abort', () => { reject(new Error('dial aborted')) }) }),
    connect: async (cm, addresses, init) => {
      const peerStore = { get: async () => ({ addresses: addresses.map(multiaddr => ({ multiaddr })) }) } as unknown as PeerStore
      const registrar = { handle: async () => {}, unhandle: async () => {} } as unknown as Registrar
      mine = new Swarm({ peerId: me, registrar, connectionManager: cm as ConnectionManager, peerStore, logger: defaultLogger() }, init)
      await mine.start()
      const leecher = f.leecher()
      mine.addShare(leecher)
      const swarm = mine
      again = async () => await swarm.connect(seeder.peerId, leecher, AbortSignal.timeout(20_000))
      return await again()
    },
    // `connect` once more, on the same Swarm (the addresses array is read at each peer-store get).
    again: async () => { if (again === undefined) throw new Error('connect first'); return await again() }
  }
}

describe('connect to a peer known only by circuit addresses', () => {
  it('dials the circuit first, not the peer ID (whose WebRTC attempt would hang)', async () => {
    const w = await world()
    const webrtc = multiaddr(`/ip4/11.0.0.10/tcp/4001/p2p/${w.relay.toString()}/p2p-circuit/webrtc/p2p/${w.seeder.toString()}`)
    const dials: string[] = []
    const session = await w.connect({
      getConnections: () => [],
      openConnection: async (target: PeerId | Multiaddr, opts: { signal?: AbortSignal } = {}): Promise<Connection> => {
        if (!isMultiaddr(target)) { dials.push('peer'); return await w.hang(opts) }
        if (target.toString().includes('/webrtc')) { dials.push('webrtc'); throw new Error('ICE failed') }
        dials.push('circuit')
        return { remotePeer: w.seeder, remoteAddr: target, status: 'open', newStream: w.open } as unknown as Connection
      }
    }, [w.circuit, webrtc], { directUpgradeTimeoutMs: 1_000 })
    console.log(`swarm-circuit-first: dials in order: ${dials.join(', ')}; session path: ${session.path.label}`)
    expect(dials[0]).toBe('circuit')
    expect(dials).not.toContain('peer')
    expect(session.path.label).toBe('via a friend\'s node')
    expect(session.remotePeer.equals(w.seeder)).toBe(true)
  }, 30_000)
})

describe('connect when our own first-dial deadline fires', () => {
  // Under load, libp2p's dial of the peer (its addresses, a hole punch through a public relay)
  // can run past FIRST_DIAL_TIMEOUT_MS without having failed. That is not a failed hole punch:
  // the direct connection is tried once more through the relay the dial left open, instead of a
  // "no direct path" (NoPathError) for the next DIRECT_RETRY_MS (5 minutes).
  it('tries the hole punch again and runs the session on the direct connection', async () => {
    const w = await world()
    const lan = multiaddr(`/ip4/192.168.1.20/tcp/4001/p2p/${w.seeder.toString()}`)
    // The public relay's circuit that the dial's WebRTC attempt signalled over: limited.
    let closed = 0
    const limited = { remotePeer: w.seeder, remoteAddr: w.circuit, limits: { bytes: 131_072n, seconds: 120 }, status: 'open', newStream: w.open, streams: [], close: async () => { closed++ } } as unknown as Connection
    const dials: string[] = []
    let dialling = false
    const session = await w.connect({
      getConnections: () => dialling ? [limited] : [],
      openConnection: async (target: PeerId | Multiaddr, opts: { signal?: AbortSignal } = {}): Promise<Connection> => {
        if (!isMultiaddr(target)) { dials.push('peer'); dialling = true; return await w.hang(opts) }
        if (target.toString().includes('/webrtc')) {
          dials.push('webrtc')
          return { remotePeer: w.seeder, remoteAddr: target, status: 'open', newStream: w.open } as unknown as Connection
        }
        dials.push('circuit')
        return limited
      }
    }, [lan, w.circuit], { firstDialTimeoutMs: 300, directUpgradeTimeoutMs: 2_000 })
    console.log(`swarm-circuit-first: after our own deadline, dials in order: ${dials.join(', ')}; session path: ${session.path.label}`)
    expect(dials).toEqual(['peer', 'webrtc'])
    expect(session.path.label).toBe('direct (hole punched)')
    // The circuit the hole punch was signalled over is hung up: it carries no file data.
    expect(closed).toBe(1)
  }, 30_000)
})

describe('connect to a peer reachable only through a public relay', () => {
  // Each attempt is a new circuit through a stranger's relay (identify, WebRTC signalling over it);
  // a get that keeps looking for seeders tried every round and spent 161-176 KB of the relay in
  // 45 s (test/internet/direct.test.ts). After a NoPathError the peer is not dialled again for
  // DIRECT_RETRY_MS unless a new address for it turns up.
  it('fails at once without dialling until a new address turns up', async () => {
    const w = await world()
    const webrtc = multiaddr(`/ip4/11.0.0.10/tcp/4001/p2p/${w.relay.toString()}/p2p-circuit/webrtc/p2p/${w.seeder.toString()}`)
    let closed = 0
    const limited = { remotePeer: w.seeder, remoteAddr: w.circuit, limits: { bytes: 131_072n, seconds: 120 }, status: 'open', newStream: w.open, streams: [], close: async () => { closed++ } } as unknown as Connection
    const dials: string[] = []
    const addresses = [w.circuit, webrtc]
    const cm = {
      getConnections: () => [],
      openConnection: async (target: PeerId | Multiaddr): Promise<Connection> => {
        const t = isMultiaddr(target) ? target.toString() : 'peer'
        dials.push(t.includes('/webrtc') ? 'webrtc' : t === 'peer' ? 'peer' : 'circuit')
        if (t.includes('/webrtc')) throw new Error('ICE failed')
        if (t.includes(w.relay.toString())) return limited
        // The new address: a friend's relay, without limits.
        return { remotePeer: w.seeder, remoteAddr: target, status: 'open', newStream: w.open } as unknown as Connection
      }
    }
    await expect(w.connect(cm, addresses, { directUpgradeTimeoutMs: 1_000 })).rejects.toThrow(NoPathError)
    const first = dials.length
    await expect(w.again()).rejects.toThrow(NoPathError)
    await expect(w.again()).rejects.toThrow(NoPathError)
    console.log(`swarm-circuit-first: limited relay only: ${first} dials (${dials.slice(0, first).join(', ')}), then ${dials.length - first} in two more connects`)
    expect(first).toBeGreaterThan(0)
    expect(dials.length).toBe(first)
    // The limited circuit was hung up: libp2p's pings on it would keep spending the stranger's relay.
    expect(closed).toBe(1)
    // A friend's relay address turns up (a new reservation): dialled again, and the session runs there.
    const friend = await newPeer()
    addresses.push(multiaddr(`/ip4/12.0.0.10/tcp/4001/p2p/${friend.toString()}/p2p-circuit/p2p/${w.seeder.toString()}`))
    const session = await w.again()
    expect(dials.length).toBeGreaterThan(first)
    expect(session.path.label).toBe('via a friend\'s node')
  }, 30_000)
})
