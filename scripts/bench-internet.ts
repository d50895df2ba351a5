/**
 * Across-the-internet benchmark: `npm run bench:internet [-- --size <MiB> --delay <ms> --runs <n>
 * --only <paths> --json]`, on the simulated internet of test/internet/simnet.ts (network namespaces
 * it makes and removes itself; needs root, run through scripts/netns.sh), with real `kith`
 * processes. One share of --size MiB (default 64) from A, downloaded by `kith get` on B with a link
 * stripped of its address hints (so B has to find A through the DHT), over each path:
 *
 *   lan            A and B on one home's LAN (a switch in the home), A B's only bootstrap: the
 *                  baseline, measured in the same run
 *   direct         A and B in two homes behind cone NATs (plain MASQUERADE), a friend's public Kith
 *                  node P the only bootstrap (DHT, STUN, relay): WebRTC hole punched through P
 *   relay          both homes behind port-randomising NATs (MASQUERADE --random-fully): the punch
 *                  fails, the data goes through P's relay (no limits for Kith peers)
 *   direct+delay, relay+delay   the same with --delay ms (default 20) added each way on both
 *                  homes' links (Simnet.delay: tc netem, or a userspace NFQUEUE delay line where the
 *                  kernel has no sch_netem): 80 ms round trip between the homes, 40 ms to P
 *
 * Figures per path: time from `kith get` to the first verified byte (the first chunk written to the
 * partial file, which holds only chunks verified against the manifest), total time, MiB/s over the
 * whole get and over the transfer (first byte to end), the ratios to the LAN baseline, and the DHT
 * lookup (from the get's start, and from B's bootstrap connection, to the swarm's first dial of a
 * seeder the DHT gave it). `kith get` times include the process start (about a second of Node
 * start-up here). With --runs n each path is measured n times (a new share each) and the median
 * is shown.
 */
import { simnetUnavailable } from '../test/internet/simnet.js'
import { buildOnce } from '../test/node/fixtures/procs.js'
import { World, type GetRun, type WorldKind } from './bench/internet-world.js'

const MiB = 1024 * 1024
const PATHS = ['lan', 'direct', 'direct+delay', 'relay', 'relay+delay'] as const
type PathName = typeof PATHS[number]
const EXPECTED: Record<PathName, string> = {
  lan: 'direct',
  direct: 'direct (hole punched)',
  'direct+delay': 'direct (hole punched)',
  relay: 'via a friend\'s node',
  'relay+delay': 'via a friend\'s node'
}
/** `kith get --timeout` (seconds without progress). */
const GET_TIMEOUT_S = 60

interface Options { sizeMiB: number, delayMs: number, runs: number, only: PathName[], json: boolean, hints: boolean }

function usage (msg: string): never {
  console.error(`bench:internet: ${msg}\nusage: npm run bench:internet -- [--size <MiB>] [--delay <ms>] [--runs <n>] [--only ${PATHS.join(',')}] [--json]`)
  process.exit(2)
}

function parseArgs (argv: string[]): Options {
  const o: Options = { sizeMiB: 64, delayMs: 20, runs: 1, only: [...PATHS], json: false, hints: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const value = (): string => { const v = argv[++i]; if (v === undefined) usage(`${a} needs a value`); return v }
    const num = (min: number, max: number): number => {
      const v = value()
      const n = Number(v)
      if (!/^\d+(\.\d+)?$/.test(v) || n < min || n > max) usage(`${a} must be a number from ${min} to ${max}`)
      return n
    }
    if (a === '--json') o.json = true
    else if (a === '--hints') o.hints = true
    else if (a === '--size') o.sizeMiB = num(0.001, 4096)
    else if (a === '--delay') o.delayMs = num(0, 1000)
    else if (a === '--runs') o.runs = Math.round(num(1, 20))
    else if (a === '--only') {
      const names = value().split(',').map(s => s.trim()).filter(s => s !== '')
      for (const n of names) if (!(PATHS as readonly string[]).includes(n)) usage(`unknown path "${n}"`)
      o.only = names as PathName[]
    } else usage(`unknown argument ${a}`)
  }
  if (o.delayMs === 0) o.only = o.only.filter(p => !p.endsWith('+delay'))
  return o
}

const opts = parseArgs(process.argv.slice(2))
const SIZE = Math.round(opts.sizeMiB * MiB)
/** Each get is bounded: its own --timeout plus a generous allowance for the data (0.5 MiB/s). */
const GET_DEADLINE_MS = (GET_TIMEOUT_S + 60) * 1000 + Math.ceil(SIZE / MiB) * 2_000
const log = (...a: unknown[]): void => { console.error(...a) }
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { log(`bench:internet: ${sig}, cleaning up`); process.exit(130) })

