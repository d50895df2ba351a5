/**
 * Hardening suite, item 3: crash consistency (docs/HARDENING.md). Real `kith get`, `kith seed` and
 * `kith daemon` processes (bin/kith.js, temp repos, loopback, port 0) are SIGKILLed at points
 * picked by a seeded PRNG (the seed is printed; KITH_CRASH_SEED=<n> replays it) during three kinds
 * of operation:
 *   download  a `kith get` (temporary node), a foreground `kith seed` (blind seed), or a daemon
 *             downloading for `kith get`; killed after a random delay within the download's
 *             measured duration, once the seeder has sent some % of the file, or right after
 *             the "done" JSON line;
 *   share     the daemon, while `kith share` asks it to encrypt and publish a new file;
 *   post      the daemon, while `kith share --circle` posts a new file into a circle.
 * After each kill, the process is restarted and the test asserts: every entry in the output folder
 * is the complete, byte-identical file (SHA-256) or a `.kith-partial-*` folder, never a partial file
 * under a final name; the repo opens (`kith ls --json`; with a daemon also `kith status --json`);
 * the download resumes and completes byte-identical; every share `kith share` reported done is in
 * `kith ls`; every post it reported done is in `kith circle feed`.
 * Sizes: `sized(short, long)`: 6 kill points inside `npm test`, 50 under `npm run test:hardening`.
 */
import { randomInt } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocol/bitfield.js'
import { parseLink } from '../../protocol/link.js'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, sleep, tempDir, until, writeRandomFile, type DaemonInfo, type Proc, type Result } from '../node/fixtures/procs.js'
import { checkOutput, prng, uploadedVia } from './fixtures/crash-util.js'
import { sized } from './long.js'

const MiB = 1024 * 1024
const SIZE = 20 * MiB
/** The seeder's upload cap (bytes/s; 8 MiB burst first), so a download lasts a few seconds. */
const CAP = 4_000_000
const SEED = process.env.KITH_CRASH_SEED !== undefined ? Number(process.env.KITH_CRASH_SEED) : randomInt(2 ** 31)
const rand = prng(SEED)

const COUNTS = sized({ download: 3, share: 2, post: 1 }, { download: 18, share: 16, post: 16 })

type How = 'random' | 'percent' | 'done'
type DlProc = 'get' | 'seed' | 'daemon'

let box: Sandbox
let seeder: { proc: Proc, info: DaemonInfo, repo: string }
let shared: { link: string, name: string, size: number, chunks: number }
let seedLink: string
let manifest: string
let sha: string
let baselineGetMs = 0

const figures = {
  download: 0,
  share: 0,
  post: 0,
  byProc: { get: 0, seed: 0, daemon: 0 } as Record<DlProc, number>,
  byHow: { random: 0, percent: 0, done: 0 } as Record<How, number>,
  resumed: 0,
  completeAtKill: 0,
  /** Bytes the seeder sent for resumed downloads, both runs, and those downloads' sizes. */
  sentForResumed: 0,
  sizeOfResumed: 0,
  maxRatio: 0,
  sharesReported: 0,
  /** `kith share` runs that started after the kill and so shared in the foreground. */
  foreground: 0,
  postsReported: 0
}

function oneJson<T = any> (stdout: string): T {
  const lines = stdout.split('\n').filter(l => l !== '')
  expect(lines, stdout).toHaveLength(1)
  return JSON.parse(lines[0] as string) as T
}

/** A clean stop: exit status 0, not a signal (the message carries the signal and stderr). */
function expectCleanExit (r: Result, what: string): void {
  expect({ code: r.code, signal: r.signal }, `${what}: stderr: ${r.stderr.slice(-2000)}`).toEqual({ code: 0, signal: null })
}

function jsonLines (p: Proc): any[] {
  return p.lines().flatMap(l => { try { return [JSON.parse(l)] } catch { return [] } })
}

/** Chunks a download's state.json (in `out`'s partial folder) claims; 0 if none is readable. */
async function claimedChunks (out: string): Promise<number> {
  const names = await readdir(out).catch(() => [] as string[])
  const p = names.find(n => n.startsWith('.kith-partial-'))
  if (p === undefined) return 0
  try {
    const state = JSON.parse(await readFile(join(out, p, 'state.json'), 'utf8')) as { chunks: number, have: string }
    return Bitfield.fromBytes(state.chunks, Buffer.from(state.have, 'base64')).count()
  } catch {
    return 0
  }
}

