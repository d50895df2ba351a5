/**
 * Discovery wakes when a session with a seeder ends (node/engine/discovery.ts): after a link drop
 * or a seeder restart the downloader looks for seeders again at once (then DISCOVERY_WAKE_MIN_MS,
 * doubling), instead of waiting out its provider-lookup interval; never more often than one round
 * per DISCOVERY_WAKE_MIN_MS, so a flapping peer cannot make it spin.
 *
 * Real `Swarm` services over in-memory stream pairs (helpers/mem-swarm.ts); the DHT is a stub that
 * lists the seeder. The lookup interval is set long (60 s) so only the wake can explain a prompt
 * reconnection.
 */
import type { PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { ShareFetch, type NodeContext } from '../../node/engine/get.js'
import { DISCOVERY_WAKE_MIN_MS } from '../../node/engine/discovery.js'
import { fakeDiscoveryContext, MemNet, shareFixture, until } from './helpers/mem-swarm.js'
import type { ShareFixture } from './helpers/mem-swarm.js'
import type { Swarm } from '../../node/engine/swarm/service.js'
import { PeerMisbehaviourError } from '../../node/engine/swarm/session.js'

let net: MemNet
afterEach(async () => { await net?.stop() })

const LONG_INTERVALS = [0, 60_000]
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function setup (): Promise<{ f: ShareFixture, seederId: PeerId, seeder: { swarm: Swarm }, me: { swarm: Swarm, peerId: PeerId }, ctx: NodeContext, lookups: () => number }> {
  net = new MemNet()
  const f = await shareFixture()
  const seeder = await net.swarm()
  seeder.swarm.addShare(f.seeder)
  const me = await net.swarm()
  const { ctx, lookups } = fakeDiscoveryContext(me, [seeder.peerId], { discoveryIntervalsMs: LONG_INTERVALS })
  return { f, seederId: seeder.peerId, seeder, me, ctx, lookups }
}

describe('discovery wakes when a session ends', () => {
  it('a restarted seeder is found again without waiting out the 60 s lookup interval', async () => {
    const { f, seederId, seeder, me, ctx, lookups } = await setup()
    const open = await ShareFetch.open(ctx, { keys: f.keys, rootCid: f.rootCid, hints: [], timeoutMs: 30_000 })
    try {
      expect(me.swarm.hasSession(open.state, seederId)).toBe(true)
      const before = lookups()
      // The seeder goes away (its sessions end) and comes back 1 s later with the same peer ID.
      const t0 = Date.now()
      await seeder.swarm.stop()
      await until(() => !me.swarm.hasSession(open.state, seederId), 5_000, 'the session ending')
      await sleep(1_000)
      const again = await net.swarm({}, seederId)
      again.swarm.addShare(f.seeder)
      // Without the wake: the next lookup is 60 s after the first, and this times out.
      await until(() => me.swarm.hasSession(open.state, seederId), 20_000, 'a session with the restarted seeder')
      console.log(`discovery-wake: restarted seeder rejoined ${Date.now() - t0} ms after it stopped (lookup interval 60 s), ${lookups() - before} lookups`)
      expect(lookups() - before).toBeGreaterThanOrEqual(1)
    } finally {
      await open.close({ keep: false })
    }
  }, 40_000)

  it('a seeder dropped for misbehaviour does not wake discovery', async () => {
    const { f, seederId, me, ctx, lookups } = await setup()
    const open = await ShareFetch.open(ctx, { keys: f.keys, rootCid: f.rootCid, hints: [], timeoutMs: 30_000 })
    try {
      const before = lookups()
      for (const s of me.swarm.sessions(open.state)) s.close(new PeerMisbehaviourError('test: a bad frame'))
      await until(() => !me.swarm.hasSession(open.state, seederId), 5_000, 'the session ending')
      expect(open.state.banned.has(seederId.toString())).toBe(true)
      // Woken, discovery would look the providers up again at once; banned, it waits out 60 s.
      await sleep(DISCOVERY_WAKE_MIN_MS + 1_000)
      expect(lookups() - before).toBe(0)
    } finally {
      await open.close({ keep: false })
    }
  }, 40_000)

  it('a flapping seeder cannot make discovery spin: at most one round per DISCOVERY_WAKE_MIN_MS', async () => {
    const { f, seeder, me, ctx, lookups } = await setup()
    const open = await ShareFetch.open(ctx, { keys: f.keys, rootCid: f.rootCid, hints: [], timeoutMs: 30_000 })
    try {
      const before = lookups()
      const t0 = Date.now()
      // The seeder's sessions are cut every 50 ms for 5 s (the seeder stays up and accepts again).
      let cuts = 0
      while (Date.now() - t0 < 5_000) {
        for (const s of seeder.swarm.sessions(f.seeder)) { s.close(); cuts++ }
        await sleep(50)
      }
      const elapsed = Date.now() - t0
      const rounds = lookups() - before
      console.log(`discovery-wake: ${cuts} sessions cut in ${elapsed} ms: ${rounds} lookup rounds (min interval ${DISCOVERY_WAKE_MIN_MS} ms)`)
      expect(cuts).toBeGreaterThan(1)
      expect(rounds).toBeGreaterThanOrEqual(1)
      expect(rounds).toBeLessThanOrEqual(Math.ceil(elapsed / DISCOVERY_WAKE_MIN_MS) + 1)
      expect(me.swarm.isStarted()).toBe(true)
    } finally {
      await open.close({ keep: false })
    }
  }, 40_000)
})
