/** Real libp2p nodes on loopback TCP with on-disk repos, in one process. */
import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startNode, stopNode, waitFor, walk, type TestNode } from './helpers/nodes.js'
import { pseudoRandomBytes } from '../protocol/helpers/fixtures.js'
import { parseLink } from '../../protocol/link.js'
import { deriveShareKeys } from '../../protocol/keys.js'

const nodes: TestNode[] = []

afterAll(async () => { await Promise.all(nodes.map(stopNode)) })

describe('share and get over loopback', () => {
  it('B gets A\'s file by link, verified', async () => {
    const a = await startNode(); nodes.push(a)
    const b = await startNode({ bootstrap: [a.node.addrs()[0]!] }); nodes.push(b)
    await waitFor(() => b.node.libp2p.getConnections().length > 0, 10_000, 'bootstrap connection')
    const src = join(a.dir, 'photo.bin')
    const data = pseudoRandomBytes(3 * 1024 * 1024 + 17)
    await writeFile(src, data)
    const shared = await a.node.share(src, { chunkSize: 256 * 1024 })
    expect(shared.chunks).toBe(13)
    const out = join(b.dir, 'out')
    await mkdir(out)
    const got = await b.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
    expect(got.name).toBe('photo.bin')
    expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    // Buffer.equals, not toEqual: vitest's deep equality on megabytes takes seconds.
    expect((await readFile(join(out, 'photo.bin'))).equals(Buffer.from(data))).toBe(true)
    expect((await readdir(out)).filter(n => n.startsWith('.kith-partial'))).toEqual([])
  })

  it('finds the seeder from the link\'s address hints alone (no bootstrap, no DHT)', async () => {
    const a = await startNode(); nodes.push(a)
    const b = await startNode(); nodes.push(b)
    const src = join(a.dir, 'note.txt')
    await writeFile(src, 'from a friend')
    const shared = await a.node.share(src)
    expect(b.node.libp2p.getConnections()).toHaveLength(0)
    const out = join(b.dir, 'out')
    await mkdir(out)
    const got = await b.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
    expect(await readFile(got.path, 'utf8')).toBe('from a friend')
  })

  it('dials a link\'s private address hints only where private addresses are allowed (not on the public network)', async () => {
    const { engineContext } = await import('../../node/engine/context.js')
    const { previewShare, NoSeedersError } = await import('../../node/engine/get.js')
    const { nobleBackend } = await import('../../protocol/crypto.js')
    const a = await startNode(); nodes.push(a)
    const b = await startNode(); nodes.push(b)
    await writeFile(join(a.dir, 'lan.txt'), 'only on the LAN')
    const shared = await a.node.share(join(a.dir, 'lan.txt'))
    const link = parseLink(shared.link)
    expect(link.hints.length).toBeGreaterThan(0) // loopback hints
    const ctx = (privateHints?: boolean) => engineContext(b.node.libp2p, { blocks: b.repo.blocks, backend: nobleBackend, log: b.node.libp2p.logger.forComponent('test'), ...(privateHints !== undefined ? { privateHints } : {}) })
    await expect(previewShare(ctx(false), link, { timeoutMs: 3000 })).rejects.toBeInstanceOf(NoSeedersError)
    expect(b.node.libp2p.getConnections(a.node.libp2p.peerId)).toHaveLength(0) // never dialled
    expect((await previewShare(ctx(), link, { timeoutMs: 10_000 })).name).toBe('lan.txt')
  })

  it('writes no peer address to disk (docs/THREAT-MODEL.md §2.9)', async () => {
    const a = await startNode(); nodes.push(a)
    const b = await startNode({ bootstrap: [a.node.addrs()[0]!] }); nodes.push(b)
    const src = join(a.dir, 'x.bin')
    await writeFile(src, pseudoRandomBytes(300_000, 5))
    const shared = await a.node.share(src, { chunkSize: 65536 })
    const out = join(b.dir, 'out')
    await mkdir(out)
    await b.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
    await b.node.announce(b.node.libp2p.services.swarm.getShare(deriveShareKeys(parseLink(shared.link).key).discovery)!)
    // Flush LevelDB by closing the repos, then read every byte they hold.
    await a.node.stop(); await a.repo.close()
    await b.node.stop(); await b.repo.close()
    const text = Buffer.from('127.0.0.1')
    const binary = Buffer.from([0x04, 127, 0, 0, 1]) // multiaddr /ip4/127.0.0.1
    for (const t of [a, b]) {
      // config.json holds this node's own API/listen settings, which the user wrote: not peers.
      for (const file of (await walk(join(t.dir, 'repo'))).filter(f => !f.endsWith('config.json'))) {
        const bytes = await readFile(file)
        expect(bytes.includes(text), file).toBe(false)
        expect(bytes.includes(binary), file).toBe(false)
      }
    }
  })

  it('gets a folder share with nested and empty files', async () => {
    const a = await startNode(); nodes.push(a)
    const b = await startNode({ bootstrap: [a.node.addrs()[0]!] }); nodes.push(b)
    const root = join(a.dir, 'album')
    await mkdir(join(root, 'raw'), { recursive: true })
    await writeFile(join(root, 'a.txt'), 'hello')
    await writeFile(join(root, 'raw', 'empty'), '')
    await writeFile(join(root, 'raw', 'big.bin'), pseudoRandomBytes(700_000, 3))
    const shared = await a.node.share(root, { chunkSize: 65536 })
    const out = join(b.dir, 'out')
    await mkdir(out)
    const got = await b.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
    expect(got.path).toBe(join(out, 'album'))
    expect(await readFile(join(out, 'album', 'a.txt'), 'utf8')).toBe('hello')
    expect((await readFile(join(out, 'album', 'raw', 'empty'))).length).toBe(0)
    expect((await readFile(join(out, 'album', 'raw', 'big.bin'))).equals(Buffer.from(pseudoRandomBytes(700_000, 3)))).toBe(true)
  })
})