async function sent (): Promise<number> {
  return await uploadedVia(seeder.repo, seeder.info.api, manifest)
}

function pickHow (i: number, kinds: How[]): How { return kinds[i % kinds.length] as How }

/** Waits for `how`'s moment, bounded; returns a description of the kill point. */
async function trigger (how: How, expectedMs: number, progress: () => Promise<number>, doneLine: () => boolean, alive: () => boolean): Promise<string> {
  if (how === 'random') {
    const ms = Math.round(rand() * expectedMs)
    await sleep(ms)
    return `random ${ms} ms`
  }
  if (how === 'percent') {
    const pct = 10 + Math.floor(rand() * 80)
    await until(async () => !alive() || doneLine() || (await progress()) >= pct / 100, 90_000, `${pct}% progress`)
    return `at ${pct}%`
  }
  await until(() => !alive() || doneLine(), 90_000, 'the done line')
  return 'right after the done line'
}

async function ls (repo: string): Promise<Array<{ manifest: string, complete: boolean, role: string, serving: boolean }>> {
  const r = await box.kith(['ls', '--repo', repo, '--json'])
  expect(r.code, `kith ls after the kill: ${r.stderr}`).toBe(0)
  return oneJson<{ shares: Array<{ manifest: string, complete: boolean, role: string, serving: boolean }> }>(r.stdout).shares
}

async function status (repo: string): Promise<void> {
  const r = await box.kith(['status', '--repo', repo, '--json'])
  expect(r.code, `kith status after the restart: ${r.stderr}`).toBe(0)
  expect(oneJson<{ peerId: string }>(r.stdout).peerId).toMatch(/^12D3KooW/)
}

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-crash-'))
  console.log(`crash: PRNG seed ${SEED} (replay with KITH_CRASH_SEED=${SEED})`)
  seeder = await box.daemon(await box.repo({ uploadRate: CAP }))
  const src = join(box.dir, 'film.bin')
  sha = await writeRandomFile(src, SIZE)
  shared = await box.share(seeder.repo, src, ['--chunk-size', '256K'])
  manifest = parseLink(shared.link).manifest.toString()
  const sl = await box.kith(['seed-link', shared.link, '--json'])
  expect(sl.code, sl.stderr).toBe(0)
  seedLink = oneJson<{ seedLink: string }>(sl.stdout).seedLink
  // The expected duration of one download, for the random delays: one uninterrupted `kith get`.
  const t0 = Date.now()
  const r = await box.kith(['get', shared.link, '--repo', box.path('repo-base'), '--bootstrap', seeder.info.addrs[0] as string, '-o', box.path('out-base'), '--timeout', '30', '--json'], 120_000)
  expect(r.code, r.stderr).toBe(0)
  baselineGetMs = Date.now() - t0
  console.log(`crash: one uninterrupted kith get of ${SIZE / MiB} MiB takes ${baselineGetMs} ms`)
}, 300_000)