/** One measurement's figures (ms and MiB/s), as printed and in --json. */
interface Figures {
  path: PathName
  ok: boolean
  code: number | null
  identical: boolean
  /** The `path` labels of `kith get --json` the bytes came over, and how B found its seeder. */
  paths: string[]
  via: string[]
  firstByteMs?: number
  totalMs: number
  mibps?: number
  transferMibps?: number
  /** From the get's start / from B's bootstrap connection to the first dial of a seeder. */
  lookupMs?: number
  lookupAfterBootstrapMs?: number
  error?: string
}

function figures (path: PathName, r: GetRun): Figures {
  const ok = r.code === 0 && r.identical
  const f: Figures = {
    path,
    ok,
    code: r.code,
    identical: r.identical,
    paths: [...new Set(r.paths.map(p => p.path))],
    via: [...new Set(r.seeders.map(s => s.via))],
    totalMs: r.end - r.start
  }
  if (ok) {
    f.mibps = SIZE / MiB / (f.totalMs / 1000)
    if (r.firstByteAt !== undefined) {
      f.firstByteMs = r.firstByteAt - r.start
      if (r.end > r.firstByteAt) f.transferMibps = SIZE / MiB / ((r.end - r.firstByteAt) / 1000)
    }
  } else {
    f.error = r.stderr.split('\n').filter(l => l.startsWith('kith:') || l.startsWith('Error')).slice(-3).join(' | ') || r.stderr.slice(-500)
  }
  if (r.seederAt !== undefined) {
    f.lookupMs = r.seederAt - r.start
    if (r.bootstrapAt !== undefined) f.lookupAfterBootstrapMs = r.seederAt - r.bootstrapAt
  }
  return f
}

function median (xs: Array<number | undefined>): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const m = Math.floor(v.length / 2)
  return v.length % 2 === 1 ? v[m] : ((v[m - 1] as number) + (v[m] as number)) / 2
}

/** The median of each figure over the runs of one path. */
function summary (path: PathName, runs: Figures[]): Figures {
  const good = runs.filter(r => r.ok)
  const from = good.length > 0 ? good : runs
  const pick = (k: 'firstByteMs' | 'totalMs' | 'mibps' | 'transferMibps' | 'lookupMs' | 'lookupAfterBootstrapMs'): number | undefined => median(from.map(r => r[k]))
  const s: Figures = {
    path,
    ok: good.length === runs.length,
    code: good.length === runs.length ? 0 : (runs.find(r => !r.ok)?.code ?? null),
    identical: runs.every(r => r.identical),
    paths: [...new Set(runs.flatMap(r => r.paths))],
    via: [...new Set(runs.flatMap(r => r.via))],
    totalMs: pick('totalMs') as number
  }
  for (const k of ['firstByteMs', 'mibps', 'transferMibps', 'lookupMs', 'lookupAfterBootstrapMs'] as const) {
    const v = pick(k)
    if (v !== undefined) s[k] = v
  }
  const err = runs.find(r => r.error !== undefined)?.error
  if (err !== undefined) s.error = err
  return s
}

const WORLD_OF: Record<PathName, WorldKind> = { lan: 'lan', direct: 'cone', 'direct+delay': 'cone', relay: 'random', 'relay+delay': 'random' }

async function main (): Promise<number> {
  const why = simnetUnavailable()
  if (why !== undefined) { log(`bench:internet: cannot build the simulated internet here: ${why}`); return 1 }
  await buildOnce()
  log(`bench:internet: ${opts.sizeMiB} MiB, paths ${opts.only.join(', ')}, ${opts.runs} run(s) each, delay ${opts.delayMs} ms each way per home link`)
  const results = new Map<PathName, Figures[]>()
  for (const kind of ['lan', 'cone', 'random'] as const) {
    const paths = PATHS.filter(p => WORLD_OF[p] === kind && opts.only.includes(p))
    if (paths.length === 0) continue
    const world = new World(kind)
    try {
      const t0 = Date.now()
      await world.start()
      log(`bench:internet: ${kind} world up in ${Date.now() - t0} ms`)
      for (const path of paths) {
        const delayed = path.endsWith('+delay')
        const undo = delayed ? await world.delayHomes(opts.delayMs) : undefined
        try {
          for (let i = 0; i < opts.runs; i++) {
            const share = await world.share(SIZE, opts.hints)
            const r = await world.get(share, SIZE, GET_TIMEOUT_S, GET_DEADLINE_MS)
            const f = figures(path, r)
            results.set(path, [...(results.get(path) ?? []), f])
            log(`bench:internet: ${path} run ${i + 1}: ${f.ok ? 'ok' : `FAILED (exit ${String(f.code)}${f.identical ? '' : ', bytes not identical'}): ${f.error ?? ''}`} ${JSON.stringify(f)}`)
          }
        } finally {
          await undo?.()
        }
      }
    } catch (err) {
      log(`bench:internet: the ${kind} world failed: ${(err as Error).stack ?? String(err)}`)
      for (const path of paths) if (!results.has(path)) results.set(path, [{ path, ok: false, code: null, identical: false, paths: [], via: [], totalMs: 0, error: (err as Error).message.slice(0, 500) }])
    } finally {
      await world.stop()
    }
  }
  report(results)
  return [...results.values()].flat().every(f => f.ok) ? 0 : 1
}

