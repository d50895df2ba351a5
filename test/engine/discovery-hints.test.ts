/**
 * The soak's stalled download (docs/HARDENING.md row 9, seed 1314158588): a download found its
 * seeder through the link's address hint, its session ended under it (a dropped link, a
 * connection reset under load) while the seeder stayed up, and nothing found that seeder again:
 * hints were dialled once, at the start, and the seeder's provider record was missing (a provide
 * that reached nobody). Real `Swarm` services over in-memory stream pairs (helpers/mem-swarm.ts);
 * the DHT is a stub that knows no provider.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocol/bitfield.js'
import { digestEquals } from '../../protocol/cid.js'
import { nobleBackend } from '../../protocol/crypto.js'
import { ShareFetch } from '../../node/engine/get.js'
import { SessionClosedError } from '../../node/engine/swarm/session.js'
import { fakeDiscoveryContext, MemNet, shareFixture, until } from './helpers/mem-swarm.js'

let net: MemNet
afterEach(async () => { await net?.stop() })

describe('discovery: link hints', () => {
  it('a seeder found only through the link hint is found again after its session ends mid-download (no provider record): the download completes', async () => {
    net = new MemNet()
    // 48 chunks of 64 KiB, served at most one per 40 ms: the download takes about 2 s, so the
    // session can be cut in the middle of it.
    const f = await shareFixture(48 * 65536)
    const seeder = await net.swarm()
    const chunks = f.chunks
    f.seeder.source = { read: async (i) => { await new Promise(resolve => setTimeout(resolve, 40)); return chunks[i] } }
    seeder.swarm.addShare(f.seeder)
    const me = await net.swarm()
    // The seeder's provide reached nobody: the DHT lists no provider for the share.
    const { ctx, lookups } = fakeDiscoveryContext(me, [])
    const hint = multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${seeder.peerId.toString()}`).bytes
    // Without the fix this fetch fails with StalledError at this timeout: nothing dials the
    // seeder again after the cut.
    const open = await ShareFetch.open(ctx, { keys: f.keys, rootCid: f.rootCid, hints: [hint], timeoutMs: 6_000 })
    const delivered = new Map<number, Uint8Array>()
    let cut = false
    try {
      const fetching = open.fetch({
        prepare: async () => ({ have: new Bitfield(chunks.length), source: { read: async (i) => delivered.get(i) } }),
        deliver: async (i, sealed) => {
          if (!digestEquals(nobleBackend.sha256(sealed), open.state.chunkDigest(i))) return false
          delivered.set(i, sealed)
          return true
        }
      })
      // A few chunks in, the connection drops under the session (no misbehaviour: no ban).
      await until(() => delivered.size >= 4, 10_000, 'the first chunks')
      const sessions = me.swarm.sessions(open.state)
      expect(sessions).toHaveLength(1)
      for (const s of sessions) s.close(new SessionClosedError('swarm session lost its connection: test'))
      cut = true
      expect(delivered.size).toBeLessThan(chunks.length)
      await fetching
      expect(open.state.have?.isComplete()).toBe(true)
      for (const [i, c] of delivered) expect(digestEquals(nobleBackend.sha256(c), open.state.chunkDigest(i))).toBe(true)
      expect(delivered.size).toBe(chunks.length)
      // Found again through the hint (the DHT knew nothing), with a second dial.
      expect(open.state.banned.size).toBe(0)
      expect(net.dials.get(seeder.peerId.toString()) ?? 0).toBeGreaterThanOrEqual(2)
      expect(lookups()).toBeGreaterThanOrEqual(1)
    } finally {
      expect(cut).toBe(true)
      await open.close({ keep: false })
    }
  }, 30_000)
})
