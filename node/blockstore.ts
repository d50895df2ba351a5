/**
 * The repo's content-addressed block store (blockstore-fs underneath). Every block is verified
 * against its CID on the way in and again on the way out, so a block that rotted on disk (or was
 * tampered with) is never used or served (SECURITY.md §3).
 */
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../protocol/cid.js'
import { nativeBackend } from './crypto-native.js'
import { mapDiskError } from './repo.js'

export class KithBlockstore {
  readonly #fs: FsBlockstore

  constructor (dir: string) {
    this.#fs = new FsBlockstore(dir)
  }

  async open (): Promise<void> { await this.#fs.open() }
  async close (): Promise<void> { await this.#fs.close() }

  /** Stores `bytes` under `cid` after checking they hash to it (IntegrityError otherwise). */
  async put (cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    verifyBlock(nativeBackend, cid, bytes)
    try {
      await this.#fs.put(cid, bytes, options)
    } catch (err) {
      mapDiskError(err, 'the block store')
    }
  }

  /** The bytes under `cid`, re-verified. Throws IntegrityError if the stored copy is corrupt. */
  async get (cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const parts: Uint8Array[] = []
    let n = 0
    for await (const p of this.#fs.get(cid, options)) { parts.push(p); n += p.length }
    const bytes = parts.length === 1 ? parts[0] as Uint8Array : Buffer.concat(parts, n)
    verifyBlock(nativeBackend, cid, bytes)
    return bytes
  }

  async has (cid: CID, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return await this.#fs.has(cid, options)
  }

  async delete (cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#fs.delete(cid, options)
  }
}
