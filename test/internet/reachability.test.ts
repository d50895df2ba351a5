/**
 * The reachability report on the simulated internet, from real `kith` daemons (`kith status
 * --json` and `kith status`, through each daemon's local API):
 *
 * Both homes' routers randomise ports (MASQUERADE --random-fully), so the WebRTC hole punch
 * fails and A and B stay connected through P: the report must say "via" P, not direct. (With
 * ordinary cone NATs they end up on a hole-punched connection instead: direct.test.ts.)
 *
 *   P  a friend's Kith node on a public address (its own /8): reports `public` (it binds it)
 *   A  home 0, behind NAT, listening on P/p2p-circuit: reports `behind NAT`, a reservation on P
 *      (a Kith node: unlimited; P is its bootstrap peer), and B's connection via P (B's dial, or
 *      A's own when its DHT found B's reservation on P first)
 *   B  home 1, behind another NAT, dials A at its relay address through P: reports `behind NAT`
 *      and its connection to A as a friend relay via P; its connection to P as direct
 *
 * Privacy (SECURITY.md property 9): after the run, no file in A's or B's repo and nothing the
 * daemons wrote to stderr holds P's or the other home's public IP.
 */
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReachabilityReport, StatusResponse } from '../../node/api/schema.js'
import { buildOnce, killAll, Sandbox, tempDir } from '../node/fixtures/procs.js'
import { walk } from '../node/helpers/nodes.js'
import { daemonIn, KITH_PORT, kithRun, type KithDaemon } from './kith.js'
import { Simnet, simnetUnavailable } from './simnet.js'

const unavailable = simnetUnavailable()
/** How long the reports may take to show what is asserted (polled every POLL_MS). */
const SETTLE_MS = 60_000
const POLL_MS = 500

