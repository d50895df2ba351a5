/** The on-disk repo: layout and modes, identity, config, share registry, block store, daemon.json. */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Bitfield } from '../../../protocol/bitfield.js'
import { cidOf } from '../../../protocol/cid.js'
import { nobleBackend } from '../../../protocol/crypto.js'
import { generateRootKey } from '../../../protocol/keys.js'
import { formatLink } from '../../../protocol/link.js'
import { Repo } from '../../../node/repo/repo.js'
import type { ShareRecord } from '../../../node/repo/format.js'
import { DiskFullError } from '../../../node/errors.js'
import { RepoFormatError, RepoLockedError, RepoNotInitialisedError } from '../../../node/repo/errors.js'

let tmp: string
const open: Repo[] = []

beforeEach(async () => { tmp = await mkdtemp(join(tmpdir(), 'kith-repo-test-')) })
afterEach(async () => {
  for (const r of open.splice(0)) await r.close().catch(() => {})
  await rm(tmp, { recursive: true, force: true })
})

async function openRepo (dir: string, opts?: { create?: boolean }): Promise<Repo> {
  const r = await Repo.open(dir, opts)
  open.push(r)
  return r
}

function record (bytes: Uint8Array, over: Partial<ShareRecord> = {}): ShareRecord {
  const manifest = cidOf(nobleBackend, bytes)
  return {
    version: 1,
    link: formatLink({ kind: 'read', manifest, key: generateRootKey(), hints: [] }),
    name: 'photo.jpg',
    size: 1234,
    chunks: 1,
    kind: 'file',
    source: '/home/me/photo.jpg',
    role: 'publisher',
    added: new Date().toISOString(),
    complete: true,
    have: null,
    ...over
  }
}

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777

