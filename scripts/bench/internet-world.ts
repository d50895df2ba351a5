/**
 * The worlds `npm run bench:internet` (scripts/bench-internet.ts) measures in, on the simulated
 * internet of test/internet/simnet.ts, with real `kith` processes (the launcher bin/kith, as users
 * run it: it sets Kith's V8 heap flag):
 *
 *   lan        one home; its LAN host h0 becomes a switch (a bridge) with a second host, h0b,
 *              192.168.1.3, on it. A (`kith daemon`) on h0, B (`kith get`) on h0b, A its only
 *              bootstrap: B finds A through A's own Kith DHT and fetches over the LAN.
 *   internet   a friend's public Kith node P (Kith DHT, relay without limits for Kith peers, STUN
 *              on UDP 4001) and two homes behind NAT: A in home 0 listens on `<P>/p2p-circuit`
 *              and `/webrtc`, B in home 1 has P as its only bootstrap. Cone NATs (plain
 *              MASQUERADE): WebRTC hole punched through P; port-randomising NATs (`randomFully`):
 *              the punch fails and the data goes through P's relay.
 *
 * Every share's link is stripped of its address hints before B gets it, so B has to find A through
 * the DHT: what the lookup costs is one of the figures. Same setup as test/internet/direct.test.ts
 * (not imported from it). Every wait is bounded; stop() (and process exit, also on Ctrl-C) kills
 * every process and removes every namespace and temp file.
 */
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatLink, parseLink } from '../../protocol/link.js'
import { ROOT } from '../../test/global-setup.js'
import { LAN_PREFIX, removeNamespace, Simnet, type NsProc } from '../../test/internet/simnet.js'
import { Sandbox, tempDir, writeRandomFile, type DaemonInfo } from '../../test/node/fixtures/procs.js'

/** The command as users run it: the launcher that sets Kith's V8 heap flag. */
const KITH = join(ROOT, 'bin', 'kith')
const KITH_PORT = 4001
const DAEMON_START_MS = 60_000
const SHARE_MS = 300_000
/** How often the partial file is looked at for its first written (verified) chunk. */
const POLL_MS = 20

/** Namespaces and temp folders made outside Simnet (removed on exit, whatever happens). */
const extraNamespaces = new Set<string>()
const tempDirs = new Set<string>()
process.on('exit', () => {
  for (const ns of extraNamespaces) removeNamespace(ns)
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
})

export type WorldKind = 'lan' | 'cone' | 'random'

interface Daemon { proc: NsProc, info: DaemonInfo, repo: string, ns: string }

/** What one `kith get` gave: timestamps in ms since the epoch (this machine's clock), figures derived. */
export interface GetRun {
  code: number | null
  size: number
  identical: boolean
  /** `kith get` spawned, exited. */
  start: number
  end: number
  /** B's first connection to its bootstrap peer (debug log), if seen. */
  bootstrapAt?: number
  /** When the swarm began dialling the first seeder: the DHT had given it (debug log). */
  seederAt?: number
  /** The first verified chunk written to the partial file (polled every POLL_MS). */
  firstByteAt?: number
  /** `paths` and `seeders` of `kith get --json`. */
  paths: Array<{ peer: string, path: string, kind: string, limited: boolean, received: number }>
  seeders: Array<{ peer: string, via: string }>
  stderr: string
}

export class World {
  readonly kind: WorldKind
  net!: Simnet
  box!: Sandbox
  /** The seeder A and, on the internet worlds, P. */
  a!: Daemon
  p: Daemon | undefined
  /** Where B runs, and what it bootstraps from. */
  bNs = ''
  bootstrap = ''
  #n = 0

  constructor (kind: WorldKind) { this.kind = kind }

  async start (): Promise<void> {
    const dir = await tempDir('kith-bench-internet-')
    tempDirs.add(dir)
    this.box = new Sandbox(dir)
    if (this.kind === 'lan') {
      this.net = Simnet.create({ publicHosts: 0, homes: 1 })
      this.bNs = this.#addLanHost(0)
      this.a = await this.#daemon(this.net.home(0).lan.ns, ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
      this.bootstrap = `/ip4/${this.net.home(0).lan.ip}/tcp/${KITH_PORT}/p2p/${this.a.info.peerId}`
      return
    }
    this.net = Simnet.create({ publicHosts: 1, homes: 2, randomFully: this.kind === 'random' })
    this.p = await this.#daemon(this.net.pub(0).ns, ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    this.bootstrap = `/ip4/${this.net.pub(0).ip}/tcp/${KITH_PORT}/p2p/${this.p.info.peerId}`
    this.a = await this.#daemon(this.net.home(0).lan.ns, ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--listen', `${this.bootstrap}/p2p-circuit`, '--listen', '/webrtc', '--bootstrap', this.bootstrap])
    if (!this.a.info.addrs.some(x => x.includes('/p2p-circuit'))) throw new Error(`A holds no reservation on P: ${this.a.info.addrs.join(' ')}`)
    this.bNs = this.net.home(1).lan.ns
  }

