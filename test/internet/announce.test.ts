/**
 * A Kith node on a public address announces it at once (node/libp2p/address-announce.ts), without the
 * four AutoNAT confirmations from four /8s a small circle never gives: its daemon --json line,
 * `kith status` and its links carry the address, whether it listens on 0.0.0.0 or on the address
 * itself. A node behind a home NAT announces no public address of its own (it binds none), an
 * --announce one at once, and its router's forwarded port once a Kith peer reached it there.
 */
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLink } from '../../protocol/link.js'
import { buildOnce, killAll, Sandbox, tempDir } from '../node/fixtures/procs.js'
import { daemonIn, KITH_PORT, kithRun } from './kith.js'
import { Simnet, simnetUnavailable } from './simnet.js'

const unavailable = simnetUnavailable()

describe.skipIf(unavailable !== undefined)('a Kith node on the simulated internet announces its public address', () => {
  let net: Simnet
  let box: Sandbox

  beforeAll(async () => {
    await buildOnce()
    box = new Sandbox(await tempDir('kith-simnet-announce-'))
    net = Simnet.create({ publicHosts: 2, homes: 1 })
  }, 240_000)
  afterAll(async () => {
    net?.destroy()
    await killAll()
  })

  it('listening on 0.0.0.0: announced at once, in status and in links', async () => {
    const host = net.pub(0)
    const repo = await box.repo()
    const t0 = Date.now()
    const d = await daemonIn(net, box, host.ns, repo, ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    const own = `/ip4/${host.ip}/tcp/${KITH_PORT}/p2p/${d.info.peerId}`
    console.log(`announce: daemon up in ${Date.now() - t0} ms announcing ${d.info.addrs.join(' ')}`)
    expect(d.info.addrs).toContain(own)

    const status = await kithRun(net, box, host.ns, ['status', '--repo', repo, '--json'], 30_000)
    expect(status.code).toBe(0)
    expect((JSON.parse(status.stdout) as { addrs: string[] }).addrs).toContain(own)

    const file = join(box.dir, 'a.txt')
    await writeFile(file, 'public\n')
    const shared = await kithRun(net, box, host.ns, ['share', file, '--repo', repo, '--json'], 60_000)
    expect(shared.code).toBe(0)
    const hints = parseLink((JSON.parse(shared.stdout) as { link: string }).link).hints.map(h => multiaddr(h).toString())
    expect(hints[0]).toBe(own)
    await d.proc.stop()
  })

  it('listening on the public address itself: announced at once', async () => {
    const host = net.pub(1)
    const d = await daemonIn(net, box, host.ns, await box.repo(), ['--listen', `/ip4/${host.ip}/tcp/${KITH_PORT}`])
    expect(d.info.addrs).toEqual([`/ip4/${host.ip}/tcp/${KITH_PORT}/p2p/${d.info.peerId}`])
    await d.proc.stop()
  })

  it('behind a home NAT: no public address of its own, an --announce one is', async () => {
    const lan = net.home(0).lan
    const d = await daemonIn(net, box, lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    expect(d.info.addrs.filter(a => !a.startsWith('/ip4/127.') && !a.startsWith(`/ip4/${lan.ip}/`))).toEqual([])
    await d.proc.stop()
    const forwarded = `/ip4/${net.home(0).router.ip}/tcp/${KITH_PORT}`
    const e = await daemonIn(net, box, lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--announce', forwarded])
    expect(e.info.addrs).toContain(`${forwarded}/p2p/${e.info.peerId}`)
    await e.proc.stop()
  })

  it('behind a NAT with a forwarded port: announced once a Kith peer has dialled it', async () => {
    net.forwardPort(0, KITH_PORT)
    const router = net.home(0).router.ip
    const a = await daemonIn(net, box, net.home(0).lan.ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`])
    const forwarded = `/ip4/${router}/tcp/${KITH_PORT}/p2p/${a.info.peerId}`
    expect(a.info.addrs).not.toContain(forwarded)
    // A friend on the internet dials A at its router's address (given to it out-of-band).
    const t0 = Date.now()
    const friend = await daemonIn(net, box, net.pub(0).ns, await box.repo(), ['--listen', `/ip4/0.0.0.0/tcp/${KITH_PORT}`, '--bootstrap', forwarded])
    let addrs: string[] = []
    for (let i = 0; i < 40 && !addrs.includes(forwarded); i++) {
      await new Promise(resolve => setTimeout(resolve, 500))
      const st = await kithRun(net, box, a.ns, ['status', '--repo', a.repo, '--json'], 30_000)
      addrs = (JSON.parse(st.stdout) as { addrs: string[] }).addrs
    }
    console.log(`announce: forwarded address announced ${Date.now() - t0} ms after the friend started: ${addrs.join(' ')}`)
    expect(addrs).toContain(forwarded)
    await Promise.all([friend.proc.stop(), a.proc.stop()])
  }, 120_000)
})

if (unavailable !== undefined) console.warn(`test/internet skipped: ${unavailable}`)
