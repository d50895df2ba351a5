/**
 * Provider keys on the IPFS Amino DHT (the public `/ipfs/kad/1.0.0` network, docs/NETWORK.md):
 * a seeder in amino mode announces itself as a provider under a key derived from the share's
 * discovery key and the current epoch (one UTC day), never under the discovery key itself.
 *
 *   key   = CIDv1(raw 0x55, sha2-256(AMINO_KEY_TAG || discovery (32 bytes) || epoch as u64 BE))
 *   epoch = floor(unix seconds / AMINO_EPOCH_SECONDS)
 *
 * A CIDv1 (raw, sha2-256) is what every Amino server, JS or Go, accepts as a provider key. The
 * key changes every epoch, so a crawler that logs provider keys today cannot recognise the same
 * share tomorrow without the discovery key (docs/THREAT-MODEL.md "Amino"). Lookups try the
 * current and the previous epoch (a seeder that announced before midnight is still found just
 * after it); seeders provide only the current one.
 *
 * Pure: no I/O, no clock of its own (callers pass the time).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { CID } from 'multiformats/cid'
import { cidFromDigest } from './cid.js'
import { DIGEST_BYTES } from './constants.js'

/** Domain separation: no other Kith hash input starts with these bytes. */
export const AMINO_KEY_TAG = 'kith/v1/amino-provider-key'
/** One epoch: a UTC day. */
export const AMINO_EPOCH_SECONDS = 86_400

const TAG_BYTES = new TextEncoder().encode(AMINO_KEY_TAG)

/** The epoch `unixMs` (milliseconds since 1970, UTC) falls in. */
export function aminoEpoch (unixMs: number): number {
  if (!Number.isFinite(unixMs) || unixMs < 0) throw new RangeError('time must be a non-negative number of milliseconds')
  return Math.floor(Math.floor(unixMs / 1000) / AMINO_EPOCH_SECONDS)
}

/** The Amino provider key of a share (its 32-byte discovery key) in `epoch`. */
export function aminoProviderKey (discovery: Uint8Array, epoch: number): CID {
  if (discovery.length !== DIGEST_BYTES) throw new RangeError(`a discovery key is ${DIGEST_BYTES} bytes`)
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError('epoch must be a non-negative integer')
  const input = new Uint8Array(TAG_BYTES.length + DIGEST_BYTES + 8)
  input.set(TAG_BYTES, 0)
  input.set(discovery, TAG_BYTES.length)
  new DataView(input.buffer).setBigUint64(TAG_BYTES.length + DIGEST_BYTES, BigInt(epoch), false)
  return cidFromDigest(sha256(input))
}

/** The keys a lookup at `unixMs` tries: the current epoch's, then the previous one's. */
export function aminoLookupKeys (discovery: Uint8Array, unixMs: number): CID[] {
  const epoch = aminoEpoch(unixMs)
  return epoch === 0 ? [aminoProviderKey(discovery, 0)] : [aminoProviderKey(discovery, epoch), aminoProviderKey(discovery, epoch - 1)]
}
