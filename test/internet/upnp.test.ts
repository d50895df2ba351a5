/**
 * UPnP and NAT-PMP port mapping (`kith daemon --upnp`, node/libp2p/upnp.ts) against a real router: Debian's
 * miniupnpd (IGD v2, nftables backend) on the LAN side of each home router of the simulated
 * internet, mapping into its own nftables chains (`table inet filter`: miniupnpd, prerouting_miniupnpd,
 * postrouting_miniupnpd). SSDP and SOAP stay between a home's LAN host and its router: nothing of it
 * reaches the simulated internet, let alone the machine's real network.
 *
 *   A  kith daemon --upnp in home 0: the router maps its TCP port 4001; A announces the router's
 *      public address; `kith status` says "UPnP  mapped /ip4/<router>/tcp/4001/p2p/<A>"
 *   B  kith get on a public host, with A's link alone (no bootstrap, no relay anywhere): it dials
 *      A at the mapped address. The home router lets in only what a UPnP mapping DNATs (as before,
 *      unsolicited inbound is dropped), and counts the bytes of those connections
 *   C  kith daemon without --upnp in home 1 (the control): its router hears no SSDP search and no
 *      SOAP request, and its lease list stays empty
 *   D  kith daemon --upnp in home 2, whose router speaks NAT-PMP only (homes 0 and 1 speak UPnP
 *      only): the mapping is made by NAT-PMP (node/libp2p/nat-pmp.ts), B downloads over it
 *
 * Real kith processes and a real miniupnpd; every wait bounded; skips (saying why) without root,
 * namespaces, iptables, miniupnpd or nft (scripts/test-prepare.ts installs them with apt-get).
 */
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLink } from '../../protocol/link.js'
import type { ReachabilityReport } from '../../node/api/schema.js'
import { buildOnce, killAll, Sandbox, tempDir, writeRandomFile } from '../node/fixtures/procs.js'
import { daemonIn, KITH_PORT, kithRun, type KithDaemon } from './kith.js'
import { Simnet, simnetUnavailable, type NsProc } from './simnet.js'

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
function unavailableHere (): string | undefined {
  const why = simnetUnavailable()
  if (why !== undefined) return why
  if (!has('miniupnpd')) return 'Debian\'s miniupnpd is not installed (scripts/test-prepare.ts installs it with apt-get when root)'
  if (!has('nft')) return 'nftables\' nft is not installed (scripts/test-prepare.ts installs it with apt-get when root)'
  return undefined
}
const unavailable = unavailableHere()

const SIZE = 4 * 1024 * 1024 + 777
/** How long A may take to get its mapping (gateway search, then libp2p's 5 s debounce). */
const MAPPING_MS = 45_000

/** miniupnpd on a home router: LAN side `lan`, WAN side `wan`, its rules in its own nftables chains. */
class Router {
  readonly proc: NsProc
  readonly leases: string
  constructor (readonly net: Simnet, readonly ns: string, readonly dir: string) {
    this.leases = join(dir, 'leases')
    this.proc = net.spawn(ns, ['miniupnpd', '-d', '-f', join(dir, 'miniupnpd.conf'), '-P', join(dir, 'miniupnpd.pid')])
  }

