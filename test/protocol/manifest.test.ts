import { describe, expect, it } from 'vitest'
import {
  BLOCK_FANOUT, INLINE_DIGESTS, ChunkCipher, deriveSeedKeys, deriveShareKeys, expandTree, locateChunk, manifestBlockCount,
  metaPieceCount, nobleBackend, openMeta, openRoot, cidOf, verifyBlock, digestFromCid, generateRootKey, treeShape
} from '../../protocol/index.js'
import { encodeShare, FIXED_ROOT, pseudoRandomBytes } from './helpers/fixtures.js'
import { sha256 } from '@noble/hashes/sha2.js'

const B = nobleBackend
const keys = deriveShareKeys(FIXED_ROOT)

describe('manifest', () => {
  it('round-trips a one-file share and decrypts every chunk', async () => {
    const data = pseudoRandomBytes(300_000)
    const share = await encodeShare([['hello.bin', data]])
    expect(share.index.chunks).toBe(5)
    const root = openRoot(B, share.root.cid, share.root.bytes, deriveSeedKeys(keys.seed))
    expect(root.inlineMeta).toBeDefined()
    const meta = openMeta(B, root.index, root.inlineMeta!, keys)
    expect(meta).toMatchObject({ name: 'hello.bin', kind: 'file', size: 300_000 })
    expect(meta.files[0]!.sha256).toEqual(sha256(data))
    const cipher = new ChunkCipher(B, keys.encryption, keys.noncePrefix)
    const parts = share.chunks.map(c => {
      verifyBlock(B, c.cid, c.bytes)
      expect(digestFromCid(c.cid)).toEqual(root.index.top.subarray(c.index * 32, c.index * 32 + 32))
      const loc = locateChunk(meta, c.index)
      return cipher.open(c.index, loc.last, c.bytes)
    })
    expect(Buffer.concat(parts)).toEqual(Buffer.from(data))
  })

  it('handles folders, empty files and chunk ranges per file', async () => {
    const share = await encodeShare([['a.txt', new TextEncoder().encode('hi')], ['sub/empty', new Uint8Array(0)], ['sub/big', pseudoRandomBytes(200_000)]], { name: 'stuff' })
    const root = openRoot(B, share.root.cid, share.root.bytes, keys)
    const meta = openMeta(B, root.index, root.inlineMeta!, keys)
    expect(meta.kind).toBe('dir')
    expect(meta.files.map(f => [f.path, f.firstChunk, f.chunks])).toEqual([['a.txt', 0, 1], ['sub/empty', 1, 1], ['sub/big', 2, 4]])
    expect(locateChunk(meta, 1)).toMatchObject({ fileIndex: 1, position: 0, last: true })
    expect(locateChunk(meta, 5)).toMatchObject({ fileIndex: 2, position: 3, last: true })
    expect(locateChunk(meta, 4)).toMatchObject({ fileIndex: 2, position: 2, last: false })
  })

  it('moves large chunk lists into verified manifest blocks, keeping the root small', async () => {
    // 10,000 chunks of 64 KiB would be 640 MiB; build the tree from digests directly instead.
    const n = 3 * BLOCK_FANOUT + 5
    const shape = treeShape(n)
    expect(shape.depth).toBe(1)
    expect(shape.blockCount).toBe(4)
    expect(treeShape(INLINE_DIGESTS).depth).toBe(0)
    expect(treeShape(INLINE_DIGESTS * BLOCK_FANOUT + 1).depth).toBe(2)
    const { buildTree } = await import('../../protocol/manifest-tree.js')
    const digests = pseudoRandomBytes(n * 32)
    const tree = buildTree(B, digests)
    const byDigest = new Map(tree.blocks.map(b => [Buffer.from(b.digest).toString('hex'), b.bytes]))
    const out = await expandTree(B, n, tree.top, async (_pos, d) => byDigest.get(Buffer.from(d).toString('hex'))!)
    expect(out).toEqual(digests)
    // a block with one flipped bit is refused
    await expect(expandTree(B, n, tree.top, async (pos, d) => {
      const b = Uint8Array.from(byDigest.get(Buffer.from(d).toString('hex'))!)
      if (pos === 2) b[100]! ^= 1
      return b
    })).rejects.toMatchObject({ name: 'IntegrityError' })
  })

  it('a 100 GiB share keeps its root a few KiB', async () => {
    const chunks = 100 * 1024 // 100 GiB at 1 MiB
    const shape = treeShape(chunks)
    expect(shape.depth).toBe(1)
    expect(shape.levels[1]).toBe(13) // 13 × 32 B of top digests in the root
  })

  it('moves a large file list into meta pieces', async () => {
    const files: Array<[string, Uint8Array]> = []
    for (let i = 0; i < 400; i++) files.push([`dir-${i % 7}/file-number-${i}-with-a-long-name.txt`, new Uint8Array([i & 0xff])])
    const share = await encodeShare(files, { name: 'many' })
    const root = openRoot(B, share.root.cid, share.root.bytes, keys)
    expect(root.inlineMeta).toBeUndefined()
    expect(metaPieceCount(root.index)).toBeGreaterThan(0)
    expect(manifestBlockCount(root.index)).toBe(share.blocks.length)
    expect(share.root.bytes.length).toBeLessThan(4096)
    const sealed = Buffer.concat(share.blocks.slice(0, metaPieceCount(root.index)).map(b => b.bytes))
    const meta = openMeta(B, root.index, sealed, keys)
    expect(meta.files.length).toBe(400)
  })

  it('a wrong key gives WrongKeyError, for the index and for the meta', async () => {
    const share = await encodeShare([['x', new Uint8Array(10)]])
    const other = deriveShareKeys(generateRootKey())
    expect(() => openRoot(B, share.root.cid, share.root.bytes, other)).toThrow(expect.objectContaining({ name: 'WrongKeyError' }))
    const root = openRoot(B, share.root.cid, share.root.bytes, keys)
    // seed key right, root key wrong: index opens, meta does not
    const mixed = { ...other, index: keys.index, access: keys.access, seed: keys.seed }
    expect(() => openMeta(B, root.index, root.inlineMeta!, mixed)).toThrow(expect.objectContaining({ name: 'WrongKeyError' }))
  })

  it('refuses a root that does not match its CID', async () => {
    const share = await encodeShare([['x', new Uint8Array(10)]])
    const bad = Uint8Array.from(share.root.bytes)
    bad[bad.length - 1]! ^= 1
    expect(() => openRoot(B, share.root.cid, bad, keys)).toThrow(expect.objectContaining({ name: 'IntegrityError' }))
    // re-addressed tampered root: content ID matches, AEAD fails
    expect(() => openRoot(B, cidOf(B, bad), bad, keys)).toThrow(/./)
  })

  it('two shares of the same file have unrelated ciphertext (no convergent encryption)', async () => {
    const data = pseudoRandomBytes(100_000)
    const a = await encodeShare([['f', data]], { root: generateRootKey().bytes })
    const b = await encodeShare([['f', data]], { root: generateRootKey().bytes })
    expect(a.root.cid.equals(b.root.cid)).toBe(false)
    for (let i = 0; i < a.chunks.length; i++) expect(a.chunks[i]!.cid.equals(b.chunks[i]!.cid)).toBe(false)
  })
})

