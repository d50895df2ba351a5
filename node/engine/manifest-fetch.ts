/**
 * Fetching and opening a share's manifest: the root block (from the DHT, or from any admitted
 * peer), the meta pieces and the manifest tree blocks (from peers). Every block is verified
 * against its digest before it is stored or used, and stored so this node can serve it on.
 */
import type { Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { cidFromDigest, digestEquals } from '../../protocol/cid.js'
import { DIGEST_BYTES } from '../../protocol/constants.js'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { IntegrityError, KithError, type ErrorCategory } from '../../protocol/errors.js'
import type { SeedKeys, ShareKeys } from '../../protocol/keys.js'
import { metaPieceCount, openMeta, openRoot, type ManifestMeta, type OpenedRoot } from '../../protocol/manifest.js'
import { expandTree } from '../../protocol/manifest-tree.js'
import { sleep } from './abort.js'
import type { Session } from './swarm/session.js'
import type { BlockStore } from './share/share-state.js'

export const BLOCK_TIMEOUT_MS = 15_000

export class ManifestUnavailableError extends KithError {
  static override name = 'ManifestUnavailableError'
  static override category: ErrorCategory = 'unavailable'
  constructor (message = 'could not fetch the share\'s manifest from the DHT or any peer', options?: { cause?: unknown }) { super(message, options) }
}

export interface ManifestFetchContext {
  backend: CryptoBackend
  blocks: BlockStore
  /** Live sessions to ask, re-read on each attempt (peers come and go). */
  sessions: () => Session[]
  log: Logger
  signal: AbortSignal
  /** Only what the block store holds: a missing block fails at once (no peers are asked). */
  localOnly?: boolean
}

/**
 * Asks peers, one after another, for a block until one returns bytes with the expected digest.
 * A peer that returns wrong bytes is dropped. Retries while the signal allows, waiting for peers.
 */
export async function fetchFromPeers (ctx: ManifestFetchContext, kind: 'root' | 'block', position: number, expected: Uint8Array): Promise<Uint8Array> {
  if (ctx.localOnly === true) throw new ManifestUnavailableError(`manifest ${kind} ${position} is not in the local block store`)
  const tried = new Set<Session>()
  for (let attempt = 0; attempt < 10_000; attempt++) {
    ctx.signal.throwIfAborted()
    const candidates = ctx.sessions().filter(s => !s.closed && !tried.has(s))
    if (candidates.length === 0) {
      if (tried.size > 0 && ctx.sessions().every(s => tried.has(s))) tried.clear()
      await sleep(200, ctx.signal)
      continue
    }
    const s = candidates[0] as Session
    tried.add(s)
    try {
      const bytes = await s.request(kind, position, BLOCK_TIMEOUT_MS)
      if (digestEquals(ctx.backend.sha256(bytes), expected)) return bytes
      ctx.log('peer %p sent a %s that does not match its content ID: dropping it from the swarm', s.remotePeer, kind)
      s.share.banned.add(s.remotePeer.toString())
      s.close(new IntegrityError(`peer sent a corrupt manifest ${kind}`))
    } catch (err) {
      ctx.log('peer %p could not give %s %d: %s', s.remotePeer, kind, position, (err as Error).name)
    }
  }
  throw new ManifestUnavailableError()
}

/** Stores a verified block if not already held. */
async function keep (ctx: ManifestFetchContext, digest: Uint8Array, bytes: Uint8Array): Promise<void> {
  const cid = cidFromDigest(digest)
  if (!(await ctx.blocks.has(cid))) await ctx.blocks.put(cid, bytes)
}

export interface FetchedManifest {
  rootBytes: Uint8Array
  root: OpenedRoot
  /** Flat chunk digests. */
  digests: Uint8Array
  /** Digests of the tree blocks in wire order (after the meta pieces). */
  treeBlockDigests: Uint8Array[]
  meta?: ManifestMeta
}

/**
 * Opens the root (already fetched and verified against `id`), then fetches meta pieces (when
 * `keys` can read them) and tree blocks from peers. With seed keys only, `meta` is undefined.
 */
export async function completeManifest (ctx: ManifestFetchContext, id: CID, rootBytes: Uint8Array, keys: SeedKeys | ShareKeys): Promise<FetchedManifest> {
  const root = openRoot(ctx.backend, id, rootBytes, keys)
  await keep(ctx, id.multihash.digest, rootBytes)
  const pieces = metaPieceCount(root.index)
  const fetchBlock = async (position: number, digest: Uint8Array): Promise<Uint8Array> => {
    const cid = cidFromDigest(digest)
    if (await ctx.blocks.has(cid)) {
      const held = await ctx.blocks.get(cid)
      if (digestEquals(ctx.backend.sha256(held), digest)) return held
    }
    const bytes = await fetchFromPeers(ctx, 'block', position, digest)
    await keep(ctx, digest, bytes)
    return bytes
  }
  let meta: ManifestMeta | undefined
  // Meta pieces are fetched by seed-only holders too: they serve them on.
  const sealed: Uint8Array[] = []
  for (let i = 0; i < pieces; i++) {
    sealed.push(await fetchBlock(i, root.index.metaPieces.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)))
  }
  if ('encryption' in keys) {
    const metaSealed = root.inlineMeta ?? concat(sealed)
    meta = openMeta(ctx.backend, root.index, metaSealed, keys)
  }
  const treeBlockDigests: Uint8Array[] = []
  const digests = await expandTree(ctx.backend, root.index.chunks, root.index.top, async (position, digest) => {
    treeBlockDigests[position] = Uint8Array.from(digest)
    return await fetchBlock(pieces + position, digest)
  })
  return { rootBytes, root, digests, treeBlockDigests, meta }
}

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/**
 * A share's manifest from the local block store alone (re-opening a share at start, listing a
 * blind seed's blocks): fails at once with ManifestUnavailableError, or the store's not-found
 * error for the root, if any block is missing; never asks a peer.
 */
export async function openLocalManifest (ctx: Pick<ManifestFetchContext, 'backend' | 'blocks' | 'log' | 'signal'>, id: CID, keys: SeedKeys | ShareKeys): Promise<FetchedManifest> {
  const rootBytes = await ctx.blocks.get(id)
  return await completeManifest({ ...ctx, sessions: () => [], localOnly: true }, id, rootBytes, keys)
}
