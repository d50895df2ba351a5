/**
 * Reachability without an operator (node/libp2p/relay-reservations.ts): a Kith node behind NAT
 * takes relay reservations on its friends' public Kith nodes by itself, announces the relayed
 * addresses, puts them in its links, keeps them when a relay dies, and re-provides its shares.
 *
 *   P, P1, P2  kith daemons on the simulated internet (each its own public /8); no Helia
 *   A          kith daemon in home 0, behind NAT, started with only the bootstrap list: NO
 *              `<relay>/p2p-circuit` listen address
 *   B          kith get in home 1, behind another NAT
 *
 * (a) A, with only P as bootstrap, reserves on P by itself, announces `<P>/p2p-circuit/p2p/<A>`,
 *     its link's first hint is that address, and B, with no bootstrap at all (the link alone),
 *     downloads A's share through P: bytes identical.
 * (b) churn: A is connected to three public Kith nodes and holds reservations on two (the target).
 *     The relay its link names first is killed (SIGKILL): A drops that address, reserves on the
 *     third, re-announces its shares, and a B that knows only the third (bootstrap) and a link whose
 *     only hint is the dead relay's finds A through the DHT and downloads the share. With
 *     KITH_SIMNET_LONG=1 the relay is killed mid-download (A's upload rate capped so the download
 *     takes long enough): the B already running finishes too.
 *
 * Figures (one line each): time from A's start to its relayed address in `kith status`, and from
 * the kill to holding two reservations again.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatLink, parseLink } from '../../protocol/link.js'
import { linkHintAddrs } from '../../node/libp2p/relay-addresses.js'
import { buildOnce, killAll, Sandbox, tempDir } from '../node/fixtures/procs.js'
import { daemonIn, KITH_PORT, kithRun, shareRandomFile, waitForAddrs, type KithDaemon } from './kith.js'
import { Simnet, simnetUnavailable } from './simnet.js'

const unavailable = simnetUnavailable()
const LONG = process.env.KITH_SIMNET_LONG === '1'
const SIZE = LONG ? 48 * 1024 * 1024 : 512 * 1024 + 77
/** `kith get --timeout`: seconds without progress before it gives up. */
const GET_TIMEOUT_S = 60
const GET_DEADLINE_MS = LONG ? 300_000 : 120_000
/** Longest wait for a reservation to show in `kith status` (the service checks at once and every 15 s). */
const RESERVE_WAIT_MS = 60_000

