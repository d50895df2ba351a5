/**
 * Fetching and opening a share's manifest: the root block (from the DHT, or from any admitted
 * peer), the meta pieces and the manifest tree blocks (from peers). Every block is verified
 * against its digest before it is stored or used, and stored so this node can serve it on.
 */
import type { Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { cidFromDigest, digestEquals } from '../../protocol/cid.js'
import { DIGEST_BYTES, MAX_ROOT_BYTES } from '../../protocol/constants.js'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { IntegrityError, KithError, type ErrorCategory } from '../../protocol/errors.js'
import type { SeedKeys, ShareKeys } from '../../protocol/keys.js'
import { META_PIECE_BYTES, metaPieceCount, metaPieceLength, openMeta, openRoot, type ManifestMeta, type OpenedRoot } from '../../protocol/manifest.js'
import { expandTree } from '../../protocol/manifest-tree.js'
import { ManifestBlockSizeError } from './errors.js'
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

/** The lengths a block may have: from the manifest (meta pieces, tree blocks) or the protocol (a root ≤ 64 KiB). */
export interface LengthRange { min: number, max: number }

const ROOT_LENGTH: LengthRange = { min: 1, max: MAX_ROOT_BYTES }

/**
 * A block request not answered within this long is put to another peer as well (a hedge), one
 * more each BLOCK_HEDGE_MS however many are still waiting, up to BLOCK_HEDGE_MAX requests for one
 * block at once; peers are asked in random order. A peer that admits us and never answers (a
 * lying have-map, a slowloris) costs a download BLOCK_HEDGE_MS, not BLOCK_TIMEOUT_MS each. With 4
 * at most, asked in session order, four silent peers held every slot for 15 s at a time, and 24
 * of them among 26 sessions stalled a download's manifest for 60 s (the long hostile-seeders run).
 */
export const BLOCK_HEDGE_MS = 1_000
export const BLOCK_HEDGE_MAX = 8

/**
 * Asks peers for a block until one returns bytes with the expected digest: one peer at first,
 * another each BLOCK_HEDGE_MS (or at once when a request fails) while fewer than BLOCK_HEDGE_MAX
 * are in flight; the first match wins. A peer that returns wrong bytes is dropped. Retries while
 * the signal allows, waiting for peers. Bytes that match the digest but not `length` (default: a
 * root's) fail at once with ManifestBlockSizeError: the manifest names an impossible block, so no
 * peer can do better.
 */
export async function fetchFromPeers (ctx: ManifestFetchContext, kind: 'root' | 'block', position: number, expected: Uint8Array, length: LengthRange = ROOT_LENGTH): Promise<Uint8Array> {
  if (ctx.localOnly === true) throw new ManifestUnavailableError(`manifest ${kind} ${position} is not in the local block store`)
  const tried = new Set<Session>()
  let pending = 0
  let found: Uint8Array | undefined
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const ask = (s: Session): void => {
    tried.add(s)
    pending++
    s.request(kind, position, BLOCK_TIMEOUT_MS).then(bytes => {
      // One frame at most (≤ 8 MiB, the session's limit) per request in flight is held here; it is kept only if it fits.
      if (found !== undefined || failure !== undefined) return
      if (digestEquals(ctx.backend.sha256(bytes), expected)) {
        try {
          found = checkLength(kind, position, bytes, length)
        } catch (err) {
          failure = err as Error
        }
        return
      }
      ctx.log('peer %p sent a %s that does not match its content ID: dropping it from the swarm', s.remotePeer, kind)
      s.share.banned.add(s.remotePeer.toString())
      s.close(new IntegrityError(`peer sent a corrupt manifest ${kind}`))
    }, (err: Error) => {
      ctx.log('peer %p could not give %s %d: %s', s.remotePeer, kind, position, err.name)
    }).finally(() => {
      pending--
      wake?.()
    })
  }
  for (let attempt = 0; attempt < 100_000; attempt++) {
    ctx.signal.throwIfAborted()
    if (found !== undefined) return found
    if (failure !== undefined) throw failure
    let wait = 200
    if (pending < BLOCK_HEDGE_MAX) {
      const untried = ctx.sessions().filter(s => !s.closed && !tried.has(s))
      const next = untried[Math.floor(Math.random() * untried.length)]
      if (next !== undefined) {
        ask(next)
        wait = BLOCK_HEDGE_MS
      } else if (pending === 0 && tried.size > 0) {
        tried.clear()
      }
    }
    if (pending > 0) wait = BLOCK_HEDGE_MS
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { clearTimeout(t); reject(ctx.signal.reason) }
      const t = setTimeout(() => { ctx.signal.removeEventListener('abort', onAbort); resolve() }, wait)
      wake = () => { clearTimeout(t); ctx.signal.removeEventListener('abort', onAbort); resolve() }
      ctx.signal.addEventListener('abort', onAbort, { once: true })
    })
    wake = undefined
  }
  throw new ManifestUnavailableError()
}

function checkLength (kind: string, position: number, bytes: Uint8Array, length: LengthRange): Uint8Array {
  if (bytes.length < length.min || bytes.length > length.max) throw new ManifestBlockSizeError(kind, position, bytes.length, length)
  return bytes
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
  // Every block's length is checked against what the root allows before it is kept or used.
  const fetchBlock = async (position: number, digest: Uint8Array, length: LengthRange): Promise<Uint8Array> => {
    const cid = cidFromDigest(digest)
    if (await ctx.blocks.has(cid)) {
      const held = await ctx.blocks.get(cid)
      if (digestEquals(ctx.backend.sha256(held), digest)) return checkLength('block', position, held, length)
    }
    const bytes = await fetchFromPeers(ctx, 'block', position, digest, length)
    await keep(ctx, digest, bytes)
    return bytes
  }
  let meta: ManifestMeta | undefined
  // Meta pieces are fetched by seed-only holders too: they serve them on. A reader copies each
  // into one buffer of the most the root allows (pieces × 256 KiB ≤ 32 MiB), as it arrives.
  const reading = 'encryption' in keys
  const joined = reading && pieces > 0 ? new Uint8Array(pieces * META_PIECE_BYTES) : undefined
  let at = 0
  for (let i = 0; i < pieces; i++) {
    const piece = await fetchBlock(i, root.index.metaPieces.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES), metaPieceLength(root.index, i))
    joined?.set(piece, at)
    at += piece.length
  }
  if (reading) {
    const metaSealed = root.inlineMeta ?? (joined as Uint8Array).subarray(0, at)
    meta = openMeta(ctx.backend, root.index, metaSealed, keys)
  }
  const treeBlockDigests: Uint8Array[] = []
  const digests = await expandTree(ctx.backend, root.index.chunks, root.index.top, async (position, digest, length) => {
    treeBlockDigests[position] = Uint8Array.from(digest)
    return await fetchBlock(pieces + position, digest, { min: length, max: length })
  })
  return { rootBytes, root, digests, treeBlockDigests, meta }
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
