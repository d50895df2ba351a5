/**
 * The chunk list of a large share, split into manifest blocks (docs/PROTOCOL.md §4.3).
 *
 * A share's chunk digests (32 bytes each) are stored inline in the root index when there are at
 * most INLINE_DIGESTS of them. Otherwise they are cut into blocks of BLOCK_FANOUT digests (level 1),
 * whose digests are cut again (level 2), and so on until a level has at most INLINE_DIGESTS
 * entries: those go in the root as `top`. A block is the plain concatenation of its digests; it is
 * named and verified by its own digest like a chunk, and the root that lists the top digests is
 * authenticated, so every block and every chunk digest is authenticated transitively.
 *
 * Blocks are numbered for the wire ("block" requests) in breadth-first order, after the meta
 * pieces (see manifest.ts): top level first, left to right, then the level below. The number of
 * blocks on each level follows from the chunk count alone, so both sides agree on numbering
 * before any block is fetched.
 */
import { BLOCK_FANOUT, DIGEST_BYTES, INLINE_DIGESTS, MAX_CHUNKS, MAX_TREE_DEPTH } from './constants.js'
import type { CryptoBackend } from './crypto.js'
import { IntegrityError, ManifestError } from './errors.js'
import { digestEquals } from './cid.js'

export interface TreeShape {
  /** 0: chunk digests inline in the root. */
  readonly depth: number
  /** Entry count on each level, from the chunks (level 0) up to the top level (level depth). */
  readonly levels: readonly number[]
  /** Blocks in the tree (not counting the root): sum of levels 1..depth. */
  readonly blockCount: number
}

/** The tree shape for `chunks` chunks. */
export function treeShape (chunks: number): TreeShape {
  if (!Number.isSafeInteger(chunks) || chunks < 1 || chunks > MAX_CHUNKS) throw new ManifestError(`chunk count must be in [1, ${MAX_CHUNKS}]`)
  const levels = [chunks]
  let n = chunks
  while (n > INLINE_DIGESTS) {
    n = Math.ceil(n / BLOCK_FANOUT)
    levels.push(n)
  }
  const depth = levels.length - 1
  if (depth > MAX_TREE_DEPTH) throw new ManifestError('manifest tree too deep')
  let blockCount = 0
  for (let i = 1; i < levels.length; i++) blockCount += levels[i] as number
  return { depth, levels, blockCount }
}

function digestAt (list: Uint8Array, i: number): Uint8Array {
  return list.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)
}

export interface BuiltTree {
  readonly shape: TreeShape
  /** Digests stored in the root: chunk digests (depth 0) or top-level block digests. */
  readonly top: Uint8Array
  /** Blocks in wire order (breadth-first from the top), each with its digest. */
  readonly blocks: ReadonlyArray<{ digest: Uint8Array, bytes: Uint8Array }>
}

/** Builds the tree over `digests` (n × 32 bytes). */
export function buildTree (backend: CryptoBackend, digests: Uint8Array): BuiltTree {
  if (digests.length % DIGEST_BYTES !== 0) throw new RangeError('digest list length must be a multiple of 32')
  const shape = treeShape(digests.length / DIGEST_BYTES)
  const byLevel: Array<Array<{ digest: Uint8Array, bytes: Uint8Array }>> = []
  let current = digests
  for (let level = 1; level <= shape.depth; level++) {
    const count = current.length / DIGEST_BYTES
    const blocks: Array<{ digest: Uint8Array, bytes: Uint8Array }> = []
    const next = new Uint8Array(Math.ceil(count / BLOCK_FANOUT) * DIGEST_BYTES)
    for (let b = 0; b * BLOCK_FANOUT < count; b++) {
      const bytes = current.slice(b * BLOCK_FANOUT * DIGEST_BYTES, Math.min(count, (b + 1) * BLOCK_FANOUT) * DIGEST_BYTES)
      const digest = backend.sha256(bytes)
      next.set(digest, b * DIGEST_BYTES)
      blocks.push({ digest, bytes })
    }
    byLevel.push(blocks)
    current = next
  }
  return { shape, top: current, blocks: byLevel.reverse().flat() }
}

/**
 * Fetches one block by wire position (relative to the first tree block), expected digest and
 * exact length (which follows from the chunk count alone). The tree verifies what it returns; the
 * fetcher may also verify and store it, and should refuse any other length before keeping it.
 */
export type BlockFetcher = (position: number, digest: Uint8Array, length: number) => Promise<Uint8Array>

/**
 * Rebuilds the flat list of chunk digests from the root's `top` and the blocks, fetched through
 * `fetch` and verified here (digest and exact length). Throws `IntegrityError` on a bad block.
 */
export async function expandTree (backend: CryptoBackend, chunks: number, top: Uint8Array, fetch: BlockFetcher): Promise<Uint8Array> {
  const shape = treeShape(chunks)
  const topCount = shape.levels[shape.depth] as number
  if (top.length !== topCount * DIGEST_BYTES) throw new ManifestError('manifest top list has the wrong length')
  let current = top
  let position = 0
  for (let level = shape.depth; level >= 1; level--) {
    const below = shape.levels[level - 1] as number
    const next = new Uint8Array(below * DIGEST_BYTES)
    const count = shape.levels[level] as number
    for (let b = 0; b < count; b++) {
      const expected = digestAt(current, b)
      const entries = Math.min(BLOCK_FANOUT, below - b * BLOCK_FANOUT)
      const bytes = await fetch(position++, expected, entries * DIGEST_BYTES)
      if (bytes.length !== entries * DIGEST_BYTES || !digestEquals(backend.sha256(bytes), expected)) {
        throw new IntegrityError(`manifest block ${position - 1} does not match its content ID`)
      }
      next.set(bytes, b * BLOCK_FANOUT * DIGEST_BYTES)
    }
    current = next
  }
  return current
}
