/**
 * Hardening suite, item 2: hostile downloaders (docs/HARDENING.md). A real `kith daemon` process
 * (bin/kith.js, temp repo, 127.0.0.1, port 0, an upload cap so its rate is its own and not the
 * shared machine's CPU) shares a random file. An honest downloader (a KithNode on a fresh repo,
 * in this process) fetches it with nobody else around: the baseline, taken in the same run. Then
 * hostile peers (test/hardening/fixtures/evil-downloader.ts, separate processes) attack at once:
 *   from 127.0.0.2  swarm streams that never complete admission: silent, a wrong proof, a swarm
 *                   the seeder does not serve;
 *   from 127.0.0.1  (the honest peer's own address) link holders that pass admission and flood
 *                   requests for chunk and block indexes outside the share; link holders that ask
 *                   for MAX_SERVE_QUEUE valid chunks and never read (backpressure); link holders
 *                   that flood valid requests past the queue limit, coming back as new identities;
 *   from 127.0.0.3  many connections from one address: forced libp2p connections (Noise, yamux);
 *   from 127.0.0.4  raw TCP sockets that connect and never speak, re-opened when closed;
 * and the honest downloader fetches the file again (fresh node, fresh repo, fresh folder) while
 * they run. Each phase runs RUNS times; medians are compared. The attackers run at normal priority
 * and get their CPU (a remote attacker has its own machine): the attack does not weaken on a loaded
 * box. The seeder and this process (the honest downloader) run at nice -10 when allowed (root), so
 * on a box shared with other work they too get the CPU their own machines would give them, and
 * the ratio measures what the seeder spends on the attackers, not the box's load (both CPU figures
 * are printed per download; without the privilege the priorities stay as they are, said in a line).
 *
 * Pass criterion (asserted): the median honest rate under attack is at least 0.8× the median
 * baseline rate; every download's SHA-256 matches; the seeder process is alive after the attack
 * and answers `kith status`; its RSS and open fds stay under stated budgets during the attack and
 * come back down after it; the offenders were refused or dropped (the seeder's `kith:swarm` debug
 * log counts refused admissions and sessions closed for misbehaviour; the attackers count their
 * refusals, resets and closed connections).
 * Sizes: `sized(short, long)`: 48 MiB and 2 runs each inside `npm test`, 128 MiB, 3 runs and more
 * attackers under `npm run test:hardening`.
 */
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLink } from '../../protocol/link.js'
import { MAX_CONNECTIONS } from '../../node/engine/constants.js'
import { ROOT } from '../global-setup.js'
import { API, buildOnce, killAll, LISTEN, removeTree, Sandbox, sha256File, tempDir, until, writeRandomFile, type DaemonInfo, type Proc } from '../node/fixtures/procs.js'
import { startNode, stopNode } from '../node/helpers/nodes.js'
import { sized } from './long.js'

const MiB = 1024 * 1024
const SIZE = sized(48, 128) * MiB
const RUNS = sized(2, 3)
/** The seeder's upload cap, bytes/s (the bucket holds one second: a download lasts SIZE/CAP - 1 s). */
const CAP = 8 * MiB
const RSS_BUDGET = 512 * MiB
const FD_BUDGET = MAX_CONNECTIONS + 200
const EVIL = join(ROOT, 'test', 'hardening', 'fixtures', 'evil-downloader.ts')
/** tsx's loader by absolute URL: children run in a temp folder, where a bare `tsx` would not resolve. */
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
const PLANS = {
  admission: { from: '127.0.0.2', silent: sized(4, 10), badProof: sized(4, 10), wrongSwarm: sized(2, 5) },
  holders: { from: '127.0.0.1', outOfRange: sized(3, 8), stall: sized(6, 20), overflow: sized(2, 4) },
  flood: { from: '127.0.0.3', conns: sized(200, 400), rawFrom: '127.0.0.4', raw: sized(50, 150) }
}

let box: Sandbox
let seeder: { proc: Proc, info: DaemonInfo, repo: string }
let shared: { link: string, name: string, size: number, chunks: number }
let sha: string
const attackers: Proc[] = []

