/**
 * What a node stores for other peers in the DHT (node/engine/dht-put-gate.ts): a hostile peer
 * sends PUT_VALUEs straight at a victim, each a valid manifest record (the value hashes to its
 * key), and the victim's disk stays bounded by the record and byte caps, the per-peer rate and the
 * closeness check. The node's own records are still stored and served. Memory transport only.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { MessageType, Record as DhtRecord, type KadDHT } from '@libp2p/kad-dht'
import { memory } from '@libp2p/memory'
import { ping } from '@libp2p/ping'
import { sha256 } from '@noble/hashes/sha2.js'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { toString as toText } from 'uint8arrays/to-string'
import { cidFromDigest } from '../../protocol/cid.js'
import { manifestRecordKey } from '../../protocol/dht-record.js'
import { getManifest, putManifest } from '../../node/engine/dht.js'
import { kithDht } from '../../node/engine/dht-config.js'
import type { DhtPutLimits } from '../../node/engine/dht-put-gate.js'

type Node = Libp2p<{ dht: KadDHT }>
const started: Node[] = []
afterAll(async () => { await Promise.allSettled(started.map(async n => { await n.stop() })) }, 30_000)

async function makeNode (putLimits?: Partial<DhtPutLimits>, store = new MemoryDatastore()): Promise<Node> {
  const node = await createLibp2p({
    addresses: { listen: [`/memory/gate-${globalThis.crypto.randomUUID()}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    datastore: store,
    services: { identify: identify(), ping: ping(), dht: kithDht({ clientMode: false, allowPrivate: true, putLimits }) }
  })
  started.push(node)
  return node
}

async function connect (a: Node, b: Node): Promise<void> {
  await a.dial(b.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })
  await waitFor(() => tableSize(a) >= 1 && tableSize(b) >= 1, 5_000, 'routing tables')
}

const tableSize = (n: Node): number => (n.services.dht as unknown as { routingTable: { size: number } }).routingTable.size

async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Deterministic bytes (no RNG: failures reproduce). */
function bytes (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed * 2654435761 >>> 0
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24 }
  return out
}

/** A valid manifest record: any bytes, under the key of their own hash. */
function validRecord (size: number, seed: number): { key: Uint8Array, value: Uint8Array } {
  const value = bytes(size, seed)
  return { key: manifestRecordKey(cidFromDigest(sha256(value))), value }
}

/** What the attacker does: one PUT_VALUE straight to `to`, bypassing any lookup. true if stored. */
async function rawPut (from: Node, to: PeerId, key: Uint8Array, value: Uint8Array): Promise<boolean> {
  const network = (from.services.dht as unknown as { network: { sendRequest: (to: PeerId, msg: unknown, o: unknown) => AsyncGenerator<{ name: string }> } }).network
  const record = new DhtRecord(key, value, new Date()).serialize()
  let ok = false
  for await (const evt of network.sendRequest(to, { type: MessageType.PUT_VALUE, key, record }, { signal: AbortSignal.timeout(5_000), path: { index: -1, queued: 0, running: 0, total: 0 } })) {
    if (evt.name === 'PEER_RESPONSE') ok = true
  }
  return ok
}

/** Records in kad-dht's part of a datastore, and their bytes. */
async function usage (store: MemoryDatastore): Promise<{ records: number, bytes: number }> {
  let records = 0
  let total = 0
  for await (const { value } of store.query({ prefix: '/dht/record' })) { records++; total += value.byteLength }
  return { records, bytes: total }
}

const dsKey = (key: Uint8Array): Key => new Key(`/dht/record/${toText(key, 'base32')}`, false)

