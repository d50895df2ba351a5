/**
 * A simulated internet on this machine, made of network namespaces the test creates and removes
 * itself. Nothing in it has a route to the machine's real interfaces: every namespace is fresh
 * (`ip netns add`, only `lo` inside) and the only links are veth pairs created directly inside
 * two of the test's own namespaces, never in the namespace the test runs in.
 *
 *   internet       one namespace with a bridge (br0): the "internet" segment
 *   public host i  one namespace, eth0 on br0, address <octet>.0.0.10/8: its own /8
 *   home router j  wan on br0 (<octet>.0.0.10/8, its own /8), lan 192.168.1.1/24,
 *                  iptables MASQUERADE out of wan (optionally --random-fully), unsolicited
 *                  inbound dropped, as a home NAT router (`forwardPort()` opens a port)
 *   home LAN j     eth0 192.168.1.2/24, default via 192.168.1.1 (every home has the same LAN)
 *
 * Hosts on br0 reach each other's /8s on-link (`default dev eth0`): ARP on the one segment, no
 * router in the middle. The /8s are ranges @libp2p/utils' isPrivate does not call private (see
 * PUBLIC_OCTETS), so libp2p's address mappers, AutoNAT and DCUtR treat them as public.
 *
 * Names are unique per run (`ksn<pid>x<random>-…`); `destroy()` kills every process in every
 * namespace of the run and deletes the namespaces (their veths and the bridge go with them). It
 * also runs on process exit, and `sweepStale()` removes the namespaces of runs whose process is
 * gone (a SIGKILLed test). scripts/simnet/cleanup.sh does the same by hand.
 *
 * Needs root, iproute2's `ip` with netns support and iptables; `simnetUnavailable()` says why not.
 * Links can be shaped with tc (`netem()`, `shape()`; `netemUnavailable()`, `qdiscUnavailable()`
 * say whether the kernel can) and cut and restored (`linkDown()`, `linkUp()`).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * First octets of the simulated public /8s: allocated, globally routed-looking unicast space
 * (US DoD and legacy allocations) that is none of the ranges @libp2p/utils' private-ip.js lists
 * (0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24,
 * 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 240/4, …). No packet to them leaves the
 * machine: the namespaces have no route out.
 */
export const PUBLIC_OCTETS = [11, 21, 22, 26, 28, 29, 30, 33, 55, 6, 7, 214, 215] as const

export const LAN_PREFIX = '192.168.1'
const CMD_TIMEOUT_MS = 10_000
/** Without sch_netem: a delay line in userspace (iptables NFQUEUE → this script), see delay(). */
const NFQUEUE_DELAY = join(dirname(fileURLToPath(import.meta.url)), 'nfqueue-delay.py')

export interface Host {
  /** Namespace name. */
  ns: string
  /** The host's address ("11.0.0.10" on the internet, "192.168.1.2" in a home). */
  ip: string
  kind: 'public' | 'lan'
}

export interface Home {
  router: Host
  lan: Host
}

export interface SimnetOptions {
  /** Public hosts, each in its own /8. */
  publicHosts: number
  /** Homes: a NAT router with a LAN host behind it. */
  homes: number
  /** MASQUERADE --random-fully (port-randomising, "hard" NAT) on every home router. */
  randomFully?: boolean
}

