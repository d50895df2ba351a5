/**
 * Hardening suite, item 9: soak (docs/HARDENING.md). Eight real `kith daemon` processes
 * (bin/kith.js, temp repos), each on its own loopback address (127.0.9.1 … 127.0.9.8, kept with
 * its port across restarts), bootstrapped into one Kith DHT (daemon 0 first, the others to it),
 * all members of one circle (daemon 0 creates it and invites the others, who join by code through
 * their APIs). A PRNG seeded from a printed seed (KITH_SOAK_SEED=<n> replays the same choices;
 * what depends on timing, such as which download finishes first, may still differ) then drives
 * random actions for 1 minute in `npm test` (5 with CI=true, 30 under test:hardening;
 * KITH_SOAK_SECONDS overrides it), up to 3 at once,
 * each on daemons no other action is using at the time:
 *   share    a new file of random size (bytes to some MiB) through a random daemon's API;
 *   get      a random existing share by a random daemon that does not hold it yet (POST
 *            /downloads: the daemon's own download, from whoever holds it: link hints, DHT);
 *            up to 4 at once, each polled in the background until done, failed or interrupted;
 *   post     a new file shared into the circle by a random member;
 *   restart  a random daemon: a clean stop (SIGTERM, exit status 0) or SIGKILL, then a start;
 *   churn    a random daemon stops cleanly and stays away for a while (at most 2 away at once);
 *   feed     a random member's feed is read (how many older posts it has: a figure).
 * Restarts and churn stop at 80 % of the duration, so the processes alive at the end have warmed
 * up and are compared over a stretch of work.
 * Asserted, on every daemon and every process:
 *   - every download that reports done has the share's SHA-256, both in the daemon's answer and
 *     in the file read back from the output folder, which holds only that file; an interrupted
 *     or failed download leaves the complete file or a `.kith-partial-*` folder, never a partial
 *     file under the final name (crash-util's checkOutput);
 *   - a download fails only if its daemon went away or none of the daemons holding the share when
 *     it started stayed up throughout (none "unexplained");
 *   - every share reported done (published, posted, or downloaded) is listed by its daemon after
 *     each of its restarts and at the end;
 *   - every post reported done is in every member's feed at the end (bounded wait, all daemons up);
 *   - no daemon exits unless the test stopped it; every clean stop exits 0;
 *   - resources flat: for every process with a sample after warm-up, the last sample's RSS
 *     ≤ 2 × the first + 64 MiB and its open fds ≤ 2 × the first + 40.
 * Printed: the seed, per-daemon RSS, fd and CPU figures (first after warm-up → last, per process),
 * the totals line `soak: N actions, M downloads verified, K posts, R restarts; …`, start times and
 * the load average; KITH_SOAK_VERBOSE=1 also prints the action log (always printed on failure).
 * Every wait is bounded (starts 120 s, API calls 30 s, shares 120 s, a download 240 s, the feeds
 * FEED_WAIT_MS); every daemon is stopped in afterAll, SIGKILLed if need be (killAll).
 */
import { randomInt } from 'node:crypto'
import { loadavg } from 'node:os'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES, type DownloadStatus, type SharesResponse } from '../../node/api/schema.js'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, sleep, tempDir, until, writeRandomFile } from '../node/fixtures/procs.js'
import { checkOutput, prng } from './fixtures/crash-util.js'
import { SOAK_DEBUG, SoakDaemon, within, type Life } from './fixtures/soak-fleet.js'
import { LONG, sized } from './long.js'

const KiB = 1024
const MiB = 1024 * KiB
const N = 8
const IPS = Array.from({ length: N }, (_, i) => `127.0.9.${i + 1}`)
/**
 * The loop's duration: 30 minutes under `npm run test:hardening`, 5 in CI (`CI=true`, as .ci/run
 * runs `npm test`: the issue's "5 in CI"), 1 in a local `npm test`; KITH_SOAK_SECONDS overrides
 * it (e.g. a 10-minute run).
 */
