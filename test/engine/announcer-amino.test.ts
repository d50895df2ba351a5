/**
 * The announcer in amino mode (node/engine/announcer.ts): which epoch key it provides on the Amino
 * DHT, when it provides again, and that it stops re-providing the old key at the rollover. The DHTs
 * are recording stand-ins (what reaches Amino is what is under test; the real DHT path runs against
 * stock Helia in test/internet/amino.test.ts).
 */
import { describe, expect, it } from 'vitest'
import type { Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { aminoProviderKey, deriveShareKeys } from '../../protocol/index.js'
import { Announcer, type AnnouncerLibp2p } from '../../node/engine/announcer.js'
import type { ShareState } from '../../node/engine/share/share-state.js'
import { FIXED_ROOT } from '../protocol/helpers/fixtures.js'

interface Calls { provided: string[], cancelled: string[], put: number }

/** A DHT stand-in whose provide reaches `servers` DHT servers (an ADD_PROVIDER answered by each). */
function recordingDht (calls: Calls, servers = 1): unknown {
  return {
    async * provide (key: CID) {
      calls.provided.push(key.toString())
      for (let i = 0; i < servers; i++) yield { name: 'PEER_RESPONSE', messageType: 'ADD_PROVIDER' }
    },
    async * put () { calls.put++ },
    async cancelReprovide (key: CID) { calls.cancelled.push(key.toString()) }
  }
}

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as unknown as Logger

function setup (amino: boolean, servers = { kith: 1, amino: 1 }): { announcer: Announcer, kith: Calls, pub: Calls, clock: { now: number }, state: ShareState } {
  const kith: Calls = { provided: [], cancelled: [], put: 0 }
  const pub: Calls = { provided: [], cancelled: [], put: 0 }
  const libp2p = {
    getConnections: () => [{}],
    services: { dht: recordingDht(kith, servers.kith), ...(amino ? { amino: recordingDht(pub, servers.amino) } : {}) }
  } as unknown as AnnouncerLibp2p
  const keys = deriveShareKeys(FIXED_ROOT)
  const state = { serving: true, root: undefined, rootCid: keys.discoveryCid, keys } as unknown as ShareState
  const clock = { now: Date.UTC(2025, 11, 3, 22, 0) } // epoch 20425, 22:00 UTC
  const announcer = new Announcer(libp2p, log, () => true, { now: () => clock.now })
  return { announcer, kith, pub, clock, state }
}

describe('Announcer on the Amino DHT', () => {
  it('provides the current epoch key (never the discovery key), again after 12 h, and the new key at the rollover, cancelling the old one', async () => {
    const { announcer, kith, pub, clock, state } = setup(true)
    const keys = deriveShareKeys(FIXED_ROOT)
    const today = aminoProviderKey(keys.discovery, 20425).toString()
    const tomorrow = aminoProviderKey(keys.discovery, 20426).toString()
    try {
      expect(await announcer.announce(state)).toBe(true)
      expect(pub.provided).toEqual([today])
      expect(kith.provided).toEqual([keys.discoveryCid.toString()])
      expect(pub.provided).not.toContain(keys.discoveryCid.toString())
      expect(pub.put).toBe(0) // nothing is ever put on Amino

      clock.now += 60 * 60 * 1000 // 23:00, same epoch, within 12 h: Kith DHT again, Amino not
      await announcer.announce(state)
      expect(pub.provided).toEqual([today])
      expect(kith.provided.length).toBe(2)

      clock.now += 61 * 60 * 1000 // 00:01 the next day: the new key, the old one cancelled
      await announcer.announce(state)
      expect(pub.provided).toEqual([today, tomorrow])
      expect(pub.cancelled).toEqual([today])

      clock.now += 12 * 60 * 60 * 1000 + 1000 // 12 h later, same epoch: provided again
      await announcer.announce(state)
      expect(pub.provided).toEqual([today, tomorrow, tomorrow])
      expect(pub.cancelled).toEqual([today])

      announcer.forget(state) // unshared: the current key stops being re-provided
      await new Promise(resolve => setTimeout(resolve, 10))
      expect(pub.cancelled).toEqual([today, tomorrow])
    } finally {
      announcer.stop()
    }
  })

  it('a provide that reached no DHT server is not counted as announced (Kith DHT or Amino), and is not remembered as done', async () => {
    for (const servers of [{ kith: 0, amino: 1 }, { kith: 1, amino: 0 }]) {
      const { announcer, pub, state } = setup(true, servers)
      try {
        // Before: kad-dht's provide ended quietly with nobody reached, and this said true.
        expect(await announcer.announce(state)).toBe(false)
        // Amino's epoch key that reached nobody is provided again on the next try, not skipped for
        // 12 h; one that reached a server is not.
        await announcer.announce(state)
        expect(pub.provided.length).toBe(servers.amino === 0 ? 2 : 1)
      } finally {
        announcer.stop()
      }
    }
  })

  it('a local node sends nothing to Amino', async () => {
    const { announcer, kith, pub, state } = setup(false)
    try {
      expect(await announcer.announce(state)).toBe(true)
      expect(kith.provided.length).toBe(1)
      expect(pub.provided).toEqual([])
    } finally {
      announcer.stop()
    }
  })
})
