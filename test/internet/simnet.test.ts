/**
 * The simulated internet itself (test/internet/simnet.ts): public hosts reach each other across
 * /8s, a home LAN host reaches them through its NAT router (seen from outside as the router's
 * address), nothing reaches a LAN host unsolicited, no namespace has a link out of the test's
 * own namespaces, and destroy() leaves no namespace or process behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { PUBLIC_OCTETS, Simnet, simnetUnavailable } from './simnet.js'

const unavailable = simnetUnavailable()
if (unavailable !== undefined) console.warn(`test/internet skipped: ${unavailable}`)

/** A TCP server printing each peer's address as a JSON line; exits after `ms`. */
const SERVER = `const s=require('net').createServer(c=>{console.log(JSON.stringify({peer:c.remoteAddress}));c.end('hi')});
s.listen(7000,'0.0.0.0',()=>console.log(JSON.stringify({listening:true})));setTimeout(()=>process.exit(0),Number(process.argv[1]))`
/** Connects to host:7000; prints {ok} or {error}; bounded. */
const CLIENT = `const c=require('net').connect(7000,process.argv[1]);c.setTimeout(3000,()=>{console.log(JSON.stringify({error:'timeout'}));process.exit(0)});
c.on('data',()=>{console.log(JSON.stringify({ok:true}));process.exit(0)});c.on('error',e=>{console.log(JSON.stringify({error:e.code}));process.exit(0)})`

describe.skipIf(unavailable !== undefined)('simulated internet (network namespaces)', () => {
  let net: Simnet

  beforeAll(() => {
    const t0 = Date.now()
    net = Simnet.create({ publicHosts: 2, homes: 2 })
    console.log(`simnet: ${net.namespaces.length} namespaces in ${Date.now() - t0} ms`)
  })
  afterAll(() => { net?.destroy() })

  it('uses addresses libp2p does not treat as private', () => {
    for (const o of PUBLIC_OCTETS) expect(isPrivate(multiaddr(`/ip4/${o}.0.0.10/tcp/1`)), `${o}.0.0.10`).toBe(false)
    expect(isPrivate(multiaddr('/ip4/192.168.1.2/tcp/1'))).toBe(true)
  })

  it('has no link out of its own namespaces', () => {
    expect(net.links(net.pub(0).ns)).toEqual(['eth0'])
    expect(net.links(net.home(0).router.ns).sort()).toEqual(['lan', 'wan'])
    expect(net.links(net.home(1).lan.ns)).toEqual(['eth0'])
    // The bridge's ports are the other ends of the hosts' veths, nothing else.
    expect(net.links(net.internet).sort()).toEqual(['br0', 'p0', 'p1', 'p2', 'p3'])
    for (const ns of net.namespaces) {
      const routes = net.exec(ns, ['ip', 'route', 'show'])
      expect(routes, ns).not.toMatch(/via (?!192\.168\.1\.1\b)/)
    }
  })

  it('routes across /8s, NATs homes, and refuses unsolicited inbound', async () => {
    const a = net.pub(0)
    const b = net.pub(1)
    const server = net.spawn(a.ns, ['node', '-e', SERVER, '20000'])
    await server.jsonLine(v => v.listening === true, 10_000)

    const fromPublic = net.spawn(b.ns, ['node', '-e', CLIENT, a.ip])
    await fromPublic.wait(10_000)
    expect(fromPublic.stdout).toContain('"ok":true')
    await server.jsonLine(v => v.peer === b.ip, 5_000)

    // From home 0's LAN: seen as home 0's router.
    const fromHome = net.spawn(net.home(0).lan.ns, ['node', '-e', CLIENT, a.ip])
    await fromHome.wait(10_000)
    expect(fromHome.stdout).toContain('"ok":true')
    await server.jsonLine(v => v.peer === net.home(0).router.ip, 5_000)

    // Into a home, unsolicited: refused (dropped) at its router, whether to the router's address…
    const lanServer = net.spawn(net.home(1).lan.ns, ['node', '-e', SERVER, '20000'])
    await lanServer.jsonLine(v => v.listening === true, 10_000)
    const toRouter = net.spawn(a.ns, ['node', '-e', CLIENT, net.home(1).router.ip])
    await toRouter.wait(10_000)
    expect(toRouter.stdout).not.toContain('"ok":true')
    // …or to the LAN address, which in home 0 is home 0's own host: no server there.
    const toLan = net.spawn(net.home(0).lan.ns, ['node', '-e', CLIENT, '192.168.1.2'])
    await toLan.wait(10_000)
    expect(toLan.stdout).toContain('ECONNREFUSED')
    await server.stop()
    await lanServer.stop()
  })

  it('destroy() removes every namespace and process', async () => {
    const extra = Simnet.create({ publicHosts: 1, homes: 1 })
    const p = extra.spawn(extra.pub(0).ns, ['sleep', '60'])
    expect(extra.gone()).toBe(false)
    extra.destroy()
    expect(extra.gone()).toBe(true)
    // Killed (SIGKILL) at once; reaped by the event loop.
    const code = await p.wait(5_000)
    expect(code).toBe(null)
    expect(p.child.signalCode).toBe('SIGKILL')
  })
})
