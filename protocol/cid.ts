/**
 * Content addressing (docs/PROTOCOL.md §3): every chunk and manifest block is named by
 * CIDv1(raw 0x55, sha2-256 0x12) of its exact bytes, and verified against that name before it
 * is stored, used or passed on. Inside manifests only the 32-byte digest is stored; the CID
 * prefix is implied by the format version.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { DIGEST_BYTES } from './constants.js'
import type { CryptoBackend } from './crypto.js'
import { IntegrityError } from './errors.js'

export const SHA2_256_CODE = 0x12
export const RAW_CODE = raw.code

/** The CID for a sha2-256 digest of raw bytes. */
export function cidFromDigest (digest: Uint8Array): CID {
  if (digest.length !== DIGEST_BYTES) throw new RangeError(`digest must be ${DIGEST_BYTES} bytes`)
  return CID.createV1(raw.code, createDigest(SHA2_256_CODE, Uint8Array.from(digest)))
}

/** The 32-byte digest inside a Kith CID; throws `IntegrityError` for any other kind of CID. */
export function digestFromCid (cid: CID): Uint8Array {
  if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== SHA2_256_CODE || cid.multihash.digest.length !== DIGEST_BYTES) {
    throw new IntegrityError('not a Kith content ID: expected CIDv1, raw codec, sha2-256')
  }
  return cid.multihash.digest
}

/** Hashes `bytes` and returns their CID. */
export function cidOf (backend: CryptoBackend, bytes: Uint8Array): CID {
  return cidFromDigest(backend.sha256(bytes))
}

/** True if `a` and `b` are the same 32-byte digest (public data: no constant-time need). */
export function digestEquals (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Throws `IntegrityError` unless sha256(bytes) is `expected` (a digest or a CID). */
export function verifyBlock (backend: CryptoBackend, expected: Uint8Array | CID, bytes: Uint8Array): void {
  const digest = expected instanceof Uint8Array ? expected : digestFromCid(expected)
  if (!digestEquals(backend.sha256(bytes), digest)) throw new IntegrityError()
}
