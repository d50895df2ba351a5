/**
 * XChaCha20-Poly1305, HChaCha20 and ChaCha20-Poly1305 on the pure-JS (noble) backend, and STREAM
 * chunk encryption (protocol/stream.ts).
 *
 * Known-answer vectors are typed in from their specifications:
 *   - draft-irtf-cfrg-xchacha-03 §2.2.1 (HChaCha20) and §A.3.1 (AEAD_XChaCha20_Poly1305),
 *   - RFC 8439 §2.8.2 (AEAD_CHACHA20_POLY1305).
 * Project Wycheproof's xchacha20_poly1305_test.json would add edge cases, but this project does
 * not commit downloaded data files, so instead every random input is checked against an
 * independent implementation: libsodium (C, compiled to JS/wasm), through libsodium-wrappers.
 */
import fc from 'fast-check'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import sodium from 'libsodium-wrappers'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ChunkCipher, hchacha20, nobleBackend, SecretKey, streamNonce, xchachaInnerNonce, xchachaOpen, xchachaSeal
} from '../../protocol/index.js'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const seq = (start: number, length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff)

/** The sunscreen plaintext of RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1. */
const SUNSCREEN = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
const SUNSCREEN_AAD = hex('50515253c0c1c2c3c4c5c6c7')
const SUNSCREEN_KEY = seq(0x80, 32) // 80 81 82 … 9f

// draft-irtf-cfrg-xchacha-03 §A.3.1
const XCHACHA_NONCE = seq(0x40, 24) // 40 41 … 57
const XCHACHA_CT = hex(`
  bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
  731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
  2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
  21f9664c97637da9768812f615c68b13b52e`)
const XCHACHA_TAG = hex('c0875924c1c7987947deafd8780acf49')

