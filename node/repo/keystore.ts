/**
 * Keys at rest (docs/THREAT-MODEL.md §2.10): the repo's secrets (the node identity, circle keys, invite
 * keys) sealed under a key stretched from a passphrase.
 *
 * KDF: scrypt from @noble/hashes (N = 2^17, r = 8, p = 1: 128 MiB and about 1.2 s here, once per
 * process), 32-byte random salt. AEAD: XChaCha20-Poly1305 (@noble/ciphers) with a random 24-byte
 * nonce per secret and the secret's label as associated data (`kith/v1/vault/<label>`), so a
 * sealed blob cannot be moved to stand in for another. The key-encryption key lives in memory
 * only. Without a passphrase the vault stores secrets as plain base64 behind the same API, so
 * callers never branch.
 *
 * A sealed file states its KDF parameters; they are checked against fixed bounds before any work
 * (a hostile file cannot make us allocate gigabytes or spin for minutes).
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { randomBytes } from 'node:crypto'
import { KithError } from '../../protocol/errors.js'
import { PassphraseRequiredError, VaultFormatError, WrongPassphraseError } from './errors.js'

/** Production parameters: the minimum for a new sealed repo. */
export const KDF_DEFAULT = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })
/**
 * `KITH_INSECURE_TEST_KDF=1` seals new repos with N = 2^14 (tests only: about 10× faster). Files
 * sealed that way still open anywhere; nothing lowers the bounds below, which every file obeys.
 */
const KDF_TEST = Object.freeze({ N: 2 ** 14, r: 8, p: 1 })
const MIN_LOG_N = 14
const MAX_LOG_N = 20
const MAX_MEMORY = 1024 * 1024 * 1024
const SALT_BYTES = 32
const NONCE_BYTES = 24
const MAX_PASSPHRASE_BYTES = 1024

/** A sealed (or, without a passphrase, plain) secret as stored in JSON files. */
export type SealedSecret = { v: 1, nonce: string, sealed: string } | { v: 1, plain: string }

export interface KdfParams { kdf: 'scrypt', N: number, r: number, p: number, salt: string }

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const unb64 = (s: string, what: string): Uint8Array => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new VaultFormatError(`${what} is not base64`)
  return new Uint8Array(Buffer.from(s, 'base64'))
}

/** Checks KDF parameters read from a file; throws VaultFormatError if out of bounds. */
export function checkKdfParams (p: unknown): KdfParams {
  const o = p as Partial<KdfParams> | null
  if (o === null || typeof o !== 'object' || o.kdf !== 'scrypt') throw new VaultFormatError('unknown key-derivation function')
  const { N, r, p: par } = o
  if (typeof N !== 'number' || !Number.isSafeInteger(N) || N < 2 ** MIN_LOG_N || N > 2 ** MAX_LOG_N || (N & (N - 1)) !== 0) throw new VaultFormatError('scrypt N out of bounds')
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1 || r > 32) throw new VaultFormatError('scrypt r out of bounds')
  if (typeof par !== 'number' || !Number.isSafeInteger(par) || par < 1 || par > 4) throw new VaultFormatError('scrypt p out of bounds')
  if (128 * N * r * par > MAX_MEMORY) throw new VaultFormatError('scrypt parameters need too much memory')
  const salt = unb64(o.salt as string, 'salt')
  if (salt.length < 16 || salt.length > 64) throw new VaultFormatError('salt length out of bounds')
  return { kdf: 'scrypt', N, r, p: par, salt: o.salt as string }
}

function passphraseBytes (passphrase: string): Uint8Array {
  const bytes = new TextEncoder().encode(passphrase.normalize('NFC'))
  if (bytes.length === 0) throw new KithError('the passphrase is empty')
  if (bytes.length > MAX_PASSPHRASE_BYTES) throw new KithError('the passphrase is longer than 1024 bytes')
  return bytes
}

function aad (label: string): Uint8Array {
  return new TextEncoder().encode(`kith/v1/vault/${label}`)
}

export class Vault {
  readonly #kek: Uint8Array | undefined
  /** The KDF parameters of a sealed vault (stored in identity.json). */
  readonly params: KdfParams | undefined

  private constructor (kek: Uint8Array | undefined, params: KdfParams | undefined) {
    this.#kek = kek
    this.params = params
  }

  /** A vault without a passphrase: secrets are stored as plain base64. */
  static plain (): Vault { return new Vault(undefined, undefined) }

  /** A new sealed vault (fresh salt). */
  static async create (passphrase: string, env: NodeJS.ProcessEnv = process.env): Promise<Vault> {
    const base = env.KITH_INSECURE_TEST_KDF === '1' ? KDF_TEST : KDF_DEFAULT
    const params: KdfParams = { kdf: 'scrypt', ...base, salt: b64(randomBytes(SALT_BYTES)) }
    return new Vault(await derive(passphrase, params), params)
  }

  /** The vault of an existing sealed repo. A wrong passphrase shows when a secret is opened. */
  static async unlock (passphrase: string, params: unknown): Promise<Vault> {
    const p = checkKdfParams(params)
    return new Vault(await derive(passphrase, p), p)
  }

  get sealed (): boolean { return this.#kek !== undefined }

  seal (label: string, secret: Uint8Array): SealedSecret {
    if (this.#kek === undefined) return { v: 1, plain: b64(secret) }
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES))
    return { v: 1, nonce: b64(nonce), sealed: b64(xchacha20poly1305(this.#kek, nonce, aad(label)).encrypt(secret)) }
  }

  /**
   * Opens a secret sealed under `label` (at most `maxBytes` long). Throws WrongPassphraseError,
   * PassphraseRequiredError or VaultFormatError.
   */
  open (label: string, s: unknown, maxBytes = 64 * 1024): Uint8Array {
    const o = s as Partial<{ v: number, nonce: string, sealed: string, plain: string }> | null
    if (o === null || typeof o !== 'object' || o.v !== 1) throw new VaultFormatError()
    if (typeof o.plain === 'string') {
      // A plain secret in a sealed repo is refused: it would be a downgrade someone wrote in.
      if (this.#kek !== undefined) throw new VaultFormatError('a plain secret in a sealed repo')
      return unb64(o.plain, 'secret')
    }
    if (this.#kek === undefined) throw new PassphraseRequiredError()
    const nonce = unb64(o.nonce as string, 'nonce')
    const sealed = unb64(o.sealed as string, 'sealed secret')
    if (nonce.length !== NONCE_BYTES || sealed.length < 16 || sealed.length > maxBytes + 16) throw new VaultFormatError()
    try {
      return xchacha20poly1305(this.#kek, nonce, aad(label)).decrypt(sealed)
    } catch (err) {
      throw new WrongPassphraseError({ cause: err })
    }
  }

  toString (): string { return '[Vault]' }
  toJSON (): string { return '[Vault]' }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return '[Vault]' }
}

async function derive (passphrase: string, p: KdfParams): Promise<Uint8Array> {
  return await scryptAsync(passphraseBytes(passphrase), unb64(p.salt, 'salt'), { N: p.N, r: p.r, p: p.p, dkLen: 32, maxmem: MAX_MEMORY + 1024 * 1024, asyncTick: 20 })
}
