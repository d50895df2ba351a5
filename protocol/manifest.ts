/**
 * Manifests (docs/PROTOCOL.md §4): what a share contains, encrypted and signed.
 *
 * root block (the DHT record value; its CID is the manifest ID in the link), canonical CBOR:
 *   { v: 1, index: seal(indexKey, Index), meta?: seal(encryptionKey, Meta) }
 * Index  = { body: bstr(canonical CBOR IndexBody), sig: Ed25519(publisher, "kith/v1/manifest-signature" ‖ 0x00 ‖ body) }
 * IndexBody = { v, chunkSize, chunks, bytes, depth, top, meta, metaPieces, publisher }
 * Meta   = { v, name, kind: "file" | "dir", files: [{ path, size, mode, sha256 }] }
 *
 * Two sections under two keys, so a seed-only capability (index key) learns the chunk list and
 * can verify everything it serves, while names, sizes per file and plaintext hashes stay under the
 * encryption key. The signed index body carries sha256 of the sealed Meta, binding the two. The
 * sealed Meta sits inline in the root when small; otherwise it is cut into meta pieces
 * (≤ META_PIECE_BYTES each) fetched like manifest blocks, so the root stays a few KiB whatever the
 * share's size or file count. seal(k, x) = nonce(24, CSPRNG) ‖ XChaCha20-Poly1305(k, nonce, x,
 * aad = domain ‖ 0x00 ‖ version): authenticated encryption for every byte of metadata, never
 * plain encryption (MEGA's malleability attacks, Backendal–Haller–Paterson 2022).
 *
 * Manifests are immutable: a changed share is a new share with a new key.
 */
import type { CID } from 'multiformats/cid'
import { ed25519 } from '@noble/curves/ed25519.js'
import { decodeCanonicalMap, encodeCanonical, Fields } from './_cbor.js'
import { chunkCount, chunkStream, checkChunkSize } from './chunker.js'
import { cidFromDigest, cidOf, digestEquals, verifyBlock } from './cid.js'
import {
  DEFAULT_CHUNK_SIZE, DIGEST_BYTES, DOMAINS, FORMAT_VERSION, INLINE_DIGESTS, MAX_CHUNK_SIZE, MAX_CHUNKS,
  MAX_FILE_SIZE, MAX_FILES, MAX_META_BYTES, MAX_ROOT_BYTES, MAX_TREE_DEPTH, TAG_BYTES, XNONCE_BYTES
} from './constants.js'
import { defaultRandom, xchachaOpen, xchachaSeal, type CryptoBackend, type RandomSource } from './crypto.js'
import { DecryptionError, LimitError, ManifestError, SignatureError, UnsupportedVersionError, WrongKeyError } from './errors.js'
import type { SecretKey, SeedKeys, ShareKeys } from './keys.js'
import { buildTree, treeShape } from './manifest-tree.js'
import { checkFileList, splitPath } from './paths.js'
import { ChunkCipher } from './stream.js'

/** Sealed metadata above this size moves out of the root into meta pieces. */
export const INLINE_META_BYTES = 16 * 1024
/** Size of one meta piece (the last may be shorter). */
export const META_PIECE_BYTES = 256 * 1024
const MAX_META_PIECES = Math.ceil(MAX_META_BYTES / META_PIECE_BYTES)
const encoder = new TextEncoder()

export interface FileEntry {
  /** '/'-separated path relative to the share (for a one-file share: the file name). */
  readonly path: string
  readonly size: number
  /** Unix permission bits, reduced to 0o644 or 0o755 (executable or not). */
  readonly mode: number
  /** SHA-256 of the file's plaintext. */
  readonly sha256: Uint8Array
  /** Index of the file's first chunk in the share, and its chunk count (derived, not stored). */
  readonly firstChunk: number
  readonly chunks: number
}

export interface ManifestMeta {
  readonly name: string
  readonly kind: 'file' | 'dir'
  readonly files: readonly FileEntry[]
  /** Total plaintext bytes. */
  readonly size: number
}

