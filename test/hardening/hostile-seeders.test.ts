/**
 * Standing suite, item 1 (hostile seeders): a download completes from the honest seeders of a
 * share while 50 hostile peers of the same share, all found the same way (DHT provider records
 * under the share's discovery key, in the same lookup as the honest ones), each misbehave in one
 * of the ways of test/node/fixtures/evil-seeder.ts (`--hostile`): corrupt chunks, pieces for
 * requests or indexes never asked, have-maps claiming everything and then silence, have-maps of
 * the wrong length, slowloris at admission and mid-piece, a 2^31 length prefix, a flood of
 * streams and a flood of raw connections.
 *
 * Real processes on loopback, port 0, temp repos: two `kith daemon` seeders (A shares; B, the
 * DHT node everybody bootstraps to, fetched it from A and seeds it; both capped by `uploadRate`
 * so a download takes long enough for the hostile peers to act), the hostile crowd (one process,
 * one libp2p node per peer), and the downloader, a real `kith get` (temporary node) given a link
 * without address hints, so it finds every seeder, honest or not, through the DHT.
 *
 * Pass criteria (each asserted, per round): the get exits 0 within ROUND_BOUND_MS; the output's
 * SHA-256 equals the source's; the final name never appears while the saved state records fewer
 * chunks than the share has (no unverified bytes under it); every hostile class had at least one
 * peer admitted, or dialled, and each such peer was dropped before the file was complete: ban
 * classes by a `PeerMisbehaviourError`/`IntegrityError` in the downloader's log (DEBUG=kith:*),
 * slowloris-at-admission by the downloader ending the stream, flood streams and flood sockets by
 * the downloader closing every one; the downloader's peak RSS (VmHWM from /proc/<pid>/status)
 * stays below RSS_BUDGET_FACTOR × the peak of an unloaded download of the same file (a round with
 * only the honest seeders, run first), and below an absolute cap. Figures: one `hostile seeders:`
 * line each (times both ways and their ratio, peaks both ways, offenders dropped per class).
 *
 * `sized`: the long run uses a larger file, faster caps and three hostile rounds (a fresh
 * downloader each).
 */
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocol/bitfield.js'
import { formatLink, parseLink } from '../../protocol/link.js'
import { ROOT } from '../global-setup.js'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, sleep, tempDir, until, writeRandomFile, type Proc } from '../node/fixtures/procs.js'
import type { PeerStats } from '../node/fixtures/evil-seeder.js'
import { sized } from './long.js'

const MiB = 1024 * 1024
const SIZE = sized(16 * MiB + 4321, 64 * MiB + 4321)
const CHUNK = 256 * 1024
/** Each honest seeder's upload cap: the unloaded download takes about SIZE / (2 × CAP). */
const CAP = sized(192 * 1024, 1024 * 1024)
const ROUNDS = sized(1, 3)
const HOSTILE = 50
/** How many hostile peers behave each way (50 in all). */
const MIX: Record<string, number> = { corrupt: 6, unrequested: 6, liar: 6, 'wrong-map': 6, 'slow-admission': 5, 'slow-piece': 6, 'huge-prefix': 5, 'stream-flood': 5, 'conn-flood': 5 }
/** Classes dropped for misbehaviour (banned from the swarm), as the downloader's log says. */
const BANNED = ['corrupt', 'unrequested', 'liar', 'wrong-map', 'slow-piece', 'huge-prefix']
/**
 * How long after reaching the downloader each class's offence takes to be noticed: at once for a
 * bad frame or map, the first answer for corrupt pieces, a request timeout (20 s) and then some
 * for peers that sit on requests, the handshake deadline (10 s) for floods and stalls.
 */
const GRACE_MS: Record<string, number> = { corrupt: 10_000, unrequested: 10_000, 'wrong-map': 10_000, 'huge-prefix': 10_000, liar: 25_000, 'slow-piece': 25_000, 'slow-admission': 12_000, 'stream-flood': 15_000, 'conn-flood': 15_000 }
const ROUND_BOUND_MS = sized(150_000, 240_000)
const RSS_BUDGET_FACTOR = 2
const RSS_CAP = 512 * MiB

const EVIL = join(ROOT, 'test', 'node', 'fixtures', 'evil-seeder.ts')
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href

