/**
 * Thin typed helpers over kad-dht for what Kith stores and finds there: encrypted manifest roots
 * under self-certifying keys, and provider records under discovery keys. Every value read from
 * the DHT is validated again here (defence in depth: kad-dht validates too).
 *
 * kad-dht queries walk `disjointPaths` independent paths (S/Kademlia §4.4), so one eclipsed path
 * does not hide a record (SECURITY.md "Sybil/eclipse").
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { manifestRecordKey, validateManifestRecord } from '../protocol/dht-record.js'
import { KithError } from '../protocol/errors.js'

export class RecordNotFoundError extends KithError {
  static override name = 'RecordNotFoundError'
  constructor (message = 'manifest not found in the DHT', options?: { cause?: unknown }) { super(message, options) }
}

type WithDht = Libp2p<{ dht: KadDHT }>

/** Stores a manifest root. Resolves with the number of peers that accepted it. */
export async function putManifest (node: WithDht, cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<number> {
  const key = manifestRecordKey(cid)
  validateManifestRecord(key, bytes)
  let stored = 0
  for await (const evt of node.services.dht.put(key, bytes, { signal: options.signal })) {
    if (evt.name === 'PEER_RESPONSE' && evt.messageName === 'PUT_VALUE') stored++
  }
  return stored
}

/** Fetches and validates a manifest root. Throws RecordNotFoundError if no valid value is found. */
export async function getManifest (node: WithDht, cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const key = manifestRecordKey(cid)
  try {
    for await (const evt of node.services.dht.get(key, { signal: options.signal })) {
      if (evt.name !== 'VALUE') continue
      try {
        validateManifestRecord(key, evt.value)
        return evt.value
      } catch {
        // A forged value from a lying peer: ignore it and keep looking.
      }
    }
  } catch (err) {
    options.signal?.throwIfAborted()
    throw new RecordNotFoundError(undefined, { cause: err })
  }
  throw new RecordNotFoundError()
}

/** Announces this node as a provider under `cid` (kad-dht re-provides before expiry). */
export async function provide (node: WithDht, cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
  for await (const _ of node.services.dht.provide(cid, { signal: options.signal })) { /* drain */ }
}

/** Providers under `cid`, de-duplicated, as they are found. */
export async function * findProviders (node: WithDht, cid: CID, options: { signal?: AbortSignal } = {}): AsyncGenerator<{ id: PeerId, multiaddrs: Multiaddr[] }> {
  const seen = new Set<string>()
  for await (const evt of node.services.dht.findProviders(cid, { signal: options.signal })) {
    if (evt.name !== 'PROVIDER') continue
    for (const p of evt.providers) {
      const k = p.id.toString()
      if (seen.has(k)) continue
      seen.add(k)
      yield { id: p.id, multiaddrs: p.multiaddrs }
    }
  }
}
