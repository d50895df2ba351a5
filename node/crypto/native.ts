/**
 * The native crypto backend: RFC 8439 ChaCha20-Poly1305 and SHA-256 from node:crypto (OpenSSL),
 * several times the pure-JS speed. Output is byte-identical to protocol/crypto.ts's noble backend
 * (test/node/crypto/native.test.ts); HChaCha20 still runs in JS, once per share (stream.ts).
 *
 * Hot path (one call per 1 MiB chunk):
 *  - seal: OpenSSL writes ciphertext into the Buffer `update()` returns and the tag separately;
 *    the sealed form is ciphertext ‖ tag in one array, so one copy into a single, non-zeroed
 *    output allocation (every byte of it is overwritten) is the only extra work.
 *  - open: `update()` already returns exactly the plaintext; `final()` checks the tag and yields
 *    nothing for a stream cipher, so the plaintext is returned without a copy — and only after
 *    the tag has verified.
 * Every result is a plain Uint8Array view over the memory node:crypto allocated (not a Buffer),
 * so it compares equal to the noble backend's output.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import type { CryptoBackend, Hasher } from '../../protocol/crypto.js'
import { KEY_BYTES, TAG_BYTES } from '../../protocol/constants.js'
import { DecryptionError } from '../../protocol/errors.js'

const ALGORITHM = 'chacha20-poly1305'
const NONCE_BYTES = 12
const OPTIONS = Object.freeze({ authTagLength: TAG_BYTES })

/** A Uint8Array over the same memory as `b` (no copy). */
function view (b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/** Programming errors (wrong sizes) are RangeErrors, never disguised as a failed tag. */
function checkKeyNonce (key: Uint8Array, nonce12: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`ChaCha20-Poly1305 key must be ${KEY_BYTES} bytes`)
  if (nonce12.length !== NONCE_BYTES) throw new RangeError(`ChaCha20-Poly1305 nonce must be ${NONCE_BYTES} bytes`)
}

function sha256 (data: Uint8Array): Uint8Array {
  return view(createHash('sha256').update(data).digest())
}

function createSha256 (): Hasher {
  const h = createHash('sha256')
  return {
    update: (data: Uint8Array) => { h.update(data) },
    digest: () => view(h.digest())
  }
}

function chachaSeal (key: Uint8Array, nonce12: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkKeyNonce(key, nonce12)
  const n = plaintext.length
  const cipher = createCipheriv(ALGORITHM, key, nonce12, OPTIONS)
  if (aad !== undefined) cipher.setAAD(aad, { plaintextLength: n })
  // Not zero-filled: bytes [0, n) come from update()/final(), [n, n + 16) from the tag.
  const out = view(Buffer.allocUnsafeSlow(n + TAG_BYTES))
  const body = cipher.update(plaintext)
  out.set(body, 0)
  const rest = cipher.final()
  if (rest.length !== 0) out.set(rest, body.length)
  const tag = cipher.getAuthTag()
  if (body.length + rest.length !== n || tag.length !== TAG_BYTES) throw new Error('chacha20-poly1305: unexpected output length')
  out.set(tag, n)
  return out
}

function chachaOpen (key: Uint8Array, nonce12: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkKeyNonce(key, nonce12)
  if (sealed.length < TAG_BYTES) throw new DecryptionError('decryption failed: ciphertext shorter than its tag')
  const n = sealed.length - TAG_BYTES
  let body: Buffer
  let rest: Buffer
  try {
    const decipher = createDecipheriv(ALGORITHM, key, nonce12, OPTIONS)
    decipher.setAuthTag(sealed.subarray(n))
    if (aad !== undefined) decipher.setAAD(aad, { plaintextLength: n })
    body = decipher.update(sealed.subarray(0, n))
    rest = decipher.final() // throws if the tag does not verify
  } catch (err) {
    // OpenSSL's message ("Unsupported state or unable to authenticate data") carries no input bytes.
    throw new DecryptionError(undefined, { cause: err })
  }
  if (rest.length === 0) return view(body)
  const out = new Uint8Array(body.length + rest.length)
  out.set(body, 0)
  out.set(rest, body.length)
  return out
}

/** ChaCha20-Poly1305 and SHA-256 from node:crypto. */
export const nativeBackend: CryptoBackend = Object.freeze({
  name: 'node:crypto',
  sha256,
  createSha256,
  chachaSeal,
  chachaOpen
})

/** The fastest backend on this platform (node/ code uses this, never a backend by name). */
export function bestBackend (): CryptoBackend {
  return nativeBackend
}
