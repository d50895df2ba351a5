/**
 * A hostile publisher's manifest names meta pieces far larger than the protocol allows (each
 * digest matches its bytes, the root is validly sealed and signed): a reader must refuse the first
 * such piece with a typed error, before keeping or concatenating it and before fetching the rest.
 * An honest manifest with meta pieces and a tree block still opens.
 */
import { describe, expect, it } from 'vitest'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import type { CID } from 'multiformats/cid'
import { encodeCanonical } from '../../protocol/_cbor.js'
import { cidFromDigest } from '../../protocol/cid.js'
import { DOMAINS, FORMAT_VERSION, MiB } from '../../protocol/constants.js'
import { nobleBackend as B, xchachaSeal } from '../../protocol/crypto.js'
import { deriveSeedKeys, deriveShareKeys } from '../../protocol/keys.js'
import { completeManifest } from '../../node/engine/manifest-fetch.js'
import type { Session } from '../../node/engine/swarm/session.js'
import { encodeShare, FIXED_ROOT, testSigner } from '../protocol/helpers/fixtures.js'

const keys = deriveShareKeys(FIXED_ROOT)
const seedOnly = deriveSeedKeys(keys.seed)
const enc = new TextEncoder()
const log = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: () => log }) as never

/** A block store over a Map that counts reads and bytes read. */
function memoryBlocks (): { blocks: { get: (c: CID) => Promise<Uint8Array>, put: (c: CID, b: Uint8Array) => Promise<void>, has: (c: CID) => Promise<boolean> }, reads: { n: number, bytes: number } } {
  const m = new Map<string, Uint8Array>()
  const reads = { n: 0, bytes: 0 }
  return {
    reads,
    blocks: {
      get: async (c) => { const b = m.get(c.toString()); if (b === undefined) throw new Error('not found'); reads.n++; reads.bytes += b.length; return b },
      put: async (c, b) => { m.set(c.toString(), b) },
      has: async (c) => m.has(c.toString())
    }
  }
}

function seal (key: Uint8Array, domain: string, plaintext: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(24).fill(9)
  const aad = new Uint8Array([...enc.encode(domain), 0, FORMAT_VERSION])
  return new Uint8Array([...nonce, ...xchachaSeal(B, key, nonce, plaintext, aad)])
}

/** A validly sealed and signed root whose Meta is `pieces` (any sizes): what a hostile publisher can make. */
function hostileRoot (pieces: Uint8Array[], tree?: { chunks: number, top: Uint8Array }): { cid: CID, bytes: Uint8Array } {
  const signer = testSigner(3)
  const h = sha256.create()
  for (const p of pieces) h.update(p)
  const metaPieces = new Uint8Array(pieces.length * 32)
  pieces.forEach((p, i) => { metaPieces.set(sha256(p), i * 32) })
  const body = encodeCanonical({
    v: FORMAT_VERSION,
    chunkSize: 65536,
    chunks: tree?.chunks ?? 1,
    bytes: (tree?.chunks ?? 1) * 100,
    depth: tree === undefined ? 0 : 1,
    top: tree?.top ?? sha256(enc.encode('chunk')),
    meta: h.digest(),
    metaPieces,
    publisher: signer.publicKey
  })
  const sig = ed25519.sign(new Uint8Array([...enc.encode(DOMAINS.manifestSignature), 0, ...body]), signer.secretKey)
  const bytes = encodeCanonical({ v: FORMAT_VERSION, index: seal(keys.index.bytes, DOMAINS.manifestIndexAad, encodeCanonical({ body, sig })) })
  return { cid: cidFromDigest(sha256(bytes)), bytes }
}

const errorName = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'resolved', (err: Error) => err.name)

