/**
 * Blind seeding: keeping a share available with its seed-only capability (docs/PROTOCOL.md §1,
 * docs/THREAT-MODEL.md §2.4). The node joins the swarm, fetches the manifest's index and blocks and every
 * sealed chunk, checks each against its content ID, keeps it in the blockstore, and serves it on.
 * It never holds the key that decrypts the chunks or the file names: a read link is turned into its
 * seed-only form before anything else happens, and only that form is used or stored.
 *
 * Platform-free (no Node APIs): the blockstore is whatever the platform provides.
 */
import type { CID } from 'multiformats/cid'
import { CustomProgressEvent } from 'progress-events'
import { Bitfield } from '../../protocol/bitfield.js'
import { cidFromDigest, digestEquals } from '../../protocol/cid.js'
import { DIGEST_BYTES } from '../../protocol/constants.js'
import { IntegrityError } from '../../protocol/errors.js'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { deriveSeedKeys } from '../../protocol/keys.js'
import { formatLink, seedOnlyLink, type ShareLink } from '../../protocol/link.js'
import { openLocalManifest } from './manifest-fetch.js'
import { fetchShare, type NodeContext } from './get.js'
import { ShareState, type BlockStore } from './share/share-state.js'
import { BlockstoreChunkSource } from './share/sources.js'

export type SeedProgressEvents =
  | CustomProgressEvent<{ peers: number }, 'kith:seed:peers'>
  | CustomProgressEvent<{ chunks: number, bytes: number }, 'kith:seed:manifest'>
  | CustomProgressEvent<{ chunks: number, totalChunks: number, bytes: number, total: number, peers: number }, 'kith:seed:chunk'>

export interface SeedOptions {
  /**
   * Called (and awaited) once the manifest is verified, before any chunk is fetched: where a node
   * records the seed, so that what a cancelled or failed run fetched can still be found and removed.
   */
  onManifest?: (info: { manifest: string, seedLink: string, chunks: number, bytes: number }) => Promise<void>
  /** Fails when no peer makes progress for this long (also: no seeder found). */
  timeoutMs?: number
  signal?: AbortSignal
  onProgress?: (evt: SeedProgressEvents) => void
  window?: number
}

export interface SeedResult {
  /** Manifest ID (never the key). */
  manifest: string
  /** The seed-only link this node seeds with: it can pass it on to other blind seeders. */
  seedLink: string
  chunks: number
  /** Ciphertext bytes held (every chunk, sealed). */
  bytes: number
}

/**
 * Fetches every sealed chunk of the share `link` names (read or seed-only) into `ctx.blocks` and
 * keeps serving it from there. Chunks already in the store (an interrupted run) are re-verified and
 * kept. Same errors as a download: NoSeedersError, StalledError, ManifestUnavailableError.
 */
export async function seedShare (ctx: NodeContext, link: ShareLink, opts: SeedOptions = {}): Promise<SeedResult & { state: ShareState }> {
  const seed = seedOnlyLink(link)
  const keys = deriveSeedKeys(seed.key)
  let total = 0
  let bytes = 0
  const { state, manifest } = await fetchShare(ctx, { keys, rootCid: seed.manifest, hints: seed.hints, timeoutMs: opts.timeoutMs, signal: opts.signal, window: opts.window }, {
    onPeers: peers => { opts.onProgress?.(new CustomProgressEvent('kith:seed:peers', { peers })) },
    prepare: async (m, state) => {
      total = m.root.index.bytes
      await opts.onManifest?.({ manifest: seed.manifest.toString(), seedLink: formatLink(seed), chunks: m.root.index.chunks, bytes: total })
      opts.onProgress?.(new CustomProgressEvent('kith:seed:manifest', { chunks: m.root.index.chunks, bytes: total }))
      const held = await heldChunks(ctx.backend, ctx.blocks, m.digests, true, opts.signal)
      bytes = held.bytes
      return { have: held.have, source: new BlockstoreChunkSource(state, ctx.blocks) }
    },
    deliver: async (i, sealed, state) => {
      const digest = state.chunkDigest(i)
      const cid = cidFromDigest(digest)
      if (ctx.blocks.verifies === true) {
        // The store hashes it on the way in: no second SHA-256 here.
        try {
          await ctx.blocks.put(cid, sealed)
        } catch (err) {
          if (err instanceof IntegrityError) return false
          throw err
        }
      } else {
        if (!digestEquals(ctx.backend.sha256(sealed), digest)) return false
        await ctx.blocks.put(cid, sealed)
      }
      bytes += sealed.length
      return true
    },
    onChunk: (state, peers) => {
      const have = state.have as Bitfield
      opts.onProgress?.(new CustomProgressEvent('kith:seed:chunk', { chunks: have.count(), totalChunks: have.size, bytes, total, peers }))
    }
  })
  ctx.log('blind seed of %s: every chunk held', seed.manifest)
  return { manifest: seed.manifest.toString(), seedLink: formatLink(seed), chunks: manifest.root.index.chunks, bytes: total, state }
}

