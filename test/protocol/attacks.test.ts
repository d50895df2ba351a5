/**
 * Known attacks on chunked encryption and content addressing (docs/THREAT-MODEL.md §4 "Known attacks"):
 * tampered, truncated, reordered, substituted, dropped, duplicated chunks and manifest bytes.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ChunkCipher, deriveShareKeys, nobleBackend, openFileStream, openMeta, openRoot, cidOf, verifyBlock, type EncryptedChunk
} from '../../protocol/index.js'
import { encodeShare, FIXED_ROOT, pseudoRandomBytes } from './helpers/fixtures.js'

const B = nobleBackend
const keys = deriveShareKeys(FIXED_ROOT)
const cipher = new ChunkCipher(B, keys.encryption, keys.noncePrefix)
const data = pseudoRandomBytes(6 * 65536 + 1234)
const sharePromise = encodeShare([['f.bin', data], ['g.bin', pseudoRandomBytes(3 * 65536, 9)]], { name: 'two' })

async function readAll (chunks: Uint8Array[], first: number, count: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of openFileStream(cipher, first, count, chunks)) parts.push(p)
  return Buffer.concat(parts)
}

describe('chunk stream attacks', () => {
  it('the honest sequence decrypts', async () => {
    const share = await sharePromise
    const f = share.chunks.slice(0, 7).map(c => c.bytes)
    expect(await readAll(f, 0, 7)).toEqual(Buffer.from(data))
  })

  it('any two chunks swapped are rejected (property)', async () => {
    const share = await sharePromise
    const f = share.chunks.slice(0, 7).map(c => c.bytes)
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), async (i, j) => {
      fc.pre(i !== j)
      const s = [...f]; [s[i], s[j]] = [s[j]!, s[i]!]
      await expect(readAll(s, 0, 7)).rejects.toMatchObject({ name: 'DecryptionError' })
    }))
  })

  it('dropped, duplicated, truncated-at-boundary, missing-final and extra-final sequences are rejected', async () => {
    const share = await sharePromise
    const f = share.chunks.slice(0, 7).map(c => c.bytes)
    const g = share.chunks.slice(7).map(c => c.bytes)
    const bad: Array<[string, Uint8Array[]]> = [
      ['dropped middle', [...f.slice(0, 3), ...f.slice(4)]],
      ['duplicated', [...f.slice(0, 4), f[3]!, ...f.slice(4)]],
      ['cut at a chunk boundary', f.slice(0, 5)],
      ['missing final', f.slice(0, 6)],
      ['extra chunk after final', [...f, g[0]!]],
      ['chunk from another file', [...f.slice(0, 6), g[2]!]],
      ['empty', []]
    ]
    for (const [what, seq] of bad) {
      await expect(readAll(seq, 0, 7), what).rejects.toMatchObject({ name: 'DecryptionError' })
    }
  })

  it('a chunk from another share with the same layout is rejected', async () => {
    const other = await encodeShare([['f.bin', data], ['g.bin', pseudoRandomBytes(3 * 65536, 9)]], { name: 'two', root: new Uint8Array(32).fill(9) })
    const f = (await sharePromise).chunks.slice(0, 7).map(c => c.bytes)
    f[2] = other.chunks[2]!.bytes
    await expect(readAll(f, 0, 7)).rejects.toMatchObject({ name: 'DecryptionError' })
  })

  it('any bit flip in any chunk is caught by its content ID and by the AEAD (property)', async () => {
    const share = await sharePromise
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: share.chunks.length - 1 }), fc.nat(), async (ci, bitSeed) => {
      const c: EncryptedChunk = share.chunks[ci]!
      const bytes = Uint8Array.from(c.bytes)
      const bit = bitSeed % (bytes.length * 8)
      bytes[bit >> 3]! ^= 1 << (bit & 7)
      expect(() => verifyBlock(B, c.cid, bytes)).toThrow(expect.objectContaining({ name: 'IntegrityError' }))
      const last = ci === 6 || ci === share.chunks.length - 1
      expect(() => cipher.open(c.index, last, bytes)).toThrow(expect.objectContaining({ name: 'DecryptionError' }))
    }), { numRuns: 300 })
  })
})

describe('manifest attacks', () => {
  it('any bit flip in the root is refused (by CID, or — re-addressed — by AEAD/CBOR/signature) (property)', async () => {
    const share = await sharePromise
    const rootBytes = share.root.bytes
    fc.assert(fc.property(fc.integer({ min: 0, max: rootBytes.length * 8 - 1 }), bit => {
      const b = Uint8Array.from(rootBytes)
      b[bit >> 3]! ^= 1 << (bit & 7)
      expect(() => openRoot(B, share.root.cid, b, keys)).toThrow(expect.objectContaining({ name: 'IntegrityError' }))
      // An attacker who also changes the ID (e.g. a forged link or DHT key) still fails.
      let err: Error | undefined
      try {
        const r = openRoot(B, cidOf(B, b), b, keys)
        openMeta(B, r.index, r.inlineMeta!, keys)
      } catch (e) { err = e as Error }
      expect(err?.name).toMatch(/^(ManifestError|WrongKeyError|SignatureError|UnsupportedVersionError|DecryptionError)$/)
    }), { numRuns: 400 })
  })

  it('truncated roots are refused', async () => {
    const share = await sharePromise
    for (let n = 0; n < share.root.bytes.length; n += 7) {
      const b = share.root.bytes.slice(0, n)
      expect(() => openRoot(B, cidOf(B, b), b, keys)).toThrow()
    }
  })
})