const DURATION_MS = process.env.KITH_SOAK_SECONDS !== undefined ? Number(process.env.KITH_SOAK_SECONDS) * 1000 : sized(process.env.CI === 'true' ? 5 * 60_000 : 60_000, 30 * 60_000)
/** A bound on the loop besides its duration: at least 400, about 270 a minute (8,000 in 30 minutes). */
const MAX_ACTIONS = Math.max(400, Math.ceil(DURATION_MS / 225))
/** A process's first figures are taken this long after its start (JIT, first connections). */
const WARM_MS = sized(10_000, 60_000)
const SAMPLE_EVERY_MS = 5_000
/** A churned daemon stays away this long (ms, min and max). */
const AWAY_MS: [number, number] = sized([4_000, 15_000], [20_000, 120_000])
const MAX_AWAY = 2
const MAX_DOWNLOADS = 4
/** Actions under way at once. */
const LANES = 3
const GET_TIMEOUT_S = 60
/** Longest a download is polled before it counts as hung. */
const TRACK_MS = 240_000
const FEED_WAIT_MS = sized(120_000, 240_000)
/** Bound on a share listing (also the first one after a start) and on a download's status poll. */
const LIST_MS = 90_000
const CIRCLE = 'soak'
/** "Flat": last ≤ FACTOR × first + SLACK. */
const RSS_FACTOR = 2
const RSS_SLACK = 64 * MiB
const FD_FACTOR = 2
const FD_SLACK = 40

const SEED = process.env.KITH_SOAK_SEED !== undefined ? Number(process.env.KITH_SOAK_SEED) : randomInt(2 ** 31)
const rand = prng(SEED)

interface Share { manifest: string, link: string, name: string, size: number, sha: string, owner: number, post: boolean }
interface Download { id: string, node: number, gen: number, share: Share, out: string, holders: Array<[number, number]>, t0: number }
type Action = 'share' | 'get' | 'post' | 'restart' | 'churn' | 'feed'

let box: Sandbox
/** KITH_SOAK_DEBUG: the daemons' debug logs go here (kept after the run; KITH_SOAK_DEBUG_DIR or a new temp folder). */
let logDir: string | undefined
const fleet: SoakDaemon[] = []
const shares: Share[] = []
/** Per daemon: manifests it must list (it published them or reported their download done). */
const mustList: Array<Set<string>> = Array.from({ length: N }, () => new Set())
/** Per daemon: manifests of downloads running there. */
const fetching: Array<Set<string>> = Array.from({ length: N }, () => new Set())
const posts: Share[] = []
const tracks = new Set<Promise<void>>()
/** Broken invariants found by background tasks; the loop stops at the first. */
const problems: string[] = []
const log: string[] = []
let fileNo = 0

const figures = {
  actions: 0,
  byAction: { share: 0, get: 0, post: 0, restart: 0, churn: 0, feed: 0 } as Record<Action, number>,
  /** Time spent in each kind of action (ms). */
  msIn: { share: 0, get: 0, post: 0, restart: 0, churn: 0, feed: 0 } as Record<Action, number>,
  verified: 0,
  verifiedBytes: 0,
  failed: 0,
  failedExplained: 0,
  failNames: new Map<string, number>(),
  interrupted: 0,
  restartsClean: 0,
  restartsKill: 0,
  churns: 0,
  listChecks: 0,
  /** The slowest GET /shares (ms): after a start it waits for the shares to re-open. */
  listMaxMs: 0,
  feedChecks: 0,
  feedSeen: 0,
  feedOf: 0,
  feedCatchUpMs: 0,
  portMoves: 0
}

