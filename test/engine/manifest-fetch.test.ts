/**
 * Many nodes in one process on libp2p's memory transport: the share is found through the DHT
 * only (no link hints, the downloader knows one random node), and a download draws from 4 seeders
 * that each hold a different quarter of the chunks.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocol/bitfield.js'
import { cidFromDigest } from '../../protocol/cid.js'
import { parseLink } from '../../protocol/link.js'
import { deriveShareKeys } from '../../protocol/keys.js'
import { completeManifest } from '../../node/engine/manifest-fetch.js'
import { ShareState } from '../../node/engine/share/share-state.js'
import { BlockstoreChunkSource } from '../../node/engine/share/sources.js'
import { nativeBackend } from '../../node/crypto/native.js'
import { startNode, stopNode, waitFor, type TestNode } from '../node/helpers/nodes.js'
import { pseudoRandomBytes } from '../protocol/helpers/fixtures.js'

const N = 20
const nodes: TestNode[] = []
afterAll(async () => { await Promise.all(nodes.map(stopNode)) }, 60_000)

describe(`${N} nodes on the memory transport`, () => {
  it('finds a share through the DHT only and downloads from 4 partial seeders at once', async () => {
    // A ring with chords: every node knows ~4 others, nobody knows everyone.
    for (let i = 0; i < N; i++) nodes.push(await startNode({ transports: 'memory' }))
    for (let i = 0; i < N; i++) {
      for (const j of [(i + 1) % N, (i + 7) % N]) {
        await nodes[i]!.node.libp2p.dial(nodes[j]!.node.libp2p.getMultiaddrs()[0]!)
      }
    }
    await waitFor(() => nodes.every(t => (t.node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= 3), 20_000, 'routing tables')

    // Node 0 publishes; it stays only long enough for the seeders to take their parts.
    const publisher = nodes[0]!
    const src = join(publisher.dir, 'film.bin')
    const data = pseudoRandomBytes(4 * 1024 * 1024, 11)
    await writeFile(src, data)
    const shared = await publisher.node.share(src, { chunkSize: 65536 })
    expect(shared.chunks).toBe(64)
    const link = parseLink(shared.link)
    const keys = deriveShareKeys(link.key)

    // Seeders 5, 10, 15, 18 each fetch one quarter of the ciphertext and serve only that.
    const seederIdx = [5, 10, 15, 18]
    const seederStates: ShareState[] = []
    const root = await publisher.repo.blocks.get(link.manifest)
    const pubState = publisher.node.libp2p.services.swarm.getShare(keys.discovery)!
    for (const [q, idx] of seederIdx.entries()) {
      const s = nodes[idx]!
      const fetched = await completeManifest({ backend: nativeBackend, blocks: s.repo.blocks, sessions: () => [], log: s.node.libp2p.logger.forComponent('test'), signal: AbortSignal.timeout(5000) }, link.manifest, root, keys)
        .catch(async () => {
          // Small share: no manifest blocks to fetch; the root alone opens it.
          throw new Error('manifest should open from the root')
        })
      const have = new Bitfield(shared.chunks)
      const state = new ShareState({ keys, rootCid: link.manifest, backend: nativeBackend, blocks: s.repo.blocks })
      for (let i = q * 16; i < (q + 1) * 16; i++) {
        const bytes = await pubState.readChunk(i)
        await s.repo.blocks.put(cidFromDigest(pubState.chunkDigest(i)), bytes!)
        have.set(i)
      }
      state.setManifest(root, fetched.root.index, fetched.digests, fetched.treeBlockDigests, have)
      state.source = new BlockstoreChunkSource(state, s.repo.blocks)
      s.node.libp2p.services.swarm.addShare(state)
      seederStates.push(state)
      expect(await s.node.announce(state)).toBe(true)
    }
    // The publisher leaves: only the four partial seeders hold the data now.
    await publisher.node.unshare(shared.link)

    const downloader = nodes[N - 1]!
    const out = join(downloader.dir, 'out')
    await mkdir(out)
    const got = await downloader.node.get(shared.link.replace(/\s/g, ''), { outDir: out, timeoutMs: 30_000 })
    expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    expect((await readFile(join(out, 'film.bin'))).equals(Buffer.from(data))).toBe(true)
    // Every seeder contributed: each held chunks nobody else had.
    for (const [q, state] of seederStates.entries()) {
      expect(state.uploaded, `seeder ${seederIdx[q]}`).toBeGreaterThanOrEqual(16 * 65536)
    }
  }, 120_000)
})