interface GetResult { path: string, size: number, sha256: string }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe.skipIf(unavailable !== undefined)('relay reservations without an operator', () => {
  let net: Simnet
  let box: Sandbox
  const daemons: KithDaemon[] = []

  beforeAll(async () => {
    await buildOnce()
    box = new Sandbox(await tempDir('kith-simnet-relay-'))
    net = Simnet.create({ publicHosts: 4, homes: 2 })
  }, 240_000)

  afterAll(async () => {
    await Promise.all(daemons.map(async d => { await d.proc.stop(5_000) }))
    net?.destroy()
    await killAll()
  })

  async function publicDaemon (i: number): Promise<{ d: KithDaemon, addr: string }> {
    const d = await daemonIn(net, box, net.pub(i).ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    daemons.push(d)
    const addr = `/ip4/${net.pub(i).ip}/tcp/${KITH_PORT}/p2p/${d.info.peerId}`
    expect(d.info.addrs).toContain(addr)
    return { d, addr }
  }

  const waitAddrs = async (d: KithDaemon, pred: (addrs: string[]) => boolean, ms: number): Promise<{ addrs: string[], ms: number }> => await waitForAddrs(net, box, d, pred, ms)

  const share = async (d: KithDaemon, name: string): Promise<{ link: string, sha256: string }> => await shareRandomFile(net, box, d, name, SIZE)

  function getArgs (link: string, repo: string, out: string, bootstrap: string[]): string[] {
    return ['get', link, '--repo', repo, '-o', out, ...bootstrap.flatMap(b => ['--bootstrap', b]), '--timeout', String(GET_TIMEOUT_S), '--json']
  }

  function parseGet (r: { code?: number | null, stdout: string, stderr: string }, label: string, ms: number): GetResult {
    if (r.code !== 0) throw new Error(`kith get (${label}) exited ${String(r.code)} after ${ms} ms:\n${r.stderr.slice(-4000)}`)
    const res = JSON.parse(r.stdout) as GetResult
    console.log(`relay: B got ${label} (${res.size} bytes) in ${ms} ms`)
    return res
  }

  const circuitVia = (relayAddr: string, me: string): string => `${relayAddr}/p2p-circuit/p2p/${me}`

  it('(a) A behind NAT, only P as bootstrap, reserves on P by itself; B downloads by link alone through P', async () => {
    const { d: p, addr: pAddr } = await publicDaemon(0)
    const t0 = Date.now()
    const a = await daemonIn(net, box, net.home(0).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--bootstrap', pAddr])
    daemons.push(a)
    const relayed = circuitVia(pAddr, a.info.peerId)
    const seen = await waitAddrs(a, addrs => addrs.includes(relayed), RESERVE_WAIT_MS)
    console.log(`relay (a): A's relayed address through P in kith status ${Date.now() - t0} ms after A's daemon was started (${seen.ms} ms of polling)`)
    // Nothing public of its own: the relay is the only way in.
    expect(seen.addrs.filter(x => !x.includes('/p2p-circuit') && !x.startsWith('/ip4/127.') && !x.startsWith('/ip4/192.168.'))).toEqual([])
    // P (on 0.0.0.0) lists its loopback address in the reservation too; A reaches P on its public
    // one, so no relay address of A's is built on P's loopback one (nobody could dial it).
    console.log(`relay (a): A's relay addresses: ${seen.addrs.filter(x => x.includes('/p2p-circuit')).map(x => x.split('/p2p/')[0]).join(' ')}`)
    expect(seen.addrs.filter(x => x.includes('/p2p-circuit') && (x.startsWith('/ip4/127.') || x.startsWith('/ip6/::1/')))).toEqual([])

    const s = await share(a, 'a-relay.bin')
    const hints = parseLink(s.link).hints.map(h => multiaddr(h).toString())
    expect(hints[0]).toBe(relayed)

    const out = box.path('out-a')
    const tg = Date.now()
    const r = await kithRun(net, box, net.home(1).lan.ns, getArgs(s.link, await box.repo(), out, []), GET_DEADLINE_MS, { DEBUG: 'kith:relay-reservations' })
    const got = parseGet(r, 'A\'s share by link alone', Date.now() - tg)
    // A one-shot `kith get` never needs to be reachable: it takes no reservation on P, though it
    // is connected to P (a public Kith relay) for the circuit to A.
    console.log(`relay (a): reservations B's kith get took: ${r.stderr.split('\n').filter(l => l.includes('reserved a slot')).length}`)
    expect(r.stderr.split('\n').filter(l => l.includes('reserved a slot'))).toEqual([])
    expect(got.size).toBe(SIZE)
    expect(got.sha256).toBe(s.sha256)
    await Promise.all([a.proc.stop(5_000), p.proc.stop(5_000)])
  }, RESERVE_WAIT_MS + 2 * GET_DEADLINE_MS + 60_000)

  it('(b) churn: the relay A is reached through dies; A reserves on another, re-provides, and B still finds and downloads it', async () => {
    const relays = [await publicDaemon(1), await publicDaemon(2), await publicDaemon(3)]
    // A's upload capped in the long run so that the download is still running when the relay dies.
    const aRepo = await box.repo(LONG ? { uploadRate: 2 * 1024 * 1024 } : {})
    const t0 = Date.now()
    const a = await daemonIn(net, box, net.home(0).lan.ns, aRepo, ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, ...relays.flatMap(r => ['--bootstrap', r.addr])], 40_000, { DEBUG: 'kith:node,kith:relay-reservations' })
    daemons.push(a)
    const via = relays.map(r => circuitVia(r.addr, a.info.peerId))
    const held = (addrs: string[]): number[] => via.flatMap((v, i) => addrs.includes(v) ? [i] : [])
    const two = await waitAddrs(a, addrs => held(addrs).length >= 2, RESERVE_WAIT_MS)
    console.log(`relay (b): A holds 2 reservations (of 3 relays it is connected to) ${Date.now() - t0} ms after its daemon was started`)
    expect(held(two.addrs)).toHaveLength(2) // the target is 2, not every relay it meets

    const s = await share(a, 'a-churn.bin')
    const hints = parseLink(s.link).hints.map(h => multiaddr(h).toString())
    expect(hints).toHaveLength(2)
    expect(hints.every(h => via.includes(h))).toBe(true)
    // The relay to kill: the link's first hint. The link B gets names only that one, so once it
    // is gone B must find A through the DHT (on a relay that is still up, its only bootstrap).
    const dead = via.indexOf(hints[0] as string)
    const spare = [0, 1, 2].find(i => i !== dead && !held(two.addrs).includes(i)) as number
    const bootstrapB = [relays[spare]?.addr as string]
    const deadOnly = formatLink({ ...parseLink(s.link), hints: [multiaddr(via[dead] as string).bytes] })

    let running: Promise<Awaited<ReturnType<typeof kithRun>>> | undefined
    let tRun = 0
    if (LONG) {
      // Mid-way: B starts through the relay (its only hint) and dies with it.
      tRun = Date.now()
      running = kithRun(net, box, net.home(1).lan.ns, getArgs(deadOnly, await box.repo(), box.path('out-b-midway'), bootstrapB), GET_DEADLINE_MS)
      await sleep(10_000)
    }

    const reannounced = (): number => a.proc.stderr.split('\n').filter(l => l.includes('re-announcing shares')).length
    const before = reannounced()
    const tk = Date.now()
    relays[dead]?.d.proc.child.kill('SIGKILL')
    const again = await waitAddrs(a, addrs => !addrs.includes(via[dead] as string) && held(addrs).length >= 2, RESERVE_WAIT_MS)
    console.log(`relay (b): A holds 2 reservations again (lost the killed relay's, took the spare's) ${Date.now() - tk} ms after the relay was killed`)
    expect(held(again.addrs)).toContain(spare)
    // Re-provided: its shares announced again once its addresses changed (node/node.ts).
    for (let i = 0; i < 40 && reannounced() === before; i++) await sleep(250)
    expect(reannounced()).toBeGreaterThan(before)

    if (running !== undefined) {
      const r = await running
      const got = parseGet(r, 'A\'s share, its relay killed mid-way', Date.now() - tRun)
      expect(got.size).toBe(SIZE)
      expect(got.sha256).toBe(s.sha256)
    }
    // A fresh B after the kill: the link's only hint is dead, the spare relay is all it knows.
    const tg = Date.now()
    const r = await kithRun(net, box, net.home(1).lan.ns, getArgs(deadOnly, await box.repo(), box.path('out-b-after'), bootstrapB), GET_DEADLINE_MS)
    const got = parseGet(r, 'A\'s share after its relay was killed, found through the DHT', Date.now() - tg)
    expect(got.size).toBe(SIZE)
    expect(got.sha256).toBe(s.sha256)
  }, 2 * RESERVE_WAIT_MS + 2 * GET_DEADLINE_MS + 60_000)
})

describe('link hints with relay addresses (node/libp2p/relay-addresses.ts)', () => {
  const me = '12D3KooWREFJ2KPy37VPP7sc81tMVuwfsEeXqqdU3RDQboahkH7L'
  const r1 = '12D3KooWKHfLrV1xj28E2wunwr8zKtT1RtX6P3t1TCRZJMQ4T2Bb'
  const r2 = '12D3KooWCJrjjAGTugQt5bJevmjwjFBoKDe7LLi7LAQ9Da5PRLHq'
  const addrs = [
    `/ip4/127.0.0.1/tcp/4001/p2p/${me}`,
    `/ip4/192.168.1.2/tcp/4001/p2p/${me}`,
    `/ip4/127.0.0.1/tcp/4001/p2p/${r1}/p2p-circuit/p2p/${me}`,
    `/ip4/11.0.0.10/tcp/4001/p2p/${r1}/p2p-circuit/p2p/${me}`,
    `/ip4/11.0.0.10/tcp/4002/ws/p2p/${r1}/p2p-circuit/p2p/${me}`,
    `/ip4/21.0.0.10/tcp/4001/p2p/${r2}/p2p-circuit/p2p/${me}`
  ].map(a => multiaddr(a))
  const hints = (list: typeof addrs, count: number, privateAddrs = true): string[] => linkHintAddrs(list, { count, maxBytes: 200, privateAddrs }).map(a => a.toString())

  it('relay addresses come before LAN ones, one WebSocket among them, two relays when there are two', () => {
    expect(hints(addrs, 2)).toEqual([addrs[3]?.toString(), addrs[4]?.toString()])
    const noWs = addrs.filter(a => !a.toString().includes('/ws'))
    expect(hints(noWs, 2)).toEqual([addrs[3]?.toString(), addrs[5]?.toString()])
    expect(hints(noWs, 4)).toEqual([addrs[3], addrs[5], addrs[1], addrs[2]].map(a => a?.toString()))
  })

  it('without private hints: no LAN, loopback or relay-on-loopback address', () => {
    expect(hints(addrs, 4, false)).toEqual([addrs[3], addrs[4], addrs[5]].map(a => a?.toString()))
    expect(hints(addrs.slice(0, 3), 4, false)).toEqual([])
  })

  it('a public address of its own comes first', () => {
    const own = multiaddr(`/ip4/22.0.0.10/tcp/4001/p2p/${me}`)
    expect(hints([...addrs, own], 1)).toEqual([own.toString()])
  })
})

/**
 * In-process (loopback TCP; `privateRelays` lets a loopback relay count): which relays the service
 * picks, and the bare `/p2p-circuit` listen address that used to hang the start.
 */
describe('relay choice and the bare /p2p-circuit address (in-process)', () => {
  const loopback = ['/ip4/127.0.0.1/tcp/0']

  it('reserves on a Kith relay, on a non-Kith libp2p relay only with publicRelays', async () => {
    const { createKithLibp2p } = await import('../../node/libp2p/assembly.js')
    const { swarm } = await import('../../node/engine/swarm/service.js')
    const kithRelay = await createKithLibp2p({ listen: loopback, relayReservations: false, services: { swarm: swarm() } as never })
    // A libp2p relay that does not speak Kith (no swarm service), as a public Helia/Kubo relay.
    const plainRelay = await createKithLibp2p({ listen: loopback, relayReservations: false })
    const nodes = [kithRelay, plainRelay]
    try {
      for (const publicRelays of [false, true]) {
        const a = await createKithLibp2p({ listen: loopback, relayServer: false, relayReservations: { privateRelays: true, publicRelays }, services: { swarm: swarm() } as never })
        nodes.push(a)
        await a.dial(kithRelay.getMultiaddrs()[0] as never)
        await a.dial(plainRelay.getMultiaddrs()[0] as never)
        const want = publicRelays ? 2 : 1
        const service = a.services.relayReservations
        for (let i = 0; i < 200 && (service?.reservations().length ?? 0) < want; i++) await sleep(100)
        if (!publicRelays) await sleep(2_000) // time to (wrongly) take the second one
        const held = service?.reservations() ?? []
        console.log(`relay choice (publicRelays ${String(publicRelays)}): ${held.map(r => r.kith ? 'Kith' : 'public').join(', ')}`)
        expect(held.map(r => [r.relay, r.kith])).toEqual(publicRelays
          ? expect.arrayContaining([[kithRelay.peerId.toString(), true], [plainRelay.peerId.toString(), false]])
          : [[kithRelay.peerId.toString(), true]])
        expect(held).toHaveLength(want)
      }
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  }, 60_000)

  it('a bare /p2p-circuit listen address does not hang the start, and the node still reserves', async () => {
    const { createKithLibp2p } = await import('../../node/libp2p/assembly.js')
    const { swarm } = await import('../../node/engine/swarm/service.js')
    const relay = await createKithLibp2p({ listen: loopback, relayReservations: false, services: { swarm: swarm() } as never })
    let a: Awaited<ReturnType<typeof createKithLibp2p>> | undefined
    try {
      const t0 = Date.now()
      const started = createKithLibp2p({ listen: [...loopback, '/p2p-circuit'], relayServer: false, relayReservations: { privateRelays: true }, bootstrap: [relay.getMultiaddrs()[0]?.toString() as string], services: { swarm: swarm() } as never })
      a = await Promise.race([started, sleep(20_000).then(() => undefined)])
      expect(a).toBeDefined()
      for (let i = 0; i < 200 && (a?.services.relayReservations?.reservations().length ?? 0) < 1; i++) await sleep(100)
      console.log(`relay: with a bare /p2p-circuit listen address, started and reserved in ${Date.now() - t0} ms`)
      expect(a?.getMultiaddrs().some(m => m.toString().includes(`/p2p/${relay.peerId.toString()}/p2p-circuit`))).toBe(true)
    } finally {
      await Promise.all([a?.stop(), relay.stop()])
    }
  }, 60_000)
})

/**
 * Renewal, verified on the installed library: a reservation on a relay granting 40 s is refreshed
 * by @libp2p/circuit-relay-v2's client (at max(ttl - 5 min, 30 s)), and the node stays reachable
 * through it after the first grant would have run out. In-process (two Kith libp2p nodes and a
 * dialler on loopback TCP); ~45 s, so only with KITH_SIMNET_LONG=1.
 */
describe.skipIf(!LONG)('relay reservations are renewed', () => {
  it('a 40 s reservation is refreshed and the relayed address still works at 45 s', async () => {
    const { createKithLibp2p } = await import('../../node/libp2p/assembly.js')
    const { swarm } = await import('../../node/engine/swarm/service.js')
    const loopback = ['/ip4/127.0.0.1/tcp/0']
    const relay = await createKithLibp2p({ listen: loopback, relayReservationTtlMs: 40_000, services: { swarm: swarm() } as never })
    const a = await createKithLibp2p({ listen: loopback, relayServer: false, relayReservations: { privateRelays: true }, services: { swarm: swarm() } as never })
    const c = await createKithLibp2p({ listen: loopback, relayServer: false, relayReservations: false, services: { swarm: swarm() } as never })
    try {
      const t0 = Date.now()
      await a.dial(relay.getMultiaddrs()[0] as never)
      const service = a.services.relayReservations
      expect(service).toBeDefined()
      let first: number | undefined
      for (let i = 0; i < 100 && first === undefined; i++) {
        first = service?.reservations()[0]?.expires
        if (first === undefined) await sleep(100)
      }
      expect(first).toBeDefined()
      console.log(`relay renewal: first reservation ${Date.now() - t0} ms after connecting, expires in ${Math.round(((first as number) - Date.now()) / 1000)} s`)
      let renewed = first
      for (let i = 0; i < 90 && renewed === first; i++) {
        await sleep(500)
        renewed = service?.reservations()[0]?.expires ?? first
      }
      console.log(`relay renewal: refreshed ${Date.now() - t0} ms after connecting; new expiry ${Math.round(((renewed as number) - (first as number)) / 1000)} s later than the first`)
      expect(renewed).toBeGreaterThan(first as number)
      while (Date.now() < (first as number) + 3_000) await sleep(250)
      const via = a.getMultiaddrs().find(m => m.toString().includes('/p2p-circuit'))
      expect(via).toBeDefined()
      const conn = await c.dial(via as never, { signal: AbortSignal.timeout(15_000) })
      expect(conn.remotePeer.equals(a.peerId)).toBe(true)
    } finally {
      await Promise.all([c.stop(), a.stop(), relay.stop()])
    }
  }, 120_000)
})

if (unavailable !== undefined) console.warn(`test/internet skipped: ${unavailable}`)
