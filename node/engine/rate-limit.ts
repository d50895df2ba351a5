/**
 * Token-bucket byte-rate limiter, as BitTorrent clients have for upload and download.
 * One limiter per node and direction; every session draws from it, so the cap holds across all
 * peers and shares. Rate 0 means unlimited. The bucket holds one second of rate; a take larger than
 * that waits for a full bucket and then drives it negative, so the long-run average never exceeds
 * the cap whatever the chunk size.
 *
 * Takes are served first come, first served: a take waits behind every take queued before it,
 * and one arriving while others wait never jumps the queue, even when the bucket could pay for
 * it. A session has at most one take outstanding (it pays for one piece before it sends the next),
 * so the budget goes round the waiting sessions in turn: one session cannot take a second piece
 * while another waits for its first (docs/HARDENING.md, hostile downloaders).
 */

interface Waiter {
  bytes: number
  resolve: () => void
  reject: (err: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

export class RateLimiter {
  #rate: number
  #tokens: number
  #last: number
  readonly #now: () => number
  readonly #queue: Waiter[] = []
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor (bytesPerSecond: number, now: () => number = () => performance.now()) {
    this.#rate = Math.max(0, bytesPerSecond)
    this.#now = now
    this.#last = now()
    this.#tokens = this.#burst
  }

  get rate (): number { return this.#rate }

  set rate (bytesPerSecond: number) {
    this.#refill()
    this.#rate = Math.max(0, bytesPerSecond)
    this.#tokens = Math.min(this.#tokens, this.#burst)
    this.#reschedule()
  }

  /** Takes waiting for the budget now. */
  get waiting (): number { return this.#queue.length }

  get #burst (): number { return this.#rate }

  #refill (): void {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate / 1000)
    this.#last = now
  }

  /**
   * Waits until `bytes` may pass, then takes them. Rejects if `signal` aborts. A change of `rate`
   * applies to takes already waiting; set to 0, it lets them through.
   */
  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.#rate === 0) return
    signal?.throwIfAborted()
    if (this.#queue.length === 0) {
      this.#refill()
      if (this.#tokens >= Math.min(bytes, this.#burst)) {
        this.#tokens -= bytes
        return
      }
    }
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = { bytes, resolve, reject, signal }
      if (signal !== undefined) {
        w.onAbort = () => {
          const i = this.#queue.indexOf(w)
          if (i >= 0) this.#queue.splice(i, 1)
          reject(signal.reason)
          // The head left: the next one may be payable now.
          if (i === 0) this.#reschedule()
        }
        signal.addEventListener('abort', w.onAbort, { once: true })
      }
      this.#queue.push(w)
      if (this.#queue.length === 1) this.#reschedule()
    })
  }

  /**
   * Gives back `bytes` taken for what never left (a piece paid in advance and cut short when its
   * session ended), up to a full bucket.
   */
  refund (bytes: number): void {
    if (this.#rate === 0 || bytes <= 0) return
    this.#refill()
    this.#tokens = Math.min(this.#burst, this.#tokens + bytes)
    this.#reschedule()
  }

  /** Pays the head of the queue while the bucket allows, then sleeps until the next can be paid. */
  #pump (): void {
    this.#timer = undefined
    for (;;) {
      const w = this.#queue[0]
      if (w === undefined) return
      if (this.#rate !== 0) {
        this.#refill()
        const need = Math.min(w.bytes, this.#burst)
        if (this.#tokens < need) {
          const wait = Math.min(1000, Math.ceil((need - this.#tokens) * 1000 / this.#rate))
          this.#timer = setTimeout(() => { this.#pump() }, Math.max(1, wait))
          return
        }
        this.#tokens -= w.bytes
      }
      this.#queue.shift()
      if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort)
      w.resolve()
    }
  }

  #reschedule (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#queue.length > 0) this.#pump()
  }
}
