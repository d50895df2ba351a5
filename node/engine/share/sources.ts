/**
 * Where a node's sealed chunks come from when it serves them.
 *
 * - A publisher, and a downloader (from its partial or finished files), keeps no ciphertext copy:
 *   it re-reads the plaintext and re-seals it. The nonce is deterministic per (share, index), so
 *   the bytes are identical to the published ones, and ShareState.readChunk checks each against
 *   its digest before it is sent: a file edited after sharing is detected at the first changed
 *   chunk and the share stops being served (docs/THREAT-MODEL.md §2.2: one (key, nonce), one plaintext).
 * - A blind seeder (seed-only capability) cannot seal: it stores the ciphertext in its blockstore.
 */
import { cidFromDigest } from '../../../protocol/cid.js'
import { chunkPlaintextLength, locateChunk, type ManifestMeta } from '../../../protocol/manifest.js'
import type { ChunkCrypto } from './chunk-crypto.js'
import { SourceChangedError } from '../errors.js'
import type { BlockStore, ChunkSource, ShareState } from './share-state.js'

/** Reads `length` plaintext bytes of chunk `position` of file `fileIndex`, or undefined. */
export type PlaintextReader = (fileIndex: number, position: number, length: number) => Promise<Uint8Array | undefined>

/**
 * Re-seals chunks from plaintext files, read through `readPlain` (platform-specific), and checks
 * each against its digest in the same step (`crypto.seal`, possibly on a worker).
 */
export class PlaintextChunkSource implements ChunkSource {
  readonly verified = true

  constructor (
    private readonly meta: ManifestMeta,
    private readonly chunkSize: number,
    private readonly crypto: ChunkCrypto,
    private readonly digest: (index: number) => Uint8Array,
    private readonly readPlain: PlaintextReader
  ) {}

  async read (index: number): Promise<Uint8Array | undefined> {
    const loc = locateChunk(this.meta, index)
    const length = chunkPlaintextLength(loc.file, loc.position, this.chunkSize)
    const plaintext = await this.readPlain(loc.fileIndex, loc.position, length)
    if (plaintext === undefined || plaintext.length !== length) return undefined
    const sealed = await this.crypto.seal(index, loc.last, plaintext, this.digest(index))
    if (sealed === undefined) throw new SourceChangedError(index)
    return sealed
  }
}

/** Serves ciphertext kept in a blockstore (blind seeders). */
export class BlockstoreChunkSource implements ChunkSource {
  constructor (private readonly share: ShareState, private readonly blocks: BlockStore) {}

  /** A verifying store's `get` already checks each block against its CID (the chunk's digest). */
  get verified (): boolean { return this.blocks.verifies === true }

  async read (index: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const cid = cidFromDigest(this.share.chunkDigest(index))
    if (!(await this.blocks.has(cid, { signal }))) return undefined
    return await this.blocks.get(cid, { signal })
  }
}