async function procStats (pid: number): Promise<{ rss: number, fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
  const fds = (await readdir(`/proc/${pid}/fd`)).length
  return { rss, fds }
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  return (Number(stat[11]) + Number(stat[12])) / 100
}

async function socketFds (pid: number): Promise<number> {
  let n = 0
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const l = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    if (l.startsWith('socket:')) n++
  }
  return n
}

/** Bytes the seeder has uploaded for the share (kith ls --json). */
async function uploaded (): Promise<number> {
  return await box.uploaded(seeder.repo, parseLink(shared.link).manifest.toString())
}

/** One honest download on a fresh node and repo: bytes/s over the `get` call alone. */
async function honestGet (label: string): Promise<number> {
  const pid = seeder.proc.child.pid as number
  const u0 = await uploaded()
  const c0 = await cpuSeconds(pid)
  const a0 = await Promise.all(attackers.filter(a => a.running).map(async a => await cpuSeconds(a.child.pid as number).catch(() => 0)))
  const t = await startNode({ bootstrap: [seeder.info.addrs[0] as string] })
  try {
    const out = join(t.dir, 'out')
    const t0 = performance.now()
    const got = await t.node.get(shared.link, { outDir: out, timeoutMs: 120_000 })
    const s = (performance.now() - t0) / 1000
    expect(got.sha256, label).toBe(sha)
    expect(await sha256File(join(out, shared.name)), label).toBe(sha)
    const rate = SIZE / s
    const sent = await uploaded() - u0
    const cpu = await cpuSeconds(pid) - c0
    const a1 = await Promise.all(attackers.filter(a => a.running).map(async a => await cpuSeconds(a.child.pid as number).catch(() => 0)))
    const evilCpu = a1.reduce((x, y) => x + y, 0) - a0.reduce((x, y) => x + y, 0)
    console.log(`hostile downloaders: ${label}: ${(SIZE / MiB).toFixed(0)} MiB in ${s.toFixed(2)} s, ${(rate / MiB).toFixed(2)} MiB/s; the seeder uploaded ${(sent / MiB).toFixed(1)} MiB meanwhile (${(SIZE / MiB).toFixed(1)} MiB to the honest peer, ${(Math.max(0, sent - SIZE) / MiB).toFixed(1)} MiB to others) and used ${cpu.toFixed(1)} CPU s (attackers ${evilCpu.toFixed(1)} CPU s)`)
    return rate
  } finally {
    await stopNode(t)
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

const count = (text: string, re: RegExp): number => text.split('\n').filter(l => re.test(l)).length

/** The attacker's counters (test/hardening/fixtures/evil-downloader.ts). */
type EvilStats = Record<'streams' | 'refused' | 'admitted' | 'dropped' | 'outOfRangeSent' | 'rejects' | 'floodSent' | 'connsOpened' | 'connsClosed' | 'dialFailed' | 'rawOpened' | 'rawClosed' | 'identities', number> & { errors: Record<string, number> }

/** The attacker's counters now: its answer to `stats` (the newest stats line, not an old one). */
async function evilStats (p: Proc): Promise<EvilStats> {
  const before = p.lines().length
  p.send('stats')
  await until(() => p.lines().length > before || !p.running, 10_000, 'the attacker\'s stats')
  const line = p.lines().slice(before).map(l => JSON.parse(l) as { stats?: EvilStats }).reverse().find(v => v.stats !== undefined)
  if (line?.stats === undefined) throw new Error(`attacker gave no stats; stderr: ${p.stderr.slice(-2000)}`)
  return line.stats
}

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-hostdl-'))
  const repo = await box.repo({ uploadRate: CAP })
  // kith:swarm's debug lines say which sessions were refused and why (no keys, links or IPs in them).
  const proc = box.startEnv(['daemon', '--repo', repo, ...LISTEN, ...API, '--json'], { ...box.env(), DEBUG: process.env.HOSTDL_DEBUG ?? 'kith:swarm', DEBUG_HIDE_DATE: '1' })
  seeder = { proc, info: await proc.firstJsonLine<DaemonInfo>(40_000), repo }
  try {
    setPriority(proc.child.pid as number, -10)
    setPriority(-10)
    console.log('hostile downloaders: seeder and honest downloader at nice -10, attackers at nice 0')
  } catch (err) {
    console.log(`hostile downloaders: priorities unchanged (${(err as Error).name}): on a loaded box the figures include its load`)
  }
  const src = join(box.dir, 'film.bin')
  sha = await writeRandomFile(src, SIZE)
  shared = await box.share(repo, src)
  expect(parseLink(shared.link).manifest.toString()).toMatch(/^b/)
}, 180_000)