export interface ManifestIndex {
  readonly chunkSize: number
  readonly chunks: number
  /** Total ciphertext bytes of all chunks. */
  readonly bytes: number
  readonly depth: number
  readonly top: Uint8Array
  /** sha256 of the sealed Meta. */
  readonly metaDigest: Uint8Array
  /** Digests of the meta pieces (n × 32 bytes); empty when Meta is inline. */
  readonly metaPieces: Uint8Array
  /** Raw Ed25519 public key of the publisher (its libp2p peer ID derives from it). */
  readonly publisher: Uint8Array
}

/** A root block opened with the seed keys: enough to fetch, verify and serve. */
export interface OpenedRoot {
  readonly id: CID
  readonly index: ManifestIndex
  /** The sealed Meta, when inline in the root. */
  readonly inlineMeta: Uint8Array | undefined
}

export interface Block {
  readonly cid: CID
  readonly bytes: Uint8Array
}

export interface EncryptedChunk {
  /** Position of the chunk in the whole share. */
  readonly index: number
  readonly cid: CID
  readonly digest: Uint8Array
  readonly bytes: Uint8Array
  /** Plaintext length of this chunk. */
  readonly plaintextLength: number
}

/** Signs manifests. `publicKey` is the raw 32-byte Ed25519 key. */
export interface ManifestSigner {
  readonly publicKey: Uint8Array
  sign (message: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** The result of encoding a share. */
export interface EncodedShare {
  readonly root: Block
  /** Meta pieces then tree blocks, in wire order (the "block" index of a request). */
  readonly blocks: readonly Block[]
  readonly index: ManifestIndex
  readonly meta: ManifestMeta
  /** Flat chunk digests (chunks × 32 bytes). */
  readonly digests: Uint8Array
  /** Digests of the tree blocks in wire order (after the meta pieces). */
  readonly treeBlockDigests: readonly Uint8Array[]
}

function sealSection (backend: CryptoBackend, key: SecretKey, domain: string, plaintext: Uint8Array, random: RandomSource): Uint8Array {
  const nonce = random(XNONCE_BYTES)
  const sealed = xchachaSeal(backend, key.bytes, nonce, plaintext, sectionAad(domain))
  const out = new Uint8Array(XNONCE_BYTES + sealed.length)
  out.set(nonce)
  out.set(sealed, XNONCE_BYTES)
  return out
}

function openSection (backend: CryptoBackend, key: SecretKey, domain: string, sealed: Uint8Array): Uint8Array {
  if (sealed.length < XNONCE_BYTES + TAG_BYTES) throw new ManifestError('manifest section too short')
  return xchachaOpen(backend, key.bytes, sealed.subarray(0, XNONCE_BYTES), sealed.subarray(XNONCE_BYTES), sectionAad(domain))
}

function sectionAad (domain: string): Uint8Array {
  const d = encoder.encode(domain)
  const aad = new Uint8Array(d.length + 2)
  aad.set(d)
  aad[d.length + 1] = FORMAT_VERSION
  return aad
}

function signedMessage (body: Uint8Array): Uint8Array {
  const d = encoder.encode(DOMAINS.manifestSignature)
  const m = new Uint8Array(d.length + 1 + body.length)
  m.set(d)
  m.set(body, d.length + 1)
  return m
}

/** Reduces a Unix mode to what Kith carries: executable (0o755) or not (0o644). */
export function normaliseMode (mode: number): number {
  return (mode & 0o111) !== 0 ? 0o755 : 0o644
}

export interface ShareEncoderInit {
  readonly backend: CryptoBackend
  readonly keys: ShareKeys
  /** The share's display name: the file name, or the folder name. */
  readonly name: string
  readonly kind: 'file' | 'dir'
  readonly chunkSize?: number
  /** CSPRNG for section nonces; a parameter so test vectors are reproducible. */
  readonly random?: RandomSource
}

/**
 * Encodes a share: feed each file's bytes through `encryptFile` (in share order), store or send
 * what it yields, then call `finish` to get the root block and manifest blocks.
 *
 * Memory: two chunks in flight plus 32 bytes of digest per chunk (3.2 MB for 100 GiB at 1 MiB).
 */
export class ShareEncoder {
  readonly #init: ShareEncoderInit
  readonly #cipher: ChunkCipher
  readonly #chunkSize: number
  readonly #files: FileEntry[] = []
  #digests = new Uint8Array(64 * DIGEST_BYTES)
  #chunks = 0
  #bytes = 0
  #size = 0
  #busy = false

  constructor (init: ShareEncoderInit) {
    this.#chunkSize = init.chunkSize ?? DEFAULT_CHUNK_SIZE
    checkChunkSize(this.#chunkSize)
    splitPath(init.name)
    if (init.name.includes('/')) throw new ManifestError('share name must be a single path component')
    this.#init = init
    this.#cipher = new ChunkCipher(init.backend, init.keys.encryption, init.keys.noncePrefix)
  }

  get chunkSize (): number { return this.#chunkSize }

  /** Chunks, encrypts and hashes one file, yielding each encrypted chunk as it is made. */
  async * encryptFile (path: string, mode: number, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<EncryptedChunk> {
    if (this.#busy) throw new ManifestError('encryptFile calls must not overlap')
    if (this.#files.length >= MAX_FILES) throw new LimitError(`a share holds at most ${MAX_FILES} files`)
    splitPath(path)
    if (this.#init.kind === 'file' && (this.#files.length > 0 || path !== this.#init.name)) {
      throw new ManifestError('a one-file share holds exactly one file, named as the share')
    }
    this.#busy = true
    try {
      const { backend } = this.#init
      const hasher = backend.createSha256()
      const firstChunk = this.#chunks
      let size = 0
      for await (const chunk of chunkStream(source, this.#chunkSize)) {
        const index = this.#chunks
        if (index >= MAX_CHUNKS) throw new LimitError(`a share holds at most ${MAX_CHUNKS} chunks`)
        hasher.update(chunk.data)
        size += chunk.data.length
        if (size > MAX_FILE_SIZE) throw new LimitError('file too large')
        const bytes = this.#cipher.seal(index, chunk.last, chunk.data)
        const digest = backend.sha256(bytes)
        this.#pushDigest(digest)
        this.#bytes += bytes.length
        yield { index, cid: cidFromDigest(digest), digest, bytes, plaintextLength: chunk.data.length }
      }
      this.#size += size
      this.#files.push({ path, size, mode: normaliseMode(mode), sha256: hasher.digest(), firstChunk, chunks: this.#chunks - firstChunk })
    } finally {
      this.#busy = false
    }
  }

  #pushDigest (digest: Uint8Array): void {
    const at = this.#chunks * DIGEST_BYTES
    if (at + DIGEST_BYTES > this.#digests.length) {
      const grown = new Uint8Array(this.#digests.length * 2)
      grown.set(this.#digests)
      this.#digests = grown
    }
    this.#digests.set(digest, at)
    this.#chunks++
  }

  /** Seals and signs the manifest. */
  async finish (signer: ManifestSigner): Promise<EncodedShare> {
    const { backend, keys, name, kind } = this.#init
    const random = this.#init.random ?? defaultRandom
    if (this.#files.length === 0) throw new ManifestError('a share needs at least one file')
    if (signer.publicKey.length !== 32) throw new RangeError('publisher key must be a raw 32-byte Ed25519 key')
    checkFileList(this.#files.map(f => f.path))

    const meta: ManifestMeta = { name, kind, files: this.#files, size: this.#size }
    const metaSealed = sealSection(backend, keys.encryption, DOMAINS.manifestMetaAad, encodeMeta(meta), random)
    if (metaSealed.length > MAX_META_BYTES) throw new LimitError('too many files or names too long: share metadata over 32 MiB')
    const inline = metaSealed.length <= INLINE_META_BYTES
    const metaBlocks: Block[] = []
    if (!inline) {
      for (let at = 0; at < metaSealed.length; at += META_PIECE_BYTES) {
        const bytes = metaSealed.slice(at, at + META_PIECE_BYTES)
        metaBlocks.push({ cid: cidOf(backend, bytes), bytes })
      }
    }
    const tree = buildTree(backend, this.#digests.subarray(0, this.#chunks * DIGEST_BYTES))
    const metaPieces = new Uint8Array(metaBlocks.length * DIGEST_BYTES)
    metaBlocks.forEach((b, i) => { metaPieces.set(b.cid.multihash.digest, i * DIGEST_BYTES) })

    const index: ManifestIndex = {
      chunkSize: this.#chunkSize,
      chunks: this.#chunks,
      bytes: this.#bytes,
      depth: tree.shape.depth,
      top: tree.top,
      metaDigest: backend.sha256(metaSealed),
      metaPieces,
      publisher: Uint8Array.from(signer.publicKey)
    }
    const body = encodeCanonical({
      v: FORMAT_VERSION,
      chunkSize: index.chunkSize,
      chunks: index.chunks,
      bytes: index.bytes,
      depth: index.depth,
      top: index.top,
      meta: index.metaDigest,
      metaPieces: index.metaPieces,
      publisher: index.publisher
    })
    const sig = await signer.sign(signedMessage(body))
    const indexSealed = sealSection(backend, keys.index, DOMAINS.manifestIndexAad, encodeCanonical({ body, sig }), random)
    const rootBytes = encodeCanonical(inline
      ? { v: FORMAT_VERSION, index: indexSealed, meta: metaSealed }
      : { v: FORMAT_VERSION, index: indexSealed })
    if (rootBytes.length > MAX_ROOT_BYTES) throw new LimitError('manifest root too large')
    const treeBlocks: Block[] = tree.blocks.map(b => ({ cid: cidFromDigest(b.digest), bytes: b.bytes }))
    return {
      root: { cid: cidOf(backend, rootBytes), bytes: rootBytes },
      blocks: [...metaBlocks, ...treeBlocks],
      index,
      meta,
      digests: this.#digests.slice(0, this.#chunks * DIGEST_BYTES),
      treeBlockDigests: tree.blocks.map(b => b.digest)
    }
  }
}

function encodeMeta (meta: ManifestMeta): Uint8Array {
  return encodeCanonical({
    v: FORMAT_VERSION,
    name: meta.name,
    kind: meta.kind,
    files: meta.files.map(f => ({ path: f.path, size: f.size, mode: f.mode, sha256: f.sha256 }))
  })
}

/**
 * Opens a root block with the seed keys: verifies it against its CID, decrypts and checks the
 * index, verifies the publisher's signature. Throws `IntegrityError` (bytes ≠ CID),
 * `WrongKeyError` (the key does not open it), `SignatureError`, `ManifestError`,
 * `UnsupportedVersionError`.
 */
export function openRoot (backend: CryptoBackend, id: CID, rootBytes: Uint8Array, keys: SeedKeys): OpenedRoot {
  if (rootBytes.length > MAX_ROOT_BYTES) throw new ManifestError('manifest root too large')
  verifyBlock(backend, id, rootBytes)
  const rootMap = decodeCanonicalMap(rootBytes, ManifestError, 'manifest root')
  const root = new Fields(rootMap, ManifestError, 'manifest root')
  const version = root.uint('v', 255)
  if (version !== FORMAT_VERSION) throw new UnsupportedVersionError(version, 'manifest')
  root.only('v', 'index', 'meta')
  const indexSealed = root.bytes('index', { max: MAX_ROOT_BYTES })
  let indexBytes: Uint8Array
  try {
    indexBytes = openSection(backend, keys.index, DOMAINS.manifestIndexAad, indexSealed)
  } catch (err) {
    if (err instanceof DecryptionError) throw new WrongKeyError(undefined, { cause: err })
    throw err
  }
  const outer = new Fields(decodeCanonicalMap(indexBytes, ManifestError, 'manifest index'), ManifestError, 'manifest index').only('body', 'sig')
  const body = outer.bytes('body', { max: MAX_ROOT_BYTES })
  const sig = outer.bytes('sig', { exact: 64 })
  const f = new Fields(decodeCanonicalMap(body, ManifestError, 'manifest index body'), ManifestError, 'manifest index body')
    .only('v', 'chunkSize', 'chunks', 'bytes', 'depth', 'top', 'meta', 'metaPieces', 'publisher')
  const v = f.uint('v', 255)
  if (v !== FORMAT_VERSION) throw new UnsupportedVersionError(v, 'manifest')
  const chunkSize = f.uint('chunkSize', MAX_CHUNK_SIZE)
  try { checkChunkSize(chunkSize) } catch (err) { throw new ManifestError('manifest chunk size out of range', { cause: err }) }
  const chunks = f.uint('chunks', MAX_CHUNKS, 1)
  const shape = treeShape(chunks)
  const index: ManifestIndex = {
    chunkSize,
    chunks,
    bytes: f.uint('bytes', chunks * (chunkSize + TAG_BYTES), chunks * TAG_BYTES),
    depth: f.uint('depth', MAX_TREE_DEPTH),
    top: f.bytes('top', { exact: (shape.levels[shape.depth] as number) * DIGEST_BYTES }),
    metaDigest: f.bytes('meta', { exact: DIGEST_BYTES }),
    metaPieces: f.bytes('metaPieces', { max: MAX_META_PIECES * DIGEST_BYTES, multipleOf: DIGEST_BYTES }),
    publisher: f.bytes('publisher', { exact: 32 })
  }
  if (index.depth !== shape.depth) throw new ManifestError('manifest depth does not match its chunk count')
  if (shape.depth === 0 && index.top.length > INLINE_DIGESTS * DIGEST_BYTES) throw new ManifestError('manifest top list too long')
  let valid = false
  try {
    valid = ed25519.verify(sig, signedMessage(body), index.publisher)
  } catch (err) {
    throw new SignatureError(undefined, { cause: err })
  }
  if (!valid) throw new SignatureError()
  let metaSealed: Uint8Array | undefined
  if ('meta' in rootMap) {
    metaSealed = root.bytes('meta', { max: INLINE_META_BYTES })
    if (index.metaPieces.length !== 0) throw new ManifestError('manifest has both inline meta and meta pieces')
    if (!digestEquals(backend.sha256(metaSealed), index.metaDigest)) throw new ManifestError('manifest meta does not match its signed digest')
  } else if (index.metaPieces.length === 0) {
    throw new ManifestError('manifest has no meta')
  }
  return { id, index, inlineMeta: metaSealed }
}

/** Number of meta pieces a manifest has (the first "block" positions on the wire). */
export function metaPieceCount (index: ManifestIndex): number {
  return index.metaPieces.length / DIGEST_BYTES
}

/**
 * The length meta piece `i` of `index` must have (docs/PROTOCOL.md §4.2): every piece but the last
 * is exactly META_PIECE_BYTES, the last 1 … META_PIECE_BYTES. So the sealed Meta of n pieces is at
 * most n × 256 KiB, and n ≤ 128 (openRoot) keeps that ≤ MAX_META_BYTES: a reader checks each piece
 * against this before it keeps or concatenates it, whatever bytes the piece's digest names.
 */
export function metaPieceLength (index: ManifestIndex, i: number): { min: number, max: number } {
  const n = metaPieceCount(index)
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`meta piece ${i} is outside the manifest's ${n}`)
  return i < n - 1 ? { min: META_PIECE_BYTES, max: META_PIECE_BYTES } : { min: 1, max: META_PIECE_BYTES }
}

/** Total manifest blocks (meta pieces + tree blocks): valid "block" positions are [0, n). */
export function manifestBlockCount (index: ManifestIndex): number {
  return metaPieceCount(index) + treeShape(index.chunks).blockCount
}

/**
 * Decrypts and validates the Meta (the sealed bytes: inline, or the meta pieces concatenated in
 * order). Checks its digest against the signed index, every path, and that file sizes add up to
 * the index's chunk count. Throws `WrongKeyError` if the encryption key does not open it.
 */
export function openMeta (backend: CryptoBackend, index: ManifestIndex, metaSealed: Uint8Array, keys: ShareKeys): ManifestMeta {
  if (metaSealed.length > MAX_META_BYTES) throw new ManifestError('manifest meta too large')
  if (!digestEquals(backend.sha256(metaSealed), index.metaDigest)) throw new ManifestError('manifest meta does not match its signed digest')
  let plain: Uint8Array
  try {
    plain = openSection(backend, keys.encryption, DOMAINS.manifestMetaAad, metaSealed)
  } catch (err) {
    if (err instanceof DecryptionError) throw new WrongKeyError(undefined, { cause: err })
    throw err
  }
  const f = new Fields(decodeCanonicalMap(plain, ManifestError, 'manifest meta'), ManifestError, 'manifest meta').only('v', 'name', 'kind', 'files')
  const v = f.uint('v', 255)
  if (v !== FORMAT_VERSION) throw new UnsupportedVersionError(v, 'manifest')
  const name = f.string('name')
  splitPath(name)
  if (name.includes('/')) throw new ManifestError('share name must be a single path component')
  const kind = f.string('kind')
  if (kind !== 'file' && kind !== 'dir') throw new ManifestError('manifest kind must be "file" or "dir"')
  const list = f.array('files', MAX_FILES)
  if (list.length === 0) throw new ManifestError('manifest lists no files')
  if (kind === 'file' && list.length !== 1) throw new ManifestError('a one-file share must list exactly one file')
  const files: FileEntry[] = []
  let firstChunk = 0
  let size = 0
  for (let i = 0; i < list.length; i++) {
    const e = f.map_(list[i], `manifest file ${i}`).only('path', 'size', 'mode', 'sha256')
    const path = e.string('path')
    const fileSize = e.uint('size', MAX_FILE_SIZE)
    const mode = e.uint('mode', 0o777)
    if (mode !== 0o644 && mode !== 0o755) throw new ManifestError('file mode must be 0644 or 0755')
    const chunks = chunkCount(fileSize, index.chunkSize)
    files.push({ path, size: fileSize, mode, sha256: e.bytes('sha256', { exact: 32 }), firstChunk, chunks })
    firstChunk += chunks
    size += fileSize
    if (firstChunk > index.chunks) throw new ManifestError('manifest file sizes exceed its chunk count')
  }
  if (firstChunk !== index.chunks) throw new ManifestError('manifest file sizes do not match its chunk count')
  checkFileList(files.map(x => x.path))
  if (kind === 'file' && files[0]?.path !== name) throw new ManifestError('a one-file share\'s file must carry the share name')
  return { name, kind, files, size }
}

/** Which file chunk `index` belongs to, and whether it is that file's last (binary search). */
export function locateChunk (meta: ManifestMeta, index: number): { file: FileEntry, fileIndex: number, position: number, last: boolean } {
  const files = meta.files
  let lo = 0
  let hi = files.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if ((files[mid] as FileEntry).firstChunk <= index) lo = mid
    else hi = mid - 1
  }
  const file = files[lo] as FileEntry
  const position = index - file.firstChunk
  if (position < 0 || position >= file.chunks) throw new RangeError('chunk index outside the share')
  return { file, fileIndex: lo, position, last: position === file.chunks - 1 }
}

/** Plaintext length of chunk `position` of `file`. */
export function chunkPlaintextLength (file: FileEntry, position: number, chunkSize: number): number {
  if (file.size === 0) return 0
  return Math.min(chunkSize, file.size - position * chunkSize)
}
