/**
 * End to end with real `kith` processes on loopback: three daemons in a line, A ← B ← C (B
 * bootstraps to A, C only to B). A shares a 64 MiB random file. C, which never heard of A, is
 * given the link without its address hints, so it must find A through the DHT; it downloads
 * through its own daemon. Then a brand-new user (fresh repo, temporary node, bootstrapped only to
 * B) gets it with the full link. Bytes are compared by SHA-256 (never with vitest's deep equality
 * on megabytes).
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatLink, parseLink } from '../../protocol/link.js'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, writeRandomFile, type DaemonInfo, type Proc } from './fixtures/procs.js'

const SIZE = 64 * 1024 * 1024

let box: Sandbox
let src: string
let srcSha: string
const daemons: Record<'A' | 'B' | 'C', { proc: Proc, info: DaemonInfo, repo: string } | undefined> = { A: undefined, B: undefined, C: undefined }
let shared: { link: string, name: string, size: number, chunks: number } | undefined

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-e2e-'))
  src = join(box.dir, 'big.bin')
  srcSha = await writeRandomFile(src, SIZE)
}, 300_000)

afterAll(async () => {
  // Clean stops first (bounded), then SIGKILL whatever is left, then the temp folder.
  await Promise.allSettled(Object.values(daemons).map(async d => { await d?.proc.stop('SIGTERM', 10_000) }))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

describe('three daemons in a line: A ← B ← C', () => {
  it('starts A, then B bootstrapped to A, then C bootstrapped only to B', async () => {
    const repoA = box.path('repo-a')
    daemons.A = await box.daemon(repoA)
    daemons.B = await box.daemon(box.path('repo-b'), [daemons.A.info.addrs[0] as string])
    daemons.C = await box.daemon(box.path('repo-c'), [daemons.B.info.addrs[0] as string])
    for (const d of Object.values(daemons)) {
      expect(d?.info.addrs.length).toBeGreaterThan(0)
      for (const a of d?.info.addrs ?? []) expect(a).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo\w+$/)
      expect(d?.info.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    }
  }, 150_000)

  it('A shares a 64 MiB random file through its daemon', async () => {
    const a = daemons.A
    if (a === undefined) throw new Error('daemon A did not start')
    shared = await box.share(a.repo, src, [], 120_000)
    expect(shared).toMatchObject({ name: 'big.bin', size: SIZE, chunks: 64 })
    expect(shared.link).toMatch(/^kith:[a-z2-7]+$/)
  }, 150_000)

  it('C (knows only B) gets it through its daemon: identical bytes, no partial folder left', async () => {
    const c = daemons.C
    const a = daemons.A
    if (c === undefined || a === undefined || shared === undefined) throw new Error('set-up failed')
    const out = box.path('out-c')
    // The link as A printed it carries A's addresses as hints; without them, only the DHT
    // (reached through B) can lead C to A.
    const full = parseLink(shared.link)
    expect(full.hints.length).toBeGreaterThan(0)
    const bare = formatLink({ ...full, hints: [] })
    const r = await box.kith(['get', bare, '--repo', c.repo, '-o', out, '--json', '--timeout', '60'], 180_000)
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.split('\n').filter(l => l !== '')
    expect(lines).toHaveLength(1)
    const got = JSON.parse(lines[0] as string) as { path: string, name: string, size: number, sha256: string }
    expect(got).toEqual({ path: join(out, 'big.bin'), name: 'big.bin', size: SIZE, sha256: srcSha, publisher: expect.stringMatching(/^12D3KooW/), seeders: expect.any(Array) })
    expect((await stat(got.path)).size).toBe(SIZE)
    expect(await sha256File(got.path)).toBe(srcSha)
    // Only the file: no .kith-partial-* folder, no temporary name.
    expect(await readdir(out)).toEqual(['big.bin'])

    // C reached A, whom it was never told about: through the DHT (provider record), not B.
    const peers = await box.kith(['peers', '--repo', c.repo, '--json'])
    expect(peers.code, peers.stderr).toBe(0)
    const ids = (JSON.parse(peers.stdout) as { peers: Array<{ peerId: string }> }).peers.map(p => p.peerId)
    expect(ids).toContain(a.info.peerId)
    // A did the uploading (C had no other seeder); C now seeds it as a completed download.
    const manifest = parseLink(shared.link).manifest.toString()
    expect(await box.uploaded(a.repo, manifest)).toBeGreaterThanOrEqual(SIZE)
    const ls = await box.kith(['ls', '--repo', c.repo, '--json'])
    expect((JSON.parse(ls.stdout) as { shares: unknown[] }).shares).toMatchObject([{ manifest, name: 'big.bin', role: 'downloader', complete: true, serving: true }])
  }, 200_000)

  it('a new user (fresh repo, temporary node, bootstrapped only to B) gets it too', async () => {
    const b = daemons.B
    if (b === undefined || shared === undefined) throw new Error('set-up failed')
    const out = box.path('out-fresh')
    const r = await box.kith(['get', shared.link, '--repo', box.path('repo-fresh'), '--bootstrap', b.info.addrs[0] as string, '-o', out, '--json', '--timeout', '60'], 180_000)
    expect(r.code, r.stderr).toBe(0)
    const got = JSON.parse(r.stdout.trim()) as { path: string, sha256: string, size: number }
    expect(got.sha256).toBe(srcSha)
    expect(got.size).toBe(SIZE)
    expect(await sha256File(got.path)).toBe(srcSha)
    expect(await readdir(out)).toEqual(['big.bin'])
    expect(r.stderr).toBe('') // not a terminal: no progress output
  }, 200_000)

  it('every daemon stops cleanly on SIGTERM', async () => {
    for (const key of ['C', 'B', 'A'] as const) {
      const d = daemons[key]
      if (d === undefined) continue
      const r = await d.proc.stop('SIGTERM', 20_000)
      expect(r.code, `${key}: ${r.stderr}`).toBe(0)
      daemons[key] = undefined
    }
  }, 90_000)
})