describe('the DHT put gate', () => {
  it('a flood of valid records stops at the record cap; re-puts of stored keys and the node\'s own records still go through', async () => {
    const store = new MemoryDatastore()
    const victim = await makeNode({ maxRecords: 5, burst: 1000 }, store)
    const attacker = await makeNode()
    const reader = await makeNode()
    await connect(attacker, victim)
    await connect(reader, victim)

    const flood = Array.from({ length: 12 }, (_, i) => validRecord(2048, 100 + i))
    const accepted: boolean[] = []
    for (const r of flood) accepted.push(await rawPut(attacker, victim.peerId, r.key, r.value))
    expect(accepted.filter(Boolean)).toHaveLength(5)
    expect((await usage(store)).records).toBe(5)

    // A refresh of a stored key (an honest seeder's hourly re-put) needs no room.
    const first = flood[accepted.indexOf(true)]!
    expect(await rawPut(attacker, victim.peerId, first.key, first.value)).toBe(true)

    // The victim's own record, published while full: stored, and served to others.
    const own = bytes(3000, 7)
    const ownCid = cidFromDigest(sha256(own))
    await putManifest(victim, ownCid, own, { signal: AbortSignal.timeout(10_000) })
    expect(await store.has(dsKey(manifestRecordKey(ownCid)))).toBe(true)
    expect(await getManifest(reader, ownCid, { signal: AbortSignal.timeout(10_000) })).toEqual(own)
  }, 30_000)

  it('stops at the byte cap', async () => {
    const store = new MemoryDatastore()
    const victim = await makeNode({ maxBytes: 200 * 1024, burst: 1000 }, store)
    const attacker = await makeNode()
    await connect(attacker, victim)
    let ok = 0
    for (let i = 0; i < 8; i++) {
      const r = validRecord(60 * 1024, 200 + i)
      if (await rawPut(attacker, victim.peerId, r.key, r.value)) ok++
    }
    expect(ok).toBe(3)
    expect((await usage(store)).bytes).toBeLessThanOrEqual(200 * 1024)
  }, 30_000)

  it('a peer gets its burst of puts, then is refused; another peer is not affected', async () => {
    const store = new MemoryDatastore()
    const victim = await makeNode({ burst: 4, perSecond: 1 / 3600 }, store)
    const attacker = await makeNode()
    const honest = await makeNode()
    await connect(attacker, victim)
    await connect(honest, victim)
    let ok = 0
    for (let i = 0; i < 10; i++) {
      const r = validRecord(1024, 300 + i)
      if (await rawPut(attacker, victim.peerId, r.key, r.value)) ok++
    }
    expect(ok).toBe(4)
    const r = validRecord(1024, 399)
    expect(await rawPut(honest, victim.peerId, r.key, r.value)).toBe(true)
    expect((await usage(store)).records).toBe(5)
  }, 30_000)

  it('refuses a key that k peers it knows are closer to; accepts one it is among the k closest to', async () => {
    const store = new MemoryDatastore()
    const victim = await makeNode({ closest: 2, burst: 1000 }, store)
    const others = [await makeNode(), await makeNode(), await makeNode()]
    for (const o of others) await connect(o, victim)
    await waitFor(() => tableSize(victim) >= 3, 5_000, 'victim routing table')

    const kad = (p: PeerId): Uint8Array => sha256(p.toMultihash().bytes)
    const closer = (a: Uint8Array, b: Uint8Array, t: Uint8Array): boolean => {
      for (let i = 0; i < t.length; i++) {
        const da = a[i]! ^ t[i]!
        const db = b[i]! ^ t[i]!
        if (da !== db) return da < db
      }
      return false
    }
    const closerThanVictim = (key: Uint8Array): number => others.filter(o => closer(kad(o.peerId), kad(victim.peerId), sha256(key))).length
    let far: { key: Uint8Array, value: Uint8Array } | undefined
    let near: { key: Uint8Array, value: Uint8Array } | undefined
    for (let seed = 400; seed < 600 && (far === undefined || near === undefined); seed++) {
      const r = validRecord(512, seed)
      const n = closerThanVictim(r.key)
      if (n >= 2) far ??= r
      if (n === 0) near ??= r
    }
    expect(await rawPut(others[0]!, victim.peerId, far!.key, far!.value)).toBe(false)
    expect(await store.has(dsKey(far!.key))).toBe(false)
    expect(await rawPut(others[0]!, victim.peerId, near!.key, near!.value)).toBe(true)
    expect(await store.has(dsKey(near!.key))).toBe(true)
  }, 30_000)

  it('refuses records outside Kith\'s namespace (kad-dht\'s default /pk/ validator would store them)', async () => {
    const store = new MemoryDatastore()
    const victim = await makeNode(undefined, store)
    const attacker = await makeNode()
    await connect(attacker, victim)
    const pk = attacker.peerId.publicKey!
    const key = new Uint8Array([...new TextEncoder().encode('/pk/'), ...attacker.peerId.toMultihash().bytes])
    expect(await rawPut(attacker, victim.peerId, key, publicKeyToProtobuf(pk))).toBe(false)
    expect((await usage(store)).records).toBe(0)
  }, 30_000)

  it('evicts a record older than kad-dht still serves to make room', async () => {
    const store = new MemoryDatastore()
    const stale = validRecord(1024, 500)
    await store.put(dsKey(stale.key), new DhtRecord(stale.key, stale.value, new Date(Date.now() - 3 * 24 * 3600 * 1000)).serialize())
    const victim = await makeNode({ maxRecords: 1 }, store)
    const attacker = await makeNode()
    await connect(attacker, victim)
    const fresh = validRecord(1024, 501)
    expect(await rawPut(attacker, victim.peerId, fresh.key, fresh.value)).toBe(true)
    expect(await store.has(dsKey(stale.key))).toBe(false)
    expect(await store.has(dsKey(fresh.key))).toBe(true)
  }, 30_000)

  it('with the default limits, 200 hostile 60 KiB puts from one peer store at most its burst', async () => {
    const store = new MemoryDatastore()
    const victim = await makeNode(undefined, store)
    const attacker = await makeNode()
    await connect(attacker, victim)
    const start = Date.now()
    let ok = 0
    for (let i = 0; i < 200; i++) {
      const r = validRecord(60 * 1024, 1000 + i)
      if (await rawPut(attacker, victim.peerId, r.key, r.value)) ok++
    }
    const seconds = (Date.now() - start) / 1000
    const used = await usage(store)
    // The figure for docs/THREAT-MODEL.md §2.8.
    console.info(`200 hostile 60 KiB puts in ${seconds.toFixed(1)} s: ${ok} stored, ${used.records} records, ${(used.bytes / 1024 / 1024).toFixed(2)} MiB on the victim`)
    expect(ok).toBeLessThanOrEqual(64 + Math.ceil(seconds) + 1)
    expect(used.records).toBe(ok)
  }, 60_000)
})
