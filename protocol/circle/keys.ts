/**
 * Circle keys (docs/PROTOCOL.md §9.1): what an epoch key derives, and key boxes that seal an epoch
 * key to one member's X25519 key (ephemeral-static X25519 + HKDF + XChaCha20-Poly1305). Pure.
 */
import { x25519 } from '@noble/curves/ed25519.js'
import { concatBytes } from '../bytes.js'
import { defaultRandom, xchachaOpen, xchachaSeal, type CryptoBackend, type RandomSource } from '../crypto.js'
import { KEY_BYTES, XNONCE_BYTES } from '../constants.js'
import { derive } from '../keys.js'

const LABELS = Object.freeze({
  post: 'kith/v1/circle/post',
  access: 'kith/v1/circle/access',
  discovery: 'kith/v1/circle/discovery',
  box: 'kith/v1/circle/box'
})
const BOX_AAD = 'kith/v1/circle/epoch-key'
const enc = new TextEncoder()

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

/** What an epoch key gives: post encryption, the sync access key, the DHT discovery key. */
export interface EpochKeys {
  readonly epoch: number
  readonly post: Uint8Array
  readonly access: Uint8Array
  /** 32 bytes; members announce under CIDv1(raw, sha2-256 ‖ this) in the DHT. */
  readonly discovery: Uint8Array
}

export function deriveEpochKeys (epoch: number, key: Uint8Array): EpochKeys {
  if (key.length !== KEY_BYTES) throw new RangeError('epoch key must be 32 bytes')
  return Object.freeze({ epoch, post: derive(key, LABELS.post), access: derive(key, LABELS.access), discovery: derive(key, LABELS.discovery) })
}

export interface CircleSigner {
  /** Raw 32-byte Ed25519 public key (the author's identity). */
  readonly publicKey: Uint8Array
  sign (message: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** A member's X25519 key pair for receiving epoch keys. */
export interface BoxKeyPair { readonly secretKey: Uint8Array, readonly publicKey: Uint8Array }

export function generateBoxKeyPair (random: RandomSource = defaultRandom): BoxKeyPair {
  const secretKey = random(32)
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) }
}

/** A key box: `key` sealed to one member's X25519 key with an ephemeral sender key. */
export interface KeyBox { readonly member: Uint8Array, readonly eph: Uint8Array, readonly nonce: Uint8Array, readonly sealed: Uint8Array }

function boxAad (circle: Uint8Array, epoch: number, member: Uint8Array): Uint8Array {
  return concatBytes(enc.encode(BOX_AAD), new Uint8Array([0]), circle, u32(epoch), member)
}

function boxKek (shared: Uint8Array, eph: Uint8Array, recipientX: Uint8Array): Uint8Array {
  return derive(concatBytes(shared, eph, recipientX), LABELS.box)
}

export function sealKeyBox (backend: CryptoBackend, circle: Uint8Array, epoch: number, member: Uint8Array, memberX: Uint8Array, key: Uint8Array, random: RandomSource = defaultRandom): KeyBox {
  const ephSecret = random(32)
  const eph = x25519.getPublicKey(ephSecret)
  const kek = boxKek(x25519.getSharedSecret(ephSecret, memberX), eph, memberX)
  ephSecret.fill(0)
  const nonce = random(XNONCE_BYTES)
  return { member, eph, nonce, sealed: xchachaSeal(backend, kek, nonce, key, boxAad(circle, epoch, member)) }
}

export function openKeyBox (backend: CryptoBackend, circle: Uint8Array, epoch: number, box: KeyBox, mine: BoxKeyPair): Uint8Array {
  const kek = boxKek(x25519.getSharedSecret(mine.secretKey, box.eph), box.eph, mine.publicKey)
  return xchachaOpen(backend, kek, box.nonce, box.sealed, boxAad(circle, epoch, box.member))
}
