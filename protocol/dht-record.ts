/**
 * Manifest records in the DHT (docs/PROTOCOL.md §4.2, docs/THREAT-MODEL.md §2.4): the encrypted root block is
 * stored under a self-certifying key, `/kith-manifest/` ‖ CID bytes, and every DHT node refuses a
 * value that does not hash to the CID in its key, on put and on get. So nobody can forge or
 * overwrite a manifest record: there is exactly one valid value per key.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import { digestEquals, digestFromCid } from './cid.js'
import { MAX_ROOT_BYTES } from './constants.js'
import { IntegrityError } from './errors.js'

/** The kad-dht validator/selector namespace. */
export const MANIFEST_NAMESPACE = 'kith-manifest'
export const MANIFEST_RECORD_PREFIX = `/${MANIFEST_NAMESPACE}/`
const PREFIX = new TextEncoder().encode(MANIFEST_RECORD_PREFIX)

/** The DHT key of a manifest root. */
export function manifestRecordKey (cid: CID): Uint8Array {
  digestFromCid(cid)
  const key = new Uint8Array(PREFIX.length + cid.bytes.length)
  key.set(PREFIX)
  key.set(cid.bytes, PREFIX.length)
  return key
}

/** The manifest CID in a DHT key; throws IntegrityError for anything else. */
export function parseManifestRecordKey (key: Uint8Array): CID {
  if (key.length <= PREFIX.length || !digestEquals(key.subarray(0, PREFIX.length), PREFIX)) throw new IntegrityError('not a kith manifest record key')
  let cid: CID
  try {
    cid = CID.decode(key.subarray(PREFIX.length))
  } catch (err) {
    throw new IntegrityError('manifest record key holds no valid CID', { cause: err })
  }
  digestFromCid(cid)
  return cid
}

/** kad-dht validator: throws IntegrityError unless `value` hashes to the CID in `key`. */
export function validateManifestRecord (key: Uint8Array, value: Uint8Array): void {
  const cid = parseManifestRecordKey(key)
  if (value.length > MAX_ROOT_BYTES) throw new IntegrityError('manifest record too large')
  if (!digestEquals(sha256(value), digestFromCid(cid))) throw new IntegrityError('manifest record does not match its key')
}

/** kad-dht selector: every valid record for a key is the same bytes, so any will do. */
export function selectManifestRecord (_key: Uint8Array, _records: Uint8Array[]): number {
  return 0
}