function note (line: string): void {
  log.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${line}`)
  if (log.length > 200) log.shift()
}
let t0 = Date.now()

function pick<T> (xs: T[]): T | undefined {
  return xs.length === 0 ? undefined : xs[Math.floor(rand() * xs.length)]
}

/** A random file size: a third small (≤ 64 KiB), a third up to 1 MiB, a third up to some MiB. */
function randomSize (): number {
  const r = rand()
  if (r < 0.33) return 1 + Math.floor(rand() * 64 * KiB)
  if (r < 0.66) return 64 * KiB + Math.floor(rand() * 960 * KiB)
  return MiB + Math.floor(rand() * sized(2, 12) * MiB)
}

function pickAction (late: boolean): Action {
  const table: Array<[Action, number]> = [['share', 20], ['get', 35], ['post', 15], ['restart', late ? 0 : 10], ['churn', late ? 0 : 8], ['feed', 5]]
  const total = table.reduce((s, [, w]) => s + w, 0)
  let r = rand() * total
  for (const [a, w] of table) { if ((r -= w) < 0) return a }
  return 'share'
}

const up = (): SoakDaemon[] => fleet.filter(d => d.up)
/** Daemons an action is working on (a share, a restart, …): other actions pick among the rest. */
const busy = new Set<number>()
const free = (): SoakDaemon[] => up().filter(d => !busy.has(d.index) && !d.stopping)
/** Daemons being restarted or away (churn): at most MAX_AWAY at once. */
const away = new Set<number>()

/** Runs `fn` with `d` claimed (call it in the same tick as the pick, so no other action takes it). */
async function claimed<T> (d: SoakDaemon, fn: () => Promise<T>): Promise<T> {
  busy.add(d.index)
  try {
    return await fn()
  } finally {
    busy.delete(d.index)
  }
}
const holdersOf = (s: Share): number[] => fleet.filter(d => mustList[d.index]?.has(s.manifest) === true).map(d => d.index)

/** Bootstrap addresses for a (re)starting daemon: up to three others that are up. */
function bootstrapFor (d: SoakDaemon): string[] {
  const others = up().filter(x => x !== d).map(x => x.addr)
  const chosen: string[] = []
  while (others.length > 0 && chosen.length < 3) chosen.push(others.splice(Math.floor(rand() * others.length), 1)[0] as string)
  return chosen
}

/** Every share `d` reported done is listed by it. */
async function checkListed (d: SoakDaemon, when: string): Promise<void> {
  // Right after a start the daemon is still re-opening and re-announcing its shares; on a loaded
  // 2-core machine (load ~20-28) the first listing took over the API client's default 30 s in two
  // runs: a longer bound (on the request itself, not only around it), and the
  // slowest listing is a figure.
  const tl = Date.now()
  const { shares: listed } = await within(api(d).request<SharesResponse>('GET', ROUTES.shares, undefined, LIST_MS), LIST_MS + 5_000, `${d.name}: GET /shares`)
  figures.listMaxMs = Math.max(figures.listMaxMs, Date.now() - tl)
  const have = new Set(listed.map(s => s.manifest))
  const missing = [...(mustList[d.index] ?? [])].filter(m => !have.has(m))
  figures.listChecks++
  expect(missing, `${d.name} ${when}: shares reported done but not listed (seed ${SEED})`).toEqual([])
}

function api (d: SoakDaemon): NonNullable<SoakDaemon['client']> {
  if (d.client === undefined) throw new Error(`${d.name} has no API client`)
  return d.client
}

/** Unexpected exits: a daemon the test did not stop that is not running. */
function checkAlive (): void {
  for (const d of fleet) {
    if (d.proc !== undefined && d.life?.ended === undefined && !d.stopping && !d.up) {
      const r = d.proc.result
      problems.push(`${d.name} died unexpectedly (code ${String(r?.code)}, signal ${String(r?.signal)}); stderr tail: ${(r?.stderr ?? '').slice(-2000)}`)
      if (d.life !== undefined) d.life.ended = Date.now()
    }
  }
}

async function sampleAll (): Promise<void> {
  const now = Date.now()
  await Promise.all(fleet.map(async d => { await d.sample(now, WARM_MS) }))
}

async function startDaemon (d: SoakDaemon): Promise<void> {
  await d.start(bootstrapFor(d))
  fetching[d.index]?.clear()
}

async function stopDaemon (d: SoakDaemon, how: 'clean' | 'kill'): Promise<void> {
  const r = await d.stop(how)
  if (how === 'clean') expect(r.code, `${d.name}: a clean stop exits 0 (seed ${SEED}); stderr: ${r.stderr.slice(-2000)}`).toBe(0)
}

// --- actions -----------------------------------------------------------------------------------

async function actShare (post: boolean): Promise<void> {
  const d = pick(free())
  if (d === undefined) return
  await claimed(d, async () => { await share(d, post) })
}

async function share (d: SoakDaemon, post: boolean): Promise<void> {
  const size = randomSize()
  const name = `${post ? 'post' : 'share'}-${++fileNo}.bin`
  const path = join(box.dir, `src-${d.index}`, name)
  await mkdir(join(box.dir, `src-${d.index}`), { recursive: true })
  const ts = Date.now()
  const sha = await writeRandomFile(path, size)
  const tw = Date.now()
  const info = await within(api(d).share({ path, ...(post ? { circle: CIRCLE } : {}) }), 120_000, `${d.name}: POST /shares`)
  expect(info, `${d.name}: share of ${name}`).toMatchObject({ name, size, complete: true, role: 'publisher' })
  const s: Share = { manifest: info.manifest, link: info.link, name, size, sha, owner: d.index, post }
  shares.push(s)
  mustList[d.index]?.add(s.manifest)
  if (post) posts.push(s)
  note(`${post ? 'post' : 'share'} ${name} (${size} B) by ${d.index} in ${Date.now() - ts} ms (file written in ${tw - ts} ms)`)
}

async function actGet (): Promise<void> {
  if (tracks.size >= MAX_DOWNLOADS) return
  const s = pick(shares.filter(x => holdersOf(x).some(h => fleet[h]?.up === true)))
  if (s === undefined) return
  const d = pick(free().filter(x => mustList[x.index]?.has(s.manifest) !== true && fetching[x.index]?.has(s.manifest) !== true))
  if (d === undefined) return
  await claimed(d, async () => { await get(d, s) })
}

async function get (d: SoakDaemon, s: Share): Promise<void> {
  const out = join(box.dir, `out-${d.index}`, `${++fileNo}`)
  const holders = holdersOf(s).filter(h => fleet[h]?.up === true).map(h => [h, fleet[h]?.gen ?? 0] as [number, number])
  const st = await within(api(d).startDownload({ link: s.link, outDir: out, timeoutSeconds: GET_TIMEOUT_S }), 30_000, `${d.name}: POST /downloads`)
  fetching[d.index]?.add(s.manifest)
  const dl: Download = { id: st.id, node: d.index, gen: d.gen, share: s, out, holders, t0: Date.now() }
  note(`get ${s.name} by ${d.index} from holders ${holders.map(h => h[0]).join(',')}`)
  const t = track(dl).catch(err => { problems.push(`download ${s.name} by ${d.name}: ${(err as Error).message}`) })
  tracks.add(t)
  void t.finally(() => { tracks.delete(t) })
}

/** Polls one download until it is done (verified), failed (classified) or interrupted. */
async function track (dl: Download): Promise<void> {
  const d = fleet[dl.node] as SoakDaemon
  const what = `download of ${dl.share.name} (${dl.share.size} B) by ${d.name} (seed ${SEED})`
  const end = dl.t0 + TRACK_MS
  let st: DownloadStatus | undefined
  /** When each phase (finding, verifying, downloading, …) was first seen, for the log. */
  const phases: string[] = []
  let last = ''
  try {
    while (Date.now() < end) {
      await sleep(400)
      const gone = (): boolean => d.gen !== dl.gen || !d.up || d.stopping
      if (gone()) return await interrupted(dl, d)
      try {
        st = await within(api(d).request<DownloadStatus>('GET', ROUTES.download(dl.id), undefined, LIST_MS), LIST_MS + 5_000, 'GET /downloads/:id')
      } catch (err) {
        if (gone()) return await interrupted(dl, d)
        throw err
      }
      if (phases.at(-1)?.startsWith(st.phase) !== true) phases.push(`${st.phase} ${Date.now() - dl.t0}`)
      last = `${st.chunks}/${st.totalChunks} chunks, ${st.bytes}/${st.total} B, ${st.peers} peers`
      if (st.state !== 'running') break
    }
    if (st === undefined || st.state === 'running') throw new Error(`${what}: still running after ${TRACK_MS} ms`)
    if (st.state === 'done') {
      const file = join(dl.out, dl.share.name)
      if (st.result?.sha256 !== dl.share.sha) throw new Error(`${what}: reported done with sha256 ${String(st.result?.sha256)}, the share's is ${dl.share.sha}`)
      if (st.result.path !== file) throw new Error(`${what}: reported done at ${st.result.path}, expected ${file}`)
      const got = await sha256File(file)
      if (got !== dl.share.sha) throw new Error(`${what}: the file on disk has sha256 ${got}, the share's is ${dl.share.sha}`)
      const names = await readdir(dl.out)
      if (names.length !== 1 || names[0] !== dl.share.name) throw new Error(`${what}: the output folder holds ${JSON.stringify(names)}`)
      // Done is recorded in the daemon's registry before the job reports done.
      mustList[dl.node]?.add(dl.share.manifest)
      figures.verified++
      figures.verifiedBytes += dl.share.size
      note(`done ${dl.share.name} by ${dl.node} in ${Date.now() - dl.t0} ms (phases at ms: ${phases.join(', ')})`)
      return
    }
    // Failed: explained if the downloader went away meanwhile (then it is "interrupted" above)
    // or no holder known at the start stayed up throughout.
    figures.failed++
    const name = st.error?.name ?? 'unknown'
    figures.failNames.set(name, (figures.failNames.get(name) ?? 0) + 1)
    const stayed = dl.holders.filter(([h, gen]) => fleet[h]?.gen === gen && fleet[h]?.up === true)
    const out = await checkOutput(dl.out, dl.share.name, dl.share.sha)
    if (out.violations.length > 0) throw new Error(`${what}: after the failure: ${out.violations.join('; ')}`)
    if (stayed.length === 0) {
      figures.failedExplained++
      note(`failed ${dl.share.name} by ${dl.node}: ${name} (no holder stayed up)`)
      return
    }
    throw new Error(`${what}: failed (${name}: ${st.error?.message ?? ''}) although holders ${stayed.map(h => h[0]).join(', ')} stayed up throughout; phases at ms: ${phases.join(', ')}; last progress ${last}`)
  } finally {
    if (fleet[dl.node]?.gen === dl.gen) fetching[dl.node]?.delete(dl.share.manifest)
  }
}

