/**
 * 20 nodes on the memory transport, each knowing only a few others (a ring plus chords), run
 * Kith's DHT: manifest records travel from node 0 to node 19, provider records are found, and a
 * forged manifest record is refused on put and never returned by a get, even when malicious
 * nodes hold it in their own datastores and answer queries with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256 } from '@noble/hashes/sha2.js'
import { Record as DhtRecord } from '@libp2p/kad-dht'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { toString as toText } from 'uint8arrays/to-string'
import type { Libp2p } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { cidFromDigest } from '../../protocol/cid.js'
import { manifestRecordKey } from '../../protocol/dht-record.js'
import { findProviders, getManifest, provide, putManifest } from '../../node/engine/dht.js'
import { createKithLibp2p, type KithServices } from '../../node/libp2p/assembly.js'

const N = 20
const nodes: Array<Libp2p<KithServices>> = []
const stores: MemoryDatastore[] = []
const extra: Array<Libp2p<KithServices>> = []

/** Deterministic bytes (no RNG: failures reproduce). */
function bytes (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed * 2654435761 >>> 0
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24 }
  return out
}
const cidOf = (b: Uint8Array): CID => cidFromDigest(sha256(b))

/** Where kad-dht keeps a record in its datastore (prefix /dht/record, key in base32). */
const recordDsKey = (key: Uint8Array): Key => new Key(`/dht/record/${toText(key, 'base32')}`, false)

/** What a malicious node does: write any value under any key straight into its own store. */
async function plantForgery (store: MemoryDatastore, key: Uint8Array, value: Uint8Array): Promise<void> {
  await store.put(recordDsKey(key), new DhtRecord(key, value, new Date()).serialize())
}

async function waitFor (cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const errorName = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'resolved', (err: Error) => err.name)

async function makeNode (store: MemoryDatastore): Promise<Libp2p<KithServices>> {
  return await createKithLibp2p({ transports: 'memory', datastore: store, relayServer: false })
}

beforeAll(async () => {
  for (let i = 0; i < N; i++) stores.push(new MemoryDatastore())
  nodes.push(...await Promise.all(stores.map(makeNode)))
  // A ring with chords: every node dials 2 others and is dialled by 2; nobody knows everyone.
  await Promise.all(nodes.map(async (node, i) => {
    for (const j of [(i + 1) % N, (i + 7) % N]) {
      await node.dial(nodes[j]!.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })
    }
  }))
  await waitFor(() => nodes.every(n => n.services.dht.routingTable.size >= 3), 15_000, 'routing tables')
  // Every node's start-up self-query and table refresh dial the peers they discover: a burst of
  // handshakes that saturates 2 cores for a few seconds. Let it settle (connection count steady
  // for 1 s, at most 10 s) so the timings below measure lookups, not start-up.
  const end = Date.now() + 10_000
  let last = -1
  for (let steady = 0; steady < 4 && Date.now() < end;) {
    await new Promise(resolve => setTimeout(resolve, 250))
    const count = nodes.reduce((n, node) => n + node.getConnections().length, 0)
    steady = count === last ? steady + 1 : 0
    last = count
  }
}, 30_000)

afterAll(async () => {
  await Promise.allSettled([...nodes, ...extra].map(async n => { await n.stop() }))
}, 30_000)

