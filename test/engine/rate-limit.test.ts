import { describe, expect, it } from 'vitest'
import { RateLimiter } from '../../node/engine/rate-limit.js'

describe('rate limiter', () => {
  it('holds the long-run average at the cap, even for chunks larger than a second of rate', async () => {
    // 1 MB/s cap, 2 MB chunks: 5 chunks need ≥ 9 s after the initial one-second burst.
    let now = 0
    const limiter = new RateLimiter(1_000_000, () => now)
    const realSetTimeout = globalThis.setTimeout
    // Drive time forward instead of sleeping: each wait advances the fake clock.
    globalThis.setTimeout = ((fn: () => void, ms: number) => { now += ms; return realSetTimeout(fn, 0) }) as typeof setTimeout
    try {
      for (let i = 0; i < 5; i++) await limiter.take(2_000_000)
    } finally {
      globalThis.setTimeout = realSetTimeout
    }
    expect(now).toBeGreaterThanOrEqual(8_000)
    expect(now).toBeLessThan(11_000)
  })

  it('a new rate applies to takes already waiting: 0 lets them through', async () => {
    const limiter = new RateLimiter(1000, () => 0) // the clock stands still: no refill ever
    await limiter.take(3000) // the one-second burst, and 2 s of debt
    let passed = false
    const waiting = limiter.take(1000).then(() => { passed = true })
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(passed).toBe(false)
    limiter.rate = 0
    expect(limiter.rate).toBe(0)
    const t0 = Date.now()
    await waiting
    expect(Date.now() - t0).toBeLessThan(1_500) // within the one sleep in progress
    limiter.rate = 2000
    expect(limiter.rate).toBe(2000)
  })

  it('0 means unlimited', async () => {
    const limiter = new RateLimiter(0, () => 0)
    for (let i = 0; i < 1000; i++) await limiter.take(8_000_000)
  })
})