afterAll(async () => {
  // HOSTDL_LOG=<file>: keep the seeder's debug log (where its upload went) for reading after the run.
  if (process.env.HOSTDL_LOG !== undefined && seeder !== undefined) await writeFile(process.env.HOSTDL_LOG, seeder.proc.stderr)
  for (const a of attackers) a.send('stop')
  await Promise.all(attackers.map(async a => await a.wait(10_000)))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

/**
 * History (docs/HARDENING.md item 2): 0.58× before the serve fix (a never-reading peer's pieces
 * were paid in full); 0.79× after it (load ~23), and 0.17-0.62× on an idle box once the attackers
 * got their CPU: every link holder churned from the honest peer's own address used up libp2p's
 * 10 new connections/s for that address, so the honest peer's own dials were refused (3,817
 * refusals of 127.0.0.1 in one run; "no seeders" for 120 s in another), and each new identity was
 * first sent a stream window for free. With the per-address rate at 50/s and new sessions paying
 * before their first piece: 1.00×.
 */
describe('hostile downloaders', () => {
  it('the seeder keeps serving an honest peer at ≥ 0.8× its unloaded rate while hostile downloaders attack', async () => {
    const pid = seeder.proc.child.pid as number
    const start = await procStats(pid)

    // Phase 1: the unloaded rate.
    const baseline: number[] = []
    for (let i = 0; i < RUNS; i++) baseline.push(await honestGet(`baseline run ${i + 1}`))
    const idle = await procStats(pid)

    // Phase 2: the attack, then the same downloads while it runs.
    const logAt = seeder.proc.stderr.length
    const plans = Object.entries(PLANS)
    for (const [name, p] of plans) {
      const plan = { ...p, target: seeder.info.addrs[0], link: shared.link, chunks: shared.chunks, maxMs: 600_000 }
      const a = box.startNode(['--import', TSX, EVIL, JSON.stringify(plan)])
      attackers.push(a)
      await a.jsonLine(v => v.ready === true, 30_000).catch(err => { throw new Error(`attacker ${name}: ${(err as Error).message}`) })
    }
    let peak = { rss: 0, fds: 0 }
    let sockets = 0
    const sampler = setInterval(() => {
      void procStats(pid).then(s => { peak = { rss: Math.max(peak.rss, s.rss), fds: Math.max(peak.fds, s.fds) } }).catch(() => {})
    }, 250)
    try {
      // Let the attack ramp up: sessions admitted and stalled, connections piled up.
      let ramp: EvilStats[] = []
      await until(async () => {
        ramp = await Promise.all(attackers.map(evilStats))
        const [a, h, f] = ramp as [EvilStats, EvilStats, EvilStats]
        return a.streams > 0 && h.admitted >= PLANS.holders.stall && h.outOfRangeSent > 0 && f.connsOpened + f.dialFailed > 0 && f.rawOpened > 0 ? true : undefined
      }, 60_000, 'the attack to ramp up').catch(err => { throw new Error(`${(err as Error).message}: ${JSON.stringify(ramp)}\n${seeder.proc.stderr.slice(-6000)}`) })
      sockets = await socketFds(pid)
      const attacked: number[] = []
      for (let i = 0; i < RUNS; i++) attacked.push(await honestGet(`under attack run ${i + 1}`))
      const during = await procStats(pid)
      const [adm, holders, flood] = await Promise.all(attackers.map(evilStats)) as [EvilStats, EvilStats, EvilStats]
      const log = seeder.proc.stderr.slice(logAt)
      const refusedLog = count(log, /inbound session refused/)
      const misbehaviour = count(log, /closed: PeerMisbehaviourError/)

      const b = median(baseline)
      const u = median(attacked)
      const ratio = u / b
      console.log(`hostile downloaders: baseline ${(b / MiB).toFixed(2)} MiB/s, under attack ${(u / MiB).toFixed(2)} MiB/s, ratio ${ratio.toFixed(2)} (medians of ${RUNS}; seeder upload cap ${(CAP / MiB).toFixed(0)} MiB/s, file ${(SIZE / MiB).toFixed(0)} MiB)`)
      console.log(`hostile downloaders: admission: ${adm.streams} swarm streams opened without the key, ${adm.refused} refused (seeder log: ${refusedLog} inbound sessions refused)`)
      console.log(`hostile downloaders: link holders: ${holders.identities} identities, ${holders.admitted} sessions admitted, ${holders.dropped} dropped by the seeder (seeder log: ${misbehaviour} sessions closed for misbehaviour); ${holders.outOfRangeSent} out-of-range requests (${holders.rejects} rejects read), ${holders.floodSent} valid requests never read`)
      console.log(`hostile downloaders: connections from 127.0.0.3: ${flood.connsOpened} libp2p connections opened, ${flood.connsClosed} closed by the seeder, ${flood.dialFailed} dials refused; from 127.0.0.4: ${flood.rawOpened} raw sockets opened, ${flood.rawClosed} closed by the seeder`)
      console.log(`hostile downloaders: seeder RSS start ${(start.rss / MiB).toFixed(0)} MiB, after baseline ${(idle.rss / MiB).toFixed(0)} MiB, peak under attack ${(peak.rss / MiB).toFixed(0)} MiB, end of attack ${(during.rss / MiB).toFixed(0)} MiB`)
      console.log(`hostile downloaders: seeder fds start ${start.fds}, after baseline ${idle.fds}, sockets once the attack ramped up ${sockets}, peak under attack ${peak.fds}, end of attack ${during.fds}`)
      console.log(`hostile downloaders: attacker errors: ${JSON.stringify({ admission: adm.errors, holders: holders.errors, flood: flood.errors })}`)

      expect(seeder.proc.running, `seeder died: ${seeder.proc.stderr.slice(-2000)}`).toBe(true)
      expect(ratio, `honest rate under attack ${u} vs baseline ${b}`).toBeGreaterThanOrEqual(0.8)
      // Offenders refused or dropped.
      expect(adm.refused).toBeGreaterThan(0)
      expect(refusedLog).toBeGreaterThan(0)
      expect(misbehaviour).toBeGreaterThan(0)
      expect(holders.dropped).toBeGreaterThan(0)
      expect(peak.rss).toBeLessThan(RSS_BUDGET)
      expect(peak.fds).toBeLessThan(FD_BUDGET)
    } finally {
      clearInterval(sampler)
    }

    // After the attack: the seeder is alive, answers its API, and gives its sockets back.
    for (const a of attackers) a.send('stop')
    await Promise.all(attackers.map(async a => await a.wait(15_000)))
    const st = await box.kith(['status', '--repo', seeder.repo, '--json'])
    expect(st.code, st.stderr).toBe(0)
    let end = await procStats(pid)
    await until(async () => { end = await procStats(pid); return end.fds <= idle.fds + 20 ? true : undefined }, 60_000, 'the seeder to close the attackers\' sockets').catch(() => {})
    console.log(`hostile downloaders: seeder after the attack: RSS ${(end.rss / MiB).toFixed(0)} MiB, fds ${end.fds} (before it ${idle.fds})`)
    expect(seeder.proc.running).toBe(true)
    expect(end.fds).toBeLessThanOrEqual(idle.fds + 20)
    // One more honest download after the attack: still served.
    await honestGet('after the attack')
  }, sized(240_000, 900_000))
})