let box: Sandbox

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-hostile-'))
}, 300_000)

afterAll(async () => {
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

interface Round {
  ms: number
  /** When the final name appeared (Date.now()): the download was complete. */
  completeAt: number
  startedAt: number
  hwm: number
  stderr: string
  violations: string[]
}

/** Peak resident set of a running process (VmHWM, bytes), or 0 once it is gone. */
async function vmHwm (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status)
  return m === null ? 0 : Number(m[1]) * 1024
}

async function savedChunks (out: string): Promise<number | undefined> {
  const names = await readdir(out).catch(() => [] as string[])
  const p = names.find(n => n.startsWith('.kith-partial-'))
  if (p === undefined) return undefined
  try {
    const state = JSON.parse(await readFile(join(out, p, 'state.json'), 'utf8')) as { chunks: number, have: string }
    return Bitfield.fromBytes(state.chunks, Buffer.from(state.have, 'base64')).count()
  } catch {
    return undefined
  }
}

/**
 * One `kith get` of `link` by a temporary node bootstrapped to `bootstrap`: waits (bounded) for
 * it, watching its peak RSS and the final name (whenever it exists, the saved state, if still
 * there, must record every chunk).
 */
async function download (link: string, bootstrap: string, name: string, chunks: number, sha: string): Promise<Round> {
  const out = box.path('out')
  const startedAt = Date.now()
  const get = box.startEnv(['get', link, '--repo', box.path('repo-get'), '--bootstrap', bootstrap, '-o', out, '--timeout', '60', '--json'], { ...box.env(), DEBUG: 'kith:*' })
  const pid = get.child.pid as number
  let hwm = 0
  let completeAt = 0
  const violations: string[] = []
  const watch = (async () => {
    while (get.running && Date.now() - startedAt < ROUND_BOUND_MS) {
      hwm = Math.max(hwm, await vmHwm(pid))
      if (existsSync(join(out, name))) {
        if (completeAt === 0) completeAt = Date.now()
        const saved = await savedChunks(out)
        if (saved !== undefined && saved < chunks) violations.push(`final name present while the saved state records ${saved}/${chunks} chunks`)
      }
      await sleep(20)
    }
  })()
  const r = await get.wait(ROUND_BOUND_MS)
  await watch
  if (r === undefined) {
    get.child.kill('SIGKILL')
    throw new Error(`the download did not finish within ${ROUND_BOUND_MS} ms; stderr tail: ${get.stderr.slice(-4000)}`)
  }
  expect(r.code, r.stderr.slice(-4000)).toBe(0)
  const got = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { path: string, sha256: string, size: number }
  expect(got.size).toBe(SIZE)
  expect(got.sha256).toBe(sha)
  expect(await sha256File(got.path)).toBe(sha)
  expect(await readdir(out)).toEqual([name])
  expect(completeAt).toBeGreaterThan(0)
  return { ms: completeAt - startedAt, completeAt, startedAt, hwm, stderr: r.stderr, violations }
}

const fmtMiB = (b: number): string => (b / MiB).toFixed(1)

describe('hostile seeders', () => {
  it(`a download completes from 2 honest seeders among ${HOSTILE} hostile peers found alongside them; offenders dropped; no corrupt byte; RSS within budget`, async () => {
    const name = 'hostile.bin'
    const src = join(box.dir, name)
    const sha = await writeRandomFile(src, SIZE)
    const procs: Array<Proc | undefined> = []
    try {
      // A shares (uncapped while B fetches it), B fetches it from A and seeds it; then A restarts
      // capped, bootstrapped to B. B is the DHT node every other process bootstraps to.
      const repoA = await box.repo()
      let a = await box.daemon(repoA)
      procs.push(a.proc)
      const shared = await box.share(repoA, src, ['--chunk-size', '256K'])
      const chunks = shared.chunks
      expect(chunks).toBe(Math.ceil(SIZE / CHUNK))
      const b = await box.daemon(await box.repo({ uploadRate: CAP }), [a.info.addrs[0] as string])
      procs.push(b.proc)
      const bget = await box.kith(['get', shared.link, '--repo', b.repo, '-o', box.path('b-files'), '--timeout', '60', '--json'], 120_000)
      expect(bget.code, bget.stderr).toBe(0)
      const bAddr = b.info.addrs[0] as string
      await a.proc.stop('SIGTERM', 20_000)
      const cfg = join(repoA, 'config.json')
      await writeFile(cfg, JSON.stringify({ ...JSON.parse(await readFile(cfg, 'utf8')) as Record<string, unknown>, uploadRate: CAP }, null, 2) + '\n')
      a = await box.daemon(repoA, [bAddr])
      procs.push(a.proc)
      const honest = new Set([a.info.peerId, b.info.peerId])

      // No address hints: the downloader finds every seeder, honest or hostile, through the DHT.
      const real = parseLink(shared.link)
      const link = formatLink({ kind: 'read', manifest: real.manifest, key: real.key, hints: [] })

      // Unloaded: the honest seeders alone (A's provider record reaches B within a few seconds).
      const base = await download(link, bAddr, name, chunks, sha)
      expect(base.violations).toEqual([])

      const crowd = box.startNode(['--import', TSX, EVIL, '--hostile', link, '--chunks', String(chunks), '--chunk-size', String(CHUNK), '--bootstrap', bAddr,
        '--mix', Object.entries(MIX).map(([k, n]) => `${k}=${n}`).join(',')])
      procs.push(crowd)
      const ready = await crowd.jsonLine<{ ready: number, peers: Array<{ peerId: string, kind: string }>, lookup: Record<string, number> }>(v => typeof v?.ready === 'number', 120_000)
      console.log(`hostile seeders: a provider lookup from the crowd, before the round, sees ${Object.entries(ready.lookup).map(([p, n]) => `${n} providers at ${p === a.info.peerId ? 'A' : p === b.info.peerId ? 'B' : p.slice(-6)}`).join(', ')}`)
      expect(ready.ready).toBe(HOSTILE)
      for (const p of ready.peers) expect(honest.has(p.peerId)).toBe(false)

      const rounds: Round[] = []
      let lastStats: PeerStats[] = []
      const seenPerClass = new Map<string, number>()
      const droppedPerClass = new Map<string, number>()
      const add = (m: Map<string, number>, k: string, n = 1): void => { m.set(k, (m.get(k) ?? 0) + n) }
      for (let round = 0; round < ROUNDS; round++) {
        const r = await download(link, bAddr, name, chunks, sha)
        rounds.push(r)
        if (process.env.KITH_HOSTILE_LOG !== undefined) await writeFile(`${process.env.KITH_HOSTILE_LOG}-${round + 1}.log`, r.stderr)
        console.log(`hostile seeders: round ${round + 1}: ${(r.ms / 1000).toFixed(1)} s with ${HOSTILE} hostile peers vs ${(base.ms / 1000).toFixed(1)} s without (ratio ${(r.ms / base.ms).toFixed(2)}), peak RSS ${fmtMiB(r.hwm)} MiB vs ${fmtMiB(base.hwm)} MiB`)
        expect(r.violations).toEqual([])
        const before = crowd.lines().length
        crowd.send('stats')
        await until(() => crowd.lines().length > before, 10_000, 'the hostile crowd\'s stats')
        const stats = (JSON.parse(crowd.lines()[before] as string) as { stats: PeerStats[] }).stats
        if (process.env.KITH_HOSTILE_LOG !== undefined) await writeFile(`${process.env.KITH_HOSTILE_LOG}-${round + 1}.stats.json`, JSON.stringify({ startedAt: r.startedAt, completeAt: r.completeAt, stats }, null, 1))
        lastStats = stats
        // A peer is judged when it reached the downloader early enough in the round for its
        // offence to be noticed (GRACE_MS) before the file was complete; it must then have been
        // dropped before the file was complete.
        const inRound = (t: number): boolean => t >= r.startedAt && t <= r.completeAt
        const judged = (t: number, kind: string): boolean => t >= r.startedAt && t + (GRACE_MS[kind] as number) <= r.completeAt
        for (const s of stats) {
          if (BANNED.includes(s.kind)) {
            const at = s.admittedAt.filter(t => judged(t, s.kind))
            if (at.length === 0) continue
            add(seenPerClass, s.kind)
            expect(s.droppedAt.filter(inRound).length, `${s.kind} ${s.peerId}: admitted ${at.map(t => t - r.startedAt).join(',')} ms into the round, not dropped before the download completed (${r.ms} ms)`).toBeGreaterThanOrEqual(at.length)
            // For misbehaviour: the downloader's log names the peer.
            expect(r.stderr, `${s.kind} ${s.peerId}: not dropped for misbehaviour`).toMatch(new RegExp(`(session with ${s.peerId} closed: PeerMisbehaviourError|peer ${s.peerId} sent a (root|block) that does not match)`))
            add(droppedPerClass, s.kind)
          } else if (s.kind === 'slow-admission') {
            const at = s.streamAt.filter(t => judged(t, s.kind))
            if (at.length === 0) continue
            add(seenPerClass, s.kind)
            expect(s.admitted).toBe(0)
            // Every stream it stalled was ended by the downloader while the download ran.
            expect(s.droppedAt.filter(inRound).length, `${s.kind} ${s.peerId}`).toBeGreaterThanOrEqual(at.length)
            add(droppedPerClass, s.kind)
          } else if (s.kind === 'stream-flood') {
            if (!judged(s.floodStartedAt, s.kind)) continue
            add(seenPerClass, s.kind)
            expect(s.floodOpened + s.floodRefused).toBeGreaterThan(0)
            expect(s.floodDropped, `${s.kind} ${s.peerId}: flood streams left open`).toBe(s.floodOpened)
            expect(inRound(s.floodLastDroppedAt), `${s.kind} ${s.peerId}: flood streams closed only after the download completed`).toBe(true)
            add(droppedPerClass, s.kind)
          } else if (s.kind === 'conn-flood') {
            if (!judged(s.socketsStartedAt, s.kind)) continue
            add(seenPerClass, s.kind)
            expect(s.sockets).toBeGreaterThan(0)
            expect(s.socketsClosed, `${s.kind} ${s.peerId}: flood sockets left open`).toBe(s.sockets)
            expect(inRound(s.socketsLastClosedAt), `${s.kind} ${s.peerId}: flood sockets closed only after the download completed`).toBe(true)
            add(droppedPerClass, s.kind)
          }
        }
      }
      // Every class got to misbehave towards the downloader (else this test proved nothing).
      for (const kind of Object.keys(MIX)) expect(seenPerClass.get(kind) ?? 0, `no ${kind} peer reached the downloader`).toBeGreaterThan(0)

      const peak = Math.max(...rounds.map(r => r.hwm))
      const budget = Math.min(RSS_CAP, RSS_BUDGET_FACTOR * base.hwm)
      const worst = Math.max(...rounds.map(r => r.ms))
      const totals = lastStats.reduce((t, s) => ({ floods: t.floods + s.floodOpened + s.floodRefused, sockets: t.sockets + s.sockets, pieces: t.pieces + s.pieces }), { floods: 0, sockets: 0, pieces: 0 })
      console.log(`hostile seeders: file ${fmtMiB(SIZE)} MiB, ${chunks} chunks of 256 KiB, 2 honest seeders capped at ${CAP / 1024} KiB/s each, ${HOSTILE} hostile peers, ${ROUNDS} round(s)`)
      console.log(`hostile seeders: time without hostile peers ${(base.ms / 1000).toFixed(1)} s; with them, worst round ${(worst / 1000).toFixed(1)} s (ratio ${(worst / base.ms).toFixed(2)})`)
      console.log(`hostile seeders: downloader peak RSS (VmHWM) without ${fmtMiB(base.hwm)} MiB, with ${fmtMiB(peak)} MiB (ratio ${(peak / base.hwm).toFixed(2)}); budget ${fmtMiB(budget)} MiB (${RSS_BUDGET_FACTOR}x unloaded, at most ${fmtMiB(RSS_CAP)} MiB)`)
      console.log(`hostile seeders: offenders dropped per class (peers that reached the downloader, over all rounds): ${Object.keys(MIX).map(k => `${k} ${droppedPerClass.get(k) ?? 0}/${seenPerClass.get(k) ?? 0}`).join(', ')}`)
      console.log(`hostile seeders: hostile pieces sent ${totals.pieces}, flood streams attempted ${totals.floods}, flood sockets opened ${totals.sockets}`)
      expect(peak).toBeLessThan(budget)
    } finally {
      await Promise.allSettled(procs.map(async p => { if (p?.running === true) await p.stop('SIGTERM', 10_000) }))
    }
  }, sized(420_000, 900_000))
})