describe('Repo layout', () => {
  it('init creates the layout, with private modes on the identity, token and registry', async () => {
    const dir = join(tmp, 'repo')
    const repo = await openRepo(dir, { create: true })
    const names = await readdir(dir)
    for (const n of ['identity.json', 'config.json', 'api-token', 'shares', 'blocks', 'datastore']) expect(names).toContain(n)
    expect(names.filter(n => n.includes('.tmp-'))).toEqual([])
    if (process.platform !== 'win32') {
      expect(await mode(join(dir, 'identity.json'))).toBe(0o600)
      expect(await mode(join(dir, 'api-token'))).toBe(0o600)
      expect(await mode(join(dir, 'shares'))).toBe(0o700)
      expect(await mode(dir)).toBe(0o700)
    }
    const identity = JSON.parse(await readFile(join(dir, 'identity.json'), 'utf8'))
    expect(identity).toMatchObject({ version: 1, type: 'Ed25519' })
    expect(typeof identity.privateKey).toBe('string')
    expect(repo.privateKey.type).toBe('Ed25519')
    expect(repo.apiToken).toMatch(/^[0-9a-f]{64}$/)
    expect((await readFile(join(dir, 'api-token'), 'utf8')).trim()).toBe(repo.apiToken)
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))
    expect(config).toEqual({ version: 1, listen: repo.config.listen, announce: [], bootstrap: [], network: 'local', stun: [], upnp: false, api: '127.0.0.1:5870', chunkSize: 1048576, uploadRate: 0, downloadRate: 0 })
    // The key never shows up in the token or config files.
    expect(await readFile(join(dir, 'config.json'), 'utf8')).not.toContain(identity.privateKey)
  })

  it('open is idempotent and the peer ID is stable across opens', async () => {
    const dir = join(tmp, 'repo')
    const a = await Repo.open(dir, { create: true })
    const id = a.peerId.toString()
    const token = a.apiToken
    await a.close()
    const b = await openRepo(dir, { create: true })
    expect(b.peerId.toString()).toBe(id)
    expect(b.apiToken).toBe(token)
    await b.close()
    const c = await openRepo(dir)
    expect(c.peerId.toString()).toBe(id)
  })

  it('open without create on an empty or missing folder says to run kith init', async () => {
    await expect(Repo.open(tmp)).rejects.toBeInstanceOf(RepoNotInitialisedError)
    await expect(Repo.open(join(tmp, 'nope'))).rejects.toThrow(/kith init/)
    expect(await readdir(tmp)).toEqual([])
  })

  it('refuses to initialise inside a folder that holds other things', async () => {
    await writeFile(join(tmp, 'notes.txt'), 'mine')
    await expect(Repo.open(tmp, { create: true })).rejects.toBeInstanceOf(RepoFormatError)
    expect(await readdir(tmp)).toEqual(['notes.txt'])
  })

  it('rejects an unknown or sealed identity format with a typed error', async () => {
    const dir = join(tmp, 'repo')
    await (await Repo.open(dir, { create: true })).close()
    const original = await readFile(join(dir, 'identity.json'), 'utf8')
    await writeFile(join(dir, 'identity.json'), JSON.stringify({ version: 1, type: 'Ed25519', sealed: { kdf: 'scrypt' } }))
    await expect(Repo.open(dir)).rejects.toThrow(/sealed with a passphrase/)
    await writeFile(join(dir, 'identity.json'), JSON.stringify({ version: 2, type: 'Ed25519', privateKey: 'AAAA' }))
    await expect(Repo.open(dir)).rejects.toBeInstanceOf(RepoFormatError)
    await writeFile(join(dir, 'identity.json'), '{not json')
    // With create too: an existing identity is never overwritten.
    await expect(Repo.open(dir, { create: true })).rejects.toBeInstanceOf(RepoFormatError)
    expect(await readFile(join(dir, 'identity.json'), 'utf8')).toBe('{not json')
    await writeFile(join(dir, 'identity.json'), original)
    await (await Repo.open(dir)).close()
  })

  it('a second open of a repo in use fails with RepoLockedError', async () => {
    const dir = join(tmp, 'repo')
    await openRepo(dir, { create: true })
    const err = await Repo.open(dir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RepoLockedError)
  })

  it('defaultPath uses $KITH_REPO, else ~/.kith', () => {
    expect(Repo.defaultPath({ KITH_REPO: '/srv/kith' })).toBe('/srv/kith')
    expect(Repo.defaultPath({})).toMatch(/\.kith$/)
  })

  it('DiskFullError recognises ENOSPC, also inside blockstore-fs error text, and names only the folder', () => {
    const enospc = Object.assign(new Error('write failed'), { code: 'ENOSPC' })
    expect(DiskFullError.matches(enospc)).toBe(true)
    expect(DiskFullError.matches(new Error('PutFailedError: Error: ENOSPC: no space left on device, write'))).toBe(true)
    expect(DiskFullError.matches(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(false)
    let thrown: unknown
    try { DiskFullError.rethrow(enospc, '/data/out') } catch (e) { thrown = e }
    expect(thrown).toBeInstanceOf(DiskFullError)
    expect((thrown as Error).message).toBe('disk full: cannot write to /data/out; free some space and try again')
  })
})

