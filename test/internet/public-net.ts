/**
 * The public network of the simulated internet: stock Helia nodes (test/internet/helia-node.ts),
 * one per public host namespace, as Amino DHT servers and circuit-relay servers. The first node
 * has no bootstrap; every other one bootstraps from the first two, and those started together
 * are introduced to each other once up (never anything outside the simulated internet).
 */
import { join } from 'node:path'
import { base32 } from 'multiformats/bases/base32'
import { aminoLookupKeys, deriveShareKeys, parseLink } from '../../protocol/index.js'
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
  // Nodes started together could not bootstrap from each other. Left to the DHT, one of them
  // sometimes missed another for over 90 s on a busy machine (a routing table of 4 of 5: its
  // self-query ran before the other joined); each now dials the ones started after it.
  others.forEach((o, i) => { for (const later of others.slice(i + 1)) o.proc.child.stdin?.write(`dial ${later.addr}\n`) })
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

/** What helia-node.ts's `dump` prints: the node's datastore (values base64) and blockstore CIDs. */
export interface DatastoreDump { event: 'datastore', entries: Array<{ key: string, value: string }>, blocks: string[] }

/** Asks a Helia node for its datastore and blockstore (helia-node.ts's `dump`), bounded. */
export async function dumpDatastore (node: HeliaNode, timeoutMs = 15_000): Promise<DatastoreDump> {
  const count = (): number => node.proc.lines().filter(l => l.startsWith('{"event":"datastore"')).length
  const before = count()
  node.proc.child.stdin?.write('dump\n')
  const end = Date.now() + timeoutMs
  while (count() <= before) {
    if (!node.proc.running) throw new Error(`helia node in ${node.host.ns} exited: ${node.proc.stderr.slice(-2000)}`)
    if (Date.now() > end) throw new Error(`helia node in ${node.host.ns} did not dump its datastore within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const lines = node.proc.lines().filter(l => l.startsWith('{"event":"datastore"'))
  return JSON.parse(lines[lines.length - 1] as string) as DatastoreDump
}

/** Provider records in a dump: [multihash (base32, lower case, as kad-dht writes it), provider peer ID]. */
export function providerRecords (d: DatastoreDump): Array<{ mh: string, peer: string }> {
  return d.entries.flatMap(e => {
    const m = /\/provider\/([a-z2-7]+)\/([1-9A-HJ-NP-Za-km-z]+)$/i.exec(e.key)
    return m === null ? [] : [{ mh: (m[1] as string).toLowerCase(), peer: m[2] as string }]
  })
}

/**
 * Waits (bounded) until at least one Helia node holds a provider record of `peer` under the
 * multihash `mh` (base32, lower case); returns how many hold one and how long it took.
 */
export async function waitForProviderRecord (nodes: HeliaNode[], peer: string, mh: string, timeoutMs: number): Promise<{ holders: number, ms: number }> {
  const t0 = Date.now()
  for (;;) {
    const dumps = await Promise.all(nodes.map(async h => await dumpDatastore(h)))
    const holders = dumps.filter(d => providerRecords(d).some(r => r.peer === peer && r.mh === mh)).length
    if (holders > 0) return { holders, ms: Date.now() - t0 }
    if (Date.now() - t0 > timeoutMs) throw new Error(`no Helia node holds ${peer}'s provider record within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 1000))
  }
}

/**
 * What a dump gives away of a share: one sentence per finding (empty: nothing). `provider`: the
 * seeder's peer ID, whose provider records may only be under `allowed` (multihashes, base32, lower
 * case: the share's epoch keys); `secrets`: what must appear nowhere, neither in a key nor in a
 * value (text compared case-blind, bytes as they are). Blocks: none may be stored at all (nothing
 * is ever put on Amino).
 */
export function leaksOf (d: DatastoreDump, provider: string, allowed: string[], secrets: Array<[string, Uint8Array | string]>): string[] {
  const out: string[] = []
  for (const r of providerRecords(d)) if (r.peer === provider && !allowed.includes(r.mh)) out.push(`a provider record of the seeder under another key (${r.mh})`)
  const keys = d.entries.map(e => e.key).join('\n').toLowerCase()
  const blocks = d.blocks.join('\n').toLowerCase()
  const values = d.entries.map(e => Buffer.from(e.value, 'base64'))
  for (const [what, s] of secrets) {
    if (typeof s === 'string') {
      const t = s.toLowerCase()
      if (keys.includes(t) || blocks.includes(t)) out.push(`the ${what} in a key`)
      if (values.some(v => v.toString('latin1').toLowerCase().includes(t))) out.push(`the ${what} in a value`)
    } else {
      const b = Buffer.from(s)
      if (values.some(v => v.includes(b))) out.push(`the ${what} in a value`)
      if (d.entries.some(e => Buffer.from(e.key).includes(b))) out.push(`the ${what} in a key`)
    }
  }
  if (d.blocks.length > 0) out.push(`${d.blocks.length} blocks in the blockstore`)
  return out
}

/**
 * What the public nodes may hold of a share, and what they must not. `epochMh`: the multihashes
 * (base32, lower case) of the share's Amino lookup keys now (current epoch first, then the
 * previous one: protocol/amino-key.ts); `secrets`: the manifest ID and root digest, the discovery
 * key and the Kith DHT key made from it, the link (`linkText`, and every other form of it given
 * in `otherLinks`) and its root key.
 */
export function shareExposure (linkText: string, otherLinks: string[] = []): { epochMh: string[], secrets: Array<[string, Uint8Array | string]> } {
  const link = parseLink(linkText)
  const keys = deriveShareKeys(link.key)
  const epochMh = aminoLookupKeys(keys.discovery, Date.now()).map(k => base32.baseEncode(k.multihash.bytes).toLowerCase())
  const secrets: Array<[string, Uint8Array | string]> = [
    ['manifest ID', link.manifest.toString()],
    ['manifest root digest', link.manifest.multihash.digest],
    ['manifest multihash (base32)', base32.baseEncode(link.manifest.multihash.bytes)],
    ['discovery key', keys.discovery],
    ['Kith DHT key (discovery CID)', keys.discoveryCid.toString()],
    ['Kith DHT key multihash (base32)', base32.baseEncode(keys.discoveryCid.multihash.bytes)],
    ['link', linkText],
    ...otherLinks.map((l, i): [string, string] => [`link (form ${i + 2})`, l]),
    ['root key', link.key.bytes]
  ]
  return { epochMh, secrets }
}

/**
 * Starts counting the IP bytes between public host `ns` (a Helia node's) and `peer` (a home
 * router's public address, which is how that host sees the home): two iptables rules without a
 * target, inserted first in INPUT and OUTPUT. Read with countedBytes.
 */
export function countBytes (net: Simnet, ns: string, peer: string): void {
  net.exec(ns, ['iptables', '-w', '-I', 'INPUT', '1', '-s', peer])
  net.exec(ns, ['iptables', '-w', '-I', 'OUTPUT', '1', '-d', peer])
}

/** Bytes between `ns` and `peer` since countBytes, both ways (IP packets, headers included). */
export function countedBytes (net: Simnet, ns: string, peer: string): number {
  let total = 0
  for (const chain of ['INPUT', 'OUTPUT']) {
    const rules = net.exec(ns, ['iptables', '-w', '-S', chain, '-v']).split('\n')
    const m = rules.map(l => new RegExp(`^-A ${chain} (?:-s|-d) ${peer.replaceAll('.', '\\.')}/32 -c (\\d+) (\\d+)$`).exec(l)).find(x => x !== null)
    if (m === undefined || m === null) throw new Error(`no counting rule for ${peer} in ${chain} of ${ns}`)
    total += Number(m[2])
  }
  return total
}
