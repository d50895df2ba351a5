/**
 * Publishing a share: read the file or folder, chunk, encrypt and hash it (streaming, two chunks
 * in memory), seal and sign the manifest, keep the manifest blocks, and announce: the root goes
 * into the DHT under its own hash, and this node provides under the share's discovery key.
 * Chunks are not copied: the node re-seals them from the source file when asked.
 *
 * Platform-neutral (node/engine/tsconfig.json): the files come as a `ShareSource` — on Node from
 * disk (files.ts `fileShareSource`), in the browser from the File objects the user picked.
 */
import type { PrivateKey } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { Bitfield } from '../../protocol/bitfield.js'
import { DEFAULT_CHUNK_SIZE } from '../../protocol/constants.js'
import { deriveShareKeys, generateRootKey, type ShareKeys } from '../../protocol/keys.js'
import { formatLink } from '../../protocol/link.js'
import { ShareEncoder, type EncodedShare, type ManifestMeta, type ManifestSigner } from '../../protocol/manifest.js'
import { chunkCryptoFor, type NodeContext } from './get.js'
import { ShareState } from './share/share-state.js'
import { PlaintextChunkSource, type PlaintextReader } from './share/sources.js'

export type ShareProgressEvents =
  | CustomProgressEvent<{ bytes: number, total: number, file: number, files: number }, 'kith:share:chunk'>
  | CustomProgressEvent<{ root: string }, 'kith:share:manifest'>

export interface ShareOptions {
  chunkSize?: number
  signal?: AbortSignal
  onProgress?: (evt: ShareProgressEvents) => void
  /** Address hints to put in the link (binary multiaddrs). */
  hints?: Uint8Array[]
}

/** What a share is made from, wherever the bytes live. */
export interface ShareSource {
  /** The share's name: the file or folder name. */
  name: string
  kind: 'file' | 'dir'
  /** Sorted by path, bytewise (UTF-8). */
  files: Array<{ path: string, size: number, mode: number, read: (signal?: AbortSignal) => AsyncIterable<Uint8Array> }>
  /** Reads a chunk's plaintext back (to re-seal it when a peer asks). */
  reader: (chunkSize: number) => PlaintextReader
  /** Where each file is (absolute paths on Node; names in the browser), by file index. */
  locations: string[]
}

export interface PublishedShare {
  link: string
  name: string
  size: number
  chunks: number
  kind: 'file' | 'dir'
  manifest: string
  state: ShareState
  meta: ManifestMeta
  /** Where the source files are, by file index (ShareSource.locations). */
  sources: string[]
}

/** A manifest signer backed by the node's libp2p identity (Ed25519). */
export function signerFor (key: PrivateKey): ManifestSigner {
  if (key.type !== 'Ed25519') throw new TypeError('the node identity must be an Ed25519 key')
  return { publicKey: key.publicKey.raw, sign: async (m: Uint8Array) => await key.sign(m) }
}

/** Encodes a file or folder into a share and starts serving it. Announcing is separate (`announce`). */
export async function publishShare (ctx: NodeContext, sources: ShareSource, signer: ManifestSigner, opts: ShareOptions = {}): Promise<PublishedShare> {
  const total = sources.files.reduce((n, f) => n + f.size, 0)
  const keys = deriveShareKeys(generateRootKey())
  const encoder = new ShareEncoder({ backend: ctx.backend, keys, name: sources.name, kind: sources.kind, chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE })
  let bytes = 0
  for (let i = 0; i < sources.files.length; i++) {
    const f = sources.files[i]
    if (f === undefined) continue
    for await (const chunk of encoder.encryptFile(f.path, f.mode, f.read(opts.signal))) {
      bytes += chunk.plaintextLength
      opts.onProgress?.(new CustomProgressEvent('kith:share:chunk', { bytes, total, file: i, files: sources.files.length }))
    }
  }
  const encoded = await encoder.finish(signer)
  const state = await serveEncoded(ctx, keys, encoded, sources.reader(encoded.index.chunkSize))
  opts.onProgress?.(new CustomProgressEvent('kith:share:manifest', { root: encoded.root.cid.toString() }))
  return {
    link: formatLink({ kind: 'read', manifest: encoded.root.cid, key: keys.root, hints: opts.hints ?? [] }),
    name: encoded.meta.name,
    size: encoded.meta.size,
    chunks: encoded.index.chunks,
    kind: encoded.meta.kind,
    manifest: encoded.root.cid.toString(),
    state,
    meta: encoded.meta,
    sources: sources.locations
  }
}

/** Stores the manifest blocks and registers the share with the swarm, fully held. */
async function serveEncoded (ctx: NodeContext, keys: ShareKeys, encoded: EncodedShare, reader: PlaintextReader): Promise<ShareState> {
  for (const b of [encoded.root, ...encoded.blocks]) {
    if (!(await ctx.blocks.has(b.cid))) await ctx.blocks.put(b.cid, b.bytes)
  }
  const state = new ShareState({ keys, rootCid: encoded.root.cid, backend: ctx.backend, blocks: ctx.blocks })
  const have = new Bitfield(encoded.index.chunks)
  for (let i = 0; i < have.size; i++) have.set(i)
  state.setManifest(encoded.root.bytes, encoded.index, encoded.digests, [...encoded.treeBlockDigests], have)
  state.source = new PlaintextChunkSource(encoded.meta, encoded.index.chunkSize, chunkCryptoFor(ctx, keys), i => state.chunkDigest(i), reader)
  ctx.swarm.addShare(state)
  return state
}
