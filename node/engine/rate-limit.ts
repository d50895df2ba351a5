/**
 * Token-bucket byte-rate limiter, as BitTorrent clients have for upload and download.
 * One limiter per node and direction; every session draws from it, so the cap holds across all
 * peers and shares. Rate 0 means unlimited. The bucket holds one second of rate; a take larger than
 * that waits for a full bucket and then drives it negative, so the long-run average never exceeds
 * the cap whatever the chunk size.
 */
import { sleep } from './abort.js'

export class RateLimiter {
  #rate: number
  #tokens: number
  #last: number
  readonly #now: () => number

  constructor (bytesPerSecond: number, now: () => number = () => performance.now()) {
    this.#rate = Math.max(0, bytesPerSecond)
    this.#now = now
    this.#last = now()
    this.#tokens = this.#burst
  }

  get rate (): number { return this.#rate }

  set rate (bytesPerSecond: number) {
    this.#rate = Math.max(0, bytesPerSecond)
    this.#tokens = Math.min(this.#tokens, this.#burst)
  }

  get #burst (): number { return this.#rate }

  #refill (): void {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate / 1000)
    this.#last = now
  }

  /**
   * Waits until `bytes` may pass, then takes them. Rejects if `signal` aborts. A change of `rate`
   * applies to takes already waiting (within a second); set to 0, it lets them through.
   */
  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    for (let i = 0; ; i++) {
      if (this.#rate === 0) return
      signal?.throwIfAborted()
      this.#refill()
      const need = Math.min(bytes, this.#burst)
      if (this.#tokens >= need) {
        this.#tokens -= bytes
        return
      }
      const wait = Math.min(1000, Math.ceil((need - this.#tokens) * 1000 / this.#rate))
      await sleep(Math.max(1, wait), signal)
    }
  }
}
