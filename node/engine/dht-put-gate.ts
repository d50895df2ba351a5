/**
 * What this node agrees to store for other peers in the DHT (docs/THREAT-MODEL.md §2.8, "DHT
 * storage"). kad-dht stores every PUT_VALUE that passes its validator, and the manifest validator
 * (protocol/dht-record.ts) accepts any value ≤ 64 KiB that hashes to its key: anyone can mint such
 * records without end. So, before kad-dht's own handler runs, a peer's put must:
 *
 *   1. be within that peer's allowance (a token bucket: DHT_PUT_BURST, then DHT_PUTS_PER_SECOND);
 *   2. be a Kith manifest record (kad-dht also accepts `/pk/` records by default; Kith uses none);
 *   3. name a key this node is among the k closest to, as far as its routing table knows (fewer
 *      than k known peers are closer): that is where honest putters send it (Kademlia §2.3);
 *   4. fit the caps (DHT_MAX_RECORDS, DHT_MAX_RECORD_BYTES), after evicting records older than
 *      kad-dht would still serve. A key already stored is a refresh (self-certifying: the same
 *      bytes) and always passes 2–4.
 *
 * Why here: a validator sees (key, value) only, and runs on gets too (closeness to this node means
 * nothing for a value it looks up), so it can neither rate-limit a peer nor tell a put from a get.
 * A wrapped datastore sees every write, the node's own included, but not who sent it. kad-dht's
 * PUT_VALUE handler is the one place that sees the sender and handles remote puts only: the node's
 * own `dht.put` writes its datastore directly and never passes here, so its own records are always
 * stored and served, and never count against the caps. kad-dht has no public hook for it, so the
 * gate wraps that handler once at construction, and fails loudly (at start, in every test that
 * builds a node) if a kad-dht upgrade moves it.
 */
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import { MessageType, Record as DhtRecord, type KadDHT } from '@libp2p/kad-dht'
import { sha256 } from '@noble/hashes/sha2.js'
import { Key, type Datastore } from 'interface-datastore'
import { toString as toText } from 'uint8arrays/to-string'
import { MANIFEST_RECORD_PREFIX } from '../../protocol/dht-record.js'
import {
  DHT_MAX_RECORD_BYTES, DHT_MAX_RECORDS, DHT_PUT_BURST, DHT_PUT_TRACKED_PEERS, DHT_PUTS_PER_SECOND, DHT_RECORD_TTL_MS
} from './constants.js'
import { DhtPutRefusedError } from './errors.js'

export interface DhtPutLimits {
  maxRecords: number
  maxBytes: number
  burst: number
  perSecond: number
  /** How many closer peers this node may know and still store a key: the DHT's k. */
  closest: number
}

export const DEFAULT_DHT_PUT_LIMITS: Omit<DhtPutLimits, 'closest'> = {
  maxRecords: DHT_MAX_RECORDS,
  maxBytes: DHT_MAX_RECORD_BYTES,
  burst: DHT_PUT_BURST,
  perSecond: DHT_PUTS_PER_SECOND
}

/** kad-dht's default datastore prefix for records (KadDHTInit.datastorePrefix `/dht` + `/record`). */
const RECORD_PREFIX = '/dht/record'
const MANIFEST_PREFIX = new TextEncoder().encode(MANIFEST_RECORD_PREFIX)

interface Handler { handle: (peerId: PeerId, msg: { key?: Uint8Array, record?: Uint8Array }) => Promise<unknown> }
interface Stored { bytes: number, at: number }
interface Bucket { tokens: number, last: number }

export interface DhtPutGateComponents {
  peerId: PeerId
  datastore: Datastore
  logger: ComponentLogger
}

