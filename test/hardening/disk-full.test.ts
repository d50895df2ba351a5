/**
 * Standing suite, item 4 (disk full): a download into a folder with too little space fails with a
 * clear error, leaves nothing under a final name, and the daemon keeps running and seeding.
 *
 * A small tmpfs (4 MiB; `mount -t tmpfs`, so root only: the suite skips itself, saying why, when
 * the mount fails) is the output folder. Real `kith daemon` processes on loopback, port 0, temp
 * repos: A shares a file twice the tmpfs's size and a small one; B (a daemon bootstrapped to A)
 * first gets A's small file into a normal folder, so B seeds it; then `kith get <big link> -o
 * <tmpfs>` through B's daemon must exit 6 (DiskFullError) with a message saying the disk is full,
 * the tmpfs must hold no entry but a `.kith-partial-*` folder, B's daemon must still run (`kith
 * status --json` exits 0), and a third node C (a temporary node whose only seeder is B: A has
 * stopped by then) must get the small file from B, byte-identical (SHA-256). Before A stops, the
 * tmpfs is grown (remount) and the same `kith get` must then complete byte-identical, with no
 * partial folder left: "free some space and try again" holds.
 *
 * `sized`: the long run repeats the full-disk get a few times (each must fail the same way and
 * leave B serving) and uses a larger file.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, writeRandomFile, type DaemonInfo, type Proc } from '../node/fixtures/procs.js'
import { sized } from './long.js'

const MiB = 1024 * 1024
const TMPFS = 4 * MiB
const BIG = sized(8 * MiB + 13, 32 * MiB + 13)
const SMALL = 300 * 1024 + 7
const ROUNDS = sized(1, 3)
/** The repo's disk: room for the repo and a small share, not for a blind seed of BIG. */
const REPO_TMPFS = 6 * MiB

let box: Sandbox | undefined
let mountPoint: string | undefined
/** A second small tmpfs that holds a daemon's repo (the blockstore fills). */
let repoMount: string | undefined
let mounted = false
let repoMounted = false
let why = ''
const daemons: Array<{ proc: Proc, info: DaemonInfo, repo: string }> = []

/** Runs a system command (mount, umount, df) to completion, bounded in time. */
function run (cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 })
}

/** Mounts a `size`-byte tmpfs at `dir`; returns why not, or '' when mounted. */
function mountTmpfs (dir: string, size = TMPFS): string {
  if (process.platform !== 'linux') return `not Linux (${process.platform}): no tmpfs`
  if (process.getuid?.() !== 0) return 'not root: mounting a tmpfs needs root'
  const r = run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir])
  if (r.error !== undefined) return `mount failed: ${r.error.message}`
  if (r.status !== 0) return `mount -t tmpfs failed (${r.status}): ${r.stderr.trim()}`
  return ''
}

/** Bytes used in the tmpfs at `dir` (all of it is the download's doing). */
function usedBytes (dir: string): number {
  const r = run('df', ['-B1', '--output=used', dir])
  return Number(r.stdout.trim().split('\n').pop())
}

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-diskfull-'))
  mountPoint = join(box.dir, 'small-disk')
  await mkdir(mountPoint)
  why = mountTmpfs(mountPoint)
  mounted = why === ''
  if (!mounted) console.log(`disk full: skipped: ${why}`)
  if (mounted) {
    repoMount = join(box.dir, 'small-repo-disk')
    await mkdir(repoMount)
    const w = mountTmpfs(repoMount, REPO_TMPFS)
    repoMounted = w === ''
    if (!repoMounted) console.log(`disk full (repo): skipped: ${w}`)
  }
}, 300_000)

afterAll(async () => {
  await Promise.allSettled(daemons.map(async d => { await d.proc.stop('SIGTERM', 10_000) }))
  await killAll()
  for (const [m, dir] of [[mounted, mountPoint], [repoMounted, repoMount]] as const) {
    if (!m || dir === undefined) continue
    const r = run('umount', [dir])
    if (r.status !== 0) run('umount', ['-l', dir])
  }
  await removeTree(box?.dir)
}, 60_000)