afterAll(async () => {
  const resumedRatio = figures.sizeOfResumed > 0 ? figures.sentForResumed / figures.sizeOfResumed : 0
  console.log(`crash: kill points run: ${figures.download + figures.share + figures.post} (download ${figures.download} [get ${figures.byProc.get}, seed ${figures.byProc.seed}, daemon ${figures.byProc.daemon}], share ${figures.share}, post ${figures.post}); moments: random ${figures.byHow.random}, at a progress % ${figures.byHow.percent}, after the done line ${figures.byHow.done}`)
  console.log(`crash: downloads resumed after a kill: ${figures.resumed} (complete before the kill: ${figures.completeAtKill})`)
  console.log(`crash: bytes sent for resumed downloads (both runs) / their size: ${resumedRatio.toFixed(3)} (max for one download ${figures.maxRatio.toFixed(3)})`)
  console.log(`crash: shares reported done and kept: ${figures.sharesReported}; circle posts reported done and kept: ${figures.postsReported} (of these, ${figures.foreground} ran in the foreground: the CLI started after the daemon died)`)
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

describe('crash consistency (SIGKILL at random points)', () => {
  it(`downloads: ${COUNTS.download} kill points across kith get, kith seed and a daemon's download`, async () => {
    const procs: DlProc[] = ['get', 'seed', 'daemon']
    const saddr = seeder.info.addrs[0] as string
    for (let i = 0; i < COUNTS.download; i++) {
      const which = procs[i % procs.length] as DlProc
      const how = pickHow(Math.floor(i / procs.length) + i, ['random', 'percent', 'done'])
      // An existing repo: the kill is about the download, not `kith init`.
      const repo = await box.repo()
      const out = box.path(`out-${which}`)
      const u0 = await sent()
      const getArgs = ['get', shared.link, '--repo', repo, '-o', out, '--timeout', '30', '--json']
      let victim: Proc
      let cli: Proc
      let daemon: { proc: Proc, info: DaemonInfo, repo: string } | undefined
      if (which === 'get') {
        victim = cli = box.start([...getArgs, '--bootstrap', saddr])
      } else if (which === 'seed') {
        victim = cli = box.start(['seed', seedLink, '--repo', repo, '--bootstrap', saddr, '--timeout', '30', '--json'])
      } else {
        daemon = await box.daemon(repo, [saddr])
        victim = daemon.proc
        cli = box.start(getArgs)
      }
      const point = await trigger(how, baselineGetMs, async () => (await sent() - u0) / SIZE, () => jsonLines(cli).length > 0, () => victim.running && cli.running)
      const reported = jsonLines(cli).some(v => v.error === undefined)
      victim.child.kill('SIGKILL')
      await victim.wait(10_000)
      if (cli !== victim) await cli.wait(30_000)
      const what = `kill point ${i} (${which}, ${point}, seed ${SEED})`
      figures.download++
      figures.byProc[which]++
      figures.byHow[how]++

      // After the kill: nothing partial under the final name; the repo opens.
      const at = await checkOutput(out, shared.name, sha)
      expect(at.violations, what).toEqual([])
      if (reported && which !== 'seed') expect(at.complete, `${what}: reported done, so the file must be there`).toBe(true)
      const claimed = await claimedChunks(out)
      await sleep(500) // pieces already queued to the dead peer are counted by then
      const u1 = await sent() - u0
      if (which === 'daemon') {
        daemon = await box.daemon(repo, [saddr])
        await status(repo)
      }
      const before = await ls(repo)
      const seedBefore = before.find(s => s.manifest === manifest)
      const done = which === 'seed' ? seedBefore?.complete === true : at.complete
      if (done) figures.completeAtKill++

      // Restart and finish: byte-identical, no partial left; a seed ends complete.
      if (which === 'seed') {
        const again = box.start(['seed', seedLink, '--repo', repo, '--bootstrap', saddr, '--timeout', '30', '--json'])
        const line = await again.firstJsonLine<{ manifest: string, chunks: number, bytes: number, error?: string }>(120_000)
        expect(line.error, `${what}: ${again.stderr}`).toBeUndefined()
        expect(line.manifest).toBe(manifest)
        expect(line.chunks).toBe(shared.chunks)
        expectCleanExit(await again.stop('SIGTERM'), what)
        const after = (await ls(repo)).find(s => s.manifest === manifest)
        expect(after, what).toMatchObject({ role: 'seed', complete: true })
      } else if (!at.complete) {
        const r = await box.kith(which === 'get' ? [...getArgs, '--bootstrap', saddr] : getArgs, 120_000)
        expect(r.code, `${what}: ${r.stderr}`).toBe(0)
        expect(oneJson<{ sha256: string }>(r.stdout).sha256, what).toBe(sha)
      }
      if (which !== 'seed') {
        expect(await sha256File(join(out, shared.name)), what).toBe(sha)
        expect(await readdir(out), `${what}: only the file remains`).toEqual([shared.name])
      }
      if (daemon !== undefined) {
        await status(repo)
        expect((await ls(repo)).find(s => s.manifest === manifest), what).toMatchObject({ complete: true })
        expectCleanExit(await daemon.proc.stop('SIGTERM'), what)
      }
      await sleep(300)
      const u2 = await sent() - u0 - u1
      if (!done && (claimed > 0 || u1 > 0)) {
        figures.resumed++
        figures.sentForResumed += u1 + u2
        figures.sizeOfResumed += SIZE
        figures.maxRatio = Math.max(figures.maxRatio, (u1 + u2) / SIZE)
      }
      console.log(`crash: ${what}: claimed ${claimed}/${shared.chunks} chunks at the kill; seeder sent ${(u1 / MiB).toFixed(1)} MiB before, ${(u2 / MiB).toFixed(1)} MiB after`)
    }
  }, sized(240_000, 1_200_000))

  /** One daemon that shares and posts; SIGKILLed and restarted at every kill point. */
  let owner: { proc: Proc, info: DaemonInfo, repo: string } | undefined
  const mustList: string[] = []
  const mustPost: string[] = []
  let shareMs = 0

  async function shareKills (kind: 'share' | 'post', count: number): Promise<void> {
    const saddr = seeder.info.addrs[0] as string
    if (owner === undefined) {
      owner = await box.daemon(await box.repo(), [saddr])
      const c = await box.kith(['circle', 'create', 'crash', '--repo', owner.repo, '--name', 'owner', '--json'])
      expect(c.code, c.stderr).toBe(0)
      // The expected duration of one share, for the random delays.
      const f = join(box.dir, 'base-share.bin')
      await writeRandomFile(f, 8 * MiB)
      const t0 = Date.now()
      const s = await box.share(owner.repo, f)
      shareMs = Date.now() - t0
      mustList.push(parseLink(s.link).manifest.toString())
      console.log(`crash: one uninterrupted kith share of 8 MiB through the daemon takes ${shareMs} ms`)
    }
    for (let i = 0; i < count; i++) {
      const how = pickHow(i, ['random', 'done'])
      const size = (2 + Math.floor(rand() * 10)) * MiB
      const f = join(box.dir, `${kind}-${i}.bin`)
      await writeRandomFile(f, size)
      const daemon = owner
      const cli = box.start(['share', f, '--repo', daemon.repo, '--json', ...(kind === 'post' ? ['--circle', 'crash'] : [])])
      const point = await trigger(how, shareMs * 1.3 * size / (8 * MiB) + 300, async () => 0, () => jsonLines(cli).length > 0, () => cli.running)
      daemon.proc.child.kill('SIGKILL')
      await daemon.proc.wait(10_000)
      // A `kith share` that started after the kill finds no daemon and shares in the foreground
      // (prints the link, then seeds until SIGTERM): that is the documented fallback; stop it.
      let r = await cli.wait(5_000)
      let foreground = false
      if (r === undefined) {
        await until(() => jsonLines(cli).length > 0 || !cli.running, 60_000, 'the foreground share to print its link')
        foreground = cli.running
        r = await cli.stop('SIGTERM')
      }
      const what = `${kind} kill point ${i} (${point}, seed ${SEED})`
      figures[kind]++
      figures.byHow[how]++
      const line = jsonLines(cli)[0] as { link?: string } | undefined
      if (foreground) figures.foreground++
      if (line?.link !== undefined) {
        expect(r.code, `${what}: ${cli.stdout} ${cli.stderr}`).toBe(0)
        mustList.push(parseLink(line.link).manifest.toString())
        if (kind === 'post') { mustPost.push(line.link); figures.postsReported++ } else figures.sharesReported++
      }
      // Restart: the repo opens, nothing reported done is lost.
      owner = await box.daemon(daemon.repo, [saddr])
      await status(daemon.repo)
      const listed = new Set((await ls(daemon.repo)).map(s => s.manifest))
      for (const m of mustList) expect(listed.has(m), `${what}: share ${m} reported done is missing from kith ls`).toBe(true)
      const feed = await box.kith(['circle', 'feed', 'crash', '--repo', daemon.repo, '--json'])
      expect(feed.code, `${what}: ${feed.stderr}`).toBe(0)
      const links = new Set(oneJson<{ feed: Array<{ link: string }> }>(feed.stdout).feed.map(p => p.link))
      for (const l of mustPost) expect(links.has(l), `${what}: a circle post reported done is missing from the feed`).toBe(true)
      console.log(`crash: ${what}: ${line?.link !== undefined ? (foreground ? 'reported done (foreground share)' : 'reported done') : 'not reported'}; ${listed.size} shares listed, ${links.size} posts in the feed`)
    }
  }

  it(`shares: ${COUNTS.share} kill points of the daemon during kith share`, async () => {
    await shareKills('share', COUNTS.share)
  }, sized(120_000, 900_000))

  it(`circle posts: ${COUNTS.post} kill points of the daemon during kith share --circle`, async () => {
    await shareKills('post', COUNTS.post)
    // Finally: every share reported done is listed complete by the restarted daemon.
    if (owner !== undefined) {
      const shares = await ls(owner.repo)
      for (const m of mustList) expect(shares.find(s => s.manifest === m), m).toMatchObject({ complete: true })
      expectCleanExit(await owner.proc.stop('SIGTERM'), 'the circle owner')
    }
  }, sized(120_000, 900_000))
})
