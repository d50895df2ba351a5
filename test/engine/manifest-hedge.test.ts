/**
 * Fetching a manifest block among silent peers (node/engine/manifest-fetch.ts, fetchFromPeers):
 * peers that admit us and never answer (a lying have-map, a slowloris) must not keep the one peer
 * that answers from being asked. Sessions are stand-ins (only `request` and `closed` are used);
 * time is vitest's fake clock, so the test says when each peer was asked, not how fast it ran.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { nobleBackend } from '../../protocol/crypto.js'
import { BLOCK_HEDGE_MAX, BLOCK_HEDGE_MS, BLOCK_TIMEOUT_MS, fetchFromPeers } from '../../node/engine/manifest-fetch.js'
import type { Session } from '../../node/engine/swarm/session.js'

const log = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: () => log }) as never

afterEach(() => { vi.useRealTimers() })

interface Stub { session: Session, askedAt: number[] }

/** A session that answers `bytes` at once, or (undefined) never: its request times out after `timeoutMs`. */
function stub (bytes: Uint8Array | undefined): Stub {
  const askedAt: number[] = []
  const session = {
    closed: false,
    remotePeer: { toString: () => 'peer' },
    request: async (_kind: string, _index: number, timeoutMs: number) => {
      askedAt.push(Date.now())
      if (bytes !== undefined) return bytes
      return await new Promise<Uint8Array>((_resolve, reject) => setTimeout(() => { reject(new Error('RequestTimeoutError')) }, timeoutMs))
    }
  } as unknown as Session
  return { session, askedAt }
}

describe('manifest blocks among silent peers', () => {
  it('24 silent sessions and one honest: the honest one is asked long before the silent ones time out', async () => {
    vi.useFakeTimers()
    const block = new Uint8Array(1000).fill(7)
    const expected = nobleBackend.sha256(block)
    const silent = Array.from({ length: 24 }, () => stub(undefined))
    const honest = stub(block)
    // The honest session listed last (as when it joined after the hostile crowd).
    const sessions = [...silent, honest].map(s => s.session)
    const t0 = Date.now()
    const got = fetchFromPeers({ backend: nobleBackend, blocks: {} as never, sessions: () => sessions, log, signal: new AbortController().signal }, 'block', 0, expected, { min: 1, max: 1000 })
    const state = { done: false }
    void got.then(() => { state.done = true })
    // Each second one more peer is asked, up to BLOCK_HEDGE_MAX at once, in random order; the
    // silent ones free their slots only at BLOCK_TIMEOUT_MS.
    for (let s = 0; s < 120 && !state.done; s++) await vi.advanceTimersByTimeAsync(BLOCK_HEDGE_MS)
    expect(state.done).toBe(true)
    expect(await got).toEqual(block)
    const askedAfter = (honest.askedAt[0] as number) - t0
    // Whatever the order: before the first silent request times out, BLOCK_HEDGE_MAX peers are
    // asked; every BLOCK_TIMEOUT_MS after, BLOCK_HEDGE_MAX more. 25 peers: within 3 such rounds.
    // (Before: 4 at once in session order, the honest one was asked after 6 timeouts, 90 s, and a
    // stalled-download watchdog of 60 s fired first.)
    expect(askedAfter).toBeLessThanOrEqual(3 * BLOCK_TIMEOUT_MS + BLOCK_HEDGE_MAX * BLOCK_HEDGE_MS)
  })
})