  /**
   * Turns home `j`'s LAN host into a switch with a second host on it: a bridge in h<j> takes its
   * eth0 (towards the router) and its address, and a veth to a new namespace h<j>b (192.168.1.3,
   * default route via the router). The router is untouched. Returns the new namespace.
   */
  #addLanHost (j: number): string {
    const home = this.net.home(j)
    const h = home.lan.ns
    const hb = `${h}b`
    const ip = (args: string[]): void => { this.net.exec(h, ['ip', ...args]) }
    ip(['link', 'add', 'name', 'sw0', 'type', 'bridge'])
    ip(['addr', 'del', `${home.lan.ip}/24`, 'dev', 'eth0'])
    ip(['link', 'set', 'eth0', 'master', 'sw0'])
    ip(['addr', 'add', `${home.lan.ip}/24`, 'dev', 'sw0'])
    ip(['link', 'set', 'sw0', 'up'])
    ip(['route', 'replace', 'default', 'via', `${LAN_PREFIX}.1`])
    // The new host, made from this namespace (not inside h<j>, whose mounts do not reach ours); its
    // name starts with the run's, so Simnet's sweep of stale runs removes it too.
    extraNamespaces.add(hb)
    host('ip', ['netns', 'add', hb])
    host('ip', ['link', 'add', 'name', 'lanb', 'netns', h, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hb])
    ip(['link', 'set', 'lanb', 'master', 'sw0'])
    ip(['link', 'set', 'lanb', 'up'])
    const ipb = (args: string[]): void => { this.net.exec(hb, ['ip', ...args]) }
    ipb(['link', 'set', 'lo', 'up'])
    ipb(['addr', 'add', `${LAN_PREFIX}.3/24`, 'dev', 'eth0'])
    ipb(['link', 'set', 'eth0', 'up'])
    ipb(['route', 'add', 'default', 'via', `${LAN_PREFIX}.1`])
    return hb
  }

  #spawn (ns: string, args: string[], env: NodeJS.ProcessEnv = {}): NsProc {
    return this.net.spawn(ns, [KITH, ...args], { cwd: this.box.dir, env: { ...this.box.env(), ...env } })
  }

  async #daemon (ns: string, args: string[]): Promise<Daemon> {
    const repo = await this.box.repo()
    const proc = this.#spawn(ns, ['daemon', '--repo', repo, '--api', '127.0.0.1:0', '--json', ...args])
    const info = await proc.jsonLine<DaemonInfo>(() => true, DAEMON_START_MS)
    return { proc, info, repo, ns }
  }

  /** A shares a new random file of `size` bytes; returns its link (without address hints unless `keepHints`) and its SHA-256. */
  async share (size: number, keepHints = false): Promise<{ link: string, sha256: string, file: string }> {
    const file = join(this.box.dir, `share-${++this.#n}.bin`)
    const sha256 = await writeRandomFile(file, size)
    const r = this.#spawn(this.a.ns, ['share', file, '--repo', this.a.repo, '--json'])
    await r.wait(SHARE_MS)
    if (r.code !== 0) throw new Error(`kith share failed (${String(r.code)}): ${r.stderr.slice(-2000)}`)
    const link = parseLink((JSON.parse(r.stdout) as { link: string }).link)
    return { link: keepHints ? formatLink(link) : formatLink({ ...link, hints: [] }), sha256, file }
  }

  /**
   * B runs `kith get <link> --json` (fresh repo, fresh output folder) with the swarm's debug log,
   * while the partial file is watched for its first written chunk (chunks are written only once
   * verified against the manifest). Bounded by `deadlineMs`; `timeoutS` is the get's own --timeout.
   */
  async get (share: { link: string, sha256: string }, size: number, timeoutS: number, deadlineMs: number): Promise<GetRun> {
    const repo = this.box.path('repo-b')
    const init = this.#spawn(this.bNs, ['init', '--repo', repo, '--json'])
    await init.wait(30_000)
    if (init.code !== 0) throw new Error(`kith init failed: ${init.stderr}`)
    const out = this.box.path('out')
    const start = Date.now()
    const proc = this.#spawn(this.bNs, ['get', share.link, '--repo', repo, '-o', out, '--bootstrap', this.bootstrap, '--timeout', String(timeoutS), '--json'], { DEBUG: 'kith:swarm,kith:node,kith:bootstrap' })
    let firstByteAt: number | undefined
    const watch = (async () => {
      while (proc.running && firstByteAt === undefined) {
        if (await written(out)) firstByteAt = Date.now()
        else await new Promise(resolve => setTimeout(resolve, POLL_MS))
      }
    })()
    let code: number | null = null
    let overran = false
    try {
      code = await proc.wait(deadlineMs)
    } catch {
      overran = true // SIGKILLed by wait(): reported as a failure with what it logged
    } finally {
      await watch
    }
    const end = Date.now()
    // For whoever debugs a path: B's debug log, one file per get.
    if (process.env.KITH_BENCH_LOG !== undefined) await writeFile(`${process.env.KITH_BENCH_LOG}-${this.kind}-${this.#n}.log`, proc.stderr)
    const res = code === 0 ? JSON.parse(proc.stdout) as { size: number, sha256: string, paths?: GetRun['paths'], seeders?: GetRun['seeders'] } : undefined
    // A file smaller than a chunk or two can finish between two polls: then the end is the bound.
    if (code === 0 && firstByteAt === undefined) firstByteAt = end
    const run: GetRun = {
      code,
      size: res?.size ?? 0,
      identical: res !== undefined && res.size === size && res.sha256 === share.sha256,
      start,
      end,
      paths: res?.paths ?? [],
      seeders: res?.seeders ?? [],
      stderr: overran ? `${proc.stderr}\nError: kith get did not finish within ${deadlineMs} ms (killed)` : proc.stderr,
      ...(firstByteAt !== undefined ? { firstByteAt } : {})
    }
    const boot = logTime(proc.stderr, /kith:bootstrap connected to a bootstrap peer/)
    if (boot !== undefined) run.bootstrapAt = boot.at
    const dial = logTime(proc.stderr, /kith:swarm connected to \S+ \(.*\) in (\d+) ms/)
    if (dial !== undefined) run.seederAt = dial.at - Number(dial.match[1])
    return run
  }

  /** Adds `ms` of delay each way on both homes' links (Simnet.delay on A's and B's hosts); returns what undoes it. */
  async delayHomes (ms: number): Promise<() => Promise<void>> {
    const undo = [await this.net.delay(this.net.home(0).lan.ns, ms), await this.net.delay(this.net.home(1).lan.ns, ms)]
    return async () => { for (const u of undo) await u() }
  }

  async stop (): Promise<void> {
    await Promise.all([this.a?.proc.stop(5_000), this.p?.proc.stop(5_000)])
    this.net?.destroy()
    for (const ns of extraNamespaces) if (ns.startsWith(this.net?.id ?? '\0')) { removeNamespace(ns); extraNamespaces.delete(ns) }
    rmSync(this.box.dir, { recursive: true, force: true })
    tempDirs.delete(this.box.dir)
  }
}

/** Runs a command in this process's namespace (bounded). */
function host (cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
}

/** True once the download's partial file (`<out>/.kith-partial-*\/0`, pre-sized, sparse) has a block written. */
async function written (out: string): Promise<boolean> {
  const partial = (await readdir(out).catch(() => [] as string[])).find(n => n.startsWith('.kith-partial-'))
  if (partial === undefined) return false
  const st = await stat(join(out, partial, '0')).catch(() => undefined)
  return st !== undefined && st.blocks > 0
}

/** The first debug-log line matching `re` (lines start with an ISO timestamp): its time and match. */
function logTime (stderr: string, re: RegExp): { at: number, match: RegExpExecArray } | undefined {
  for (const line of stderr.split('\n')) {
    const m = re.exec(line)
    if (m === null) continue
    const at = Date.parse(line.split(' ')[0] ?? '')
    if (Number.isFinite(at)) return { at, match: m }
  }
  return undefined
}
