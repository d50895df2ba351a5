/**
 * SHA-256 of files whose chunks are written in any order, computed on the way when they come in
 * order (a download mostly does: one cursor, a small window in flight). A chunk ahead of a file's
 * cursor waits in memory, within one byte budget for all files; one that does not fit is left
 * out, and the caller reads the file back from `next × chunkSize` on to finish the digest.
 * Platform-free: Node's download writer (node/download/writer.ts) and the browser's storage worker
 * (web/peer/opfs-worker.ts) both use it, each with its own SHA-256.
 */
import type { Hasher } from '../../../protocol/crypto.js'

interface FileHash { hash: Hasher, next: number, ahead: Map<number, Uint8Array> }

export class OrderedHash {
  readonly #files = new Map<number, FileHash>()
  readonly #budget: number
  readonly #createHasher: () => Hasher
  #aheadBytes = 0

  /** `budget`: bytes of chunks kept in memory while they wait for the cursor. */
  constructor (budget: number, createHasher: () => Hasher) {
    this.#budget = budget
    this.#createHasher = createHasher
  }

  /** Chunk `position` of file `file` was written with these bytes (which are not modified later). */
  add (file: number, position: number, bytes: Uint8Array): void {
    let h = this.#files.get(file)
    if (h === undefined) { h = { hash: this.#createHasher(), next: 0, ahead: new Map() }; this.#files.set(file, h) }
    if (position < h.next || h.ahead.has(position)) return
    if (position > h.next) {
      if (this.#aheadBytes + bytes.length <= this.#budget) {
        h.ahead.set(position, bytes)
        this.#aheadBytes += bytes.length
      }
      return
    }
    h.hash.update(bytes)
    h.next++
    for (let more = h.ahead.get(h.next); more !== undefined; more = h.ahead.get(h.next)) {
      h.ahead.delete(h.next)
      this.#aheadBytes -= more.length
      h.hash.update(more)
      h.next++
    }
  }

  /** Takes file `file`'s hash so far and the first chunk it lacks (forgets the file). */
  take (file: number): { hash: Hasher, next: number } {
    const h = this.#files.get(file)
    this.#files.delete(file)
    if (h === undefined) return { hash: this.#createHasher(), next: 0 }
    for (const b of h.ahead.values()) this.#aheadBytes -= b.length
    return { hash: h.hash, next: h.next }
  }
}