describe('manifest size limits', () => {
  it('an honest manifest with meta pieces and a tree block opens', async () => {
    const files: Array<[string, Uint8Array]> = []
    for (let i = 0; i < 400; i++) files.push([`dir-${i % 7}/file-number-${i}-with-a-long-name.txt`, new Uint8Array([i & 0xff])])
    const share = await encodeShare(files, { name: 'many' })
    const { blocks } = memoryBlocks()
    for (const b of share.blocks) await blocks.put(b.cid, b.bytes)
    const got = await completeManifest({ backend: B, blocks, sessions: () => [], log, signal: AbortSignal.timeout(5_000), localOnly: true }, share.root.cid, share.root.bytes, keys)
    expect(got.meta?.files.length).toBe(400)
    expect(got.treeBlockDigests).toHaveLength(1)
    expect(got.digests).toEqual(share.digests)
  })

  it('refuses the first oversized meta piece in the block store: one read, nothing concatenated', async () => {
    // 40 pieces of 1 MiB: 4 × the 256 KiB a piece may have, 40 MiB in all (the Meta may have 32).
    const pieces = Array.from({ length: 40 }, (_, i) => new Uint8Array(MiB).fill(i + 1))
    const root = hostileRoot(pieces)
    const { blocks, reads } = memoryBlocks()
    for (const p of pieces) await blocks.put(cidFromDigest(sha256(p)), p)
    const ctx = { backend: B, blocks, sessions: () => [], log, signal: AbortSignal.timeout(10_000), localOnly: true }
    expect(await errorName(completeManifest(ctx, root.cid, root.bytes, keys))).toBe('ManifestBlockSizeError')
    expect(reads.n).toBe(1)
    expect(reads.bytes).toBe(MiB)
  })

  it('refuses an oversized meta piece a peer serves (its digest matches) at once: one request, the peer is not blamed', async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => new Uint8Array(MiB).fill(i + 1))
    const root = hostileRoot(pieces)
    const { blocks } = memoryBlocks()
    let requests = 0
    const banned = new Set<string>()
    const peer = {
      closed: false,
      remotePeer: { toString: () => 'peer' },
      share: { banned },
      close: () => {},
      request: async (_kind: string, index: number) => { requests++; return pieces[index]! }
    } as unknown as Session
    const ctx = { backend: B, blocks, sessions: () => [peer], log, signal: AbortSignal.timeout(10_000) }
    // A seed-only holder fetches meta pieces to serve them on: the same bound holds.
    expect(await errorName(completeManifest(ctx, root.cid, root.bytes, seedOnly))).toBe('ManifestBlockSizeError')
    expect(requests).toBe(1)
    expect(banned.size).toBe(0)
    // Nothing of it was kept.
    expect(await blocks.has(cidFromDigest(sha256(pieces[0]!)))).toBe(false)
  })

  it('refuses a last meta piece over 256 KiB and a middle piece under it', async () => {
    for (const sizes of [[256 * 1024, 256 * 1024 + 1], [256 * 1024 - 1, 1000]]) {
      const pieces = sizes.map((n, i) => new Uint8Array(n).fill(i + 7))
      const root = hostileRoot(pieces)
      const { blocks } = memoryBlocks()
      for (const p of pieces) await blocks.put(cidFromDigest(sha256(p)), p)
      const ctx = { backend: B, blocks, sessions: () => [], log, signal: AbortSignal.timeout(5_000), localOnly: true }
      expect(await errorName(completeManifest(ctx, root.cid, root.bytes, keys)), sizes.join(',')).toBe('ManifestBlockSizeError')
    }
  })

  it('refuses a tree block of another length than its chunk count gives, before keeping it', async () => {
    // 65 chunks: one tree block of exactly 65 × 32 bytes. The hostile one is 1 MiB.
    const block = new Uint8Array(MiB).fill(5)
    const piece = new Uint8Array(1000).fill(6)
    const root = hostileRoot([piece], { chunks: 65, top: sha256(block) })
    const { blocks } = memoryBlocks()
    await blocks.put(cidFromDigest(sha256(piece)), piece)
    const peer = {
      closed: false,
      remotePeer: { toString: () => 'peer' },
      share: { banned: new Set<string>() },
      close: () => {},
      request: async () => block
    } as unknown as Session
    const ctx = { backend: B, blocks, sessions: () => [peer], log, signal: AbortSignal.timeout(10_000) }
    expect(await errorName(completeManifest(ctx, root.cid, root.bytes, deriveSeedKeys(keys.seed)))).toBe('ManifestBlockSizeError')
    expect(await blocks.has(cidFromDigest(sha256(block)))).toBe(false)
  })
})