/**
 * Which chunks the store holds, and their bytes. With `verify` each present block is read back and
 * checked against its content ID (one that rotted on disk counts as missing and is fetched again);
 * without, presence is enough (serving re-verifies every block it sends).
 */
async function heldChunks (backend: CryptoBackend, blocks: BlockStore, digests: Uint8Array, verify: boolean, signal?: AbortSignal): Promise<{ have: Bitfield, bytes: number }> {
  const have = new Bitfield(digests.length / DIGEST_BYTES)
  let bytes = 0
  for (let i = 0; i < have.size; i++) {
    signal?.throwIfAborted()
    const digest = digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)
    const cid = cidFromDigest(digest)
    if (!(await blocks.has(cid))) continue
    if (verify) {
      const held = await blocks.get(cid).catch(() => undefined)
      if (held === undefined || (blocks.verifies !== true && !digestEquals(backend.sha256(held), digest))) continue
      bytes += held.length
    }
    have.set(i)
  }
  return { have, bytes }
}

/**
 * A blind seed recorded in the repo, opened again from the blockstore alone (a daemon restart):
 * the manifest must be held in full; chunks that are missing are simply not announced.
 */
export async function reopenSeed (ctx: Pick<NodeContext, 'backend' | 'blocks' | 'log'>, link: ShareLink, signal: AbortSignal): Promise<ShareState> {
  const seed = seedOnlyLink(link)
  const keys = deriveSeedKeys(seed.key)
  const fetched = await openLocalManifest({ ...ctx, signal }, seed.manifest, keys)
  const state = new ShareState({ keys, rootCid: seed.manifest, backend: ctx.backend, blocks: ctx.blocks })
  const { have } = await heldChunks(ctx.backend, ctx.blocks, fetched.digests, false, signal)
  state.setManifest(fetched.rootBytes, fetched.root.index, fetched.digests, fetched.treeBlockDigests, have)
  state.source = new BlockstoreChunkSource(state, ctx.blocks)
  return state
}

/**
 * The blocks of a share in the local store, named by its manifest (which must be held in full, or
 * this throws ManifestUnavailableError at once): the root, meta pieces and tree blocks, and with
 * `chunks` every chunk too (what a blind seed keeps). Works with a read or a seed-only link.
 */
export async function shareBlocks (ctx: Pick<NodeContext, 'backend' | 'blocks' | 'log'>, link: ShareLink, chunks: boolean, signal: AbortSignal): Promise<{ manifest: CID[], chunks: CID[] }> {
  const seed = seedOnlyLink(link)
  const fetched = await openLocalManifest({ ...ctx, signal }, seed.manifest, deriveSeedKeys(seed.key))
  const manifest: CID[] = [seed.manifest]
  const meta = fetched.root.index.metaPieces
  for (let i = 0; i < meta.length / DIGEST_BYTES; i++) manifest.push(cidFromDigest(meta.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)))
  for (const d of fetched.treeBlockDigests) if (d !== undefined) manifest.push(cidFromDigest(d))
  const list: CID[] = []
  if (chunks) for (let i = 0; i < fetched.root.index.chunks; i++) list.push(cidFromDigest(fetched.digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)))
  return { manifest, chunks: list }
}