describe('manifest signature', () => {
  it('a root re-sealed with a valid AEAD but a forged signature is refused (SignatureError)', async () => {
    // A seed-capability holder knows the index key and could re-seal the index: the publisher's
    // signature is what stops it from changing the chunk list.
    const { encodeCanonical, decodeCanonicalMap } = await import('../../protocol/_cbor.js')
    const { xchachaOpen, xchachaSeal, DOMAINS, FORMAT_VERSION, ManifestError } = await import('../../protocol/index.js')
    const share = await encodeShare([['x.bin', pseudoRandomBytes(1000)]])
    const root = decodeCanonicalMap(share.root.bytes, ManifestError, 'root') as { v: number, index: Uint8Array, meta: Uint8Array }
    const aad = new Uint8Array([...new TextEncoder().encode(DOMAINS.manifestIndexAad), 0, FORMAT_VERSION])
    const inner = decodeCanonicalMap(xchachaOpen(B, keys.index.bytes, root.index.subarray(0, 24), root.index.subarray(24), aad), ManifestError, 'index') as { body: Uint8Array, sig: Uint8Array }
    const sig = Uint8Array.from(inner.sig)
    sig[0]! ^= 1
    const nonce = new Uint8Array(24).fill(9)
    const index = new Uint8Array([...nonce, ...xchachaSeal(B, keys.index.bytes, nonce, encodeCanonical({ body: inner.body, sig }), aad)])
    const forged = encodeCanonical({ ...root, index })
    expect(() => openRoot(B, cidOf(B, forged), forged, keys)).toThrow(expect.objectContaining({ name: 'SignatureError' }))
  })
})