// RFC 8439 §2.8.2
const RFC8439_NONCE = hex('07000000' + '4041424344454647')
const RFC8439_CT = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b6116`)
const RFC8439_TAG = hex('1ae10b594f09e26a7e902ecbd0600691')

// draft-irtf-cfrg-xchacha-03 §2.2.1
const HCHACHA_KEY = seq(0x00, 32)
const HCHACHA_NONCE = hex('000000090000004a0000000031415927')
const HCHACHA_OUT = hex('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc')

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => { const o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o }
const expectDecryptionError = (f: () => unknown): void => { expect(f).toThrow(expect.objectContaining({ name: 'DecryptionError' })) }

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
const key32 = bytes(32, 32)
const nonce24 = bytes(24, 24)
const optionalAad = fc.option(bytes(0, 5000), { nil: undefined })

describe('known-answer vectors (noble backend)', () => {
  it('HChaCha20: draft-irtf-cfrg-xchacha-03 §2.2.1', () => {
    expect(toHex(hchacha20(HCHACHA_KEY, HCHACHA_NONCE))).toBe(toHex(HCHACHA_OUT))
  })

  it('XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 §A.3.1, seal and open', () => {
    const sealed = xchachaSeal(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, SUNSCREEN, SUNSCREEN_AAD)
    expect(toHex(sealed)).toBe(toHex(concat(XCHACHA_CT, XCHACHA_TAG)))
    expect(xchachaOpen(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, sealed, SUNSCREEN_AAD)).toEqual(SUNSCREEN)
  })

  it('XChaCha20-Poly1305 §A.3.1: the sub-key and inner nonce of §2.3', () => {
    // ChaCha20-Poly1305 under HChaCha20(key, nonce[0..16]) with nonce 00000000 ‖ nonce[16..24]
    const subkey = hchacha20(SUNSCREEN_KEY, XCHACHA_NONCE.subarray(0, 16))
    expect(toHex(xchachaInnerNonce(XCHACHA_NONCE))).toBe('000000005051525354555657')
    expect(toHex(nobleBackend.chachaSeal(subkey, xchachaInnerNonce(XCHACHA_NONCE), SUNSCREEN, SUNSCREEN_AAD))).toBe(toHex(concat(XCHACHA_CT, XCHACHA_TAG)))
  })

  it('ChaCha20-Poly1305: RFC 8439 §2.8.2, seal and open', () => {
    const sealed = nobleBackend.chachaSeal(SUNSCREEN_KEY, RFC8439_NONCE, SUNSCREEN, SUNSCREEN_AAD)
    expect(toHex(sealed)).toBe(toHex(concat(RFC8439_CT, RFC8439_TAG)))
    expect(nobleBackend.chachaOpen(SUNSCREEN_KEY, RFC8439_NONCE, sealed, SUNSCREEN_AAD)).toEqual(SUNSCREEN)
  })

  it('a wrong tag, wrong AAD or cut ciphertext fails with DecryptionError', () => {
    const sealed = concat(XCHACHA_CT, XCHACHA_TAG)
    const flipped = sealed.slice(); flipped[sealed.length - 1]! ^= 1
    expectDecryptionError(() => xchachaOpen(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, flipped, SUNSCREEN_AAD))
    expectDecryptionError(() => xchachaOpen(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, sealed, SUNSCREEN_AAD.subarray(1)))
    expectDecryptionError(() => xchachaOpen(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, sealed))
    expectDecryptionError(() => xchachaOpen(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, sealed.subarray(0, 15), SUNSCREEN_AAD))
    expectDecryptionError(() => nobleBackend.chachaOpen(SUNSCREEN_KEY, RFC8439_NONCE, new Uint8Array(0)))
  })

  it('rejects wrong key and nonce sizes with RangeError', () => {
    expect(() => xchachaSeal(nobleBackend, new Uint8Array(31), XCHACHA_NONCE, SUNSCREEN)).toThrow(RangeError)
    expect(() => xchachaSeal(nobleBackend, SUNSCREEN_KEY, new Uint8Array(12), SUNSCREEN)).toThrow(RangeError)
    expect(() => hchacha20(SUNSCREEN_KEY, new Uint8Array(24))).toThrow(RangeError)
  })
})

describe('XChaCha20-Poly1305 against @noble/ciphers xchacha20poly1305 (property)', () => {
  it('byte-identical on random keys, nonces, plaintexts and AAD', () => {
    fc.assert(fc.property(key32, nonce24, bytes(0, 5000), optionalAad, (key, nonce, pt, aad) => {
      const ours = xchachaSeal(nobleBackend, key, nonce, pt, aad)
      expect(toHex(ours)).toBe(toHex(xchacha20poly1305(key, nonce, aad).encrypt(pt)))
      expect(xchachaOpen(nobleBackend, key, nonce, ours, aad)).toEqual(pt)
    }), { numRuns: 200 })
  })
})

describe('XChaCha20-Poly1305 against libsodium (independent implementation)', () => {
  beforeAll(async () => { await sodium.ready })

  it('identical bytes, libsodium opens ours and we open libsodium\'s (property)', () => {
    fc.assert(fc.property(key32, nonce24, bytes(0, 5000), optionalAad, (key, nonce, pt, aad) => {
      const ours = xchachaSeal(nobleBackend, key, nonce, pt, aad)
      const theirs = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad ?? null, null, nonce, key)
      expect(toHex(ours)).toBe(toHex(theirs))
      expect(toHex(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ours, aad ?? null, nonce, key))).toBe(toHex(pt))
      expect(xchachaOpen(nobleBackend, key, nonce, theirs, aad)).toEqual(pt)
    }), { numRuns: 200 })
  })

  it('libsodium agrees on the §A.3.1 vector and rejects a tampered tag of ours', () => {
    expect(toHex(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(SUNSCREEN, SUNSCREEN_AAD, null, XCHACHA_NONCE, SUNSCREEN_KEY))).toBe(toHex(concat(XCHACHA_CT, XCHACHA_TAG)))
    const sealed = xchachaSeal(nobleBackend, SUNSCREEN_KEY, XCHACHA_NONCE, SUNSCREEN, SUNSCREEN_AAD)
    sealed[0]! ^= 0x80
    expect(() => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, SUNSCREEN_AAD, XCHACHA_NONCE, SUNSCREEN_KEY)).toThrow()
  })
})

describe('STREAM chunks (ChunkCipher)', () => {
  const key = new SecretKey(seq(0xa0, 32))
  const otherKey = new SecretKey(seq(0xb0, 32))
  const prefix = seq(0x00, 16)
  const cipher = new ChunkCipher(nobleBackend, key, prefix)

  it('nonce layout: prefix(16) ‖ index u56 BE ‖ last flag (golden)', () => {
    expect(toHex(streamNonce(prefix, 5, true))).toBe('000102030405060708090a0b0c0d0e0f' + '00000000000005' + '01')
    expect(toHex(streamNonce(prefix, 0x123456, false))).toBe('000102030405060708090a0b0c0d0e0f' + '00000000123456' + '00')
    expect(() => streamNonce(prefix, -1, false)).toThrow(RangeError)
    expect(() => streamNonce(prefix, 2 ** 24, false)).toThrow(RangeError)
    expect(() => streamNonce(prefix.subarray(1), 0, false)).toThrow(RangeError)
  })

  it('a chunk is XChaCha20-Poly1305 under the share key with its STREAM nonce, no AAD', () => {
    const pt = seq(7, 1000)
    const sealed = cipher.seal(5, true, pt)
    expect(toHex(sealed)).toBe(toHex(xchachaSeal(nobleBackend, key.bytes, streamNonce(prefix, 5, true), pt)))
    expect(toHex(sealed)).toBe(toHex(xchacha20poly1305(key.bytes, streamNonce(prefix, 5, true)).encrypt(pt)))
  })

  it('round trip, including the empty last chunk (a bare tag)', () => {
    for (const [index, last, pt] of [[0, false, seq(1, 65536)], [1, true, seq(2, 3)], [9, true, new Uint8Array(0)]] as const) {
      const sealed = cipher.seal(index, last, pt)
      expect(sealed.length).toBe(pt.length + 16)
      expect(cipher.open(index, last, sealed)).toEqual(pt)
    }
  })

  it('a chunk opened at another index fails', () => {
    const sealed = cipher.seal(3, false, seq(3, 4096))
    for (const other of [0, 2, 4, 2 ** 24 - 1]) expectDecryptionError(() => cipher.open(other, false, sealed))
  })

  it('flipping the last flag fails both ways (truncation and extension)', () => {
    const notLast = cipher.seal(4, false, seq(4, 4096))
    const last = cipher.seal(4, true, seq(4, 4096))
    expect(toHex(notLast)).not.toBe(toHex(last))
    expectDecryptionError(() => cipher.open(4, true, notLast))
    expectDecryptionError(() => cipher.open(4, false, last))
  })

  it('a chunk from another share (other key, or other nonce prefix) fails', () => {
    const sealed = cipher.seal(0, true, seq(5, 4096))
    expectDecryptionError(() => new ChunkCipher(nobleBackend, otherKey, prefix).open(0, true, sealed))
    expectDecryptionError(() => new ChunkCipher(nobleBackend, key, seq(0x10, 16)).open(0, true, sealed))
  })

  it('a chunk cut below its tag fails', () => {
    expectDecryptionError(() => cipher.open(0, true, new Uint8Array(15)))
  })

  it('any single bit flip anywhere fails (property)', () => {
    fc.assert(fc.property(bytes(0, 3000), fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 7 }), (pt, index, last, at, bit) => {
      const sealed = cipher.seal(index, last, pt)
      const pos = at % sealed.length
      sealed[pos]! ^= 1 << bit
      expectDecryptionError(() => cipher.open(index, last, sealed))
    }), { numRuns: 200 })
  })

  it('failure messages name the chunk and never include key bytes', () => {
    const sealed = cipher.seal(6, false, seq(6, 100))
    sealed[0]! ^= 1
    try {
      cipher.open(6, false, sealed)
      expect.unreachable()
    } catch (err) {
      expect((err as Error).name).toBe('DecryptionError')
      expect((err as Error).message).toContain('chunk 6')
      expect((err as Error).message).not.toContain(toHex(key.bytes))
    }
    expect(String(cipher)).toBe('[ChunkCipher]')
    expect(JSON.stringify({ cipher })).not.toContain(toHex(key.bytes).slice(0, 8))
  })
})
