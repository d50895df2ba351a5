/**
 * Crypto backends: the few primitives Kith needs, behind one interface.
 *
 * Goals: one definition of every construction (XChaCha20-Poly1305, STREAM, hashing) in pure
 * protocol/ code, with the two hot primitives (ChaCha20-Poly1305 and SHA-256) swappable for a
 * native implementation that gives byte-identical output. Node's `node:crypto` runs them ~10×
 * faster than JS; that backend lives in node/crypto/native.ts because protocol/ imports no
 * platform API. The browser uses the pure backend below (a WebCrypto backend is not possible:
 * WebCrypto has no ChaCha20-Poly1305).
 *
 * Non-goals: key management (keys.ts), nonce layout (stream.ts).
 *
 * XChaCha20-Poly1305 is defined (draft-irtf-cfrg-xchacha-03 §2.3) as
 *   subkey = HChaCha20(key, nonce[0..16]);  ChaCha20-Poly1305(subkey, 0x00000000 ‖ nonce[16..24])
 * so a backend only provides RFC 8439 ChaCha20-Poly1305; HChaCha20 runs here, in JS, once per
 * (key, nonce prefix): for chunks that is once per share (see stream.ts).
 */
import { chacha20poly1305, hchacha } from '@noble/ciphers/chacha.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js'
import { KEY_BYTES, TAG_BYTES, XNONCE_BYTES } from './constants.js'
import { DecryptionError } from './errors.js'

/** Incremental SHA-256. */
export interface Hasher {
  update (data: Uint8Array): void
  digest (): Uint8Array
}

/**
 * The primitives a platform provides. Every method is synchronous and allocation-light:
 * a 1 MiB chunk is processed in one call.
 */
export interface CryptoBackend {
  readonly name: string
  /** SHA-256 (FIPS 180-4) of `data`. */
  sha256 (data: Uint8Array): Uint8Array
  /** A streaming SHA-256. */
  createSha256 (): Hasher
  /** RFC 8439 ChaCha20-Poly1305 seal: returns ciphertext ‖ 16-byte tag. */
  chachaSeal (key: Uint8Array, nonce12: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array
  /** RFC 8439 ChaCha20-Poly1305 open. Throws `DecryptionError` if the tag does not verify. */
  chachaOpen (key: Uint8Array, nonce12: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array
}

/** A source of cryptographically secure random bytes (crypto.getRandomValues underneath). */
export type RandomSource = (length: number) => Uint8Array

/** The platform CSPRNG, via globalThis.crypto.getRandomValues (Node ≥ 19 and every browser). */
export const defaultRandom: RandomSource = (length) => nobleRandomBytes(length)

/** Pure-JS backend (@noble/ciphers, @noble/hashes): runs everywhere, ~190 MB/s. */
export const nobleBackend: CryptoBackend = Object.freeze({
  name: 'noble',
  sha256: (data: Uint8Array) => sha256(data),
  createSha256: (): Hasher => {
    const h = sha256.create()
    return {
      update: (data: Uint8Array) => { h.update(data) },
      digest: () => h.digest()
    }
  },
  chachaSeal: (key: Uint8Array, nonce12: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array) =>
    chacha20poly1305(key, nonce12, aad).encrypt(plaintext),
  chachaOpen: (key: Uint8Array, nonce12: Uint8Array, sealed: Uint8Array, aad?: Uint8Array) => {
    if (sealed.length < TAG_BYTES) throw new DecryptionError('decryption failed: ciphertext shorter than its tag')
    try {
      return chacha20poly1305(key, nonce12, aad).decrypt(sealed)
    } catch (err) {
      throw new DecryptionError(undefined, { cause: err })
    }
  }
})

// RFC 8439 §2.3: the ChaCha20 constants "expand 32-byte k" as little-endian words.
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])

function wordsLE (bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Uint32Array(bytes.length / 4)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true)
  return out
}

/** HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): 32-byte key, 16-byte nonce → 32-byte sub-key. */
export function hchacha20 (key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  if (key.length !== KEY_BYTES) throw new RangeError(`key must be ${KEY_BYTES} bytes`)
  if (nonce16.length !== 16) throw new RangeError('HChaCha20 nonce must be 16 bytes')
  const out = new Uint32Array(8)
  hchacha(SIGMA, wordsLE(key), wordsLE(nonce16), out)
  const bytes = new Uint8Array(32)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < 8; i++) view.setUint32(i * 4, out[i] as number, true)
  return bytes
}

/** The 12-byte RFC 8439 nonce XChaCha uses after HChaCha20: 0x00000000 ‖ nonce[16..24]. */
export function xchachaInnerNonce (nonce24: Uint8Array): Uint8Array {
  const n = new Uint8Array(12)
  n.set(nonce24.subarray(16, 24), 4)
  return n
}

function checkXNonce (key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`key must be ${KEY_BYTES} bytes`)
  if (nonce.length !== XNONCE_BYTES) throw new RangeError(`XChaCha20 nonce must be ${XNONCE_BYTES} bytes`)
}

/** XChaCha20-Poly1305 seal (draft-irtf-cfrg-xchacha-03 §2.4 via §2.3): ciphertext ‖ tag. */
export function xchachaSeal (backend: CryptoBackend, key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkXNonce(key, nonce24)
  return backend.chachaSeal(hchacha20(key, nonce24.subarray(0, 16)), xchachaInnerNonce(nonce24), plaintext, aad)
}

/** XChaCha20-Poly1305 open. Throws `DecryptionError` on any authentication failure. */
export function xchachaOpen (backend: CryptoBackend, key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkXNonce(key, nonce24)
  return backend.chachaOpen(hchacha20(key, nonce24.subarray(0, 16)), xchachaInnerNonce(nonce24), sealed, aad)
}