/** Wraps `dht`'s PUT_VALUE handler with the gate. Throws if kad-dht's internals are not as expected. */
export function installPutGate (dht: KadDHT, components: DhtPutGateComponents, limits: DhtPutLimits, now: () => number = Date.now): DhtPutGate {
  const handlers = (dht as unknown as { rpc?: { handlers?: Record<string, Handler | undefined> } }).rpc?.handlers
  const inner = handlers?.[MessageType.PUT_VALUE]
  if (handlers === undefined || typeof inner?.handle !== 'function') throw new Error('kad-dht has no PUT_VALUE handler where Kith expects it: its internals changed; update node/engine/dht-put-gate.ts')
  const gate = new DhtPutGate(dht, components, limits, inner, now)
  handlers[MessageType.PUT_VALUE] = { handle: async (peerId, msg) => await gate.handle(peerId, msg) }
  return gate
}

export class DhtPutGate {
  readonly #dht: KadDHT
  readonly #components: DhtPutGateComponents
  readonly #limits: DhtPutLimits
  readonly #inner: Handler
  readonly #now: () => number
  readonly #log: Logger
  readonly #buckets = new Map<string, Bucket>()
  /** Records stored for others (and, after a restart, everything found on disk), by datastore key. */
  readonly #stored = new Map<string, Stored>()
  #bytes = 0
  #loaded: Promise<void> | undefined
  readonly #selfKadId: Uint8Array

  constructor (dht: KadDHT, components: DhtPutGateComponents, limits: DhtPutLimits, inner: Handler, now: () => number) {
    this.#dht = dht
    this.#components = components
    this.#limits = limits
    this.#inner = inner
    this.#now = now
    this.#log = components.logger.forComponent('kith:dht:put-gate')
    this.#selfKadId = sha256(components.peerId.toMultihash().bytes)
  }