/** The downloader went away: whatever is in the output folder is complete or a partial folder. */
async function interrupted (dl: Download, d: SoakDaemon): Promise<void> {
  // Judge the folder once that process is gone (a stop may still be under way).
  await until(() => !d.stopping && (d.gen !== dl.gen || !d.up), 40_000, `${d.name} to stop`)
  figures.interrupted++
  const out = await checkOutput(dl.out, dl.share.name, dl.share.sha)
  if (out.violations.length > 0) throw new Error(`interrupted download of ${dl.share.name} by daemon ${dl.node}: ${out.violations.join('; ')} (seed ${SEED})`)
  note(`interrupted ${dl.share.name} by ${dl.node}${out.complete ? ' (complete on disk)' : ''}`)
}

async function actRestart (): Promise<void> {
  if (away.size >= MAX_AWAY) return
  const d = pick(free())
  if (d === undefined) return
  const how = rand() < 0.35 ? 'kill' : 'clean'
  away.add(d.index)
  try {
    await claimed(d, async () => {
      const tr = Date.now()
      await stopDaemon(d, how)
      const ts = Date.now()
      await startDaemon(d)
      if (how === 'kill') figures.restartsKill++
      else figures.restartsClean++
      note(`restart ${d.index} (${how}): stopped in ${ts - tr} ms, started in ${Date.now() - ts} ms`)
      await checkListed(d, `after a ${how === 'kill' ? 'SIGKILL' : 'clean'} restart`)
    })
  } finally {
    away.delete(d.index)
  }
}

