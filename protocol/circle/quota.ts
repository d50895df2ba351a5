/**
 * Post quotas of a circle log (docs/PROTOCOL.md §9.2): for each author and epoch, which posts count.
 *
 * The posts that count are the longest run of the author's posts of that epoch, taken in entry-id
 * order, that stays within both the count and the byte quota. That run is a function of the set of
 * posts a member has seen, not of the order it saw them in, so members holding the same entries
 * agree on it. A new post either joins the run (perhaps pushing the largest ids out of it, for good)
 * or sorts after the run's end and is over quota. Entry ids are SHA-256 of signed bytes, so an
 * author can only push its own posts out, and only by grinding signatures.
 *
 * Memory: at most `posts` slots per author and epoch, whatever was received. Pure.
 */

export interface QuotaLimits {
  /** Posts that count, per author and epoch. */
  readonly posts: number
  /** Signed bytes of the posts that count, per author and epoch. */
  readonly bytes: number
}

interface Slot { readonly hex: string, readonly size: number }

class Ledger {
  /** The posts that count, sorted by id (hex, so string order is byte order). */
  readonly run: Slot[] = []
  bytes = 0
  /** Smallest id ever pushed out or refused: every id above it is over quota for good. */
  cutoff: string | undefined
  /** Over-quota posts kept hidden because another entry names them. */
  hidden = 0
}

export interface Admission {
  /** The post counts (is within quota). */
  readonly counts: boolean
  /** Earlier posts of the same author and epoch that no longer count. */
  readonly evicted: string[]
}

export class PostQuotas {
  readonly #ledgers = new Map<string, Ledger>()

  constructor (private readonly limits: QuotaLimits) {
    if (!(limits.posts >= 1) || !(limits.bytes >= 1)) throw new RangeError('post quotas must be positive')
  }

  #ledger (author: string, epoch: number): Ledger {
    const key = `${author}/${epoch}`
    let l = this.#ledgers.get(key)
    if (l === undefined) {
      l = new Ledger()
      this.#ledgers.set(key, l)
    }
    return l
  }

  /** Posts of `author` in `epoch` that count. */
  count (author: string, epoch: number): number { return this.#ledgers.get(`${author}/${epoch}`)?.run.length ?? 0 }

  /** Whether a new post of `size` bytes fits without pushing out any of the author's own. */
  fits (author: string, epoch: number, size: number): boolean {
    const l = this.#ledgers.get(`${author}/${epoch}`)
    if (l === undefined) return size <= this.limits.bytes
    return l.cutoff === undefined && l.run.length < this.limits.posts && l.bytes + size <= this.limits.bytes
  }

  /** Counts post `hex` (`size` signed bytes) of `author` in `epoch`, if it is within quota. */
  admit (author: string, epoch: number, hex: string, size: number): Admission {
    const l = this.#ledger(author, epoch)
    if (l.cutoff !== undefined && hex > l.cutoff) return { counts: false, evicted: [] }
    // Binary search: the run stays sorted; at most log2(posts) steps.
    let lo = 0
    let hi = l.run.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((l.run[mid] as Slot).hex < hex) lo = mid + 1
      else hi = mid
    }
    l.run.splice(lo, 0, { hex, size })
    l.bytes += size
    const evicted: string[] = []
    let counts = true
    // Trim the largest ids until both quotas hold again; bounded by the run's length.
    while (l.run.length > this.limits.posts || l.bytes > this.limits.bytes) {
      const out = l.run.pop() as Slot
      l.bytes -= out.size
      if (l.cutoff === undefined || out.hex < l.cutoff) l.cutoff = out.hex
      if (out.hex === hex) counts = false
      else evicted.push(out.hex)
    }
    return { counts, evicted }
  }

  /** Over-quota posts of `author` in `epoch` kept hidden so far. */
  hidden (author: string, epoch: number): number { return this.#ledgers.get(`${author}/${epoch}`)?.hidden ?? 0 }
  noteHidden (author: string, epoch: number): void { this.#ledger(author, epoch).hidden++ }
}