describe('disk full: a download into a full disk', () => {
  it('fails with exit 6 and a clear message, leaves nothing under a final name, and the daemon keeps running and seeding', async (ctx) => {
    if (!mounted) { ctx.skip(); return }
    const sb = box as Sandbox
    const disk = mountPoint as string

    const aRepo = await sb.repo()
    const a = await sb.daemon(aRepo)
    daemons.push(a)
    const bRepo = await sb.repo()
    const b = await sb.daemon(bRepo, [a.info.addrs[0] as string])
    daemons.push(b)

    const bigSrc = join(sb.dir, 'big.bin')
    const bigSha = await writeRandomFile(bigSrc, BIG)
    const smallSrc = join(sb.dir, 'small.bin')
    const smallSha = await writeRandomFile(smallSrc, SMALL)
    const big = await sb.share(aRepo, bigSrc, [], 120_000)
    const small = await sb.share(aRepo, smallSrc, [], 60_000)

    // B downloads the small file to a normal folder, so its daemon seeds it.
    const normal = sb.path('out-b')
    const got = await sb.kith(['get', small.link, '--repo', bRepo, '-o', normal, '--json', '--timeout', '60'], 120_000)
    expect(got.code, got.stderr).toBe(0)
    expect(await sha256File(join(normal, 'small.bin'))).toBe(smallSha)

    let figure = ''
    for (let round = 0; round < ROUNDS; round++) {
      const r = await sb.kith(['get', big.link, '--repo', bRepo, '-o', disk, '--json', '--timeout', '60'], 180_000)
      const written = usedBytes(disk)
      expect(r.code, `exit ${r.code}; stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(6)
      expect(r.stderr).toMatch(/disk (is )?full|no space/i)
      // Clear: names the folder, and no stack trace or raw errno dump.
      expect(r.stderr).toContain(disk)
      expect(r.stderr).not.toMatch(/\n\s+at /)
      // Nothing under a final name: at most the partial folder.
      const entries = await readdir(disk)
      for (const n of entries) expect(n, `entry in the full folder: ${entries.join(', ')}`).toMatch(/^\.kith-partial-/)
      expect(entries).not.toContain('big.bin')
      // B's daemon is still running and answering.
      expect(b.proc.running, b.proc.stderr).toBe(true)
      const st = await sb.kith(['status', '--repo', bRepo, '--json'])
      expect(st.code, st.stderr).toBe(0)
      if (round === 0) figure = `exit ${r.code} in ${r.ms} ms, ${written} written before the error`
    }

    // The advice holds: with space freed (the tmpfs grown), the same command completes, identical.
    const grow = run('mount', ['-o', `remount,size=${BIG * 2 + 4 * MiB}`, disk])
    expect(grow.status, grow.stderr).toBe(0)
    const again = await sb.kith(['get', big.link, '--repo', bRepo, '-o', disk, '--json', '--timeout', '60'], 180_000)
    expect(again.code, again.stderr).toBe(0)
    expect(await sha256File(join(disk, 'big.bin'))).toBe(bigSha)
    expect((await readdir(disk)).filter(n => n.startsWith('.kith-partial-'))).toEqual([])

    // A stops: C's only seeder for the small file is B.
    expect((await a.proc.stop('SIGTERM', 20_000)).code).toBe(0)
    const cOut = sb.path('out-c')
    const cRepo = sb.path('repo-c')
    const c = await sb.kith(['get', small.link, '--repo', cRepo, '--bootstrap', b.info.addrs[0] as string, '-o', cOut, '--json', '--timeout', '60'], 180_000)
    expect(c.code, c.stderr).toBe(0)
    expect(await sha256File(join(cOut, 'small.bin'))).toBe(smallSha)
    expect((await stat(join(cOut, 'small.bin'))).size).toBe(SMALL)
    expect(b.proc.running, b.proc.stderr).toBe(true)
    console.log(`disk full: ${figure}, daemon still serving: yes`)
  }, sized(240_000, 900_000))

  it('a blind seed into a full repo disk: a clear error, the repo still opens, the daemon keeps serving, and the seed completes once there is room', async (ctx) => {
    if (!repoMounted) { ctx.skip(); return }
    const sb = box as Sandbox
    const disk = repoMount as string
    const aRepo = await sb.repo()
    const a = await sb.daemon(aRepo)
    daemons.push(a)
    // R's whole repo lives on the small disk.
    const rRepo = join(disk, 'repo')
    const init = await sb.kith(['init', '--repo', rRepo, '--json'])
    expect(init.code, init.stderr).toBe(0)
    const r = await sb.daemon(rRepo, [a.info.addrs[0] as string])
    daemons.push(r)

    const bigSrc = join(sb.dir, 'seed-big.bin')
    await writeRandomFile(bigSrc, BIG)
    const smallSrc = join(sb.dir, 'r-small.bin')
    const smallSha = await writeRandomFile(smallSrc, SMALL)
    const big = await sb.share(aRepo, bigSrc, [], 120_000)
    // R shares a small file of its own (served from the file, its manifest in the repo).
    const small = await sb.share(rRepo, smallSrc, [], 60_000)

    const seedLink = (await sb.kith(['seed-link', big.link, '--json'])).stdout
    const link = (JSON.parse(seedLink.trim()) as { seedLink: string }).seedLink
    const s1 = await sb.kith(['seed', link, '--repo', rRepo, '--json', '--timeout', '60'], 180_000)
    const used = usedBytes(disk)
    expect(s1.code, `exit ${s1.code}; stdout: ${s1.stdout}\nstderr: ${s1.stderr}`).toBe(6)
    expect(s1.stderr).toMatch(/disk (is )?full|no space/i)
    expect(s1.stderr).not.toMatch(/\n\s+at /)
    // The daemon is still running, its repo answers, and it still serves its own share.
    expect(r.proc.running, r.proc.stderr).toBe(true)
    const st = await sb.kith(['status', '--repo', rRepo, '--json'])
    expect(st.code, st.stderr).toBe(0)
    const ls = await sb.kith(['ls', '--repo', rRepo, '--json'])
    expect(ls.code, ls.stderr).toBe(0)
    const cOut = sb.path('out-rc')
    const c = await sb.kith(['get', small.link, '--repo', sb.path('repo-rc'), '--bootstrap', r.info.addrs[0] as string, '-o', cOut, '--json', '--timeout', '60'], 180_000)
    expect(c.code, c.stderr).toBe(0)
    expect(await sha256File(join(cOut, 'r-small.bin'))).toBe(smallSha)

    // With room made (the tmpfs grown), the same seed completes.
    const grow = run('mount', ['-o', `remount,size=${BIG * 2 + 8 * MiB}`, disk])
    expect(grow.status, grow.stderr).toBe(0)
    const s2 = await sb.kith(['seed', link, '--repo', rRepo, '--json', '--timeout', '60'], 180_000)
    expect(s2.code, s2.stderr).toBe(0)
    expect((JSON.parse(s2.stdout.trim()) as { chunks: number }).chunks).toBe(big.chunks)
    expect(r.proc.running, r.proc.stderr).toBe(true)
    console.log(`disk full (repo): blind seed of ${BIG} bytes into a ${REPO_TMPFS}-byte repo disk: exit ${s1.code} in ${s1.ms} ms with ${used} bytes used ("${s1.stderr.trim().split('\n').pop() ?? ''}"); daemon still serving: yes; after growing the disk the seed completed`)
  }, sized(240_000, 900_000))
})
