/**
 * Blind seeding with a seed-only link (docs/THREAT-MODEL.md §2.4, §2.5): real libp2p
 * nodes on loopback TCP with on-disk repos, in one process. A blind seeder fetches and serves a
 * share whose names and plaintext it cannot read; a reader downloads from it alone; it serves again
 * after a restart; unshare deletes its ciphertext.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { formatLink, parseLink, seedOnlyLink } from '../../protocol/link.js'
import { deriveSeedKeys, deriveShareKeys, SecretKey } from '../../protocol/keys.js'
import { KithNode } from '../../node/node.js'
import { nativeBackend } from '../../node/crypto/native.js'
import { shareBlocks } from '../../node/engine/seed.js'
import { Repo } from '../../node/repo/repo.js'
import { startNode, stopNode, waitFor, walk, type TestNode } from './helpers/nodes.js'
import { pseudoRandomBytes } from '../protocol/helpers/fixtures.js'

const nodes: TestNode[] = []
afterAll(async () => { await Promise.all(nodes.map(stopNode)) })

async function blockFiles (repoDir: string): Promise<number> {
  return (await walk(join(repoDir, 'blocks'))).filter(f => f.endsWith('.data')).length
}

const NAME = 'holiday-in-the-mountains-7f3a.bin'
const CHUNK = 256 * 1024
const data = pseudoRandomBytes(3 * 1024 * 1024 + 5)
const sha = createHash('sha256').update(data).digest('hex')

describe('blind seeding', () => {
  let a: TestNode
  let b: TestNode
  let c: TestNode
  let readLink: string
  let seedLink: string

  it('a blind seeder fetches every chunk with the seed-only link, and holds nothing readable', async () => {
    a = await startNode(); nodes.push(a)
    const src = join(a.dir, NAME)
    await writeFile(src, data)
    const shared = await a.node.share(src, { chunkSize: CHUNK })
    readLink = shared.link
    seedLink = formatLink(seedOnlyLink(parseLink(readLink)))

    b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')
    const phases = new Set<string>()
    const result = await b.node.seed(seedLink, { timeoutMs: 20_000, onProgress: evt => { phases.add(evt.type) } })
    expect(result).toMatchObject({ manifest: shared.manifest, seedLink, chunks: 13 })
    expect(result.bytes).toBe(data.length + 13 * 16) // every chunk sealed: plaintext + one tag each
    expect(phases).toContain('kith:seed:manifest')
    expect(phases).toContain('kith:seed:chunk')

    const [rec] = await b.repo.listShares()
    expect(rec).toMatchObject({ link: seedLink, role: 'seed', kind: 'sealed', name: '', source: null, complete: true, chunks: 13 })
    expect(parseLink(rec?.link as string).kind).toBe('seed')
    // Every chunk, the root and the manifest blocks are in B's blockstore.
    expect(await blockFiles(join(b.dir, 'repo'))).toBeGreaterThanOrEqual(14)

    // Nothing in B's repo holds the file's name, its plaintext, the read link or any read key.
    const keys = deriveShareKeys(parseLink(readLink).key)
    const needles = [Buffer.from(NAME), Buffer.from(data.subarray(1000, 1064)), Buffer.from(readLink), Buffer.from(keys.root.bytes), Buffer.from(keys.encryption.bytes)]
    for (const f of await walk(join(b.dir, 'repo'))) {
      const bytes = await readFile(f)
      for (const n of needles) expect(bytes.includes(n), `${f} holds something only a reader may hold`).toBe(false)
    }
  }, 60_000)

  it('a reader downloads the share from the blind seeder alone, after the publisher left', async () => {
    await a.node.stop()
    c = await startNode({ bootstrap: [b.node.addrs()[0] as string] }); nodes.push(c)
    const out = join(c.dir, 'out')
    await mkdir(out)
    const got = await c.node.get(readLink, { outDir: out, timeoutMs: 20_000 })
    expect(got).toMatchObject({ name: NAME, size: data.length, sha256: sha })
    expect((await readFile(join(out, NAME))).equals(Buffer.from(data))).toBe(true)
    const [s] = await b.node.listShares()
    expect(s?.uploaded).toBeGreaterThanOrEqual(data.length)
  }, 60_000)

  it('after a restart the seed is served again from the blockstore; unshare deletes its ciphertext', async () => {
    const repoDir = join(b.dir, 'repo')
    await b.node.stop()
    await b.repo.close()
    const repo = await Repo.open(repoDir)
    // No bootstrap peer: the restarted seeder announces itself when the first peer connects to it
    // (before, its announcement waited for DHT peers until its deadline, and that peer found nothing).
    await c.node.stop() // so that the download below can come from the restarted blind seeder only
    const node = await KithNode.start({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] })
    try {
      expect((await node.listShares())[0]).toMatchObject({ role: 'seed', serving: true })
      const d = await startNode({ bootstrap: [node.addrs()[0] as string] }); nodes.push(d)
      const out = join(d.dir, 'out')
      await mkdir(out)
      const got = await d.node.get(readLink, { outDir: out, timeoutMs: 20_000 })
      expect(got.sha256).toBe(sha)

      expect(await node.unshare(seedLink)).toBe(true)
      expect(await node.listShares()).toEqual([])
      expect(await blockFiles(repoDir)).toBe(0)
    } finally {
      await node.stop()
      await repo.close()
    }
  }, 60_000)
})

describe('blind seeding: interrupted, and then downloaded', () => {
  it('a cancelled seed is recorded as incomplete; the next run resumes it; downloading it replaces the seed, keeps the manifest, and is served after a restart', async () => {
    const a = await startNode({ uploadRate: 2_000_000 }); nodes.push(a) // about 8 chunks a second
    const src = join(a.dir, 'slow.bin')
    const bytes = pseudoRandomBytes(40 * CHUNK + 3)
    await writeFile(src, bytes)
    const shared = await a.node.share(src, { chunkSize: CHUNK })
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')

    const stop = new AbortController()
    const cancelled = b.node.seed(shared.link, {
      timeoutMs: 20_000,
      signal: stop.signal,
      onProgress: evt => { if (evt.type === 'kith:seed:chunk' && evt.detail.chunks >= 3) stop.abort(new Error('stopped by the test')) }
    })
    await expect(cancelled).rejects.toThrow()
    const [partial] = await b.repo.listShares()
    expect(partial).toMatchObject({ role: 'seed', complete: false, chunks: 41 })
    const held = await blockFiles(join(b.dir, 'repo'))
    expect(held).toBeGreaterThanOrEqual(4) // the root and at least 3 chunks

    // Run again: the chunks already held are kept, the rest fetched.
    a.node.setRates({ uploadRate: 0 })
    let fetched = 0
    const done = await b.node.seed(shared.link, { timeoutMs: 20_000, onProgress: evt => { if (evt.type === 'kith:seed:chunk') fetched++ } })
    expect(done.chunks).toBe(41)
    expect(fetched).toBeLessThanOrEqual(41 - 3)
    expect((await b.repo.listShares())[0]).toMatchObject({ role: 'seed', complete: true })

    // B now downloads the share it blind-seeds: the download's record replaces the seed, the
    // ciphertext goes, the manifest blocks stay (the download serves them).
    const out = join(b.dir, 'out')
    await mkdir(out)
    const got = await b.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
    expect(got.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    expect((await b.repo.listShares()).map(r => r.role)).toEqual(['downloader'])
    const left = await blockFiles(join(b.dir, 'repo'))
    expect(left).toBeGreaterThanOrEqual(1)
    expect(left).toBeLessThan(41)

    // After a restart B serves it from the downloaded file (its manifest blocks were kept).
    await b.node.stop()
    await b.repo.close()
    await a.node.stop()
    const repo = await Repo.open(join(b.dir, 'repo'))
    const node = await KithNode.start({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] })
    try {
      expect((await node.listShares())[0]).toMatchObject({ role: 'downloader', serving: true })
      const d = await startNode({ bootstrap: [node.addrs()[0] as string] }); nodes.push(d)
      const outD = join(d.dir, 'out')
      await mkdir(outD)
      expect((await d.node.get(shared.link, { outDir: outD, timeoutMs: 20_000 })).sha256).toBe(got.sha256)
    } finally {
      await node.stop()
      await repo.close()
    }
  }, 90_000)
})

describe('blind seeding: one fetch per share', () => {
  it('a second fetch of the same share → ShareBusyError; unshare stops a running seed and deletes what it fetched', async () => {
    const a = await startNode({ uploadRate: 1_000_000 }); nodes.push(a) // about 4 chunks a second
    const src = join(a.dir, 'big.bin')
    await writeFile(src, pseudoRandomBytes(40 * CHUNK))
    const shared = await a.node.share(src, { chunkSize: CHUNK })
    const seedLink = formatLink(seedOnlyLink(parseLink(shared.link)))
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')

    let fetched = 0
    const running = b.node.seed(seedLink, { timeoutMs: 20_000, onProgress: evt => { if (evt.type === 'kith:seed:chunk') fetched = evt.detail.chunks } })
    const outcome = running.then(() => 'done', (err: Error) => err.name)
    await waitFor(() => fetched >= 2, 20_000, 'two chunks')
    await expect(b.node.seed(seedLink, { timeoutMs: 5_000 })).rejects.toMatchObject({ name: 'ShareBusyError' })
    await expect(b.node.get(shared.link, { outDir: join(b.dir, 'out'), timeoutMs: 5_000 })).rejects.toMatchObject({ name: 'ShareBusyError' })

    expect(await b.node.unshare(seedLink)).toBe(true)
    expect(await outcome).toBe('UnsharedError')
    expect(await b.node.listShares()).toEqual([])
    expect(await blockFiles(join(b.dir, 'repo'))).toBe(0)
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(await blockFiles(join(b.dir, 'repo'))).toBe(0) // nothing stored after the unshare
  }, 60_000)

  it('a download that fails on a node that blind-seeds the share leaves the seed served', async () => {
    const a = await startNode(); nodes.push(a)
    const src = join(a.dir, 'kept.bin')
    const bytes = pseudoRandomBytes(5 * CHUNK + 9)
    await writeFile(src, bytes)
    const shared = await a.node.share(src, { chunkSize: CHUNK })
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')
    await b.node.seed(shared.link, { timeoutMs: 20_000 })
    await a.node.stop()

    // B is the only copy, and a download does not read its own ciphertext: it finds no seeder.
    await expect(b.node.get(shared.link, { outDir: join(b.dir, 'out'), timeoutMs: 2_000 })).rejects.toMatchObject({ name: 'NoSeedersError' })
    expect((await b.repo.listShares())[0]).toMatchObject({ role: 'seed', complete: true })

    const c = await startNode({ bootstrap: [b.node.addrs()[0] as string] }); nodes.push(c)
    const out = join(c.dir, 'out')
    await mkdir(out)
    const got = await c.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
    expect(got.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
  }, 60_000)
})

describe('blind seeding: a lying peer', () => {
  it('a peer serving corrupt chunks is dropped; the blind seeder stores none of them', async () => {
    const a = await startNode(); nodes.push(a)
    const src = join(a.dir, 'c.bin')
    await writeFile(src, randomBytes(3 * 64 * 1024))
    const shared = await a.node.share(src, { chunkSize: 64 * 1024 })
    // A's node now serves every chunk with one bit flipped (and skips its own check).
    const state = a.node.libp2p.services.swarm.getShare(deriveShareKeys(parseLink(shared.link).key).discovery)
    const honest = state?.source
    if (state === undefined || honest === undefined) throw new Error('A does not serve the share')
    state.source = { verified: true, read: async (i, signal) => { const b = await honest.read(i, signal); if (b !== undefined) b[0] = (b[0] as number) ^ 1; return b } }

    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')
    await expect(b.node.seed(shared.link, { timeoutMs: 3_000 })).rejects.toMatchObject({ name: expect.stringMatching(/StalledError|NoSeedersError/) })
    const keys = deriveSeedKeys(seedOnlyLink(parseLink(shared.link)).key)
    const listed = await shareBlocks({ backend: nativeBackend, blocks: b.repo.blocks, log: b.node.libp2p.logger.forComponent('test') }, parseLink(shared.link), true, AbortSignal.timeout(5_000))
    for (const cid of listed.chunks) expect(await b.repo.blocks.has(cid)).toBe(false)
    expect((await b.repo.listShares())[0]).toMatchObject({ role: 'seed', complete: false })
    expect(keys.discovery).toEqual(state.keys.discovery)
  }, 60_000)
})

describe('blind seeding: a crafted share', () => {
  it('a share whose chunks are another share\'s blocks: unsharing its blind seed deletes none of the other share\'s blocks', async () => {
    // B publishes V, so B holds V's root block.
    const b = await startNode(); nodes.push(b)
    const v = join(b.dir, 'v.bin')
    await writeFile(v, randomBytes(50_000))
    const victim = await b.node.share(v, { chunkSize: 64 * 1024 })
    const victimRoot = parseLink(victim.link).manifest
    const victimRootBytes = await b.repo.blocks.get(victimRoot)

    // Mallory signs a share whose one "chunk" is V's root block: its content ID is V's manifest ID.
    const marker = 0x5a
    const evilBackend = { ...nativeBackend, chachaSeal: (key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad?: Uint8Array) => pt.length === 1000 && pt.every(x => x === marker) ? Uint8Array.from(victimRootBytes) : nativeBackend.chachaSeal(key, nonce, pt, aad) }
    const m = await startNode({ backend: evilBackend }); nodes.push(m)
    const src = join(m.dir, 'bait.bin')
    await writeFile(src, new Uint8Array(1000).fill(marker))
    const evil = await m.node.share(src, { chunkSize: 64 * 1024 })

    // B blind-seeds it (it already "holds" the chunk), then unshares it.
    await b.node.dial(m.node.addrs()[0] as string)
    const seeded = await b.node.seed(evil.link, { timeoutMs: 20_000 })
    expect(seeded.chunks).toBe(1)
    const evilRoot = parseLink(evil.link).manifest
    expect(await b.repo.blocks.has(evilRoot)).toBe(true)
    expect(await b.node.unshare(seeded.seedLink)).toBe(true)
    expect(await b.repo.blocks.has(evilRoot)).toBe(false) // the crafted share's own blocks go
    expect(await b.repo.blocks.has(victimRoot)).toBe(true) // V's root, named by both, stays
    expect((await b.node.listShares()).map(s => s.name)).toEqual(['v.bin'])
  }, 60_000)
})

describe('blind seeding: refusals', () => {
  it('a read link is kept only in its seed-only form; a node that publishes the share refuses to seed it blindly', async () => {
    const a = await startNode(); nodes.push(a)
    const src = join(a.dir, 'notes.bin')
    await writeFile(src, randomBytes(300_000))
    const shared = await a.node.share(src, { chunkSize: 64 * 1024 })
    await expect(a.node.seed(shared.link, { timeoutMs: 5_000 })).rejects.toMatchObject({ name: 'AlreadyHeldError' })

    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')
    const r = await b.node.seed(shared.link, { timeoutMs: 20_000 })
    const stored = parseLink(r.seedLink)
    expect(stored.kind).toBe('seed')
    expect(Buffer.from(stored.key.bytes).equals(Buffer.from(deriveShareKeys(parseLink(shared.link).key).seed.bytes))).toBe(true)
    expect((await b.repo.listShares())[0]?.link).toBe(r.seedLink)
  }, 60_000)

  it('a seed-only link with the wrong key → WrongKeyError, and nothing is recorded', async () => {
    const a = await startNode(); nodes.push(a)
    const src = join(a.dir, 'x.bin')
    await writeFile(src, randomBytes(100_000))
    const shared = await a.node.share(src, { chunkSize: 64 * 1024 })
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')
    const wrong = { ...parseLink(shared.link), kind: 'seed' as const, key: new SecretKey(randomBytes(32)) }
    // The wrong key derives another discovery key: no peer admits us, but the root from the DHT
    // does not open under it.
    await expect(b.node.seed(wrong, { timeoutMs: 10_000 })).rejects.toMatchObject({ name: 'WrongKeyError' })
    expect(await b.repo.listShares()).toEqual([])
    expect(deriveSeedKeys(wrong.key).discovery).not.toEqual(deriveShareKeys(parseLink(shared.link).key).discovery)
  }, 60_000)
})
