/**
 * The simulated internet's public network: six stock Helia nodes, each on its own public /8, form
 * an Amino DHT (every one a server with the other five in its routing table) and announce their
 * addresses, and none of them tries to dial anything outside the simulated internet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastStatus, startHeliaNetwork, waitForDHT, type HeliaNode } from './public-net.js'
import { Simnet, simnetUnavailable } from './simnet.js'

const unavailable = simnetUnavailable()
const HELIA_NODES = 6
/** Measured here: 6 nodes full within a few seconds of start; the bound leaves room on a busy 2-core machine. */
const DHT_DEADLINE_MS = 90_000

describe.skipIf(unavailable !== undefined)('public network of stock Helia nodes', () => {
  let net: Simnet
  let nodes: HeliaNode[] = []

  beforeAll(() => { net = Simnet.create({ publicHosts: HELIA_NODES, homes: 0 }) })
  afterAll(async () => {
    await Promise.all(nodes.map(async n => { await n.proc.stop(5_000) }))
    net?.destroy()
  })

  it(`${HELIA_NODES} Helia nodes become DHT servers with full routing tables`, async () => {
    const t0 = Date.now()
    nodes = await startHeliaNetwork(net, net.publicHosts)
    const started = Date.now() - t0
    const dht = await waitForDHT(nodes, HELIA_NODES - 1, DHT_DEADLINE_MS)
    console.log(`helia: ${HELIA_NODES} nodes started in ${started} ms; DHT formed ${dht.ms} ms later; routing tables ${dht.rt.join(',')}; modes ${dht.modes.join(',')}`)
    for (const n of nodes) {
      const st = lastStatus(n)
      // Each announces its own public address; nothing tried to leave the simulated internet.
      expect(st?.addrs.some(a => a.startsWith(`/ip4/${n.host.ip}/tcp/`)), n.host.ns).toBe(true)
      expect(st?.offSim, n.host.ns).toBe(0)
    }
  }, DHT_DEADLINE_MS + 90_000)
})

if (unavailable !== undefined) console.warn(`test/internet skipped: ${unavailable}`)