const fmt = (v: number | undefined, digits = 0): string => v === undefined ? '–' : v.toFixed(digits)
const ratio = (v: number | undefined, base: number | undefined): number | undefined => v === undefined || base === undefined || base === 0 ? undefined : v / base

function label (path: PathName): string {
  return path.endsWith('+delay') ? `${path.replace('+delay', '')}, +${opts.delayMs} ms/home link` : path
}

function report (results: Map<PathName, Figures[]>): void {
  const rows = PATHS.filter(p => results.has(p)).map(p => summary(p, results.get(p) as Figures[]))
  const base = rows.find(r => r.path === 'lan' && r.ok)
  const withRatios = rows.map(r => ({
    ...r,
    expectedPath: EXPECTED[r.path],
    onExpectedPath: r.paths.length > 0 && r.paths.every(p => p === EXPECTED[r.path]),
    vsLan: {
      mibps: ratio(r.mibps, base?.mibps),
      transferMibps: ratio(r.transferMibps, base?.transferMibps),
      firstByte: ratio(r.firstByteMs, base?.firstByteMs)
    }
  }))
  if (opts.json) {
    console.log(JSON.stringify({ sizeBytes: SIZE, delayMs: opts.delayMs, runs: opts.runs, getTimeoutS: GET_TIMEOUT_S, results: withRatios, all: Object.fromEntries(results) }))
    return
  }
  const head = ['path', 'came over', 'found via', 'DHT lookup ms', 'first byte ms', 'total ms', 'MiB/s', 'transfer MiB/s', 'MiB/s ÷ LAN', 'transfer ÷ LAN', 'first byte ÷ LAN']
  const table = withRatios.map(r => [
    label(r.path) + (r.ok ? '' : ' FAILED'),
    r.paths.join(' + ') || '–',
    r.via.join(' + ') || '–',
    `${fmt(r.lookupMs)} (${fmt(r.lookupAfterBootstrapMs)})`,
    fmt(r.firstByteMs),
    fmt(r.totalMs),
    fmt(r.mibps, 1),
    fmt(r.transferMibps, 1),
    fmt(r.vsLan.mibps, 2),
    fmt(r.vsLan.transferMibps, 2),
    fmt(r.vsLan.firstByte, 1)
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...table.map(row => (row[i] as string).length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  console.log(`bench:internet: ${opts.sizeMiB} MiB per get, ${opts.runs} run(s) per path (median), --delay ${opts.delayMs} ms each way on each home link; DHT lookup: from kith get's start (from B's bootstrap connection)`)
  console.log(line(head))
  for (const row of table) console.log(line(row))
  console.log('')
  for (const r of withRatios) {
    const n = `bench:internet ${label(r.path)}`
    if (!r.ok) { console.log(`${n}: FAILED (exit ${String(r.code)}${r.identical ? '' : ', bytes not identical'}): ${r.error ?? ''}`); continue }
    if (!r.onExpectedPath) console.log(`${n}: NOTE the bytes came over ${r.paths.join(' + ') || 'no reported path'}, not ${r.expectedPath}`)
    console.log(`${n}: came over ${r.paths.join(' + ')}, seeder found via ${r.via.join(' + ') || '?'}`)
    console.log(`${n}: DHT lookup (get start to first dial of a seeder) ${fmt(r.lookupMs)} ms, ${fmt(r.lookupAfterBootstrapMs)} ms after B's bootstrap connection`)
    console.log(`${n}: first verified byte ${fmt(r.firstByteMs)} ms after kith get started${r.path === 'lan' ? ' (baseline)' : `, ${fmt(r.vsLan.firstByte, 1)}× the LAN's`}`)
    console.log(`${n}: total ${fmt(r.totalMs)} ms, ${fmt(r.mibps, 1)} MiB/s${r.path === 'lan' ? ' (baseline)' : `, ${fmt(r.vsLan.mibps, 2)}× the LAN's`}`)
    console.log(`${n}: transfer (first byte to end) ${fmt(r.transferMibps, 1)} MiB/s${r.path === 'lan' ? ' (baseline)' : `, ${fmt(r.vsLan.transferMibps, 2)}× the LAN's`}`)
  }
}

process.exitCode = await main().catch((err: unknown) => { log(`bench:internet: ${(err as Error).stack ?? String(err)}`); return 1 })
process.exit()