/** Why the simulated internet cannot be built here, or undefined when it can. */
export function simnetUnavailable (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root (run through scripts/netns.sh as root)'
  if (!has('ip')) return 'iproute2 `ip` is not installed'
  if (!has('iptables')) return 'iptables is not installed (scripts/test-prepare.ts installs it with apt-get when root)'
  // One throwaway namespace with a NAT rule: the real requirements, tried.
  const probe = `ksnprobe${process.pid}x${randomBytes(2).toString('hex')}`
  try {
    run('ip', ['netns', 'add', probe])
    run('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'MASQUERADE', '--random-fully'])
    run('ip', ['-n', probe, 'link', 'add', 'name', 'a', 'type', 'veth', 'peer', 'name', 'b'])
    return undefined
  } catch (err) {
    return `cannot make a network namespace with veth and iptables NAT here: ${(err as Error).message.split('\n')[0] ?? ''}`
  } finally {
    spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore', timeout: CMD_TIMEOUT_MS })
  }
}

/**
 * Why the queueing discipline `spec` (tc's words after `root`, e.g. "tbf rate 8mbit burst 32kb
 * latency 200ms") cannot be put on a link here (no iproute2 `tc`, or the kernel lacks it), or
 * undefined when it can. Tried on a veth in a throwaway namespace. Call it only when
 * simnetUnavailable() is undefined.
 */
export function qdiscUnavailable (spec: string): string | undefined {
  if (!has('tc')) return 'iproute2 `tc` is not installed (scripts/test-prepare.ts installs iproute2 with apt-get when root)'
  const probe = `ksnprobe${process.pid}x${randomBytes(2).toString('hex')}`
  try {
    run('ip', ['netns', 'add', probe])
    run('ip', ['-n', probe, 'link', 'add', 'name', 'a', 'type', 'veth', 'peer', 'name', 'b'])
    run('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'a', 'root', ...spec.trim().split(/\s+/)])
    return undefined
  } catch (err) {
    return `tc qdisc "${spec}" does not work here: ${(err as Error).message.split('\n')[0] ?? ''}`
  } finally {
    spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore', timeout: CMD_TIMEOUT_MS })
  }
}

/** Why `tc netem` (delay and loss on a link; the kernel's sch_netem) cannot be used here, or undefined. */
export function netemUnavailable (): string | undefined {
  const why = qdiscUnavailable('netem delay 1ms loss 1%')
  return why === undefined ? undefined : `${why} (a kernel without sch_netem: CONFIG_NET_SCH_NETEM)`
}

function has (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/** Runs a command to completion (bounded); throws with its stderr when it fails. */
function run (cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: CMD_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`)
  }
}

const NAME = /^ksn(\d+)x[0-9a-f]+-/

/** Every namespace of this harness listed by `ip netns list`. */
function listOurs (): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: CMD_TIMEOUT_MS }).stdout ?? ''
  return out.split('\n').map(l => l.split(' ')[0] ?? '').filter(n => NAME.test(n) || n.startsWith('ksnprobe'))
}

/** Kills every process in namespace `ns` (SIGKILL), then deletes it. Never throws. */
export function removeNamespace (ns: string): void {
  for (let round = 0; round < 5; round++) {
    const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: CMD_TIMEOUT_MS }).stdout ?? '')
      .split('\n').map(s => Number(s.trim())).filter(n => Number.isInteger(n) && n > 0)
    if (pids.length === 0) break
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
    spawnSync('sleep', ['0.1'])
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: CMD_TIMEOUT_MS })
}

/** Removes the namespaces of earlier runs whose process no longer exists. Returns their names. */
export function sweepStale (): string[] {
  const gone: string[] = []
  for (const ns of listOurs()) {
    const m = NAME.exec(ns) ?? /^ksnprobe(\d+)x/.exec(ns)
    const pid = Number(m?.[1])
    let alive = false
    try { process.kill(pid, 0); alive = true } catch (err) { alive = (err as NodeJS.ErrnoException).code === 'EPERM' }
    if (!alive) { removeNamespace(ns); gone.push(ns) }
  }
  return gone
}

/** A process started in a namespace; output collected. */
export class NsProc {
  readonly child: ChildProcess
  readonly ns: string
  readonly started = Date.now()
  stdout = ''
  stderr = ''
  code: number | null | undefined
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (ns: string, argv: string[], opts: SpawnOptions) {
    this.ns = ns
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], { ...opts, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => { this.stdout += d })
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => { this.stderr += d })
    this.child.stdin?.on('error', () => {})
    this.exited = new Promise(resolve => {
      this.child.on('close', (code, signal) => { this.code = code; resolve({ code, signal }) })
    })
  }

  get running (): boolean { return this.code === undefined && this.child.exitCode === null && this.child.signalCode === null }

  /** Complete stdout lines so far. */
  lines (): string[] {
    return this.stdout.slice(0, this.stdout.lastIndexOf('\n') + 1).split('\n').filter(l => l !== '')
  }

  /** Waits (bounded) for a stdout line that parses as JSON and satisfies `pred`. */
  async jsonLine<T> (pred: (v: any) => boolean, timeoutMs: number): Promise<T> {
    const end = Date.now() + timeoutMs
    for (;;) {
      for (const l of this.lines()) {
        let v: unknown
        try { v = JSON.parse(l) } catch { continue }
        if (pred(v)) return v as T
      }
      if (!this.running) throw new Error(`[${this.ns}] exited (${String(this.child.exitCode ?? this.child.signalCode)}) before the expected line\nstdout: ${this.stdout.slice(-4000)}\nstderr: ${this.stderr.slice(-4000)}`)
      if (Date.now() > end) throw new Error(`[${this.ns}] no expected stdout line within ${timeoutMs} ms\nstdout: ${this.stdout.slice(-4000)}\nstderr: ${this.stderr.slice(-4000)}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** Waits for the exit at most `timeoutMs`; then SIGKILLs. Resolves with the exit code (null if killed). */
  async wait (timeoutMs: number): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const r = await Promise.race([this.exited, new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) })])
    clearTimeout(timer)
    if (r !== undefined) return r.code
    this.child.kill('SIGKILL')
    throw new Error(`[${this.ns}] ${this.child.spawnargs.slice(4).join(' ').slice(0, 200)} did not finish within ${timeoutMs} ms\nstdout: ${this.stdout.slice(-4000)}\nstderr: ${this.stderr.slice(-4000)}`)
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop (graceMs = 10_000): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGTERM')
    let timer: ReturnType<typeof setTimeout> | undefined
    const r = await Promise.race([this.exited, new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, graceMs) })])
    clearTimeout(timer)
    if (r === undefined) this.child.kill('SIGKILL')
  }
}

