/**
 * The repo's content-addressed block store: sealed chunks and manifest blocks, on disk through
 * blockstore-fs. Every block is verified against its CID on the way in (a block whose bytes do not
 * hash to its name is never stored) and again on the way out (a block that rotted on disk, or was
 * edited by hand, is never used or served: docs/THREAT-MODEL.md §2.3). Both checks throw `IntegrityError`.
 *
 * Layout: `blocks/<last 2 chars of the base32 CID>/<BASE32 CID>.data` (blockstore-fs's
 * NextToLast sharding: Kith CIDs are SHA-256, so their last characters spread blocks evenly over
 * 1024 folders). blockstore-fs writes each block to a temporary file and renames it into place,
 * so a crash never leaves a half-written block under its name (and if it did, the read check
 * would catch it).
 */
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../../protocol/cid.js'
import { MAX_CHUNK_CIPHERTEXT } from '../../protocol/constants.js'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { IntegrityError } from '../../protocol/errors.js'
import { nativeBackend } from '../crypto/native.js'
import { DiskFullError } from '../errors.js'

/** No Kith block is larger than a sealed chunk of the largest chunk size (roots are ≤ 64 KiB). */
export const MAX_BLOCK_SIZE = MAX_CHUNK_CIPHERTEXT

export interface BlockOptions { signal?: AbortSignal }

export class KithBlockstore {
  /** `put` and `get` check every block against its CID (BlockStore.verifies). */
  readonly verifies = true
  readonly path: string
  readonly #fs: FsBlockstore
  readonly #backend: CryptoBackend

  constructor (dir: string, options: { backend?: CryptoBackend } = {}) {
    this.#fs = new FsBlockstore(dir, {
      createIfMissing: true,
      shardingStrategy: new NextToLast({ prefixLength: 2, extension: '.data' })
    })
    this.path = this.#fs.path
    this.#backend = options.backend ?? nativeBackend
  }

  async open (): Promise<void> {
    try {
      await this.#fs.open()
    } catch (err) {
      DiskFullError.rethrow(err, this.path)
    }
  }

  async close (): Promise<void> { await this.#fs.close() }

  /**
   * Stores `bytes` under `cid` after checking that they hash to it (`IntegrityError` otherwise,
   * and nothing is written). Storing a block that is already there rewrites it (atomically), which
   * also repairs a copy that went bad on disk.
   */
  async put (cid: CID, bytes: Uint8Array, options: BlockOptions = {}): Promise<void> {
    if (bytes.length > MAX_BLOCK_SIZE) throw new IntegrityError(`block larger than ${MAX_BLOCK_SIZE} bytes: not a Kith block`)
    verifyBlock(this.#backend, cid, bytes)
    try {
      await this.#fs.put(cid, bytes, options)
    } catch (err) {
      DiskFullError.rethrow(err, this.path)
    }
  }

  /**
   * The bytes stored under `cid`, re-verified: throws `IntegrityError` if the copy on disk is
   * corrupt (and the caller should fetch it again), and blockstore-fs's `NotFoundError` if absent.
   */
  async get (cid: CID, options: BlockOptions = {}): Promise<Uint8Array> {
    const parts: Uint8Array[] = []
    let n = 0
    for await (const p of this.#fs.get(cid, options)) {
      n += p.length
      if (n > MAX_BLOCK_SIZE) throw new IntegrityError('stored block is larger than any Kith block: corrupt on disk')
      parts.push(p)
    }
    const bytes = parts.length === 1 ? parts[0] as Uint8Array : concat(parts, n)
    try {
      verifyBlock(this.#backend, cid, bytes)
    } catch (err) {
      throw new IntegrityError('stored block does not match its content ID: corrupt on disk', { cause: err })
    }
    // A plain Uint8Array view (not a Buffer): callers compare and slice it like any other block.
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  async has (cid: CID, options: BlockOptions = {}): Promise<boolean> {
    return await this.#fs.has(cid, options)
  }

  /** Removes a block; removing one that is absent is a no-op. */
  async delete (cid: CID, options: BlockOptions = {}): Promise<void> {
    await this.#fs.delete(cid, options)
  }
}

function concat (parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}
