/**
 * "Across the internet", first scenario: a friend's public node as the circle's meeting point.
 *
 *   P  kith daemon on the simulated internet (its own public /8), the only bootstrap; no Helia,
 *      no public network at all (today's default behaviour, `--network local` to be)
 *   A  kith daemon in home 0, behind NAT (192.168.1.2 behind the router's MASQUERADE)
 *   B  kith get in home 1, behind another NAT, with the same LAN addresses as home 0
 *
 * B gets a share P seeds (P's link hint is its public address, announced at once), and a share A
 * seeds: A, told nothing but P's address as its bootstrap, reserves a slot on P's relay by itself
 * (node/libp2p/relay-reservations.ts), and its link's hints are its addresses through P, so B
 * reaches it through P's circuit relay.
 *
 * Real `kith` processes on real sockets; every wait bounded. In `npm test` the files are small;
 * `npm run test:internet` (KITH_SIMNET_LONG=1) moves longer ones, and runs it again behind
 * port-randomising (`--random-fully`) NATs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOnce, killAll, Sandbox, tempDir } from '../node/fixtures/procs.js'
import { daemonIn, KITH_PORT, kithRun, shareRandomFile, waitForAddrs, type KithDaemon } from './kith.js'
import { Simnet, simnetUnavailable } from './simnet.js'

const unavailable = simnetUnavailable()
const LONG = process.env.KITH_SIMNET_LONG === '1'
const SIZE = LONG ? 64 * 1024 * 1024 : 3 * 1024 * 1024 + 1234
/** `kith get --timeout`: seconds without progress before it gives up. */
const GET_TIMEOUT_S = 60
const GET_DEADLINE_MS = LONG ? 300_000 : 120_000

interface GetResult { path: string, size: number, sha256: string }

/** Home routers' NAT: plain MASQUERADE; with test:internet also --random-fully (port-randomising). */
const NATS = LONG ? [false, true] : [false]

describe.skipIf(unavailable !== undefined).each(NATS)('a friend\'s public node: two homes behind NAT (random-fully %s) share through it', (randomFully) => {
  let net: Simnet
  let box: Sandbox
  let p: KithDaemon
  let a: KithDaemon
  let pAddr: string

  beforeAll(async () => {
    await buildOnce()
    box = new Sandbox(await tempDir('kith-simnet-friend-'))
    net = Simnet.create({ publicHosts: 1, homes: 2, randomFully })
    const t0 = Date.now()
    p = await daemonIn(net, box, net.pub(0).ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    pAddr = `/ip4/${net.pub(0).ip}/tcp/${KITH_PORT}/p2p/${p.info.peerId}`
    expect(p.info.addrs).toContain(pAddr)
    // A takes a reservation on P's relay by itself (node/libp2p/relay-reservations.ts): it is told
    // nothing but its bootstrap node, as a user behind NAT would be.
    a = await daemonIn(net, box, net.home(0).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--bootstrap', pAddr])
    const relayed = await waitForAddrs(net, box, a, addrs => addrs.includes(`${pAddr}/p2p-circuit/p2p/${a.info.peerId}`), 60_000)
    console.log(`friend-node: P and A up, A reserved on P, in ${Date.now() - t0} ms; P announces ${p.info.addrs.join(' ')}; A announces ${relayed.addrs.join(' ')}`)
  }, 240_000)

  afterAll(async () => {
    await Promise.all([p?.proc.stop(5_000), a?.proc.stop(5_000)])
    net?.destroy()
    await killAll()
  })

  const share = async (d: KithDaemon, name: string): Promise<{ link: string, sha256: string }> => await shareRandomFile(net, box, d, name, SIZE)

  async function getInHome1 (link: string, label: string): Promise<GetResult & { ms: number }> {
    const out = box.path(`out-${label}`)
    const t0 = Date.now()
    const r = await kithRun(net, box, net.home(1).lan.ns, ['get', link, '--repo', await box.repo(), '-o', out, '--bootstrap', pAddr, '--timeout', String(GET_TIMEOUT_S), '--json'], GET_DEADLINE_MS)
    const ms = Date.now() - t0
    if (r.code !== 0) throw new Error(`kith get (${label}) exited ${String(r.code)} after ${ms} ms:\n${r.stderr.slice(-4000)}`)
    const res = JSON.parse(r.stdout) as GetResult
    console.log(`friend-node (random-fully ${String(randomFully)}): B got ${label} (${res.size} bytes) in ${ms} ms (${(res.size / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s incl. start)`)
    return { ...res, ms }
  }

  it('B (home 1, behind NAT) gets a share P seeds', async () => {
    const s = await share(p, 'from-p.bin')
    const got = await getInHome1(s.link, 'P\'s share')
    expect(got.size).toBe(SIZE)
    expect(got.sha256).toBe(s.sha256)
  }, GET_DEADLINE_MS + 150_000)

  it('B gets a share A (home 0, behind another NAT) seeds, through P', async () => {
    const s = await share(a, 'from-a.bin')
    const got = await getInHome1(s.link, 'A\'s share')
    expect(got.size).toBe(SIZE)
    expect(got.sha256).toBe(s.sha256)
    // While AutoNAT dial-backs closed every relayed connection (node/libp2p/address-announce.ts) this
    // took 19-21 s for the small file (about 4 s since). A figure, not an assertion: under load the
    // machine alone makes it that slow (19 s at load 9 in CI).
    console.log(`friend node: A's share through P in ${got.ms} ms`)
  }, GET_DEADLINE_MS + 150_000)
})

if (unavailable !== undefined) console.warn(`test/internet skipped: ${unavailable}`)
