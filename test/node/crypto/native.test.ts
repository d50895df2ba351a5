/**
 * The node:crypto backend (node/crypto/native.ts) must be a drop-in for the noble backend:
 * the same known-answer vectors, byte-identical output on random inputs, identical chunk
 * ciphertext and manifest CIDs, and DecryptionError (never a raw OpenSSL error) on tampering.
 * No timing assertions here: throughput is measured by `npm run bench:crypto`.
 */
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { bestBackend, nativeBackend } from '../../../node/crypto/native.js'
import {
  ChunkCipher, deriveShareKeys, MiB, nobleBackend, SecretKey, ShareEncoder, xchachaOpen, xchachaSeal,
  type CryptoBackend, type EncryptedChunk
} from '../../../protocol/index.js'
import { encodeShare, FIXED_ROOT, fixedRandom, pseudoRandomBytes, testSigner } from '../../protocol/helpers/fixtures.js'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const seq = (start: number, length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff)
const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => { const o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o }
const expectDecryptionError = (f: () => unknown): void => { expect(f).toThrow(expect.objectContaining({ name: 'DecryptionError' })) }
/** Fast equality for large arrays (toEqual walks a 1 MiB array element by element: seconds). */
const expectSameBytes = (a: Uint8Array, b: Uint8Array): void => {
  expect(a.length).toBe(b.length)
  expect(Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))).toBe(true)
}
/** A plain Uint8Array (not a Buffer), so it compares equal to noble's output. */
const expectPlain = (b: Uint8Array): void => { expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype) }

// RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1 (see test/protocol/crypto.test.ts)
const SUNSCREEN = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
const AAD = hex('50515253c0c1c2c3c4c5c6c7')
const KEY = seq(0x80, 32)
const RFC8439_NONCE = hex('070000004041424344454647')
const RFC8439_SEALED = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b6116
  1ae10b594f09e26a7e902ecbd0600691`)
const XCHACHA_NONCE = seq(0x40, 24)
const XCHACHA_SEALED = hex(`
  bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
  731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
  2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
  21f9664c97637da9768812f615c68b13b52e
  c0875924c1c7987947deafd8780acf49`)

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
const key32 = bytes(32, 32)
const nonce12 = bytes(12, 12)
/** undefined (no AAD), empty, or up to 5000 bytes. */
const optionalAad = fc.option(bytes(0, 5000), { nil: undefined })

describe('nativeBackend: known-answer vectors', () => {
  it('is what bestBackend() returns', () => {
    expect(bestBackend()).toBe(nativeBackend)
    expect(nativeBackend.name).toBe('node:crypto')
  })

  it('ChaCha20-Poly1305: RFC 8439 §2.8.2, seal and open', () => {
    const sealed = nativeBackend.chachaSeal(KEY, RFC8439_NONCE, SUNSCREEN, AAD)
    expect(toHex(sealed)).toBe(toHex(RFC8439_SEALED))
    expectPlain(sealed)
    const opened = nativeBackend.chachaOpen(KEY, RFC8439_NONCE, sealed, AAD)
    expect(opened).toEqual(SUNSCREEN)
    expectPlain(opened)
  })

  it('XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 §A.3.1, seal and open', () => {
    expect(toHex(xchachaSeal(nativeBackend, KEY, XCHACHA_NONCE, SUNSCREEN, AAD))).toBe(toHex(XCHACHA_SEALED))
    expect(xchachaOpen(nativeBackend, KEY, XCHACHA_NONCE, XCHACHA_SEALED, AAD)).toEqual(SUNSCREEN)
  })

  it('SHA-256: FIPS 180-4 examples ("abc", empty)', () => {
    expect(toHex(nativeBackend.sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(toHex(nativeBackend.sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const h = nativeBackend.createSha256()
    h.update(new TextEncoder().encode('a')); h.update(new Uint8Array(0)); h.update(new TextEncoder().encode('bc'))
    const d = h.digest()
    expect(toHex(d)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expectPlain(d)
  })
})

describe('nativeBackend ≡ nobleBackend (property)', () => {
  it('chachaSeal: byte-identical, with and without AAD, empty plaintexts included', () => {
    fc.assert(fc.property(key32, nonce12, bytes(0, 5000), optionalAad, (key, nonce, pt, aad) => {
      const native = nativeBackend.chachaSeal(key, nonce, pt, aad)
      expect(native).toEqual(nobleBackend.chachaSeal(key, nonce, pt, aad))
      expectPlain(native)
    }), { numRuns: 200 })
  })

  it('chachaOpen: each opens the other\'s output to the same plaintext', () => {
    fc.assert(fc.property(key32, nonce12, bytes(0, 5000), optionalAad, (key, nonce, pt, aad) => {
      const byNoble = nobleBackend.chachaSeal(key, nonce, pt, aad)
      const byNative = nativeBackend.chachaSeal(key, nonce, pt, aad)
      expect(nativeBackend.chachaOpen(key, nonce, byNoble, aad)).toEqual(pt)
      expect(nobleBackend.chachaOpen(key, nonce, byNative, aad)).toEqual(pt)
    }), { numRuns: 200 })
  })

  it('chachaOpen works on views into larger buffers (offset subarrays)', () => {
    fc.assert(fc.property(key32, nonce12, bytes(0, 2000), fc.integer({ min: 1, max: 64 }), (key, nonce, pt, pad) => {
      const sealed = nobleBackend.chachaSeal(key, nonce, pt)
      const big = new Uint8Array(pad + sealed.length + pad)
      big.set(sealed, pad)
      const slice = big.subarray(pad, pad + sealed.length)
      expect(nativeBackend.chachaOpen(key, nonce, slice)).toEqual(pt)
      expect(nativeBackend.chachaSeal(key, nonce, big.subarray(pad, pad + pt.length).fill(7))).toEqual(nobleBackend.chachaSeal(key, nonce, new Uint8Array(pt.length).fill(7)))
    }), { numRuns: 50 })
  })

  it('sha256 and createSha256 (any split into pieces) agree with noble', () => {
    fc.assert(fc.property(bytes(0, 5000), fc.array(fc.nat(), { maxLength: 6 }), (data, cuts) => {
      const expected = nobleBackend.sha256(data)
      expect(nativeBackend.sha256(data)).toEqual(expected)
      const points = [...new Set(cuts.map(c => c % (data.length + 1)))].sort((a, b) => a - b)
      const h = nativeBackend.createSha256()
      let at = 0
      for (const p of [...points, data.length]) { h.update(data.subarray(at, p)); at = p }
      expect(h.digest()).toEqual(expected)
    }), { numRuns: 200 })
  })

  it('1 MiB chunks: ChunkCipher gives identical ciphertext on both backends, and each opens the other\'s', () => {
    const key = new SecretKey(seq(0x11, 32))
    const prefix = seq(0x22, 16)
    const native = new ChunkCipher(nativeBackend, key, prefix)
    const noble = new ChunkCipher(nobleBackend, key, prefix)
    const pt = pseudoRandomBytes(MiB, 9)
    for (const [index, last] of [[0, false], [1, true], [2 ** 24 - 1, true]] as const) {
      const a = native.seal(index, last, pt)
      const b = noble.seal(index, last, pt)
      expect(a.length).toBe(MiB + 16)
      expectSameBytes(a, b)
      expect(toHex(a.subarray(MiB))).toBe(toHex(b.subarray(MiB)))
      expect(nativeBackend.sha256(a)).toEqual(nobleBackend.sha256(b))
      expect(nativeBackend.sha256(a)).toEqual(Uint8Array.from(createHash('sha256').update(b).digest()))
      expectSameBytes(native.open(index, last, b), pt)
      expectSameBytes(noble.open(index, last, a), pt)
    }
  })
})

describe('ShareEncoder on both backends', () => {
  const files: Array<[string, Uint8Array]> = [
    ['a/empty.txt', new Uint8Array(0)],
    ['a/one.bin', pseudoRandomBytes(1)],
    ['b/exact.bin', pseudoRandomBytes(2 * 64 * 1024, 3)],
    ['b/odd.bin', pseudoRandomBytes(3 * 64 * 1024 + 12_345, 4)],
    ['c.bin', pseudoRandomBytes(100_000, 5)]
  ]

  it('same keys and same fixed random give the same root block CID, blocks and chunks', async () => {
    const byNoble = await encodeShare(files, { backend: nobleBackend, random: fixedRandom() })
    const byNative = await encodeShare(files, { backend: nativeBackend, random: fixedRandom() })
    expect(byNative.root.cid.toString()).toBe(byNoble.root.cid.toString())
    expect(byNative.root.bytes).toEqual(byNoble.root.bytes)
    expect(byNative.blocks.map(b => b.cid.toString())).toEqual(byNoble.blocks.map(b => b.cid.toString()))
    expect(byNative.chunks.map(c => c.cid.toString())).toEqual(byNoble.chunks.map(c => c.cid.toString()))
    expect(byNative.digests).toEqual(byNoble.digests)
    expect(byNative.meta.files.map(f => toHex(f.sha256))).toEqual(byNoble.meta.files.map(f => toHex(f.sha256)))
  })

  it('the same share whatever piece sizes the file arrives in (whole-chunk views and assembled chunks)', async () => {
    const data = pseudoRandomBytes(5 * 64 * 1024 + 777, 6)
    const encode = async (backend: CryptoBackend, pieceSizes: number[]): Promise<{ root: string, chunks: EncryptedChunk[] }> => {
      const enc = new ShareEncoder({ backend, keys: deriveShareKeys(FIXED_ROOT), name: 'f.bin', kind: 'file', chunkSize: 64 * 1024, random: fixedRandom() })
      const pieces: Uint8Array[] = []
      for (let at = 0, i = 0; at < data.length; i++) {
        const n = pieceSizes[i % pieceSizes.length] as number
        pieces.push(data.subarray(at, at + n))
        at += n
      }
      const chunks: EncryptedChunk[] = []
      for await (const c of enc.encryptFile('f.bin', 0o644, pieces)) chunks.push(c)
      const share = await enc.finish(testSigner())
      return { root: share.root.cid.toString(), chunks }
    }
    const reference = await encode(nobleBackend, [10_007])
    for (const sizes of [[64 * 1024], [2 * 64 * 1024], [5 * 64 * 1024 + 777], [64 * 1024, 1, 64 * 1024 - 1], [100, 64 * 1024, 3 * 64 * 1024]]) {
      const got = await encode(nativeBackend, sizes)
      expect(got.root).toBe(reference.root)
      expect(got.chunks.map(c => c.cid.toString())).toEqual(reference.chunks.map(c => c.cid.toString()))
    }
  })
})

describe('nativeBackend: tampering and misuse', () => {
  it('any bit flip in a sealed message fails with DecryptionError (property)', () => {
    fc.assert(fc.property(key32, nonce12, bytes(0, 2000), optionalAad, fc.nat(), fc.integer({ min: 0, max: 7 }), (key, nonce, pt, aad, at, bit) => {
      const sealed = nativeBackend.chachaSeal(key, nonce, pt, aad)
      sealed[at % sealed.length]! ^= 1 << bit
      expectDecryptionError(() => nativeBackend.chachaOpen(key, nonce, sealed, aad))
    }), { numRuns: 200 })
  })

  it('wrong AAD, missing AAD, wrong nonce, wrong key, cut or short input: DecryptionError', () => {
    const sealed = nativeBackend.chachaSeal(KEY, RFC8439_NONCE, SUNSCREEN, AAD)
    expectDecryptionError(() => nativeBackend.chachaOpen(KEY, RFC8439_NONCE, sealed, AAD.subarray(1)))
    expectDecryptionError(() => nativeBackend.chachaOpen(KEY, RFC8439_NONCE, sealed))
    expectDecryptionError(() => nativeBackend.chachaOpen(KEY, new Uint8Array(12), sealed, AAD))
    expectDecryptionError(() => nativeBackend.chachaOpen(seq(1, 32), RFC8439_NONCE, sealed, AAD))
    expectDecryptionError(() => nativeBackend.chachaOpen(KEY, RFC8439_NONCE, sealed.subarray(0, sealed.length - 1), AAD))
    expectDecryptionError(() => nativeBackend.chachaOpen(KEY, RFC8439_NONCE, sealed.subarray(0, 15), AAD))
    expectDecryptionError(() => nativeBackend.chachaOpen(KEY, RFC8439_NONCE, new Uint8Array(0)))
    const x = XCHACHA_SEALED.slice(); x[5]! ^= 4
    expectDecryptionError(() => xchachaOpen(nativeBackend, KEY, XCHACHA_NONCE, x, AAD))
  })

  it('a tampered, moved or flag-flipped 1 MiB chunk fails through ChunkCipher', () => {
    const key = new SecretKey(seq(0x33, 32))
    const cipher = new ChunkCipher(nativeBackend, key, seq(0x44, 16))
    const sealed = cipher.seal(7, false, pseudoRandomBytes(MiB, 10))
    const tampered = sealed.slice(); tampered[MiB >> 1]! ^= 0x20
    expectDecryptionError(() => cipher.open(7, false, tampered))
    expectDecryptionError(() => cipher.open(8, false, sealed))
    expectDecryptionError(() => cipher.open(7, true, sealed))
    expectDecryptionError(() => new ChunkCipher(nativeBackend, new SecretKey(seq(0x55, 32)), seq(0x44, 16)).open(7, false, sealed))
  })

  it('errors never carry key bytes; the cause is kept', () => {
    const sealed = nativeBackend.chachaSeal(KEY, RFC8439_NONCE, SUNSCREEN)
    sealed[0]! ^= 1
    try {
      nativeBackend.chachaOpen(KEY, RFC8439_NONCE, sealed)
      expect.unreachable()
    } catch (err) {
      const e = err as Error
      expect(e.name).toBe('DecryptionError')
      expect(e.cause).toBeDefined()
      for (const text of [e.message, String(e.stack), String((e.cause as Error).message)]) {
        expect(text).not.toContain(toHex(KEY))
        expect(text).not.toContain(Buffer.from(KEY).toString('base64'))
      }
    }
  })

  it('wrong key or nonce sizes are RangeErrors, not DecryptionErrors', () => {
    expect(() => nativeBackend.chachaSeal(new Uint8Array(31), RFC8439_NONCE, SUNSCREEN)).toThrow(RangeError)
    expect(() => nativeBackend.chachaSeal(KEY, new Uint8Array(24), SUNSCREEN)).toThrow(RangeError)
    expect(() => nativeBackend.chachaOpen(new Uint8Array(16), RFC8439_NONCE, RFC8439_SEALED)).toThrow(RangeError)
    expect(() => nativeBackend.chachaOpen(KEY, new Uint8Array(8), RFC8439_SEALED)).toThrow(RangeError)
  })

  it('seal does not modify its inputs', () => {
    const pt = SUNSCREEN.slice()
    const aad = AAD.slice()
    nativeBackend.chachaSeal(KEY, RFC8439_NONCE, pt, aad)
    expect(pt).toEqual(SUNSCREEN)
    expect(aad).toEqual(AAD)
    expect(concat(pt, aad).length).toBe(SUNSCREEN.length + AAD.length)
  })
})
