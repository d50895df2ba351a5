/**
 * A bounded pool of open files keyed by number: each is opened on first use, counted while in
 * use, and once more than `max` are open the idle ones are closed, least recently used first.
 * A download keeps one per file it is writing (node/download/writer.ts), so a share of thousands of
 * files never holds thousands of descriptors.
 */
import type { FileHandle } from 'node:fs/promises'

interface Slot {
  handle: Promise<FileHandle>
  users: number
}

export class FileHandlePool {
  readonly #slots = new Map<number, Slot>()
  readonly #max: number
  readonly #open: (key: number) => Promise<FileHandle>

  /** `open` makes the handle for a key (a failure is not cached: the next acquire tries again). */
  constructor (max: number, open: (key: number) => Promise<FileHandle>) {
    this.#max = max
    this.#open = open
  }

  /** The handle for `key`, opened if needed; pair with `release`. */
  async acquire (key: number): Promise<FileHandle> {
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      const handle = this.#open(key)
      const created: Slot = { handle, users: 0 }
      slot = created
      this.#slots.set(key, created)
      handle.catch(() => { if (this.#slots.get(key) === created) this.#slots.delete(key) })
    } else {
      // Most recently used last (the map's order is the eviction order).
      this.#slots.delete(key)
      this.#slots.set(key, slot)
    }
    slot.users++
    try {
      return await slot.handle
    } catch (err) {
      slot.users--
      throw err
    }
  }

  /** Ends one use of `key`; closes idle handles while more than `max` are open. */
  async release (key: number): Promise<void> {
    const slot = this.#slots.get(key)
    if (slot !== undefined) slot.users--
    if (this.#slots.size <= this.#max) return
    for (const [k, s] of this.#slots) {
      if (this.#slots.size <= this.#max) break
      if (s.users > 0) continue
      this.#slots.delete(k)
      await (await s.handle).close().catch(() => {})
    }
  }

  /** Closes the handle of `key` now; throws if it is in use. */
  async close (key: number): Promise<void> {
    const slot = this.#slots.get(key)
    if (slot === undefined) return
    if (slot.users > 0) throw new Error(`file ${key} is still in use`)
    this.#slots.delete(key)
    await (await slot.handle).close().catch(() => {})
  }

  /** Closes every handle (in use or not). */
  async closeAll (): Promise<void> {
    for (const [k, slot] of [...this.#slots]) {
      this.#slots.delete(k)
      await slot.handle.then(async fh => { await fh.close() }).catch(() => {})
    }
  }
}
