/**
 * Faults, with real `kith` processes on loopback (port 0, temp repos): a seeder killed
 * mid-transfer, a seeder serving corrupt chunks, a downloader killed and restarted, no seeder, a
 * wrong key, malformed links; and, in-process on the memory transport, a forged DHT record for a
 * real share. Every wait is bounded; every child is killed in afterAll.
 *
 * Rate caps: a seeder's `uploadRate` (config.json, read at daemon start) slows transfers down so
 * the test can act mid-way. The limiter's burst is one maximal chunk (8 MiB), so each capped
 * seeder sends its first 8 MiB at once and then holds the cap; the sizes below allow for it.
 */
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Record as DhtRecord } from '@libp2p/kad-dht'
import type { Libp2p } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { toString as toText } from 'uint8arrays/to-string'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocol/bitfield.js'
import { manifestRecordKey } from '../../protocol/dht-record.js'
import { generateRootKey } from '../../protocol/keys.js'
import { formatLink, parseLink } from '../../protocol/link.js'
import { getManifest } from '../../node/engine/dht.js'
import { createKithLibp2p, type KithServices } from '../../node/libp2p/assembly.js'
import { ROOT } from '../global-setup.js'
import { startNode, stopNode, waitFor, type TestNode } from './helpers/nodes.js'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, sleep, tempDir, until, writeRandomFile, type DaemonInfo, type Proc } from './fixtures/procs.js'

const MiB = 1024 * 1024
const CAP = 4_000_000
const EVIL = join(ROOT, 'test', 'node', 'fixtures', 'evil-seeder.ts')
/** tsx's loader by absolute URL: children run in a temp folder, where a bare `tsx` would not resolve. */
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href

let box: Sandbox

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-faults-'))
}, 300_000)