async function actChurn (): Promise<void> {
  if (away.size >= MAX_AWAY) return
  const d = pick(free())
  if (d === undefined) return
  const ms = AWAY_MS[0] + Math.floor(rand() * (AWAY_MS[1] - AWAY_MS[0]))
  away.add(d.index)
  await claimed(d, async () => { await stopDaemon(d, 'clean') })
  d.downUntil = Date.now() + ms
  figures.churns++
  note(`churn ${d.index} away for ${ms} ms`)
}

async function actFeed (): Promise<void> {
  const d = pick(free())
  if (d === undefined || posts.length === 0) return
  await claimed(d, async () => { await readFeed(d) })
}

async function readFeed (d: SoakDaemon): Promise<void> {
  const { feed } = await within(api(d).circleFeed(CIRCLE), 30_000, `${d.name}: GET feed`)
  const links = new Set(feed.map(f => f.link))
  figures.feedChecks++
  figures.feedOf += posts.length
  figures.feedSeen += posts.filter(p => links.has(p.link)).length
}

/** Brings back a churned daemon whose time away is over (`all`: every one), in the background. */
function returns (all = false): void {
  for (const d of fleet) {
    if (d.downUntil !== undefined && !busy.has(d.index) && (all || Date.now() >= d.downUntil)) {
      background(claimed(d, async () => {
        await startDaemon(d)
        away.delete(d.index)
        note(`back ${d.index}`)
        await checkListed(d, 'after coming back from churn')
      }), `${d.name} coming back`)
    }
  }
}