  /** A router that speaks UPnP IGD only (`upnp`) or NAT-PMP/PCP only (`natpmp`). */
  static async start (net: Simnet, ns: string, dir: string, speaks: 'upnp' | 'natpmp'): Promise<Router> {
    // The chains miniupnpd 2.3's nftables backend adds its rules to (it creates none itself).
    await writeFile(join(dir, 'miniupnpd.nft'), [
      'table inet filter {',
      '  chain miniupnpd { }',
      '  chain prerouting_miniupnpd { }',
      '  chain postrouting_miniupnpd { }',
      '  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }',
      '  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }',
      '  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }',
      '}', ''
    ].join('\n'))
    net.exec(ns, ['nft', '-f', join(dir, 'miniupnpd.nft')])
    // The router's firewall (test/internet/simnet.ts) drops unsolicited inbound: let through what
    // a UPnP mapping DNATs, and count those connections' bytes both ways.
    net.exec(ns, ['iptables', '-I', 'FORWARD', '1', '-i', 'wan', '-o', 'lan', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'])
    net.exec(ns, ['iptables', '-I', 'FORWARD', '1', '-i', 'lan', '-o', 'wan', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'])
    await writeFile(join(dir, 'miniupnpd.conf'), [
      'ext_ifname=wan',
      'listening_ip=lan',
      'http_port=0',
      `enable_upnp=${speaks === 'upnp' ? 'yes' : 'no'}`,
      `enable_natpmp=${speaks === 'natpmp' ? 'yes' : 'no'}`,
      'secure_mode=yes',
      `lease_file=${join(dir, 'leases')}`,
      `uuid=${randomUUID()}`,
      'system_uptime=yes',
      'notify_interval=60',
      'allow 1024-65535 192.168.1.0/24 1024-65535',
      'deny 0-65535 0.0.0.0/0 0-65535',
      ''
    ].join('\n'))
    const r = new Router(net, ns, dir)
    const end = Date.now() + 10_000
    const ready = speaks === 'upnp' ? 'HTTP listening on port' : 'Listening for NAT-PMP/PCP traffic on port'
    while (!r.proc.stderr.includes(ready)) {
      if (!r.proc.running || Date.now() > end) throw new Error(`miniupnpd did not start in ${ns}: ${r.proc.stderr.slice(-3000)}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    return r
  }

  /** The port mappings miniupnpd holds (its lease file: one `TCP:<ext port>:<host>:<port>:<expiry>:<description>` a line). */
  async leaseList (): Promise<string[]> {
    if (!existsSync(this.leases)) return []
    return (await readFile(this.leases, 'utf8')).split('\n').filter(l => l !== '')
  }

  /** Bytes the router forwarded on connections a UPnP mapping DNATed, [inbound, outbound]. */
  dnatBytes (): [number, number] {
    const out = this.net.exec(this.ns, ['iptables', '-L', 'FORWARD', '-v', '-x', '-n'])
    const rule = (i: string, o: string): number => {
      const line = out.split('\n').find(l => / ctstate DNAT/.test(l) && l.trim().split(/\s+/)[5] === i && l.trim().split(/\s+/)[6] === o)
      return Number(line?.trim().split(/\s+/)[1] ?? NaN)
    }
    return [rule('wan', 'lan'), rule('lan', 'wan')]
  }
}

interface Status { addrs: string[], reachability: ReachabilityReport }

async function status (net: Simnet, box: Sandbox, d: KithDaemon): Promise<Status> {
  const st = await kithRun(net, box, d.ns, ['status', '--repo', d.repo, '--json'], 30_000)
  if (st.code !== 0) throw new Error(`kith status failed (${String(st.code)}): ${st.stderr}`)
  return JSON.parse(st.stdout) as Status
}

/**
 * A shares; its link's hints carry the mapped address; B on the internet gets the file with the
 * link alone (no bootstrap, no relay anywhere on this internet), every byte directly over TCP
 * through the router's mapping (its DNAT counters).
 */
async function getsOverMapping (net: Simnet, box: Sandbox, a: KithDaemon, mapped: string, router: Router, label: string): Promise<void> {
  // A shares; its link's hints carry the mapped address.
  const file = join(box.dir, `${label}.bin`)
  const sha256 = await writeRandomFile(file, SIZE)
  const shared = await kithRun(net, box, a.ns, ['share', file, '--repo', a.repo, '--json'], 120_000)
  expect(shared.code, shared.stderr).toBe(0)
  const link = (JSON.parse(shared.stdout) as { link: string }).link
  expect(parseLink(link).hints.map(h => multiaddr(h).toString())).toContain(mapped)

  // B on the internet: the link alone, no bootstrap, no relay anywhere on this internet.
  const before = router.dnatBytes()
  const g0 = Date.now()
  const got = await kithRun(net, box, net.pub(0).ns, ['get', link, '--repo', await box.repo(), '-o', box.path(`out-${label}`), '--timeout', '30', '--json'], 120_000, { DEBUG: 'kith:swarm' })
  const end = Date.now()
  const getMs = end - g0
  // From the swarm's debug log: when B's session with A began (the transfer is from there to the end).
  const session = /^(\S+) kith:swarm connected to \S+ \(direct\) in/m.exec(got.stderr)
  const sessionAt = session === null ? undefined : Date.parse(session[1] as string)
  expect(got.code, got.stderr).toBe(0)
  const res = JSON.parse(got.stdout) as { size: number, sha256: string, paths?: Array<{ peer: string, path: string, kind: string, limited: boolean, received: number }> }
  expect(res.size).toBe(SIZE)
  expect(res.sha256).toBe(sha256)
  const paths = res.paths ?? []
  console.log(`${label}: B's paths ${JSON.stringify(paths)}`)
  expect(paths.length).toBeGreaterThan(0)
  for (const p of paths) expect(p).toMatchObject({ peer: a.info.peerId, path: 'direct', kind: 'tcp', limited: false })
  expect(paths.reduce((n, p) => n + p.received, 0)).toBeGreaterThanOrEqual(SIZE)
  // Every byte went through the router's mapping: A's side of those connections carried it.
  const after = router.dnatBytes()
  const outBytes = after[1] - before[1]
  const transferMs = sessionAt === undefined ? undefined : end - sessionAt
  console.log(`${label}: ${SIZE} B from A to B over the mapping: kith get in all ${getMs} ms (process start and finding A included), first session ${sessionAt === undefined ? '?' : sessionAt - g0} ms after the start, from there to the end ${transferMs ?? '?'} ms (${transferMs === undefined ? '?' : (SIZE / 1024 / 1024 / (transferMs / 1000)).toFixed(1)} MiB/s); the router forwarded ${outBytes} B out and ${after[0] - before[0]} B in on mapped connections`)
  expect(outBytes).toBeGreaterThanOrEqual(SIZE)
}

describe.skipIf(unavailable !== undefined)('UPnP: kith daemon --upnp behind a miniupnpd home router', () => {
  let net: Simnet
  let box: Sandbox
  let routers: Router[] = []

  beforeAll(async () => {
    await buildOnce()
    box = new Sandbox(await tempDir('kith-simnet-upnp-'))
    net = Simnet.create({ publicHosts: 1, homes: 3 })
    routers = [
      await Router.start(net, net.home(0).router.ns, await tempDir('kith-upnp-r0-'), 'upnp'),
      await Router.start(net, net.home(1).router.ns, await tempDir('kith-upnp-r1-'), 'upnp'),
      await Router.start(net, net.home(2).router.ns, await tempDir('kith-upnp-r2-'), 'natpmp')
    ]
  }, 240_000)
  afterAll(async () => {
    net?.destroy()
    await killAll()
  })

  it('maps A\'s TCP port, announces the router\'s address, B downloads over it directly; without --upnp nothing is asked', async () => {
    const wan = net.home(0).router.ip
    const t0 = Date.now()
    // C first (the control), then A, both listening on TCP 4001 only.
    const c = await daemonIn(net, box, net.home(1).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    const a = await daemonIn(net, box, net.home(0).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--upnp'])
    const aStarted = Date.now()
    const mapped = `/ip4/${wan}/tcp/${KITH_PORT}/p2p/${a.info.peerId}`

    // A's report: on, and the router's public address mapped (polled, bounded).
    let st: Status | undefined
    while (Date.now() - aStarted < MAPPING_MS) {
      st = await status(net, box, a)
      if (st.reachability.upnp.mapped.length > 0) break
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    const mappingMs = Date.now() - aStarted
    console.log(`upnp: A's router mapped its TCP port ${mappingMs} ms after the daemon was up: ${JSON.stringify(st?.reachability.upnp)}`)
    expect(st?.reachability.upnp).toEqual({ enabled: true, mapped: [mapped] })
    // Announced at once: in its addresses and its public addresses, so it counts as public.
    expect(st?.addrs).toContain(mapped)
    expect(st?.reachability.publicAddrs).toContain(mapped)
    expect(st?.reachability.nat).toBe('public')
    const leases = await routers[0]?.leaseList()
    console.log(`upnp: router 0's lease list: ${JSON.stringify(leases)}`)
    expect(leases).toEqual([expect.stringMatching(new RegExp(`^TCP:${KITH_PORT}:${net.home(0).lan.ip.replace(/\./g, '\\.')}:${KITH_PORT}:\\d+:Kith$`))])
    const text = await kithRun(net, box, a.ns, ['status', '--repo', a.repo], 30_000)
    expect(text.stdout).toContain(`UPnP         mapped ${mapped}`)

    await getsOverMapping(net, box, a, mapped, routers[0] as Router, 'upnp')

    // The control: C ran longer than A needed for its mapping, and asked its router nothing.
    const waitMore = aStarted + mappingMs + 5_000 - Date.now()
    if (waitMore > 0) await new Promise(resolve => setTimeout(resolve, waitMore))
    const cStatus = await status(net, box, c)
    expect(cStatus.reachability.upnp).toEqual({ enabled: false, mapped: [] })
    expect(await routers[1]?.leaseList()).toEqual([])
    const r1 = routers[1]?.proc.stderr ?? ''
    expect(r1).not.toMatch(/SSDP M-SEARCH from|HTTP REQUEST from/)
    expect(routers[1]?.proc.running).toBe(true)
    console.log(`upnp: control (no --upnp) ran ${Date.now() - t0} ms: no SSDP search, no SOAP request, lease list empty`)

    // A stops: its mapping is deleted from the router.
    await a.proc.stop(10_000)
    expect(a.proc.code).toBe(0)
    const leasesAfter = await routers[0]?.leaseList()
    console.log(`upnp: router 0's lease list after A stopped: ${JSON.stringify(leasesAfter)}`)
    expect(leasesAfter).toEqual([])
    await c.proc.stop(10_000)
  }, 180_000)

  it('a router that speaks NAT-PMP only: --upnp maps A\'s TCP port by NAT-PMP, B downloads over it directly, the mapping goes when A stops', async () => {
    const home = net.home(2)
    const router = routers[2] as Router
    const a = await daemonIn(net, box, home.lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--upnp'])
    const aStarted = Date.now()
    const mapped = `/ip4/${home.router.ip}/tcp/${KITH_PORT}/p2p/${a.info.peerId}`
    let st: Status | undefined
    while (Date.now() - aStarted < MAPPING_MS) {
      st = await status(net, box, a)
      if (st.reachability.upnp.mapped.length > 0) break
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    console.log(`nat-pmp: A's router mapped its TCP port ${Date.now() - aStarted} ms after the daemon was up (status polled every 250 ms): ${JSON.stringify(st?.reachability.upnp)}`)
    expect(st?.reachability.upnp).toEqual({ enabled: true, mapped: [mapped] })
    expect(st?.addrs).toContain(mapped)
    expect(st?.reachability.nat).toBe('public')
    const leases = await router.leaseList()
    console.log(`nat-pmp: the router's lease list: ${JSON.stringify(leases)}`)
    // NAT-PMP carries no description: miniupnpd writes its own, without a peer ID.
    expect(leases).toEqual([expect.stringMatching(new RegExp(`^TCP:${KITH_PORT}:${home.lan.ip.replace(/\./g, '\\.')}:${KITH_PORT}:\\d+:NAT-PMP ${KITH_PORT} tcp$`))])
    expect(router.proc.stderr).not.toMatch(/SSDP M-SEARCH from|HTTP REQUEST from/)

    await getsOverMapping(net, box, a, mapped, router, 'nat-pmp')

    await a.proc.stop(10_000)
    expect(a.proc.code).toBe(0)
    const after = await router.leaseList()
    console.log(`nat-pmp: the router's lease list after A stopped: ${JSON.stringify(after)}`)
    expect(after).toEqual([])
  }, 120_000)
})

if (unavailable !== undefined) console.warn(`test/internet/upnp skipped: ${unavailable}`)
