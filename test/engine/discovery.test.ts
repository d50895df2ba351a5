/**
 * Review finding B: fake providers must not hide real seeders. A fetch's discovery on real
 * `Swarm` services over in-memory stream pairs (helpers/mem-swarm.ts); the DHT is a stub that
 * returns Sybil providers (accept the stream, never answer) ahead of the one real seeder.
 */
import type { PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { ShareFetch } from '../../node/engine/get.js'
import { fakeDiscoveryContext, MemNet, shareFixture, until } from './helpers/mem-swarm.js'

let net: MemNet
afterEach(async () => { await net?.stop() })

describe('discovery', () => {
  it('Sybil providers listed first that never answer admission do not hide the real seeder; each is backed off, not redialled every round', async () => {
    net = new MemNet()
    const f = await shareFixture()
    const seeder = await net.swarm()
    seeder.swarm.addShare(f.seeder)
    const fakes: PeerId[] = []
    for (let i = 0; i < 20; i++) fakes.push(await net.silentPeer())
    // A short admission-answer deadline so the test does not wait out the default.
    const me = await net.swarm({ admissionAnswerTimeoutMs: 200 })
    const { ctx, lookups } = fakeDiscoveryContext(me, [...fakes, seeder.peerId])
    // Without the fix: the fakes take every dial slot each round, the seeder is dropped, and the
    // fetch fails with NoSeedersError at this timeout.
    const open = await ShareFetch.open(ctx, { keys: f.keys, rootCid: f.rootCid, hints: [], timeoutMs: 8_000 })
    try {
      expect(open.manifest.meta?.name).toBe('f.bin')
      expect(me.swarm.hasSession(open.state, seeder.peerId)).toBe(true)
      // A second discovery round (2 s later) finds the same fakes backed off: none is dialled again.
      await until(() => lookups() >= 2, 10_000, 'a second provider lookup')
      await new Promise(resolve => setTimeout(resolve, 500))
      for (const id of fakes) expect(net.dials.get(id.toString()) ?? 0).toBeLessThanOrEqual(1)
    } finally {
      await open.close({ keep: false })
    }
  }, 30_000)
})