describe.skipIf(unavailable !== undefined)('the reachability report on the simulated internet', () => {
  let net: Simnet
  let box: Sandbox
  let p: KithDaemon, a: KithDaemon, b: KithDaemon
  let pAddr: string

  beforeAll(async () => {
    await buildOnce()
    box = new Sandbox(await tempDir('kith-simnet-reach-'))
    net = Simnet.create({ publicHosts: 1, homes: 2, randomFully: true })
    p = await daemonIn(net, box, net.pub(0).ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    pAddr = `/ip4/${net.pub(0).ip}/tcp/${KITH_PORT}/p2p/${p.info.peerId}`
    // (A circuit listen address naming the relay: see friend-node.test.ts for why not a bare one.)
    a = await daemonIn(net, box, net.home(0).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--listen', `${pAddr}/p2p-circuit`, '--bootstrap', pAddr])
    // B reaches A the only way it can: at A's relay address on P.
    b = await daemonIn(net, box, net.home(1).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--bootstrap', pAddr, '--bootstrap', `${pAddr}/p2p-circuit/p2p/${a.info.peerId}`])
  }, 240_000)

  afterAll(async () => {
    await Promise.all([p?.proc.stop(5_000), a?.proc.stop(5_000), b?.proc.stop(5_000)])
    net?.destroy()
    await killAll()
  })

  async function status (d: KithDaemon): Promise<StatusResponse> {
    const r = await kithRun(net, box, d.ns, ['status', '--repo', d.repo, '--json'], 30_000)
    if (r.code !== 0) throw new Error(`kith status exited ${String(r.code)}: ${r.stderr}`)
    return JSON.parse(r.stdout) as StatusResponse
  }

  /** Polls `kith status --json` of `d` until `ok` holds of its report (bounded); returns the last report. */
  async function settle (d: KithDaemon, what: string, ok: (r: ReachabilityReport) => boolean): Promise<ReachabilityReport> {
    const t0 = Date.now()
    let last: ReachabilityReport | undefined
    for (let i = 0; Date.now() - t0 < SETTLE_MS && i < SETTLE_MS / POLL_MS; i++) {
      last = (await status(d)).reachability
      if (ok(last)) {
        console.log(`reachability: ${what} after ${Date.now() - t0} ms`)
        return last
      }
      await new Promise(resolve => setTimeout(resolve, POLL_MS))
    }
    throw new Error(`${what}: not within ${SETTLE_MS} ms; last report ${JSON.stringify(last)}`)
  }

  it('P, on a public address, reports public', async () => {
    const r = await settle(p, 'P public', x => x.nat === 'public')
    expect(r.natBasis).toBe('bound')
    expect(r.publicAddrs).toContain(pAddr)
    expect(r.relays).toEqual([])
    expect(r.upnp.enabled).toBe(false)
  }, SETTLE_MS + 30_000)

  it('A, behind NAT, reports it, its reservation on P and B coming in via P', async () => {
    const pId = p.info.peerId
    const r = await settle(a, 'A behind NAT with a reservation on P and B via P', x =>
      x.nat === 'behind NAT' && x.relays.length > 0 && x.connections.some(c => c.peerId === b.info.peerId && c.path === 'friend-relay'))
    expect(['observed', 'private-source']).toContain(r.natBasis)
    expect(r.publicAddrs).toEqual([])
    expect(r.relays).toHaveLength(1)
    expect(r.relays[0]).toMatchObject({ peerId: pId, kind: 'kith', limited: false, bootstrap: true })
    expect(Date.parse(r.relays[0]?.expires ?? '')).toBeGreaterThan(Date.now() + 60_000)
    expect(r.relays[0]?.addrs).toContain(`${pAddr}/p2p-circuit/p2p/${a.info.peerId}`)
    expect(r.connections.find(c => c.peerId === pId)).toMatchObject({ path: 'direct', direction: 'outbound', transport: 'tcp', bootstrap: true, label: 'direct' })
    const fromB = r.connections.find(c => c.peerId === b.info.peerId && c.path === 'friend-relay')
    // Usually B's dial (inbound here); A's own dial of B through P when A's DHT found B first.
    expect(fromB).toMatchObject({ via: pId, limited: false, label: `via Kith node …${pId.slice(-8)}` })
    expect(['inbound', 'outbound']).toContain(fromB?.direction)
    console.log(`reachability: A says ${r.nat} (${r.natBasis}); relay ${r.relays[0]?.kind} until ${r.relays[0]?.expires}; B: ${fromB?.label}`)
  }, SETTLE_MS + 30_000)

  it('B, behind the other NAT, reports its connection to A as a friend relay via P', async () => {
    const pId = p.info.peerId
    const r = await settle(b, 'B behind NAT, A via P', x =>
      x.nat === 'behind NAT' && x.connections.some(c => c.peerId === a.info.peerId && c.path === 'friend-relay'))
    // B dials A through P at start (its bootstrap), but A may have dialled B first (A's DHT finds
    // B's own reservation on P): then libp2p hands B's dial that connection, inbound. Either way
    // it runs through P's relay.
    const toA = r.connections.find(c => c.peerId === a.info.peerId && c.path === 'friend-relay')
    expect(toA).toMatchObject({ via: pId, limited: false, transport: 'tcp' })
    expect(['inbound', 'outbound']).toContain(toA?.direction)
    expect(toA?.remoteAddr).toMatch(new RegExp(`^/ip4/${net.pub(0).ip.replaceAll('.', '\\.')}/tcp/${KITH_PORT}(/p2p/${pId})?/p2p-circuit/p2p/${a.info.peerId}$`))
    expect(r.connections.find(c => c.peerId === pId)).toMatchObject({ path: 'direct', bootstrap: true })
    // No relayed path to A was upgraded behind our back: every connection to A is via P.
    expect(r.connections.filter(c => c.peerId === a.info.peerId).every(c => c.path === 'friend-relay')).toBe(true)

    // The same in words, as `kith status` prints it.
    const text = await kithRun(net, box, b.ns, ['status', '--repo', b.repo], 30_000)
    expect(text.code).toBe(0)
    console.log(`reachability: B's kith status:\n${text.stdout.trimEnd()}`)
    expect(text.stdout).toMatch(/^NAT +behind NAT \(/m)
    expect(text.stdout).toContain(`via Kith node …${pId.slice(-8)}`)
    expect(text.stdout).toMatch(/^UPnP +off$/m)
  }, SETTLE_MS + 60_000)

  it('no peer IP in A\'s or B\'s repo or in what the daemons logged', async () => {
    const ips = [net.pub(0).ip, net.home(0).router.ip, net.home(1).router.ip]
    for (const d of [a, b]) {
      const own = d === a ? net.home(0).router.ip : net.home(1).router.ip
      const peers = ips.filter(ip => ip !== own)
      // A's and B's repos: config.json holds no listen/bootstrap (they came as flags).
      for (const file of await walk(d.repo)) {
        const text = (await readFile(file)).toString('latin1')
        for (const ip of peers) expect(text.includes(ip), `${file} holds ${ip}`).toBe(false)
      }
      for (const ip of peers) expect(d.proc.stderr.includes(ip), `stderr of ${d.ns} holds ${ip}`).toBe(false)
    }
  })
})

if (unavailable !== undefined) console.warn(`test/internet skipped: ${unavailable}`)