describe('config', () => {
  it('round-trips through saveConfig', async () => {
    const dir = join(tmp, 'repo')
    const a = await Repo.open(dir, { create: true })
    a.config.listen = ['/ip4/127.0.0.1/tcp/0']
    a.config.bootstrap = ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWExample']
    a.config.uploadRate = 1_000_000
    a.config.chunkSize = 262144
    await a.saveConfig()
    await a.close()
    const b = await openRepo(dir)
    expect(b.config).toEqual({ version: 1, listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], bootstrap: ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWExample'], network: 'local', stun: [], upnp: false, api: '127.0.0.1:5870', chunkSize: 262144, uploadRate: 1_000_000, downloadRate: 0 })
  })

  it('fills missing fields with defaults and refuses bad values', async () => {
    const dir = join(tmp, 'repo')
    await (await Repo.open(dir, { create: true })).close()
    await writeFile(join(dir, 'config.json'), JSON.stringify({ version: 1, downloadRate: 5 }))
    const r = await Repo.open(dir)
    expect(r.config.downloadRate).toBe(5)
    expect(r.config.chunkSize).toBe(1048576)
    r.config.chunkSize = 1000
    await expect(r.saveConfig()).rejects.toBeInstanceOf(RepoFormatError)
    await r.close()
    await writeFile(join(dir, 'config.json'), JSON.stringify({ version: 1, uploadRate: -1 }))
    await expect(Repo.open(dir)).rejects.toThrow(/uploadRate/)
  })
})

describe('share registry', () => {
  it('adds, gets, lists, updates and removes records named by manifest CID', async () => {
    const dir = join(tmp, 'repo')
    const repo = await openRepo(dir, { create: true })
    const r1 = record(new Uint8Array([1]), { added: '2024-01-01T00:00:00.000Z' })
    const r2 = record(new Uint8Array([2]), { added: '2024-01-02T00:00:00.000Z', kind: 'dir', name: 'album', role: 'downloader', complete: false, have: Buffer.from(new Bitfield(3).toBytes()).toString('base64'), source: null })
    const m1 = await repo.addShare(r1)
    const m2 = await repo.addShare(r2)
    expect(m1).toBe(cidOf(nobleBackend, new Uint8Array([1])).toString())
    expect(await readdir(join(dir, 'shares'))).toEqual([`${m1}.json`, `${m2}.json`].sort())
    if (process.platform !== 'win32') expect(await mode(join(dir, 'shares', `${m1}.json`))).toBe(0o600)

    expect(await repo.getShare(m1)).toEqual(r1)
    expect(await repo.getShare(m2)).toEqual(r2)
    expect(await repo.listShares()).toEqual([r1, r2])

    const updated = await repo.updateShare(m2, { complete: true, have: null, source: '/tmp/album' })
    expect(updated).toEqual({ ...r2, complete: true, have: null, source: '/tmp/album' })
    expect(await repo.getShare(m2)).toEqual(updated)
    // The link (and so the record's name) cannot be patched.
    await repo.updateShare(m2, { link: r1.link } as never)
    expect((await repo.getShare(m2))?.link).toBe(r2.link)

    // Concurrent updates of one record are serialised: none is lost.
    await Promise.all([repo.updateShare(m1, { size: 1 }), repo.updateShare(m1, { chunks: 7 }), repo.updateShare(m1, { name: 'x.jpg' })])
    expect(await repo.getShare(m1)).toMatchObject({ size: 1, chunks: 7, name: 'x.jpg' })

    expect(await repo.removeShare(m1)).toBe(true)
    expect(await repo.removeShare(m1)).toBe(false)
    expect(await repo.getShare(m1)).toBeUndefined()
    expect(await repo.updateShare(m1, { size: 2 })).toBeUndefined()
    expect((await repo.listShares()).map(r => r.name)).toEqual(['album'])
    // Not a CID, or a path trick: no record, nothing touched.
    expect(await repo.getShare('../identity')).toBeUndefined()
    expect(await repo.removeShare('../identity')).toBe(false)
  })

  it('survives reopening and skips an unreadable record', async () => {
    const dir = join(tmp, 'repo')
    const a = await Repo.open(dir, { create: true })
    const rec = record(new Uint8Array([3]))
    const m = await a.addShare(rec)
    await a.close()
    const other = cidOf(nobleBackend, new Uint8Array([4])).toString()
    await writeFile(join(dir, 'shares', `${other}.json`), '{"version": 1, "broken')
    const b = await openRepo(dir)
    expect(await b.listShares()).toEqual([rec])
    expect(await b.getShare(m)).toEqual(rec)
    await expect(b.getShare(other)).rejects.toBeInstanceOf(RepoFormatError)
  })

  it('refuses a malformed record', async () => {
    const repo = await openRepo(join(tmp, 'repo'), { create: true })
    await expect(repo.addShare({ ...record(new Uint8Array([5])), kind: 'folder' } as never)).rejects.toThrow(/kind/)
    await expect(repo.addShare({ ...record(new Uint8Array([5])), link: 'kith:nope' })).rejects.toThrow()
  })
})

describe('block store', () => {
  it('stores verified blocks and refuses bytes that do not match their CID', async () => {
    const repo = await openRepo(join(tmp, 'repo'), { create: true })
    const bytes = new TextEncoder().encode('a sealed chunk')
    const cid = cidOf(nobleBackend, bytes)
    await repo.blocks.put(cid, bytes)
    expect(await repo.blocks.has(cid)).toBe(true)
    expect(await repo.blocks.get(cid)).toEqual(bytes)

    const other = cidOf(nobleBackend, new TextEncoder().encode('something else'))
    await expect(repo.blocks.put(other, bytes)).rejects.toMatchObject({ name: 'IntegrityError' })
    expect(await repo.blocks.has(other)).toBe(false)

    await repo.blocks.delete(cid)
    expect(await repo.blocks.has(cid)).toBe(false)
    await repo.blocks.delete(cid)
  })

  it('re-verifies on read: a block corrupted on disk is never served', async () => {
    const dir = join(tmp, 'repo')
    const repo = await openRepo(dir, { create: true })
    const bytes = new Uint8Array(5000).map((_, i) => i * 7)
    const cid = cidOf(nobleBackend, bytes)
    await repo.blocks.put(cid, bytes)
    const files = (await readdir(join(dir, 'blocks'), { recursive: true })).filter(f => f.endsWith('.data'))
    expect(files).toHaveLength(1)
    const path = join(dir, 'blocks', files[0] as string)
    const onDisk = await readFile(path)
    onDisk[100] = (onDisk[100] as number) ^ 0x01
    await writeFile(path, onDisk)
    await expect(repo.blocks.get(cid)).rejects.toMatchObject({ name: 'IntegrityError' })
    // Putting the good bytes again repairs it.
    await repo.blocks.put(cid, bytes)
    expect(await repo.blocks.get(cid)).toEqual(bytes)
  })

  it('the datastore is open with the repo', async () => {
    const repo = await openRepo(join(tmp, 'repo'), { create: true })
    const { Key } = await import('interface-datastore')
    await repo.datastore.put(new Key('/test/x'), new Uint8Array([1, 2, 3]))
    expect([...await repo.datastore.get(new Key('/test/x'))]).toEqual([1, 2, 3])
  })
})

describe('daemon.json', () => {
  it('reads back a live daemon, reads a dead pid as absent, and clears', async () => {
    const dir = join(tmp, 'repo')
    const repo = await openRepo(dir, { create: true })
    expect(await repo.readDaemonInfo()).toBeUndefined()
    await repo.writeDaemonInfo({ pid: process.pid, api: '127.0.0.1:5870' })
    expect(await repo.readDaemonInfo()).toEqual({ pid: process.pid, api: '127.0.0.1:5870' })
    const info = JSON.parse(await readFile(join(dir, 'daemon.json'), 'utf8'))
    expect(Object.keys(info).sort()).toEqual(['api', 'pid'])
    await repo.clearDaemonInfo()
    expect(await repo.readDaemonInfo()).toBeUndefined()

    // A process that has exited: its pid is (almost certainly) free now.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    const dead = Number(child.stdout.toString())
    expect(Number.isInteger(dead) && dead > 0).toBe(true)
    await writeFile(join(dir, 'daemon.json'), JSON.stringify({ pid: dead, api: '127.0.0.1:5870' }))
    expect(await repo.readDaemonInfo()).toBeUndefined()
    // A stale file does not block a new daemon.
    await repo.writeDaemonInfo({ pid: process.pid, api: '127.0.0.1:5871' })
    expect((await repo.readDaemonInfo())?.api).toBe('127.0.0.1:5871')
    // pid 0 would probe the process group: never treated as alive.
    await writeFile(join(dir, 'daemon.json'), JSON.stringify({ pid: 0, api: 'x' }))
    expect(await repo.readDaemonInfo()).toBeUndefined()
  })

  it('refuses to record a second live daemon', async () => {
    const repo = await openRepo(join(tmp, 'repo'), { create: true })
    await repo.writeDaemonInfo({ pid: process.pid, api: '127.0.0.1:5870' })
    await expect(repo.writeDaemonInfo({ pid: process.ppid, api: '127.0.0.1:5871' })).rejects.toBeInstanceOf(RepoLockedError)
  })
})