afterAll(async () => {
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

interface GetJson { path: string, name: string, size: number, sha256: string }

/** The one stdout line of a `--json` command. */
function oneJson<T = any> (stdout: string): T {
  const lines = stdout.split('\n').filter(l => l !== '')
  expect(lines, stdout).toHaveLength(1)
  return JSON.parse(lines[0] as string) as T
}

/** The partial folder of a download in `out`, if there is one. */
async function partialDir (out: string): Promise<string | undefined> {
  const names = await readdir(out).catch(() => [] as string[])
  const p = names.find(n => n.startsWith('.kith-partial-'))
  return p === undefined ? undefined : join(out, p)
}

/** Chunks a download's state.json claims; undefined if there is no readable state.json. */
async function savedChunks (out: string): Promise<number | undefined> {
  const dir = await partialDir(out)
  if (dir === undefined) return undefined
  try {
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { chunks: number, have: string }
    return Bitfield.fromBytes(state.chunks, Buffer.from(state.have, 'base64')).count()
  } catch {
    return undefined // not written yet, or being removed
  }
}

/** Chunks a download's state.json claims (0 if it has none yet). */
async function claimedChunks (out: string): Promise<number> {
  return (await savedChunks(out)) ?? 0
}

/** The same share (manifest ID, hints) with a different, random key. */
function wrongKeyLink (link: string): string {
  const real = parseLink(link)
  const wrong = formatLink({ kind: 'read', manifest: real.manifest, key: generateRootKey(), hints: real.hints })
  expect(parseLink(wrong).manifest.equals(real.manifest)).toBe(true)
  expect(wrong).not.toBe(link)
  return wrong
}

/** Stops processes started by one test (bounded), whatever happened in it. */
async function stopAll (procs: Array<Proc | undefined>): Promise<void> {
  await Promise.allSettled(procs.map(async p => { if (p?.running === true) await p.stop('SIGTERM', 10_000) }))
}

/**
 * Watches `<out>/<name>` while a download runs: whenever it exists, the download's saved state (if
 * still there) must record every chunk. The writer flushes the full have-map before it verifies
 * and moves the file, so a state.json with fewer chunks next to the final name means bytes were
 * placed there unverified. Returns the violations seen.
 */
function watchFinalName (out: string, name: string, chunks: number, proc: Proc): { done: Promise<string[]> } {
  const done = (async () => {
    const violations: string[] = []
    const end = Date.now() + 120_000
    while (proc.running && Date.now() < end) {
      if (existsSync(join(out, name))) {
        const saved = await savedChunks(out)
        if (saved !== undefined && saved < chunks) violations.push(`final name present while the saved state records ${saved}/${chunks} chunks`)
      }
      await sleep(20)
    }
    return violations
  })()
  return { done }
}

describe('faults', () => {
  it('a seeder is SIGKILLed mid-transfer: the download completes from the other seeder', async () => {
    const SIZE = 40 * MiB
    const src = join(box.dir, 'film-1.bin')
    const sha = await writeRandomFile(src, SIZE)
    const procs: Array<Proc | undefined> = []
    try {
      // S1 publishes (uncapped, so S2 can fetch it quickly), then restarts with the cap.
      const repo1 = await box.repo()
      let s1 = await box.daemon(repo1)
      procs.push(s1.proc)
      const shared = await box.share(repo1, src, ['--chunk-size', '256K'])
      expect(shared.chunks).toBe(160)
      const manifest = parseLink(shared.link).manifest.toString()

      // S2 downloads it without a daemon (so it holds it as a completed download in its repo)...
      const repo2 = await box.repo({ uploadRate: CAP })
      const s2out = box.path('s2-files')
      const fetched = await box.kith(['get', shared.link, '--repo', repo2, '--bootstrap', s1.info.addrs[0] as string, '-o', s2out, '--timeout', '30', '--json'], 90_000)
      expect(fetched.code, fetched.stderr).toBe(0)
      expect(oneJson<GetJson>(fetched.stdout).sha256).toBe(sha)

      expect((await s1.proc.stop('SIGTERM')).code).toBe(0)
      const config = JSON.parse(await readFile(join(repo1, 'config.json'), 'utf8')) as Record<string, unknown>
      await writeFile(join(repo1, 'config.json'), JSON.stringify({ ...config, uploadRate: CAP }))
      s1 = await box.daemon(repo1)
      procs.push(s1.proc)
      // ...and its daemon, started after that get completed, re-serves it from the repo.
      const s2 = await box.daemon(repo2, [s1.info.addrs[0] as string])
      procs.push(s2.proc)
      for (const repo of [repo1, repo2]) {
        const ls = oneJson<{ shares: Array<{ manifest: string, serving: boolean, complete: boolean }> }>((await box.kith(['ls', '--repo', repo, '--json'])).stdout)
        expect(ls.shares, repo).toMatchObject([{ manifest, serving: true, complete: true }])
      }

      const out = box.path('out-kill')
      const started = Date.now()
      const get = box.start(['get', shared.link, '--repo', box.path('repo-d'), '--bootstrap', s1.info.addrs[0] as string, '--bootstrap', s2.info.addrs[0] as string, '-o', out, '--timeout', '30', '--json'])
      procs.push(get)
      // Progress on disk, and at least 1.5 s in: both seeders are sending by then.
      await until(async () => (await claimedChunks(out)) > 0 && Date.now() - started > 1_500, 40_000, 'download progress')
      expect(get.running, 'the download finished before the seeder could be killed: raise SIZE').toBe(true)
      const claimedAtKill = await claimedChunks(out)
      expect(claimedAtKill).toBeLessThan(shared.chunks)
      s1.proc.child.kill('SIGKILL')
      const killed = await s1.proc.wait(10_000)
      expect(killed?.signal).toBe('SIGKILL')

      const r = await get.wait(90_000)
      if (r === undefined) throw new Error(`download did not finish within 90 s after the kill; stderr: ${get.stderr}`)
      expect(r.code, r.stderr).toBe(0)
      const got = oneJson<GetJson>(r.stdout)
      expect(got).toEqual({ path: join(out, 'film-1.bin'), name: 'film-1.bin', size: SIZE, sha256: sha, publisher: expect.stringMatching(/^12D3KooW/), seeders: expect.any(Array), paths: expect.any(Array) })
      expect(await sha256File(got.path)).toBe(sha)
      expect(await readdir(out)).toEqual(['film-1.bin'])
      // S2 served part of it, not all: S1 had delivered the rest before it died.
      const fromS2 = await box.uploaded(repo2, manifest)
      expect(fromS2).toBeGreaterThan(0)
      expect(fromS2).toBeLessThan(SIZE)
    } finally {
      await stopAll(procs)
    }
  }, 180_000)

  it('a seeder serving corrupt chunks is dropped; the file is intact and never appears unverified', async () => {
    const SIZE = 4 * MiB
    const src = join(box.dir, 'evil-2.bin')
    const sha = await writeRandomFile(src, SIZE)
    const procs: Array<Proc | undefined> = []
    try {
      const evil = box.startNode(['--import', TSX, EVIL, box.path('repo-evil'), src, '--chunk-size', '65536', '--every', '3'])
      procs.push(evil)
      const e = await evil.firstJsonLine<{ link: string, addr: string, peerId: string }>(60_000)
      expect(e.addr).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)

      // While it is still honest, a normal daemon fetches the share and keeps seeding it.
      const honest = await box.daemon(await box.repo(), [e.addr])
      procs.push(honest.proc)
      const hget = await box.kith(['get', e.link, '--repo', honest.repo, '-o', box.path('honest-files'), '--timeout', '30', '--json'], 90_000)
      expect(hget.code, hget.stderr).toBe(0)
      expect(oneJson<GetJson>(hget.stdout).sha256).toBe(sha)

      evil.send('corrupt')
      await evil.jsonLine(v => v?.corrupting === true, 10_000)

      const out = box.path('out-evil')
      const get = box.start(['get', e.link, '--repo', box.path('repo-d'), '--bootstrap', honest.info.addrs[0] as string, '--bootstrap', e.addr, '-o', out, '--timeout', '30', '--json'])
      procs.push(get)
      const watch = watchFinalName(out, 'evil-2.bin', 64, get)
      const r = await get.wait(90_000)
      if (r === undefined) throw new Error(`download did not finish within 90 s; stderr: ${get.stderr}`)
      expect(await watch.done).toEqual([])
      expect(r.code, r.stderr).toBe(0)
      const got = oneJson<GetJson>(r.stdout)
      expect(got).toEqual({ path: join(out, 'evil-2.bin'), name: 'evil-2.bin', size: SIZE, sha256: sha, publisher: expect.stringMatching(/^12D3KooW/), seeders: expect.any(Array), paths: expect.any(Array) })
      expect(await sha256File(got.path)).toBe(sha)
      expect(await readdir(out)).toEqual(['evil-2.bin'])

      // The evil seeder did get to lie (else this test proved nothing).
      evil.send('stats')
      const stats = await evil.jsonLine<{ corrupt: number, honest: number }>(v => typeof v?.corrupt === 'number' && v.corrupt + v.honest > 0, 10_000)
      expect(stats.corrupt).toBeGreaterThanOrEqual(1)
      expect(evil.stderr).toMatch(/corrupt chunk \d+/)
    } finally {
      await stopAll(procs)
    }
  }, 180_000)

  it('the downloader is SIGKILLed and run again: it resumes and fetches only what it lacked', async () => {
    const SIZE = 32 * MiB
    const CHUNK = 256 * 1024
    const src = join(box.dir, 'resume-3.bin')
    const sha = await writeRandomFile(src, SIZE)
    const procs: Array<Proc | undefined> = []
    try {
      const seeder = await box.daemon(await box.repo({ uploadRate: CAP }))
      procs.push(seeder.proc)
      const shared = await box.share(seeder.repo, src, ['--chunk-size', '256K'])
      const N = shared.chunks
      expect(N).toBe(128)
      const manifest = parseLink(shared.link).manifest.toString()
      const u0 = await box.uploaded(seeder.repo, manifest)

      const repo = box.path('repo-d')
      const out = box.path('out-resume')
      const args = ['get', shared.link, '--repo', repo, '--bootstrap', seeder.info.addrs[0] as string, '-o', out, '--timeout', '30', '--json']
      const first = box.start(args)
      procs.push(first)
      // Killed once its saved state records at least 40% of the chunks (but not all).
      await until(async () => (await claimedChunks(out)) >= Math.ceil(N * 0.4), 60_000, 'saved progress')
      expect(first.running, 'the first run finished before it could be killed').toBe(true)
      first.child.kill('SIGKILL')
      expect((await first.wait(10_000))?.signal).toBe('SIGKILL')
      const claimed = await claimedChunks(out)
      expect(claimed).toBeGreaterThanOrEqual(Math.ceil(N * 0.4))
      expect(claimed).toBeLessThan(N)
      expect(existsSync(join(out, 'resume-3.bin'))).toBe(false)
      await sleep(1_000) // pieces already queued to the dead peer are counted by then
      const u1 = await box.uploaded(seeder.repo, manifest) - u0

      const second = box.start(args)
      procs.push(second)
      const r = await second.wait(120_000)
      if (r === undefined) throw new Error(`second run did not finish within 120 s; stderr: ${second.stderr}`)
      expect(r.code, r.stderr).toBe(0)
      const got = oneJson<GetJson>(r.stdout)
      expect(got).toEqual({ path: join(out, 'resume-3.bin'), name: 'resume-3.bin', size: SIZE, sha256: sha, publisher: expect.stringMatching(/^12D3KooW/), seeders: expect.any(Array), paths: expect.any(Array) })
      expect(await sha256File(got.path)).toBe(sha)
      expect(await readdir(out)).toEqual(['resume-3.bin'])

      const u2 = await box.uploaded(seeder.repo, manifest) - u0 - u1
      const sealed = CHUNK + 16
      // The second run asked for what the saved state did not claim (plus a little slack for
      // manifest blocks and in-flight duplicates), not the whole file again.
      expect(u2).toBeLessThanOrEqual((N - claimed + 4) * sealed + 256 * 1024)
      expect(u2).toBeLessThan(0.7 * SIZE)
      expect(u1 + u2).toBeLessThan(1.6 * SIZE)
    } finally {
      await stopAll(procs)
    }
  }, 180_000)

  describe('with one live daemon', () => {
    let live: { proc: Proc, info: DaemonInfo, repo: string } | undefined
    let liveLink: { link: string, name: string } | undefined

    beforeAll(async () => {
      live = await box.daemon(box.path('repo-live'))
      const src = join(box.dir, 'notes.txt')
      await writeFile(src, 'the live daemon\'s share\n'.repeat(5000))
      liveLink = await box.share(live.repo, src)
    }, 120_000)

    afterAll(async () => {
      await live?.proc.stop('SIGTERM', 10_000).catch(() => {})
    }, 30_000)

    it('no seeder: exit 5 within the timeout, one clear line, nothing under the final name', async () => {
      if (live === undefined) throw new Error('live daemon did not start')
      // Shared by a daemon that then stops: the DHT (the live daemon) still knows the share.
      const gone = await box.daemon(box.path('repo-gone'), [live.info.addrs[0] as string])
      let shared: { link: string, name: string }
      try {
        const src = join(box.dir, 'orphan-4.txt')
        await writeFile(src, 'nobody serves me\n'.repeat(10_000))
        shared = await box.share(gone.repo, src)
      } finally {
        expect((await gone.proc.stop('SIGTERM')).code).toBe(0)
      }
      const out = box.path('out-none')
      const t0 = Date.now()
      const r = await box.kith(['get', shared.link, '--repo', box.path('repo-d'), '--bootstrap', live.info.addrs[0] as string, '-o', out, '--timeout', '5', '--json'], 40_000)
      const ms = Date.now() - t0
      expect(r.code, r.stderr).toBe(5)
      expect(ms).toBeLessThan(15_000)
      const lines = r.stderr.split('\n').filter(l => l !== '')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^kith: no seeders found within 5 s/)
      expect(oneJson(r.stdout)).toEqual({ error: (lines[0] as string).replace(/^kith: /, ''), code: 'NoSeedersError' })
      // Nothing under the final name; at most an (empty) partial folder kept for a later resume.
      expect(existsSync(join(out, 'orphan-4.txt'))).toBe(false)
      expect((await readdir(out).catch(() => [] as string[])).filter(n => !n.startsWith('.kith-partial-'))).toEqual([])
      const partial = await partialDir(out)
      if (partial !== undefined) expect(await claimedChunks(out)).toBe(0)

      // Without --json: nothing on stdout, the same one line on stderr.
      const human = await box.kith(['get', shared.link, '--repo', box.path('repo-d'), '--bootstrap', live.info.addrs[0] as string, '-o', out, '--timeout', '5'], 40_000)
      expect(human.code).toBe(5)
      expect(human.stdout).toBe('')
      expect(human.stderr.split('\n').filter(l => l !== '')).toEqual([lines[0]])
    }, 120_000)

    it('wrong key: exit 4 with a clear message; nothing written (download through a connected daemon)', async () => {
      if (live === undefined || liveLink === undefined) throw new Error('live daemon did not start')
      const wrong = wrongKeyLink(liveLink.link)
      const d = await box.daemon(box.path('repo-wd'), [live.info.addrs[0] as string])
      try {
        const liveId = live.info.peerId
        await until(async () => {
          const p = await box.kith(['peers', '--repo', d.repo, '--json'])
          return p.code === 0 && (JSON.parse(p.stdout) as { peers: Array<{ peerId: string }> }).peers.some(x => x.peerId === liveId)
        }, 20_000, 'the daemon to connect to the live one')
        const out = box.path('out-wrong')
        const r = await box.kith(['get', wrong, '--repo', d.repo, '-o', out, '--timeout', '15', '--json'], 60_000)
        expect(r.code, r.stderr).toBe(4)
        const lines = r.stderr.split('\n').filter(l => l !== '')
        expect(lines).toHaveLength(1)
        expect(lines[0]).toMatch(/^kith: wrong key/)
        expect(oneJson(r.stdout)).toEqual({ error: (lines[0] as string).replace(/^kith: /, ''), code: 'WrongKeyError' })
        expect(r.stderr).not.toContain(wrong.slice(10, 40))
        expect(await readdir(out).catch(() => [] as string[])).toEqual([])

        const human = await box.kith(['get', wrong, '--repo', d.repo, '-o', out, '--timeout', '15'], 60_000)
        expect(human.code).toBe(4)
        expect(human.stdout).toBe('')
        expect(await readdir(out).catch(() => [] as string[])).toEqual([])
      } finally {
        await d.proc.stop('SIGTERM', 10_000).catch(() => {})
      }
    }, 120_000)

    // A fresh node reaches its bootstrap peer only after the get has started: raceRoot retries the
    // DHT lookup, so the root still arrives and the wrong key is reported as such (not as "no seeders").
    it('wrong key with a temporary node (fresh repo, --bootstrap): exit 4', async () => {
      if (live === undefined || liveLink === undefined) throw new Error('live daemon did not start')
      const wrong = wrongKeyLink(liveLink.link)
      const out = box.path('out-wrong-temp')
      const r = await box.kith(['get', wrong, '--repo', box.path('repo-d'), '--bootstrap', live.info.addrs[0] as string, '-o', out, '--timeout', '5', '--json'], 60_000)
      expect(await readdir(out).catch(() => [] as string[])).toEqual([])
      expect(oneJson(r.stdout)).toMatchObject({ code: 'WrongKeyError' })
      expect(r.code, r.stderr).toBe(4)
    }, 60_000)

    it('malformed links: exit 3, the problem named on stderr, nothing else on stdout', async () => {
      if (liveLink === undefined) throw new Error('live daemon did not start')
      const link = liveLink.link
      const body = link.slice('kith:'.length)
      const at = 30
      const changed = 'kith:' + body.slice(0, at) + (body[at] === 'q' ? 'r' : 'q') + body.slice(at + 1)
      const cases: Array<[string, string, string, RegExp]> = [
        ['hello', 'hello', 'NotAKithLinkError', /not a kith link/],
        ['kith:', 'kith:', 'TruncatedLinkError', /truncated/],
        ['truncated', link.slice(0, 70), 'TruncatedLinkError', /truncated/],
        ['one character changed', changed, 'LinkChecksumError', /checksum/]
      ]
      for (const [what, text, code, message] of cases) {
        const repo = box.path('repo-never')
        const out = box.path('out-never')
        const json = await box.kith(['get', text, '--repo', repo, '-o', out, '--json'])
        expect(json.code, what).toBe(3)
        const lines = json.stderr.split('\n').filter(l => l !== '')
        expect(lines, what).toHaveLength(1)
        expect(lines[0], what).toMatch(message)
        expect(oneJson(json.stdout), what).toEqual({ error: (lines[0] as string).replace(/^kith: /, ''), code })
        if (text.length > 20) expect(json.stderr, what).not.toContain(text.slice(10, 30))
        const human = await box.kith(['get', text, '--repo', repo, '-o', out])
        expect(human.code, what).toBe(3)
        expect(human.stdout, what).toBe('')
        expect(human.stderr.split('\n').filter(l => l !== ''), what).toEqual(lines)
        // Refused before touching the repo, the output folder or the network.
        expect(existsSync(repo), what).toBe(false)
        expect(existsSync(out), what).toBe(false)
      }
    }, 120_000)
  })

  describe('a forged DHT record for a real share (in-process, memory transport)', () => {
    const nodes: TestNode[] = []
    let evil: Libp2p<KithServices> | undefined

    afterAll(async () => {
      try { await evil?.stop() } catch {}
      await Promise.all(nodes.map(stopNode))
    }, 30_000)

    it('the forged root is refused and the get succeeds from the real seeder', async () => {
      const seeder = await startNode({ transports: 'memory' })
      nodes.push(seeder)
      // A malicious DHT node with a datastore it controls, connected to the seeder.
      const store = new MemoryDatastore()
      evil = await createKithLibp2p({ transports: 'memory', datastore: store, relayServer: false })
      await evil.dial(seeder.node.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })
      await waitFor(() => evil!.services.dht.routingTable.size >= 1 && seeder.node.libp2p.services.dht.routingTable.size >= 1, 10_000, 'routing tables')

      const data = Buffer.alloc(700_000)
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff
      const src = join(seeder.dir, 'real-7.bin')
      await writeFile(src, data)
      const shared = await seeder.node.share(src, { chunkSize: 65536, hints: [] })
      const link = parseLink(shared.link)
      expect(link.hints).toHaveLength(0) // the downloader must go through the DHT
      const key = manifestRecordKey(link.manifest)
      const dsKey = new Key(`/dht/record/${toText(key, 'base32')}`, false)
      // The seeder's announcement reached the malicious node: it held the real record...
      await waitFor(async () => await store.has(dsKey), 10_000, 'the real record at the malicious node')
      const realRoot = await seeder.repo.blocks.get(link.manifest)
      // ...and overwrites it with a forgery of the same size, straight into its own store.
      const forged = Uint8Array.from(realRoot, (b, i) => i === 40 ? b ^ 1 : b)
      await store.put(dsKey, new DhtRecord(key, forged, new Date()).serialize())

      // The downloader knows only the malicious node.
      const downloader = await startNode({ transports: 'memory', bootstrap: [evil.getMultiaddrs()[0]!.toString()] })
      nodes.push(downloader)
      await waitFor(() => downloader.node.libp2p.services.dht.routingTable.size >= 1, 10_000, 'downloader routing table')

      // A raw lookup: the malicious node's answer is refused as invalid; any value seen is the real one.
      const refusedFrom: string[] = []
      const values: Uint8Array[] = []
      for await (const evt of downloader.node.libp2p.services.dht.get(key, { signal: AbortSignal.timeout(10_000) })) {
        if (evt.name === 'QUERY_ERROR' && /invalid record/i.test(evt.error.message)) refusedFrom.push(evt.from.toString())
        if (evt.name === 'VALUE') values.push(evt.value)
      }
      expect(refusedFrom).toContain(evil.peerId.toString())
      for (const v of values) expect(Buffer.from(v).equals(Buffer.from(realRoot))).toBe(true)
      // Kith's helper returns the real root or nothing, never the forgery.
      try {
        const root = await getManifest(downloader.node.libp2p, link.manifest, { signal: AbortSignal.timeout(10_000) })
        expect(Buffer.from(root).equals(Buffer.from(realRoot))).toBe(true)
      } catch (err) {
        expect((err as Error).name).toBe('RecordNotFoundError')
      }

      const out = join(downloader.dir, 'out')
      const got = await downloader.node.get(shared.link, { outDir: out, timeoutMs: 20_000 })
      expect(got.name).toBe('real-7.bin')
      expect((await readFile(join(out, 'real-7.bin'))).equals(data)).toBe(true)
      expect(await readdir(out)).toEqual(['real-7.bin'])
    }, 60_000)
  })
})
