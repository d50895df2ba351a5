/**
 * The public network of the simulated internet: stock Helia nodes (test/internet/helia-node.ts),
 * one per public host namespace, as Amino DHT servers and circuit-relay servers. The first node
 * has no bootstrap; every other one bootstraps from the first two (never from anything outside
 * the simulated internet).
 */
import { join } from 'node:path'
import { ROOT } from '../global-setup.js'
import type { Host, NsProc, Simnet } from './simnet.js'

export const HELIA_PORT = 4001

export interface HeliaStatus { event: 'status', rt: number, mode: string, connections: number, peers: number, addrs: string[], offSim: number }

export interface HeliaNode {
  host: Host
  proc: NsProc
  peerId: string
  /** The node's TCP address with /p2p/, on the simulated internet. */
  addr: string
}

/** `node` with tsx and the project's polyfills preloaded (js-libp2p v3 on Node 20). */
export function tsxArgv (script: string, args: string[]): string[] {
  return [process.execPath, '--import', 'tsx', '--import', join(ROOT, 'node', 'libp2p', 'polyfills.ts'), join(ROOT, script), ...args]
}

async function startOne (net: Simnet, host: Host, bootstrap: string[], timeoutMs: number): Promise<HeliaNode> {
  const proc = net.spawn(host.ns, tsxArgv('test/internet/helia-node.ts', ['--ip', host.ip, '--port', String(HELIA_PORT), ...bootstrap.flatMap(b => ['--bootstrap', b])]), { cwd: ROOT })
  const ready = await proc.jsonLine<{ peerId: string }>(v => v.event === 'ready', timeoutMs)
  return { host, proc, peerId: ready.peerId, addr: `/ip4/${host.ip}/tcp/${HELIA_PORT}/p2p/${ready.peerId}` }
}

/** Starts a Helia node on each of `hosts` (the first two first: the others bootstrap from them). */
export async function startHeliaNetwork (net: Simnet, hosts: Host[], timeoutMs = 60_000): Promise<HeliaNode[]> {
  const [first, second, ...rest] = hosts
  if (first === undefined) return []
  const a = await startOne(net, first, [], timeoutMs)
  if (second === undefined) return [a]
  const b = await startOne(net, second, [a.addr], timeoutMs)
  const others = await Promise.all(rest.map(async h => await startOne(net, h, [a.addr, b.addr], timeoutMs)))
  return [a, b, ...others]
}

/** The node's latest status line, if it printed one. */
export function lastStatus (node: HeliaNode): HeliaStatus | undefined {
  const lines = node.proc.lines()
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i] ?? '') as HeliaStatus
      if (v.event === 'status') return v
    } catch {}
  }
  return undefined
}

/**
 * Waits (bounded) until every node is a DHT server whose routing table holds at least `minRt`
 * peers. Returns the time it took and the routing table sizes; throws with them at the deadline.
 */
export async function waitForDHT (nodes: HeliaNode[], minRt: number, timeoutMs: number): Promise<{ ms: number, rt: number[], modes: string[] }> {
  const t0 = Date.now()
  for (;;) {
    const st = nodes.map(lastStatus)
    const rt = st.map(s => s?.rt ?? 0)
    const modes = st.map(s => s?.mode ?? '?')
    if (rt.every(n => n >= minRt) && modes.every(m => m === 'server')) return { ms: Date.now() - t0, rt, modes }
    const dead = nodes.find(n => !n.proc.running)
    if (dead !== undefined) throw new Error(`helia node in ${dead.host.ns} exited: ${dead.proc.stderr.slice(-3000)}`)
    if (Date.now() - t0 > timeoutMs) throw new Error(`DHT not formed within ${timeoutMs} ms: routing tables ${rt.join(',')}, modes ${modes.join(',')}`)
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}
