/**
 * What the swarm knows about one share: its seed keys, the manifest once known, which chunks this
 * node holds, and where to read pieces from. Sessions serve from it; the downloader fills it.
 *
 * Everything served is verified against its digest on the way out as well as on the way in: a
 * chunk regenerated from a source file that changed, or a block that rotted on disk, is never
 * sent (docs/THREAT-MODEL.md §2.2, §2.3).
 */
import { TypedEventEmitter } from 'main-event'
import type { CID } from 'multiformats/cid'
import { Bitfield } from '../../../protocol/bitfield.js'
import { cidFromDigest, digestEquals } from '../../../protocol/cid.js'
import { DIGEST_BYTES } from '../../../protocol/constants.js'
import type { CryptoBackend } from '../../../protocol/crypto.js'
import type { SeedKeys } from '../../../protocol/keys.js'
import { metaPieceCount, type ManifestIndex } from '../../../protocol/manifest.js'
import { SourceChangedError } from '../errors.js'

/** Where a node's ciphertext chunks come from. */
export interface ChunkSource {
  /**
   * The sealed bytes of chunk `index`, or undefined if this node cannot produce it. Callers verify
   * the result against the manifest digest before sending it, unless the source says `verified`.
   */
  read (index: number, signal?: AbortSignal): Promise<Uint8Array | undefined>
  /**
   * True if `read` returns only bytes it checked against the chunk's digest, and throws for a
   * chunk that no longer matches (SourceChangedError: the source changed; IntegrityError: a block
   * rotted in the store).
   */
  readonly verified?: boolean
}

/** A content-addressed block store (ciphertext chunks and manifest blocks). */
export interface BlockStore {
  get (cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  put (cid: CID, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  has (cid: CID, options?: { signal?: AbortSignal }): Promise<boolean>
  /**
   * True if `put` refuses bytes that do not hash to their CID and `get` re-checks them, both with
   * IntegrityError (node/repo/blockstore.ts): callers need not hash them again.
   */
  readonly verifies?: boolean
}

export interface ShareStateEvents {
  /** This node now holds chunk `detail`. */
  have: CustomEvent<number>
  /** The manifest (index and chunk digests) became known. */
  manifest: CustomEvent<void>
  /** This node's source for the share changed under it (e.g. the shared file was edited). */
  'source-changed': CustomEvent<number>
}

export class ShareState extends TypedEventEmitter<ShareStateEvents> {
  readonly keys: SeedKeys
  readonly rootCid: CID
  readonly backend: CryptoBackend
  readonly blocks: BlockStore
  root: Uint8Array | undefined
  index: ManifestIndex | undefined
  /** Flat chunk digests (chunks × 32 bytes) once the manifest tree is expanded. */
  digests: Uint8Array | undefined
  /** Digest of each manifest block by wire position, once known. */
  blockDigests: Uint8Array[] = []
  have: Bitfield | undefined
  source: ChunkSource | undefined
  /** Peers dropped from this swarm for misbehaviour (peer ID strings); kept in memory only. */
  readonly banned = new Set<string>()
  /** Sealed bytes served to peers, and verified bytes received, over this process's life. */
  uploaded = 0
  downloaded = 0
  /** False once the source is found changed: the share stops being served. */
  serving = true

  constructor (init: { keys: SeedKeys, rootCid: CID, backend: CryptoBackend, blocks: BlockStore }) {
    super()
    this.keys = init.keys
    this.rootCid = init.rootCid
    this.backend = init.backend
    this.blocks = init.blocks
  }

  /** The swarm identifier sent in `hello`: the discovery key. */
  get swarmId (): Uint8Array { return this.keys.discovery }

  get pieces (): number { return this.index?.chunks ?? 0 }

  /** Installs the opened manifest: index, flat digests, block digests; sizes the have-map. */
  setManifest (root: Uint8Array, index: ManifestIndex, digests: Uint8Array, treeBlockDigests: Uint8Array[], have?: Bitfield): void {
    this.root = root
    this.index = index
    this.digests = digests
    const meta: Uint8Array[] = []
    for (let i = 0; i < metaPieceCount(index); i++) meta.push(index.metaPieces.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES))
    this.blockDigests = [...meta, ...treeBlockDigests]
    this.have = have ?? new Bitfield(index.chunks)
    this.dispatchEvent(new CustomEvent('manifest'))
  }

  chunkDigest (index: number): Uint8Array {
    if (this.digests === undefined) throw new Error('manifest not known yet')
    return this.digests.subarray(index * DIGEST_BYTES, (index + 1) * DIGEST_BYTES)
  }

  markHave (index: number): void {
    if (this.have === undefined || this.have.get(index)) return
    this.have.set(index)
    this.dispatchEvent(new CustomEvent('have', { detail: index }))
  }

  /** Verified sealed bytes of chunk `index`, or undefined. Stops serving if the source changed. */
  async readChunk (index: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (!this.serving || this.have?.get(index) !== true || this.source === undefined) return undefined
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.source.read(index, signal)
    } catch (err) {
      if (err instanceof SourceChangedError) this.#sourceChanged(index)
      throw err
    }
    if (bytes === undefined) return undefined
    if (this.source.verified !== true && !digestEquals(this.backend.sha256(bytes), this.chunkDigest(index))) {
      this.#sourceChanged(index)
      throw new SourceChangedError(index)
    }
    return bytes
  }

  /** The same (key, nonce) must never seal two plaintexts on the wire (docs/THREAT-MODEL.md §2.2): stop. */
  #sourceChanged (index: number): void {
    if (!this.serving) return
    this.serving = false
    this.dispatchEvent(new CustomEvent('source-changed', { detail: index }))
  }

  /** Verified bytes of manifest block `position`, or undefined. */
  async readBlock (position: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const digest = this.blockDigests[position]
    if (digest === undefined || !this.serving) return undefined
    const cid = cidFromDigest(digest)
    if (!(await this.blocks.has(cid, { signal }))) return undefined
    const bytes = await this.blocks.get(cid, { signal })
    return digestEquals(this.backend.sha256(bytes), digest) ? bytes : undefined
  }
}