const live = new Set<Simnet>()
let exitHookInstalled = false
function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Synchronous: runs on a normal exit, and on SIGINT/SIGTERM via process.exit.
  process.on('exit', () => { for (const s of live) s.destroy() })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => { for (const s of live) s.destroy(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)) })
  }
}

export class Simnet {
  /** Run prefix: every namespace name starts with it. */
  readonly id: string
  readonly internet: string
  readonly publicHosts: Host[] = []
  readonly homes: Home[] = []
  /** Next free NFQUEUE queue number (delay()). */
  #queues = 0
  readonly #namespaces: string[] = []
  readonly #procs = new Set<NsProc>()
  /** Namespace → its veth's port on br0 (in the internet namespace), for linkDown/linkUp. */
  readonly #ports = new Map<string, string>()
  #nextOctet = 0
  #nextPort = 0
  #destroyed = false

  private constructor () {
    this.id = `ksn${process.pid}x${randomBytes(3).toString('hex')}`
    this.internet = `${this.id}-inet`
  }

  /** Builds the topology; on any failure removes what it made and throws. */
  static create (opts: SimnetOptions): Simnet {
    if (opts.publicHosts + opts.homes > PUBLIC_OCTETS.length) throw new RangeError(`at most ${PUBLIC_OCTETS.length} hosts on the simulated internet`)
    installExitHook()
    sweepStale()
    const net = new Simnet()
    live.add(net)
    try {
      net.#addNamespace(net.internet)
      run('ip', ['-n', net.internet, 'link', 'add', 'br0', 'type', 'bridge'])
      run('ip', ['-n', net.internet, 'link', 'set', 'br0', 'up'])
      for (let i = 0; i < opts.publicHosts; i++) net.publicHosts.push(net.#addPublic(`pub${i}`))
      for (let j = 0; j < opts.homes; j++) net.homes.push(net.#addHome(j, opts.randomFully === true))
    } catch (err) {
      net.destroy()
      throw err
    }
    return net
  }

  #addNamespace (ns: string): void {
    run('ip', ['netns', 'add', ns])
    this.#namespaces.push(ns)
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  }

  /** A veth from namespace `ns` (named `dev`) to the internet bridge; returns the address given. */
  #plugIn (ns: string, dev: string): string {
    const octet = PUBLIC_OCTETS[this.#nextOctet++]
    const port = `p${this.#nextPort++}`
    // Both ends are created directly inside the test's namespaces: none ever exists outside them.
    run('ip', ['link', 'add', 'name', port, 'netns', this.internet, 'type', 'veth', 'peer', 'name', dev, 'netns', ns])
    run('ip', ['-n', this.internet, 'link', 'set', port, 'master', 'br0'])
    run('ip', ['-n', this.internet, 'link', 'set', port, 'up'])
    this.#ports.set(ns, port)
    const ip = `${String(octet)}.0.0.10`
    run('ip', ['-n', ns, 'addr', 'add', `${ip}/8`, 'dev', dev])
    run('ip', ['-n', ns, 'link', 'set', dev, 'up'])
    // Every other /8 is on the same segment: reach it on-link.
    run('ip', ['-n', ns, 'route', 'add', 'default', 'dev', dev])
    return ip
  }

  #addPublic (name: string): Host {
    const ns = `${this.id}-${name}`
    this.#addNamespace(ns)
    return { ns, ip: this.#plugIn(ns, 'eth0'), kind: 'public' }
  }

  #addHome (j: number, randomFully: boolean): Home {
    const rns = `${this.id}-r${j}`
    const lns = `${this.id}-h${j}`
    this.#addNamespace(rns)
    this.#addNamespace(lns)
    const wan = this.#plugIn(rns, 'wan')
    run('ip', ['link', 'add', 'name', 'lan', 'netns', rns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lns])
    run('ip', ['-n', rns, 'addr', 'add', `${LAN_PREFIX}.1/24`, 'dev', 'lan'])
    run('ip', ['-n', rns, 'link', 'set', 'lan', 'up'])
    run('ip', ['-n', lns, 'addr', 'add', `${LAN_PREFIX}.2/24`, 'dev', 'eth0'])
    run('ip', ['-n', lns, 'link', 'set', 'eth0', 'up'])
    run('ip', ['-n', lns, 'route', 'add', 'default', 'via', `${LAN_PREFIX}.1`])
    const inRouter = (args: string[]): string => run('ip', ['netns', 'exec', rns, ...args])
    inRouter(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    // Answer ARP on the internet only for the wan address (not for 192.168.1.1).
    inRouter(['sysctl', '-q', '-w', 'net.ipv4.conf.wan.arp_ignore=1'])
    inRouter(['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(randomFully ? ['--random-fully'] : [])])
    inRouter(['iptables', '-A', 'FORWARD', '-i', 'wan', '-o', 'lan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])
    inRouter(['iptables', '-A', 'FORWARD', '-i', 'wan', '-o', 'lan', '-j', 'DROP'])
    // Unsolicited TCP and UDP to the router itself are dropped too, as home routers do. Had they
    // been answered (port unreachable), conntrack would keep an entry for each, and a hole punch's
    // first packet, arriving before the LAN host's own, would take the very port mapping the LAN
    // host needs: MASQUERADE then picks another port, and even a port-preserving NAT behaves as a
    // symmetric one (seen: WebRTC between two homes never connected). A dropped packet leaves no entry.
    inRouter(['iptables', '-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])
    inRouter(['iptables', '-A', 'INPUT', '-i', 'wan', '-p', 'udp', '-j', 'DROP'])
    inRouter(['iptables', '-A', 'INPUT', '-i', 'wan', '-p', 'tcp', '-j', 'DROP'])
    return { router: { ns: rns, ip: wan, kind: 'public' }, lan: { ns: lns, ip: `${LAN_PREFIX}.2`, kind: 'lan' } }
  }

  /** Public host `i` (throws if there is none). */
  pub (i: number): Host {
    const h = this.publicHosts[i]
    if (h === undefined) throw new RangeError(`no public host ${i}`)
    return h
  }

  /** Home `j` (throws if there is none). */
  home (j: number): Home {
    const h = this.homes[j]
    if (h === undefined) throw new RangeError(`no home ${j}`)
    return h
  }

  /**
   * Forwards TCP `port` on home `j`'s router (its public address) to the same port of its LAN
   * host, as a user does in a home router's settings.
   */
  forwardPort (j: number, port: number): void {
    const h = this.home(j)
    const to = `${h.lan.ip}:${port}`
    this.exec(h.router.ns, ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', 'wan', '-p', 'tcp', '--dport', String(port), '-j', 'DNAT', '--to-destination', to])
    this.exec(h.router.ns, ['iptables', '-I', 'FORWARD', '1', '-i', 'wan', '-o', 'lan', '-p', 'tcp', '-d', h.lan.ip, '--dport', String(port), '-j', 'ACCEPT'])
  }

  /**
   * Shapes what leaves `dev` in namespace `ns` with `tc netem` (`spec` e.g. "delay 25ms loss 1%"),
   * replacing any netem there. Needs netemUnavailable() to be undefined. The qdisc goes with the
   * namespace on destroy().
   */
  netem (ns: string, dev: string, spec: string): void {
    this.shape(ns, dev, `netem ${spec}`)
  }

  /**
   * Puts the root queueing discipline `spec` on `dev` in `ns` (tc's words after `root`, e.g.
   * "tbf rate 24mbit burst 64kb latency 200ms" for a slow link), replacing the one there.
   */
  shape (ns: string, dev: string, spec: string): void {
    this.exec(ns, ['tc', 'qdisc', 'replace', 'dev', dev, 'root', ...spec.trim().split(/\s+/)])
  }

  /**
   * Delays (and, with `loss` > 0, drops a share of) every packet of host `ns` (a public host or a
   * home's LAN host) on its link, `delayMs` each way. With sch_netem: `netem delay … loss …` on
   * both ends of the link (the host's eth0 and the far end: the home router's `lan`, or the host's
   * port on the bridge). Without it: the userspace delay line (nfqueue-delay.py, iptables NFQUEUE)
   * on the host's eth0, both directions; python3 is then needed. Returns what undoes it. Only the
   * host's own traffic is delayed, which is all a host has.
   */
  async delay (ns: string, delayMs: number, loss = 0): Promise<() => Promise<void>> {
    const spec = `delay ${delayMs}ms${loss > 0 ? ` loss ${loss * 100}%` : ''}`
    if (netemUnavailable() === undefined) {
      const home = this.homes.find(h => h.lan.ns === ns)
      const far: [string, string] = home !== undefined ? [home.router.ns, 'lan'] : [this.internet, this.#port(ns)]
      this.netem(ns, 'eth0', spec)
      this.netem(far[0], far[1], spec)
      return async () => { this.clearShape(ns, 'eth0'); this.clearShape(far[0], far[1]) }
    }
    const q = this.#queues
    this.#queues += 2
    const line = this.spawn(ns, ['python3', NFQUEUE_DELAY, String(delayMs), String(loss), String(q), String(q + 1)])
    const end = Date.now() + 15_000
    while (!line.stdout.includes('ready')) {
      if (!line.running || Date.now() > end) throw new Error(`the NFQUEUE delay line did not start in ${ns}: ${line.stderr.slice(-2000)}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const rules = [['OUTPUT', '-o', 'eth0', '-j', 'NFQUEUE', '--queue-num', String(q), '--queue-bypass'], ['INPUT', '-i', 'eth0', '-j', 'NFQUEUE', '--queue-num', String(q + 1), '--queue-bypass']]
    for (const r of rules) this.exec(ns, ['iptables', '-A', ...r])
    return async () => {
      for (const r of rules) this.exec(ns, ['iptables', '-D', ...r])
      await line.stop(2_000)
    }
  }

  /** Removes what netem() or shape() put on `dev` in `ns` (its root qdisc); nothing when there is none. */
  clearShape (ns: string, dev: string): void {
    spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root'], { stdio: 'ignore', timeout: CMD_TIMEOUT_MS })
  }

  /**
   * Cuts the link of the host (or home router) in namespace `ns` to the internet: its port on the
   * bridge goes down, as a cable pulled upstream. Nothing is sent or answered: the host's own
   * interface only loses carrier (its address and routes stay), every frame either way is dropped,
   * and connections across it stall until linkUp().
   */
  linkDown (ns: string): void {
    this.exec(this.internet, ['ip', 'link', 'set', this.#port(ns), 'down'])
  }

  /** Restores a link cut with linkDown(). */
  linkUp (ns: string): void {
    this.exec(this.internet, ['ip', 'link', 'set', this.#port(ns), 'up'])
  }

  #port (ns: string): string {
    const port = this.#ports.get(ns)
    if (port === undefined) throw new RangeError(`${ns} has no link to the internet`)
    return port
  }

  /** Bytes received and sent so far on `dev` in `ns` (the kernel's interface counters). */
  counters (ns: string, dev: string): { rxBytes: number, txBytes: number } {
    const [link] = JSON.parse(run('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'dev', dev])) as Array<{ stats64?: { rx: { bytes: number }, tx: { bytes: number } } }>
    if (link?.stats64 === undefined) throw new Error(`no counters for ${dev} in ${ns}`)
    return { rxBytes: link.stats64.rx.bytes, txBytes: link.stats64.tx.bytes }
  }

  /** Every namespace of this run. */
  get namespaces (): readonly string[] { return this.#namespaces }

  /** Runs a command in namespace `ns` to completion (bounded); returns stdout. */
  exec (ns: string, argv: string[]): string {
    return run('ip', ['netns', 'exec', ns, ...argv])
  }

  /** Starts a long-running process in namespace `ns`; it is killed by `destroy()` at the latest. */
  spawn (ns: string, argv: string[], opts: SpawnOptions = {}): NsProc {
    if (this.#destroyed) throw new Error('simnet destroyed')
    const p = new NsProc(ns, argv, opts)
    this.#procs.add(p)
    void p.exited.then(() => { this.#procs.delete(p) })
    return p
  }

  /** Interface names in `ns` other than lo (to check nothing leads out). */
  links (ns: string): string[] {
    return run('ip', ['-n', ns, '-o', 'link', 'show']).split('\n').filter(l => l !== '')
      .map(l => (l.split(':')[1] ?? '').trim().split('@')[0] ?? '').filter(n => n !== '' && n !== 'lo')
  }

  /** Kills every process of the run and removes every namespace. Idempotent, synchronous, never throws. */
  destroy (): void {
    if (this.#destroyed) return
    this.#destroyed = true
    for (const p of this.#procs) { try { p.child.kill('SIGKILL') } catch {} }
    for (const ns of [...this.#namespaces].reverse()) removeNamespace(ns)
    live.delete(this)
  }

  /** True once every namespace of the run is gone. */
  gone (): boolean {
    const left = new Set(listOurs())
    return this.#namespaces.every(ns => !left.has(ns))
  }
}
