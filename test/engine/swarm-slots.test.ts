/**
 * Review finding A: a link holder must not be able to occupy every session slot of a share with
 * throwaway identities that advertise nothing and ask nothing. Real `Swarm` services on in-memory
 * stream pairs (helpers/mem-swarm.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_SESSIONS_PER_PEER, MAX_SESSIONS_PER_SHARE, type Swarm } from '../../node/engine/swarm/service.js'
import type { ShareState } from '../../node/engine/share/share-state.js'
import { MemNet, newPeer, shareFixture, until } from './helpers/mem-swarm.js'

let net: MemNet
afterEach(async () => { await net?.stop() })

/** Fills the seeder's table for `share`: MAX_SESSIONS_PER_SHARE silent sessions from throwaway IDs. */
async function fill (seeder: { swarm: Swarm, peerId: Parameters<MemNet['squat']>[1] }, share: ShareState, squatter: ShareState): Promise<void> {
  for (let i = 0; i < MAX_SESSIONS_PER_SHARE / MAX_SESSIONS_PER_PEER; i++) {
    const id = await newPeer()
    for (let j = 0; j < MAX_SESSIONS_PER_PEER; j++) await net.squat(id, seeder.peerId, squatter)
  }
  await until(() => seeder.swarm.sessions(share).length === MAX_SESSIONS_PER_SHARE, 5000, 'the table to fill')
}

describe('swarm session slots', () => {
  it('a full table of silent sessions does not lock out an honest peer; a peer that delivered keeps its slot', async () => {
    net = new MemNet()
    const f = await shareFixture()
    // Idle closing off: this is about eviction alone.
    const seeder = await net.swarm({ sessionIdleTimeoutMs: 0, sessionEvictGraceMs: 200 })
    seeder.swarm.addShare(f.seeder)
    await fill(seeder, f.seeder, f.leecher())
    const squatters = seeder.swarm.sessions(f.seeder)

    // Past the grace period, an honest downloader gets in (a silent squatter gives up its slot).
    await new Promise(resolve => setTimeout(resolve, 300))
    const mine = f.leecher()
    const honest = await net.fetchFrom(seeder.peerId, mine, { sessionIdleTimeoutMs: 0 })
    const session = honest.session
    expect(mine.have!.isComplete()).toBe(true)
    expect(seeder.swarm.sessions(f.seeder).length).toBeLessThanOrEqual(MAX_SESSIONS_PER_SHARE)
    expect(squatters.filter(s => s.closed)).toHaveLength(1)

    // More squatters, after the honest peer's last piece is older than the grace period: they
    // take silent squatters' slots, never the one of the peer that delivered.
    await new Promise(resolve => setTimeout(resolve, 300))
    const served = seeder.swarm.sessions(f.seeder).find(s => s.remotePeer.equals(honest.peerId))!
    expect(served.sent).toBeGreaterThan(0)
    for (let i = 0; i < 10; i++) await net.squat(await newPeer(), seeder.peerId, f.leecher())
    expect(served.closed).toBe(false)
    expect(session.closed).toBe(false)
    expect(seeder.swarm.sessions(f.seeder).length).toBe(MAX_SESSIONS_PER_SHARE)
    // Eviction is not a penalty: nobody was banned.
    expect(f.seeder.banned.size).toBe(0)
  })

  it('a full table of sessions still in their grace period refuses the newcomer', async () => {
    net = new MemNet()
    const f = await shareFixture()
    const seeder = await net.swarm({ sessionIdleTimeoutMs: 0, sessionEvictGraceMs: 60_000 })
    seeder.swarm.addShare(f.seeder)
    await fill(seeder, f.seeder, f.leecher())
    const late = await net.swarm()
    const mine = f.leecher()
    late.swarm.addShare(mine)
    // The initiator finishes its half of admission before the responder refuses: its session ends at once.
    const refused = await late.swarm.connect(seeder.peerId, mine, AbortSignal.timeout(5000)).catch(() => undefined)
    if (refused !== undefined) await until(() => refused.closed, 5000, 'the refused session to close')
    expect(seeder.swarm.sessions(f.seeder)).toHaveLength(MAX_SESSIONS_PER_SHARE)
    expect(seeder.swarm.sessions(f.seeder).every(s => !s.closed)).toBe(true)
  })

  it('a session with no piece either way is closed at the idle timeout, without a ban; a transfer is not', async () => {
    net = new MemNet()
    const f = await shareFixture()
    const seeder = await net.swarm({ sessionIdleTimeoutMs: 300 })
    seeder.swarm.addShare(f.seeder)
    await net.squat(await newPeer(), seeder.peerId, f.leecher())
    await until(() => seeder.swarm.sessions(f.seeder).length === 1, 5000, 'the squatter to be admitted')
    const [squat] = seeder.swarm.sessions(f.seeder)
    await until(() => squat!.closed, 5000, 'the silent session to close')
    expect(f.seeder.banned.size).toBe(0)

    const mine = f.leecher()
    const { session } = await net.fetchFrom(seeder.peerId, mine, { sessionIdleTimeoutMs: 300 })
    expect(mine.have!.isComplete()).toBe(true)
    // Both done: nothing left to exchange, so this session goes too, politely.
    await until(() => session.closed, 5000, 'the finished session to close')
    expect(mine.banned.size).toBe(0)
  })
})