describe(`Kith DHT on ${N} memory nodes`, () => {
  const manifest = bytes(3000, 1)
  const manifestCid = cidOf(manifest)

  it('node 0 puts a manifest record and node 19 gets it', async () => {
    const stored = await putManifest(nodes[0]!, manifestCid, manifest, { signal: AbortSignal.timeout(10_000) })
    expect(stored).toBeGreaterThan(0)
    // The record key format this file's forgeries rely on.
    expect(await stores[0]!.has(recordDsKey(manifestRecordKey(manifestCid)))).toBe(true)
    const got = await getManifest(nodes[19]!, manifestCid, { signal: AbortSignal.timeout(10_000) })
    expect(got).toEqual(manifest)
  })

  it('a missing manifest is a RecordNotFoundError', async () => {
    const missing = cidOf(bytes(100, 2))
    expect(await errorName(getManifest(nodes[11]!, missing, { signal: AbortSignal.timeout(10_000) }))).toBe('RecordNotFoundError')
  })

  it('an aborted lookup rejects with the abort reason', async () => {
    const signal = AbortSignal.abort(new Error('gave up'))
    await expect(getManifest(nodes[4]!, cidOf(bytes(10, 3)), { signal })).rejects.toThrow('gave up')
  })

  it('one node provides under a discovery CID and another finds it', async () => {
    const discovery = cidOf(bytes(32, 4))
    await provide(nodes[5]!, discovery, { signal: AbortSignal.timeout(10_000) })
    const found: string[] = []
    for await (const p of findProviders(nodes[12]!, discovery, { signal: AbortSignal.timeout(10_000), limit: 5 })) {
      found.push(p.id.toString())
    }
    expect(found).toEqual([nodes[5]!.peerId.toString()])
    // The provider does not find itself.
    const self: string[] = []
    for await (const p of findProviders(nodes[5]!, discovery, { signal: AbortSignal.timeout(10_000) })) self.push(p.id.toString())
    expect(self).not.toContain(nodes[5]!.peerId.toString())
  })

  it('refuses to put a forged record: the helper throws, and peers refuse a raw put', async () => {
    const real = bytes(500, 5)
    const forged = bytes(500, 6)
    const cid = cidOf(real)
    const key = manifestRecordKey(cid)
    // The helper validates before touching the network or the local store.
    expect(await errorName(putManifest(nodes[2]!, cid, forged))).toBe('IntegrityError')
    expect(await stores[2]!.has(recordDsKey(key))).toBe(false)

    // A node that bypasses the helper: every peer's validator refuses the PUT_VALUE.
    const events: string[] = []
    try {
      for await (const evt of nodes[3]!.services.dht.put(key, forged, { signal: AbortSignal.timeout(10_000) })) events.push(evt.name)
    } catch { /* a query error is fine */ }
    expect(events).toContain('QUERY_ERROR')
    for (let i = 0; i < N; i++) {
      if (i !== 3) expect(await stores[i]!.has(recordDsKey(key))).toBe(false)
    }
    // kad-dht stored it unvalidated in node 3's own store; node 3's own get still refuses it.
    expect(await stores[3]!.has(recordDsKey(key))).toBe(true)
    expect(await errorName(getManifest(nodes[3]!, cid, { signal: AbortSignal.timeout(10_000) }))).toBe('RecordNotFoundError')
    // And nobody else gets it either, though node 3 serves it to whoever asks.
    expect(await errorName(getManifest(nodes[17]!, cid, { signal: AbortSignal.timeout(10_000) }))).toBe('RecordNotFoundError')
  })

  it('a forgery served by a malicious node is never returned (it is the getter\'s only peer)', async () => {
    const cid = cidOf(bytes(700, 7))
    const key = manifestRecordKey(cid)
    const forged = bytes(700, 8)
    const malicious = 8
    await plantForgery(stores[malicious]!, key, forged)

    // A newcomer that knows only the malicious node: its first answer is the forgery.
    const store = new MemoryDatastore()
    const newcomer = await makeNode(store)
    extra.push(newcomer)
    await newcomer.dial(nodes[malicious]!.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })
    await waitFor(() => newcomer.services.dht.routingTable.size >= 1, 5_000, 'newcomer routing table')
    const refusedFrom: string[] = []
    let value: Uint8Array | undefined
    for await (const evt of newcomer.services.dht.get(key, { signal: AbortSignal.timeout(10_000) })) {
      // kad-dht reports a record that fails validation as a QUERY_ERROR from the peer that sent it.
      if (evt.name === 'QUERY_ERROR' && /invalid record/.test(evt.error.message)) refusedFrom.push(evt.from.toString())
      if (evt.name === 'VALUE') value = evt.value
    }
    expect(refusedFrom).toContain(nodes[malicious]!.peerId.toString())
    expect(value).toBeUndefined()
    expect(await errorName(getManifest(newcomer, cid, { signal: AbortSignal.timeout(10_000) }))).toBe('RecordNotFoundError')
    // Nothing was cached along the way.
    expect(await store.has(recordDsKey(key))).toBe(false)
  })

  it('when malicious nodes overwrite a real record with a forgery, a get returns the real one or nothing', async () => {
    const key = manifestRecordKey(manifestCid)
    const forged = bytes(manifest.length, 9)
    const malicious = [1, 6, 9, 13, 14, 18]
    for (const i of malicious) await plantForgery(stores[i]!, key, forged)
    const outcomes: string[] = []
    for (const getter of [10, 15, 19]) {
      try {
        const got = await getManifest(nodes[getter]!, manifestCid, { signal: AbortSignal.timeout(10_000) })
        expect(got).toEqual(manifest)
        outcomes.push('real')
      } catch (err) {
        expect((err as Error).name).toBe('RecordNotFoundError')
        outcomes.push('not found')
      }
    }
    // 14 honest holders remain: the real record is still found.
    expect(outcomes).toContain('real')
    // A malicious node asking for it itself: its own forgery fails validation; it may still find
    // the real record on honest peers, never its forgery.
    try {
      expect(await getManifest(nodes[6]!, manifestCid, { signal: AbortSignal.timeout(10_000) })).toEqual(manifest)
    } catch (err) {
      expect((err as Error).name).toBe('RecordNotFoundError')
    }
  })
})