/** Actions and returns under way; a failure is a problem (the loop stops, the test fails). */
const running = new Set<Promise<void>>()
function background (p: Promise<void>, what: string): void {
  const t = p.catch(err => { problems.push(`${what}: ${(err as Error).message}`) })
  running.add(t)
  void t.finally(() => { running.delete(t) })
}

// --- the test --------------------------------------------------------------------------------

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-soak-'))
  if (SOAK_DEBUG !== undefined) {
    logDir = process.env.KITH_SOAK_DEBUG_DIR ?? await tempDir('kith-soak-logs-')
    await mkdir(logDir, { recursive: true })
    console.log(`soak: daemons run with DEBUG=${SOAK_DEBUG}; their stderr goes to ${logDir}/daemon-<i>-gen<g>.log (kept)`)
  }
  console.log(`soak: PRNG seed ${SEED} (replay with KITH_SOAK_SEED=${SEED}); ${N} daemons, ${DURATION_MS / 1000} s${LONG ? ' (long)' : ''}; load average ${loadavg().map(l => l.toFixed(1)).join(' ')}`)
}, 300_000)

afterAll(async () => {
  await Promise.allSettled(fleet.filter(d => d.up).map(async d => { await d.proc?.stop('SIGTERM', 10_000) }))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

function mib (n: number): string { return (n / MiB).toFixed(1) }

function lifeLine (l: Life): string {
  const b = l.base
  const e = l.last
  if (b === undefined || e === undefined) return `gen ${l.gen}: no figures after warm-up (lived ${(((l.ended ?? Date.now()) - l.started) / 1000).toFixed(0)} s)`
  return `gen ${l.gen}${l.how !== undefined ? ` (${l.how === 'kill' ? 'SIGKILLed' : 'stopped'})` : ''}: RSS ${mib(b.rss)}→${mib(e.rss)} MiB (peak ${mib(l.peak.rss)}), fds ${b.fds}→${e.fds} (peak ${l.peak.fds}), CPU ${(e.cpu - b.cpu).toFixed(1)} s between the two; lived ${(((l.ended ?? Date.now()) - l.started) / 1000).toFixed(0)} s`
}

describe('soak: 8 daemons, random shares, gets, circle posts, restarts and churn', () => {
  it(`${DURATION_MS / 1000} s of random actions: every download verified, nothing lost, resources flat`, async () => {
    t0 = Date.now()
    try {
      // Start: daemon 0, then the others bootstrapped to it (one DHT).
      for (const [i, ip] of IPS.entries()) {
        const d = new SoakDaemon(box, i, ip)
        d.logDir = logDir
        fleet.push(d)
      }
      const admin = fleet[0] as SoakDaemon
      await admin.start([])
      await Promise.all(fleet.slice(1).map(async d => { await d.start([admin.addr]) }))
      const started = Date.now()
      const created = await api(admin).circleCreate({ name: CIRCLE, memberName: 'd0' })
      expect(created).toMatchObject({ name: CIRCLE, admin: true })
      const codes: string[] = []
      for (let i = 1; i < N; i++) codes.push((await api(admin).circleInvite(CIRCLE, { ttlSeconds: 3600 })).code)
      await Promise.all(fleet.slice(1).map(async (d, i) => {
        const j = await api(d).circleJoin({ code: codes[i] as string, memberName: `d${d.index}` })
        expect(j.name).toBe(CIRCLE)
      }))
      // (That every member learns every other is checked at the end, with the posts.)
      if (logDir !== undefined) console.log(`soak: loop clock 0 s = ${new Date(t0).toISOString()}; peer IDs: ${fleet.map(d => `${d.index} ${d.info?.peerId ?? '?'}`).join(', ')}`)
      console.log(`soak: ${N} daemons started in ${((started - t0) / 1000).toFixed(1)} s, all joined circle "${CIRCLE}" after ${((Date.now() - t0) / 1000).toFixed(1)} s`)

      // The loop: up to LANES actions at once (each on daemons no other action is using), for
      // DURATION_MS or MAX_ACTIONS.
      const loopStart = Date.now()
      let lastSample = 0
      while (Date.now() - loopStart < DURATION_MS && figures.actions < MAX_ACTIONS && problems.length === 0) {
        checkAlive()
        if (problems.length > 0) break
        if (Date.now() - lastSample >= SAMPLE_EVERY_MS) { await sampleAll(); lastSample = Date.now() }
        returns()
        if (running.size >= LANES) {
          await Promise.race([...running, sleep(1_000)])
          continue
        }
        const late = Date.now() - loopStart > DURATION_MS * 0.8
        const a = pickAction(late)
        figures.actions++
        figures.byAction[a]++
        const ta = Date.now()
        const act = a === 'share' ? actShare(false) : a === 'post' ? actShare(true) : a === 'get' ? actGet() : a === 'restart' ? actRestart() : a === 'churn' ? actChurn() : actFeed()
        background(act.finally(() => { figures.msIn[a] += Date.now() - ta }), `action ${figures.actions} (${a})`)
        await sleep(50 + Math.floor(rand() * 450))
      }
      const loopMs = Date.now() - loopStart
      await within(Promise.allSettled([...running]), 180_000, 'the last actions')
      expect(problems, `seed ${SEED}`).toEqual([])

      // The end: everyone back, downloads finished, posts everywhere, shares listed.
      returns(true)
      await within(Promise.allSettled([...running]), 120_000, 'the churned daemons to come back')
      await within(Promise.allSettled([...tracks]), TRACK_MS + 30_000, 'the last downloads')
      checkAlive()
      expect(problems, `seed ${SEED}`).toEqual([])
      const feedStart = Date.now()
      let missing: string[] = []
      for (;;) {
        missing = []
        for (const d of fleet) {
          const { feed } = await within(api(d).circleFeed(CIRCLE), 30_000, `${d.name}: GET feed`)
          const links = new Set(feed.map(f => f.link))
          for (const p of posts) if (!links.has(p.link)) missing.push(`${p.name} (by ${p.owner}) not in ${d.name}'s feed`)
          const { members } = await within(api(d).circleMembers(CIRCLE), 30_000, `${d.name}: GET members`)
          if (members.length !== N) missing.push(`${d.name} sees ${members.length} of ${N} members`)
        }
        if (missing.length === 0 || Date.now() - feedStart > FEED_WAIT_MS) break
        await sleep(1_000)
      }
      figures.feedCatchUpMs = Date.now() - feedStart
      expect(missing, `posts reported done missing from feeds after ${FEED_WAIT_MS} ms (seed ${SEED})`).toEqual([])
      for (const d of fleet) await checkListed(d, 'at the end')
      await sampleAll()
      checkAlive()
      expect(problems, `seed ${SEED}`).toEqual([])

      // Figures and the resource bound, per process.
      const over: string[] = []
      let rss0 = 0
      let rss1 = 0
      let fd0 = 0
      let fd1 = 0
      for (const d of fleet) {
        for (const l of d.lives) {
          const b = l.base
          const e = l.last
          if (b === undefined || e === undefined) continue
          if (e.rss > RSS_FACTOR * b.rss + RSS_SLACK) over.push(`${d.name} gen ${l.gen}: RSS ${mib(b.rss)} → ${mib(e.rss)} MiB`)
          if (e.fds > FD_FACTOR * b.fds + FD_SLACK) over.push(`${d.name} gen ${l.gen}: fds ${b.fds} → ${e.fds}`)
        }
        const cur = d.life
        if (cur?.base !== undefined && cur.last !== undefined) {
          rss0 += cur.base.rss
          rss1 += cur.last.rss
          fd0 += cur.base.fds
          fd1 += cur.last.fds
        }
        console.log(`soak: ${d.name}: ${d.lives.length - 1} restarts, holds ${mustList[d.index]?.size ?? 0} shares; ${d.lives.map(lifeLine).join('; ')}`)
        figures.portMoves += d.portMoves
      }
      const restarts = figures.restartsClean + figures.restartsKill
      const starts = fleet.flatMap(d => d.startMs).sort((a, b) => a - b)
      const fails = [...figures.failNames].map(([n, c]) => `${n} ${c}`).join(', ')
      const kinds = (Object.keys(figures.byAction) as Action[]).map(k => `${k} ${figures.byAction[k]} (${(figures.msIn[k] / 1000).toFixed(1)} s)`).join(', ')
      console.log(`soak: ${figures.actions} actions in ${(loopMs / 1000).toFixed(0)} s: ${kinds}`)
      console.log(`soak: ${figures.actions} actions, ${figures.verified} downloads verified (${mib(figures.verifiedBytes)} MiB), ${posts.length} posts, ${restarts} restarts (${figures.restartsClean} clean, ${figures.restartsKill} SIGKILL) + ${figures.churns} churns; RSS start/end ${mib(rss0)}/${mib(rss1)} MiB; fds start/end ${fd0}/${fd1} (sums over the ${N} current processes)`)
      console.log(`soak: ${shares.length} shares (${posts.length} of them posts); downloads: ${figures.verified} verified, ${figures.interrupted} interrupted by a restart, ${figures.failed} failed (${figures.failedExplained} with no holder up throughout${fails !== '' ? `; ${fails}` : ''}); ${figures.listChecks} listing checks after restarts and at the end (slowest ${(figures.listMaxMs / 1000).toFixed(1)} s)`)
      console.log(`soak: every post in all ${N} feeds ${(figures.feedCatchUpMs / 1000).toFixed(1)} s after the loop; mid-run feed reads: ${figures.feedSeen}/${figures.feedOf} posts present; daemon starts: ${starts.length}, median ${((starts[Math.floor(starts.length / 2)] ?? 0) / 1000).toFixed(1)} s, max ${((starts.at(-1) ?? 0) / 1000).toFixed(1)} s; load average ${loadavg().map(l => l.toFixed(1)).join(' ')}${figures.portMoves > 0 ? `; ${figures.portMoves} restarts moved to a new port` : ''}`)
      if (process.env.KITH_SOAK_VERBOSE === '1') console.log(`soak: action log:\n${log.join('\n')}`)
      expect(over, `resources not flat (bound: RSS ≤ ${RSS_FACTOR}× + ${mib(RSS_SLACK)} MiB, fds ≤ ${FD_FACTOR}× + ${FD_SLACK}; seed ${SEED})`).toEqual([])
      expect(figures.verified, 'downloads verified').toBeGreaterThan(0)
      expect(posts.length, 'posts').toBeGreaterThan(0)

      // Clean stops of all: each exits 0.
      for (const d of fleet) await stopDaemon(d, 'clean')
    } catch (err) {
      console.log(`soak: FAILED with seed ${SEED}; last actions:\n${log.slice(-60).join('\n')}`)
      throw err
    }
  }, DURATION_MS + sized(300_000, 15 * 60_000))
})