  /** Records and bytes held for other peers (what the caps bound). */
  get usage (): { records: number, bytes: number } { return { records: this.#stored.size, bytes: this.#bytes } }

  async handle (peerId: PeerId, msg: { key?: Uint8Array, record?: Uint8Array }): Promise<unknown> {
    // No record: kad-dht's handler refuses it.
    if (msg.record === undefined) return await this.#inner.handle(peerId, msg)
    try {
      this.#take(peerId)
      // kad-dht stores under the key inside the record, not the message's: check that one.
      const key = DhtRecord.deserialize(msg.record).key
      if (!startsWith(key, MANIFEST_PREFIX)) throw new DhtPutRefusedError('namespace')
      const dsKey = new Key(`${RECORD_PREFIX}/${toText(key, 'base32')}`, false)
      if (await this.#components.datastore.has(dsKey)) return await this.#inner.handle(peerId, msg)
      if (!this.#amongClosest(key)) throw new DhtPutRefusedError('not-closest')
      await this.#load()
      const size = msg.record.byteLength
      if (!this.#fits(size)) await this.#evictExpired()
      // Checked and reserved with no await in between: concurrent puts cannot overshoot. A
      // concurrent put of the same key (two seeders re-putting at once) is the same bytes.
      const id = dsKey.toString()
      if (this.#stored.has(id)) return await this.#inner.handle(peerId, msg)
      if (!this.#fits(size)) throw new DhtPutRefusedError('full')
      this.#stored.set(id, { bytes: size, at: this.#now() })
      this.#bytes += size
      try {
        return await this.#inner.handle(peerId, msg)
      } catch (err) {
        this.#forget(id)
        throw err
      }
    } catch (err) {
      if (err instanceof DhtPutRefusedError) this.#log('refused a put from %p: %s', peerId, err.reason)
      throw err
    }
  }

  #fits (size: number): boolean {
    return this.#stored.size + 1 <= this.#limits.maxRecords && this.#bytes + size <= this.#limits.maxBytes
  }

  #forget (id: string): void {
    const s = this.#stored.get(id)
    if (s === undefined) return
    this.#stored.delete(id)
    this.#bytes -= s.bytes
  }

  /** One token from the peer's bucket, or DhtPutRefusedError('rate-limited'). */
  #take (peerId: PeerId): void {
    const id = peerId.toString()
    const t = this.#now()
    let b = this.#buckets.get(id)
    if (b === undefined) {
      if (this.#buckets.size >= DHT_PUT_TRACKED_PEERS) this.#pruneBuckets(t)
      b = { tokens: this.#limits.burst, last: t }
      this.#buckets.set(id, b)
    }
    b.tokens = Math.min(this.#limits.burst, b.tokens + (t - b.last) * this.#limits.perSecond / 1000)
    b.last = t
    if (b.tokens < 1) throw new DhtPutRefusedError('rate-limited')
    b.tokens -= 1
  }

  /** Forgets buckets that have refilled (they equal a fresh one); if none has, the oldest half. */
  #pruneBuckets (t: number): void {
    for (const [id, b] of this.#buckets) {
      if (b.tokens + (t - b.last) * this.#limits.perSecond / 1000 >= this.#limits.burst) this.#buckets.delete(id)
    }
    if (this.#buckets.size < DHT_PUT_TRACKED_PEERS) return
    let drop = this.#buckets.size >> 1
    for (const id of this.#buckets.keys()) {
      if (drop-- <= 0) break
      this.#buckets.delete(id)
    }
  }

  /** Fewer than k peers in the routing table are closer to the key than this node (XOR metric on sha256 IDs, as kad-dht). */
  #amongClosest (key: Uint8Array): boolean {
    const target = sha256(key)
    const k = this.#limits.closest
    const table = (this.#dht as unknown as { routingTable?: { closestPeers?: (id: Uint8Array, o: { count: number }) => PeerId[] } }).routingTable
    if (typeof table?.closestPeers !== 'function') throw new Error('kad-dht routing table has no closestPeers: its internals changed; update node/engine/dht-put-gate.ts')
    const peers = table.closestPeers(target, { count: k })
    if (peers.length < k) return true
    let closer = 0
    for (const p of peers) {
      if (compareDistance(sha256(p.toMultihash().bytes), this.#selfKadId, target) < 0) closer++
    }
    return closer < k
  }

  /** Counts what is already on disk (records from an earlier run), once, reading at most a bounded number. */
  async #load (): Promise<void> {
    this.#loaded ??= (async () => {
      const limit = 4 * this.#limits.maxRecords
      let n = 0
      for await (const { key, value } of this.#components.datastore.query({ prefix: RECORD_PREFIX })) {
        if (n++ >= limit) break
        const id = key.toString()
        if (this.#stored.has(id)) continue
        this.#stored.set(id, { bytes: value.byteLength, at: receivedAt(value) ?? this.#now() })
        this.#bytes += value.byteLength
      }
    })()
    await this.#loaded
  }

  /**
   * Deletes records kad-dht would no longer serve (received over DHT_RECORD_TTL_MS ago). Reads each
   * candidate again first: the node's own re-put (hourly) refreshes its record on disk unseen here.
   */
  async #evictExpired (): Promise<void> {
    const cutoff = this.#now() - DHT_RECORD_TTL_MS
    const old = [...this.#stored].filter(([, s]) => s.at < cutoff).map(([id]) => id)
    for (const id of old) {
      const key = new Key(id, false)
      let at: number | undefined
      try { at = receivedAt(await this.#components.datastore.get(key)) } catch { at = undefined }
      if (at !== undefined && at >= cutoff) {
        const s = this.#stored.get(id)
        if (s !== undefined) s.at = at
        continue
      }
      try { await this.#components.datastore.delete(key) } catch { /* gone already */ }
      this.#forget(id)
    }
  }
}

function receivedAt (stored: Uint8Array): number | undefined {
  try {
    return DhtRecord.deserialize(stored).timeReceived?.getTime()
  } catch {
    return undefined
  }
}

function startsWith (bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length <= prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false
  return true
}

/** < 0 if `a` is closer to `target` than `b` (XOR distance, big-endian). */
function compareDistance (a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = (a[i] as number) ^ (target[i] as number)
    const db = (b[i] as number) ^ (target[i] as number)
    if (da !== db) return da - db
  }
  return 0
}
