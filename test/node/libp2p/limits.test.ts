/**
 * docs/THREAT-MODEL.md §2.8 on real loopback nodes: the connection cap holds, a swarm stream that never
 * completes admission is closed at the handshake deadline, and an oversized frame before
 * admission resets the stream without the node noticing anything else.
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { afterAll, describe, expect, it } from 'vitest'
import { SWARM_PROTOCOL } from '../../../protocol/constants.js'
import { createKithLibp2p, type KithServices } from '../../../node/libp2p/assembly.js'
import { HANDSHAKE_TIMEOUT_MS } from '../../../node/engine/swarm/handshake.js'
import { startNode, stopNode, waitFor, type TestNode } from '../helpers/nodes.js'

const started: Libp2p[] = []
const nodes: TestNode[] = []
afterAll(async () => {
  await Promise.all(started.map(async n => { await n.stop() }))
  await Promise.all(nodes.map(stopNode))
}, 30_000)

async function make (init: Parameters<typeof createKithLibp2p>[0] = {}): Promise<Libp2p<KithServices>> {
  const node = await createKithLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'], ...init })
  started.push(node)
  return node
}

describe('limits', () => {
  it('a node keeps at most maxConnections connections however many peers dial it', async () => {
    const cap = 3
    const hub = await make({ maxConnections: cap })
    const addr = hub.getMultiaddrs()[0]!
    const dialers = await Promise.all(Array.from({ length: 8 }, async () => await make()))
    await Promise.allSettled(dialers.map(async d => await d.dial(addr, { signal: AbortSignal.timeout(5_000) })))
    await waitFor(() => hub.getConnections().length <= cap, 10_000, 'the hub to prune down to its cap')
    // And it stays there.
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(hub.getConnections().length).toBeLessThanOrEqual(cap)
  })

  it('a swarm stream that never completes admission is closed at the deadline; an oversized first frame is reset at once', async () => {
    const seeder = await startNode(); nodes.push(seeder)
    const peer = await make()
    const addr = seeder.node.addrs()[0]!
    const { multiaddr } = await import('@multiformats/multiaddr')

    // Oversized frame: a length prefix announcing 1 MiB before admission.
    const big = await peer.dialProtocol(multiaddr(addr), SWARM_PROTOCOL)
    const lpBig = lpStream(big)
    await lpBig.write(new Uint8Array(1024 * 1024)).catch(() => {})
    await expect(lpBig.read({ signal: AbortSignal.timeout(5_000) })).rejects.toThrow()

    // Silent peer: opens the stream and sends nothing.
    const t0 = Date.now()
    const silent = await peer.dialProtocol(multiaddr(addr), SWARM_PROTOCOL)
    const lp = lpStream(silent)
    await expect(lp.read({ signal: AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS + 10_000) })).rejects.toThrow()
    const waited = Date.now() - t0
    expect(waited).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 500)
    expect(waited).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 5_000)
    // The seeder is unharmed: it still answers a ping.
    expect(await peer.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(5_000) })).toBeGreaterThanOrEqual(0)
  }, 40_000)
})

describe('the connection cap picks what to close', () => {
  it('peers that delivered are closed last: throwaway sessions that move nothing go before them, newest first', async () => {
    const { pickExcess } = await import('../../../node/libp2p/connection-cap.js')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const peer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const conn = (remotePeer: PeerId, open: number, swarmStream: boolean): Connection =>
      ({ remotePeer, direction: 'inbound', timeline: { open }, streams: swarmStream ? [{ protocol: '/kith/swarm/1.0.0' }] : [] }) as unknown as Connection
    const honest = await peer()
    // The honest seeder connected first and has delivered; five throwaway identities came later,
    // each with an admitted swarm session (busy) that moves nothing.
    const sybils = await Promise.all(Array.from({ length: 5 }, peer))
    const all = [conn(honest, 1, true), ...sybils.map((p, i) => conn(p, 10 + i, true))]
    const delivered = (p: PeerId): boolean => p.equals(honest)
    const closed = pickExcess(all, 1, delivered)
    expect(closed).toHaveLength(5)
    expect(closed.some(c => c.remotePeer.equals(honest))).toBe(false)
    // Without the delivered rank, the cap keeps whichever busy connection is oldest, not the useful one.
    const newestHonest = [conn(honest, 100, true), ...sybils.map((p, i) => conn(p, 10 + i, true))]
    expect(pickExcess(newestHonest, 1, delivered).some(c => c.remotePeer.equals(honest))).toBe(false)
    expect(pickExcess(newestHonest, 1).some(c => c.remotePeer.equals(honest))).toBe(true)
  })
})
