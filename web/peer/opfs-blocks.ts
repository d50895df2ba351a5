/**
 * The browser node's block store: manifest blocks (encrypted, content-addressed) of the shares
 * this tab downloads or publishes, kept in the Origin Private File System under
 * `<opfs>/kith-blocks/<cid>` and cached in memory while the tab lives. A reloaded tab resuming a
 * download finds its manifest here instead of asking peers again.
 *
 * Chunk ciphertext is never stored: a share made in the browser is re-sealed from the picked files
 * (the same design as the desktop node: no second copy of what you share), a download's chunks
 * from its OPFS files (web/peer/opfs-target.ts). Blocks untouched for a week are removed by `sweep`;
 * a tab that still uses one keeps it in memory.
 */
import type { CID } from 'multiformats/cid'
import type { BlockStore } from '../../node/engine/share/share-state.js'

const DIR = 'kith-blocks'
const KEEP_MS = 7 * 24 * 60 * 60 * 1000

export class OpfsBlocks implements BlockStore {
  readonly #memory = new Map<string, Uint8Array>()
  #dir: Promise<FileSystemDirectoryHandle | undefined> | undefined

  /** The folder, or undefined where OPFS is unavailable (then the store is memory only). */
  async #folder (): Promise<FileSystemDirectoryHandle | undefined> {
    this.#dir ??= navigator.storage.getDirectory()
      .then(async root => await root.getDirectoryHandle(DIR, { create: true }))
      .catch(() => undefined)
    return await this.#dir
  }

  async get (cid: CID): Promise<Uint8Array> {
    const key = cid.toString()
    const held = this.#memory.get(key)
    if (held !== undefined) return held
    const dir = await this.#folder()
    if (dir !== undefined) {
      try {
        const bytes = new Uint8Array(await (await (await dir.getFileHandle(key)).getFile()).arrayBuffer())
        this.#memory.set(key, bytes)
        return bytes
      } catch {
        // Not stored.
      }
    }
    throw new Error('block not found')
  }

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    const key = cid.toString()
    this.#memory.set(key, bytes)
    const dir = await this.#folder()
    if (dir === undefined) return
    try {
      const w = await (await dir.getFileHandle(key, { create: true })).createWritable()
      await w.write(bytes as Uint8Array<ArrayBuffer>)
      await w.close()
    } catch {
      // Storage full or unavailable: the block stays in memory for this tab.
    }
  }

  async has (cid: CID): Promise<boolean> {
    const key = cid.toString()
    if (this.#memory.has(key)) return true
    const dir = await this.#folder()
    if (dir === undefined) return false
    try {
      await dir.getFileHandle(key)
      return true
    } catch {
      return false
    }
  }

  /** Removes blocks untouched for a week; returns how many. */
  async sweep (now = Date.now()): Promise<number> {
    const dir = await this.#folder()
    if (dir === undefined) return 0
    let removed = 0
    try {
      for await (const [name, h] of dir.entries()) {
        if (h.kind !== 'file' || this.#memory.has(name)) continue
        if (now - (await (h as FileSystemFileHandle).getFile()).lastModified < KEEP_MS) continue
        await dir.removeEntry(name)
        removed++
      }
    } catch {
      // Busy or unavailable: next visit.
    }
    return removed
  }
}
