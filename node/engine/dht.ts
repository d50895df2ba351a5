/**
 * Thin typed helpers over kad-dht for what Kith stores and finds there: encrypted manifest roots
 * under self-certifying keys, and provider records under discovery keys. Every value read from
 * the DHT is validated again here (defence in depth: kad-dht's validator already refuses forged
 * records on put, on get from a peer, and when reading its own datastore).
 *
 * kad-dht queries walk `disjointPaths` independent paths (S/Kademlia §4.4), so one eclipsed path
 * does not hide a record (docs/THREAT-MODEL.md §4 "Known attacks"). Every call takes an AbortSignal: a lookup
 * on a sparse or hostile network can otherwise run for a long time.
 */
import type { Libp2p, PeerInfo } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'
import { manifestRecordKey, validateManifestRecord } from '../../protocol/dht-record.js'
import { RecordNotFoundError } from './errors.js'

/** Any libp2p node with a kad-dht service under `dht` (a KithServices node is one). */
export type WithDht = Libp2p<{ dht: KadDHT }>

export interface DhtOptions {
  signal?: AbortSignal
}

/**
 * Stores a manifest root under its self-certifying key, locally and on the closest peers.
 * Throws IntegrityError (before touching the network) if `bytes` do not hash to `cid`.
 * Resolves with the number of peers that confirmed the store (0 on a network of one).
 */
export async function putManifest (node: WithDht, cid: CID, bytes: Uint8Array, options: DhtOptions = {}): Promise<number> {
  const key = manifestRecordKey(cid)
  validateManifestRecord(key, bytes)
  let stored = 0
  for await (const evt of node.services.dht.put(key, bytes, { signal: options.signal })) {
    if (evt.name === 'PEER_RESPONSE' && evt.messageName === 'PUT_VALUE') stored++
  }
  return stored
}

/**
 * Fetches a manifest root and checks it hashes to `cid`. Throws RecordNotFoundError if no valid
 * value was found; rethrows the signal's reason if it was aborted.
 */
export async function getManifest (node: WithDht, cid: CID, options: DhtOptions = {}): Promise<Uint8Array> {
  const key = manifestRecordKey(cid)
  try {
    for await (const evt of node.services.dht.get(key, { signal: options.signal })) {
      if (evt.name !== 'VALUE') continue
      try {
        validateManifestRecord(key, evt.value)
        // A copy as a plain Uint8Array: kad-dht hands out a Buffer view into a pooled allocation.
        return new Uint8Array(evt.value)
      } catch {
        // A forged value (cannot pass kad-dht's validator, but never trust one layer): keep looking.
      }
    }
  } catch (err) {
    options.signal?.throwIfAborted()
    throw new RecordNotFoundError(undefined, { cause: err })
  }
  options.signal?.throwIfAborted()
  throw new RecordNotFoundError()
}

/**
 * Announces this node as a provider under `cid` (the share's discovery CID) on the closest peers.
 * kad-dht re-provides it before expiry for as long as the node runs.
 */
export async function provide (node: WithDht, cid: CID, options: DhtOptions = {}): Promise<number> {
  return await countProvided(node.services.dht.provide(cid, { signal: options.signal }))
}

/**
 * Drains a kad-dht `provide` query and counts the DHT servers that took the provider record (an
 * ADD_PROVIDER answered). kad-dht's provide ends without an error when it reached nobody (no
 * server in the routing table, every send failed): 0 here means the announcement did not happen.
 */
export async function countProvided (events: AsyncIterable<{ name: string, messageType?: string }>): Promise<number> {
  let took = 0
  for await (const evt of events) if (evt.name === 'PEER_RESPONSE' && evt.messageType === 'ADD_PROVIDER') took++
  return took
}

/**
 * Providers under `cid`, de-duplicated, yielded as they are found. Stops after `limit` providers
 * (default: when the query ends). Never yields this node itself.
 */
export async function * findProviders (node: WithDht, cid: CID, options: DhtOptions & { limit?: number } = {}): AsyncGenerator<PeerInfo> {
  const limit = options.limit ?? Infinity
  if (limit <= 0) return
  const seen = new Set<string>([node.peerId.toString()])
  for await (const evt of node.services.dht.findProviders(cid, { signal: options.signal })) {
    if (evt.name !== 'PROVIDER') continue
    for (const p of evt.providers) {
      const k = p.id.toString()
      if (seen.has(k)) continue
      seen.add(k)
      yield { id: p.id, multiaddrs: p.multiaddrs }
      if (seen.size - 1 >= limit) return
    }
  }
}
