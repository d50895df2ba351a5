/**
 * STREAM chunk encryption (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption
 * and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7) over XChaCha20-Poly1305.
 *
 * Each file of a share is one STREAM: chunk i is sealed under the share's encryption key with
 *   nonce(i, last) = noncePrefix(16) ‖ i as u56 big-endian (7 bytes) ‖ last ? 0x01 : 0x00
 * The index is the chunk's position in the whole share (unique across files), and the last-chunk
 * flag is set on each file's final chunk. So a chunk moved to another position, another file or
 * another share, or a file cut short at a chunk boundary (its new last chunk carries flag 0x00)
 * fails authentication. Empty files are one empty, final chunk (a bare 16-byte tag).
 *
 * Nonces are deterministic per (share, index, flag): a seeder can regenerate identical ciphertext
 * from its source file. The same (key, nonce) must never seal two different plaintexts, so a
 * regenerated chunk is checked against its content ID before any byte of it is sent (node/).
 *
 * The 16-byte prefix is fixed per share, so the HChaCha20 sub-key is computed once here and every
 * chunk is a single RFC 8439 ChaCha20-Poly1305 call with nonce 0x00000000 ‖ nonce[16..24].
 */
import { MAX_CHUNKS, STREAM_PREFIX_BYTES, XNONCE_BYTES } from './constants.js'
import { hchacha20, xchachaInnerNonce, type CryptoBackend } from './crypto.js'
import { DecryptionError } from './errors.js'
import type { SecretKey } from './keys.js'

/** The 24-byte XChaCha20 nonce of chunk `index` (docs/PROTOCOL.md §2). */
export function streamNonce (prefix: Uint8Array, index: number, last: boolean): Uint8Array {
  if (prefix.length !== STREAM_PREFIX_BYTES) throw new RangeError(`nonce prefix must be ${STREAM_PREFIX_BYTES} bytes`)
  checkIndex(index)
  const nonce = new Uint8Array(XNONCE_BYTES)
  nonce.set(prefix, 0)
  // u56 BE at [16..23); indices are < 2^24, so the top four bytes stay zero.
  const view = new DataView(nonce.buffer)
  view.setUint32(19, index)
  nonce[23] = last ? 1 : 0
  return nonce
}

function checkIndex (index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= MAX_CHUNKS) {
    throw new RangeError(`chunk index must be an integer in [0, ${MAX_CHUNKS})`)
  }
}

/** Seals and opens the chunks of one share. Cheap to create; holds the HChaCha20 sub-key. */
export class ChunkCipher {
  readonly #backend: CryptoBackend
  readonly #subkey: Uint8Array
  readonly #prefix: Uint8Array

  constructor (backend: CryptoBackend, key: SecretKey, noncePrefix: Uint8Array) {
    if (noncePrefix.length !== STREAM_PREFIX_BYTES) throw new RangeError(`nonce prefix must be ${STREAM_PREFIX_BYTES} bytes`)
    this.#backend = backend
    this.#prefix = Uint8Array.from(noncePrefix)
    this.#subkey = hchacha20(key.bytes, this.#prefix)
  }

  /** Seals chunk `index`; `last` marks the final chunk of its file. Returns ciphertext ‖ tag. */
  seal (index: number, last: boolean, plaintext: Uint8Array): Uint8Array {
    const nonce = streamNonce(this.#prefix, index, last)
    return this.#backend.chachaSeal(this.#subkey, xchachaInnerNonce(nonce), plaintext)
  }

  /** Opens chunk `index`. Throws `DecryptionError` if it was tampered with, moved or cut. */
  open (index: number, last: boolean, sealed: Uint8Array): Uint8Array {
    const nonce = streamNonce(this.#prefix, index, last)
    try {
      return this.#backend.chachaOpen(this.#subkey, xchachaInnerNonce(nonce), sealed)
    } catch (err) {
      throw new DecryptionError(`chunk ${index} failed authentication: tampered, reordered, truncated or from another share`, { cause: err })
    }
  }

  toString (): string { return '[ChunkCipher]' }
  toJSON (): string { return '[ChunkCipher]' }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return '[ChunkCipher]' }
}

/**
 * Opens one file's chunks in order: `source` yields the sealed chunks of the file whose chunks are
 * [firstChunk, firstChunk + count). Yields plaintext. A missing final chunk, an extra chunk, or any
 * chunk out of place fails with `DecryptionError`; nothing is yielded for a chunk that fails.
 */
export async function * openFileStream (cipher: ChunkCipher, firstChunk: number, count: number, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let position = 0
  for await (const sealed of source) {
    if (position >= count) throw new DecryptionError('decryption failed: chunks after the final chunk')
    yield cipher.open(firstChunk + position, position === count - 1, sealed)
    position++
  }
  if (position < count) throw new DecryptionError('decryption failed: the file ends before its final chunk')
}
