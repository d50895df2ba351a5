/**
 * Key schedule (docs/PROTOCOL.md §1).
 *
 *   root (32 B, CSPRNG)                        ← the read capability (the link) holds this
 *    ├─ encryption   = HKDF(root, "kith/v1/encryption")     chunks + manifest metadata
 *    ├─ noncePrefix  = HKDF(root, "kith/v1/nonce-prefix")   16 B, STREAM nonce prefix
 *    └─ seed         = HKDF(root, "kith/v1/seed")           ← a seed-only capability holds this
 *        ├─ index      = HKDF(seed, "kith/v1/index")        manifest chunk index + blocks
 *        ├─ access     = HKDF(seed, "kith/v1/access")       swarm admission proofs
 *        ├─ discovery  = HKDF(seed, "kith/v1/discovery")    the DHT key seeders announce under
 *        └─ blockNoncePrefix = HKDF(seed, "kith/v1/block-nonce-prefix")
 *
 * All HKDF-SHA256 (RFC 5869) with salt "kith/v1". The root key is never derived from content
 * (no convergent encryption): two shares of the same file have unrelated keys and ciphertext.
 * A seed-only holder can find the swarm, be admitted, fetch the chunk index and verify and serve
 * every chunk, but holds nothing that decrypts a chunk or the file names (HKDF is one-way).
 */
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { HKDF_SALT, KEY_BYTES, LABELS, STREAM_PREFIX_BYTES } from './constants.js'
import { defaultRandom, type RandomSource } from './crypto.js'

const encoder = new TextEncoder()
const INSPECT = Symbol.for('nodejs.util.inspect.custom')
const SHA2_256 = 0x12

/**
 * Holds key bytes and never prints them: `String(k)`, `JSON.stringify(k)`, Node's inspect and
 * template strings all give "[redacted]". Errors never include a SecretKey's bytes.
 */
export class SecretKey {
  readonly #bytes: Uint8Array

  constructor (bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array')
    if (bytes.length !== KEY_BYTES) throw new RangeError(`key must be ${KEY_BYTES} bytes, got ${bytes.length}`)
    this.#bytes = Uint8Array.from(bytes)
  }

  /** The raw key. Handle with care: never log it. */
  get bytes (): Uint8Array { return this.#bytes }

  /** Overwrites the key in memory (best effort: JS engines may have copied it). */
  wipe (): void { this.#bytes.fill(0) }

  toString (): string { return '[SecretKey redacted]' }
  toJSON (): string { return '[SecretKey redacted]' }
  [INSPECT] (): string { return '[SecretKey redacted]' }
  get [Symbol.toStringTag] (): string { return 'SecretKey' }
}

/** HKDF-SHA256(ikm, salt = HKDF_SALT, info = label): every Kith sub-key is derived this way. */
export function derive (ikm: Uint8Array, label: string, length = KEY_BYTES): Uint8Array {
  return hkdf(sha256, ikm, encoder.encode(HKDF_SALT), encoder.encode(label), length)
}

/** Everything a seed-only capability can do: find, admit, fetch the index, verify, serve. */
export interface SeedKeys {
  readonly seed: SecretKey
  readonly index: SecretKey
  readonly access: SecretKey
  /** 32 bytes; not secret once announced, but unlinkable to the manifest without the seed key. */
  readonly discovery: Uint8Array
  /** The DHT key seeders announce under: CIDv1(raw, sha2-256 multihash whose digest is `discovery`). */
  readonly discoveryCid: CID
  readonly blockNoncePrefix: Uint8Array
}

/** Everything a reader (holder of the link) needs. */
export interface ShareKeys extends SeedKeys {
  readonly root: SecretKey
  readonly encryption: SecretKey
  readonly noncePrefix: Uint8Array
}

/** A fresh share root key from the platform CSPRNG. `random` is a parameter for tests only. */
export function generateRootKey (random: RandomSource = defaultRandom): SecretKey {
  const bytes = random(KEY_BYTES)
  try {
    return new SecretKey(bytes)
  } finally {
    bytes.fill(0)
  }
}

function keyBytes (k: SecretKey | Uint8Array): Uint8Array {
  return k instanceof SecretKey ? k.bytes : new SecretKey(k).bytes
}

/** Derives the seed-only sub-keys from a seed key. */
export function deriveSeedKeys (seed: SecretKey | Uint8Array): SeedKeys {
  const s = keyBytes(seed)
  const discovery = derive(s, LABELS.discovery)
  return Object.freeze({
    seed: new SecretKey(s),
    index: new SecretKey(derive(s, LABELS.index)),
    access: new SecretKey(derive(s, LABELS.access)),
    discovery,
    discoveryCid: CID.createV1(raw.code, createDigest(SHA2_256, discovery)),
    blockNoncePrefix: derive(s, LABELS.blockNoncePrefix, STREAM_PREFIX_BYTES)
  })
}

/** Derives every sub-key of a share from its root key. */
export function deriveShareKeys (root: SecretKey | Uint8Array): ShareKeys {
  const r = keyBytes(root)
  return Object.freeze({
    ...deriveSeedKeys(derive(r, LABELS.seed)),
    root: new SecretKey(r),
    encryption: new SecretKey(derive(r, LABELS.encryption)),
    noncePrefix: derive(r, LABELS.noncePrefix, STREAM_PREFIX_BYTES)
  })
}
