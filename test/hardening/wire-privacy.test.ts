/**
 * Standing suite, item 6 (wire privacy): a capture of all peer-to-peer traffic (not the local
 * API) during share, DHT publish, get and circle sync holds no marker plaintext, file name, link
 * or key bytes anywhere.
 *
 * Three real `kith daemon` processes on 127.0.0.2, .3, .4 in a line A ← B ← C, as in
 * disk-privacy.test.ts. tcpdump captures loopback traffic to and from those addresses (and
 * 127.0.0.5, the temporary node's); the daemons' HTTP APIs listen on 127.0.0.1, so the local API
 * (which carries links and names in the clear, by design) is outside the capture. During it: A
 * shares a file whose content is a unique marker repeated, under a unique name; C gets it without
 * hints (so through the DHT, via B); a temporary node gets it with the full link; A creates a
 * circle, C joins it by invite code, A posts a second marked file into it and C's daemon syncs the
 * post into its feed.
 *
 * A control proves the capture and the search are not blind: a plaintext string sent from
 * 127.0.0.2 to 127.0.0.5 in two TCP segments must be found in its reassembled flow (and not in the
 * raw bytes, where it is split).
 *
 * Then tcpdump is stopped and every searched form is looked for in both the raw pcap bytes and
 * every TCP/UDP flow's payload reassembled in sequence order (so a string split across segments
 * is still found): the marker, the file names, the circle name, the invite code, the link texts,
 * and for every link its root key, seed key and manifest digest as raw bytes, hex, base32 and
 * base64 (+url) text, and the manifest CID string. Expected: none, because everything after the
 * plaintext multistream-select of `/noise` is Noise ciphertext.
 *
 * Needs root and tcpdump (scripts/test-prepare.ts installs it with apt-get when root); skips and
 * says why otherwise. `sized`: the long run shares a larger file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { join } from 'node:path'
import { base32 } from 'multiformats/bases/base32'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatLink, parseLink, seedOnlyLink } from '../../protocol/link.js'
import { API, buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, until, type DaemonInfo, type Proc } from '../node/fixtures/procs.js'
import { sized } from './long.js'

const IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
const TEMP_IP = '127.0.0.5'
const SIZE = sized(1024 * 1024 + 17, 12 * 1024 * 1024 + 17)

function unavailable (): string | undefined {
  if (process.platform !== 'linux') return 'the loopback capture needs Linux'
  if (process.getuid?.() !== 0) return 'capturing packets needs root (run through scripts/netns.sh as root)'
  if (spawnSync('sh', ['-c', 'command -v tcpdump'], { stdio: 'ignore' }).status !== 0) return 'tcpdump is not installed (scripts/test-prepare.ts installs it with apt-get when root)'
  return undefined
}
const why = unavailable()
if (why !== undefined) console.warn(`wire privacy skipped: ${why}`)

interface Daemon { proc: Proc, info: DaemonInfo, repo: string }

let box: Sandbox
const daemons: Daemon[] = []
let dump: ChildProcess | undefined

/** Starts tcpdump on lo and resolves once it says it is listening. */
let dumpErr = ''
async function startCapture (pcap: string): Promise<ChildProcess> {
  const filter = [...IPS, TEMP_IP].map(ip => `host ${ip}`).join(' or ')
  // -B: a 32 MiB kernel buffer, so bursts of 64 KiB loopback segments are not dropped.
  const child = spawn('tcpdump', ['-i', 'lo', '-n', '-s', '0', '-B', '32768', '-U', '-w', pcap, filter], { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`tcpdump did not start within 15 s: ${dumpErr}`)) }, 15_000)
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      dumpErr += d
      if (dumpErr.includes('listening on')) { clearTimeout(timer); resolve() }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`tcpdump exited (${String(code)}): ${dumpErr}`)) })
  })
  return child
}

async function stopCapture (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/**
 * Packets of a pcap (link type Ethernet, as tcpdump writes for lo) and each TCP/UDP flow's payload
 * in sequence order (retransmitted bytes dropped), so a string split across segments is found.
 */
function parsePcap (buf: Buffer): { packets: number, flows: Buffer[], payloadBytes: number } {
  const magic = buf.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file')
  const u32 = (at: number): number => le ? buf.readUInt32LE(at) : buf.readUInt32BE(at)
  const linkType = u32(20)
  if (linkType !== 1) throw new Error(`unexpected pcap link type ${linkType}`)
  const tcp = new Map<string, { next?: number, parts: Buffer[] }>()
  const udp = new Map<string, Buffer[]>()
  let packets = 0
  let payloadBytes = 0
  for (let at = 24; at + 16 <= buf.length;) {
    const incl = u32(at + 8)
    const frame = buf.subarray(at + 16, at + 16 + incl)
    at += 16 + incl
    packets++
    if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== 0x0800) continue
    const ip = frame.subarray(14)
    const ihl = ((ip[0] as number) & 0x0f) * 4
    const total = Math.min(ip.readUInt16BE(2), ip.length)
    const proto = ip[9]
    const src = `${ip.subarray(12, 16).join('.')}`
    const dst = `${ip.subarray(16, 20).join('.')}`
    const l4 = ip.subarray(ihl, total)
    if (proto === 6 && l4.length >= 20) {
      const key = `${src}:${l4.readUInt16BE(0)}>${dst}:${l4.readUInt16BE(2)}`
      const seq = l4.readUInt32BE(4)
      const data = l4.subarray(((l4[12] as number) >> 4) * 4)
      if (data.length === 0) continue
      payloadBytes += data.length
      const flow = tcp.get(key) ?? { parts: [] }
      tcp.set(key, flow)
      if (flow.next === undefined) flow.next = seq
      const skip = (flow.next - seq) >>> 0 // bytes of this segment already seen (mod 2^32)
      if (skip < data.length) {
        flow.parts.push(data.subarray(skip))
        flow.next = (seq + data.length) >>> 0
      } else if (skip > 0x7fffffff) { // a gap (a lost segment): keep what came, in order
        flow.parts.push(data)
        flow.next = (seq + data.length) >>> 0
      }
    } else if (proto === 17 && l4.length >= 8) {
      const key = `${src}:${l4.readUInt16BE(0)}>${dst}:${l4.readUInt16BE(2)}`
      payloadBytes += l4.length - 8
      udp.set(key, [...(udp.get(key) ?? []), l4.subarray(8)])
    }
  }
  return { packets, flows: [...[...tcp.values()].map(f => Buffer.concat(f.parts)), ...[...udp.values()].map(p => Buffer.concat(p))], payloadBytes }
}

/** Every form in which a secret byte string could travel. */
function byteForms (what: string, bytes: Uint8Array): Array<{ what: string, bytes: Buffer }> {
  const b = Buffer.from(bytes)
  const b32 = base32.baseEncode(bytes)
  return [
    { what: `${what} (raw)`, bytes: b },
    { what: `${what} (hex)`, bytes: Buffer.from(b.toString('hex')) },
    { what: `${what} (HEX)`, bytes: Buffer.from(b.toString('hex').toUpperCase()) },
    { what: `${what} (base32)`, bytes: Buffer.from(b32) },
    { what: `${what} (BASE32)`, bytes: Buffer.from(b32.toUpperCase()) },
    { what: `${what} (base64)`, bytes: Buffer.from(b.toString('base64').replace(/=+$/, '')) },
    { what: `${what} (base64url)`, bytes: Buffer.from(b.toString('base64url')) }
  ]
}

function linkForms (what: string, link: string): Array<{ what: string, bytes: Buffer }> {
  const parsed = parseLink(link)
  const bare = formatLink({ ...parsed, hints: [] })
  return [
    { what: `${what} link text`, bytes: Buffer.from(link) },
    { what: `${what} link payload`, bytes: Buffer.from(link.slice('kith:'.length, 'kith:'.length + 60)) },
    { what: `${what} link without hints`, bytes: Buffer.from(bare) },
    ...byteForms(`${what} root key`, parsed.key.bytes),
    ...byteForms(`${what} seed key`, seedOnlyLink(parsed).key.bytes),
    ...byteForms(`${what} manifest digest`, parsed.manifest.multihash.digest),
    { what: `${what} manifest CID`, bytes: Buffer.from(parsed.manifest.toString()) },
    { what: `${what} manifest CID bytes`, bytes: Buffer.from(parsed.manifest.bytes) }
  ]
}

/**
 * The control: a plaintext string sent from 127.0.0.2 to 127.0.0.5 in two TCP segments (split in
 * its middle). The search must find it in a reassembled flow, else the capture or the search is
 * blind and "0 found" would prove nothing.
 */
async function sendControl (text: string): Promise<void> {
  const got: Buffer[] = []
  const server = createServer(sock => { sock.on('data', (d: Buffer) => got.push(d)) })
  await new Promise<void>(resolve => server.listen(0, TEMP_IP, resolve))
  try {
    const port = (server.address() as { port: number }).port
    const sock = connect({ host: TEMP_IP, port, localAddress: IPS[0] })
    sock.setNoDelay(true)
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
    const half = Math.floor(text.length / 2)
    await new Promise<void>(resolve => sock.write(text.slice(0, half), () => { resolve() }))
    await new Promise<void>(resolve => setTimeout(resolve, 200))
    await new Promise<void>(resolve => sock.end(text.slice(half), () => { resolve() }))
    await until(() => Buffer.concat(got).toString() === text || undefined, 10_000, 'the control string arrives')
    sock.destroy()
  } finally {
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
}

async function writeMarkedFile (path: string, marker: string, size: number): Promise<string> {
  const unit = Buffer.from(`${marker}\n`)
  const data = Buffer.alloc(size)
  for (let at = 0; at < size; at += unit.length) unit.copy(data, at)
  await writeFile(path, data)
  return await sha256File(path)
}

beforeAll(async () => {
  if (why !== undefined) return
  await buildOnce()
  box = new Sandbox(await tempDir('kith-wirepriv-'))
}, 300_000)

afterAll(async () => {
  if (dump !== undefined) await stopCapture(dump)
  await Promise.allSettled(daemons.map(async d => { await d.proc.stop('SIGTERM', 10_000) }))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

describe.skipIf(why !== undefined)('wire privacy: no plaintext, name, link or key on the wire', () => {
  it('a capture of share, DHT lookup, get and circle sync among three daemons holds none of the marker, names, links or key bytes', async () => {
    const tag = randomBytes(8).toString('hex')
    const marker = `kith-wire-marker-${tag}`
    const fileName = `wire-secret-name-${tag}.txt`
    const postName = `wire-circle-post-${tag}.txt`
    const circleName = `wirecircle${tag.slice(0, 8)}`
    const pcap = join(box.dir, 'capture.pcap')
    dump = await startCapture(pcap)
    const control = `kith-wire-control-${randomBytes(8).toString('hex')}`
    await sendControl(control)

    for (const [i, ip] of IPS.entries()) {
      const repo = await box.repo()
      const bootstrap = i === 0 ? [] : ['--bootstrap', daemons[i - 1]?.info.addrs[0] as string]
      const proc = box.start(['daemon', '--repo', repo, '--listen', `/ip4/${ip}/tcp/0`, ...API, ...bootstrap, '--json'])
      const info = await proc.firstJsonLine<DaemonInfo>(40_000)
      expect(info.api, 'the API is on 127.0.0.1, outside the capture').toMatch(/127\.0\.0\.1/)
      expect(info.addrs.some(a => a.startsWith(`/ip4/${ip}/tcp/`)), info.addrs.join(' ')).toBe(true)
      daemons.push({ proc, info, repo })
    }
    const [a, b, c] = daemons as [Daemon, Daemon, Daemon]

    // Share; C finds A through the DHT (no hints); a temporary node uses the full link.
    const src = join(box.dir, fileName)
    const sha = await writeMarkedFile(src, marker, SIZE)
    const shared = await box.share(a.repo, src, [], 120_000)
    const bare = formatLink({ ...parseLink(shared.link), hints: [] })
    const outC = box.path('out-c')
    const r = await box.kith(['get', bare, '--repo', c.repo, '-o', outC, '--json', '--timeout', '60'], 180_000)
    expect(r.code, r.stderr).toBe(0)
    expect(await sha256File(join(outC, fileName))).toBe(sha)
    const outT = box.path('out-temp')
    const r2 = await box.kith(['get', shared.link, '--repo', box.path('repo-temp'), '--listen', `/ip4/${TEMP_IP}/tcp/0`, '--bootstrap', b.info.addrs[0] as string, '-o', outT, '--json', '--timeout', '60'], 180_000)
    expect(r2.code, r2.stderr).toBe(0)
    expect(await sha256File(join(outT, fileName))).toBe(sha)

    // Circle: A creates, C joins by code, A posts, C's daemon syncs the post into its feed.
    const kithJson = async <T>(args: string[]): Promise<T> => {
      const x = await box.kith([...args, '--json'], 60_000)
      expect(x.code, `kith ${args[0]} ${args[1]}: ${x.stderr}`).toBe(0)
      return JSON.parse(x.stdout) as T
    }
    await kithJson(['circle', 'create', circleName, '--name', 'alice', '--repo', a.repo])
    const invite = await kithJson<{ code: string }>(['circle', 'invite', circleName, '--ttl', '1h', '--repo', a.repo])
    await kithJson(['circle', 'join', invite.code, '--name', 'carol', '--repo', c.repo])
    const post = join(box.dir, postName)
    await writeMarkedFile(post, marker, 64 * 1024 + 5)
    const posted = await box.share(a.repo, post, ['--circle', circleName], 120_000)
    const item = await until(async () => (await kithJson<{ feed: Array<{ name: string, link: string }> }>(['circle', 'feed', circleName, '--repo', c.repo])).feed.find(f => f.name === postName), 60_000, 'C syncs the post')
    expect(parseLink(item.link).manifest.toString()).toBe(parseLink(posted.link).manifest.toString())

    await stopCapture(dump)
    const raw = await readFile(pcap)
    const { packets, flows, payloadBytes } = parsePcap(raw)

    const forms = [
      { what: 'marker', bytes: Buffer.from(marker) },
      { what: 'marker tag', bytes: Buffer.from(tag) },
      { what: 'file name', bytes: Buffer.from(fileName) },
      { what: 'circle post name', bytes: Buffer.from(postName) },
      { what: 'circle name', bytes: Buffer.from(circleName) },
      { what: 'invite code', bytes: Buffer.from(invite.code) },
      { what: 'invite code payload', bytes: Buffer.from(invite.code.slice(invite.code.indexOf(':') + 1, invite.code.indexOf(':') + 61)) },
      ...linkForms('share', shared.link),
      ...linkForms('circle post', posted.link),
      ...(item.link === posted.link ? [] : linkForms('feed item', item.link))
    ]
    // tcpdump reports its kernel drops on exit: a capture with holes would prove nothing.
    const dropped = Number(/(\d+) packets? dropped by kernel/.exec(dumpErr)?.[1] ?? NaN)
    const found: string[] = []
    for (const f of forms) {
      if (raw.includes(f.bytes)) found.push(`${f.what} in the raw capture`)
      else if (flows.some(flow => flow.includes(f.bytes))) found.push(`${f.what} in a reassembled flow`)
    }
    const controlSeen = flows.some(flow => flow.includes(Buffer.from(control))) && !raw.includes(Buffer.from(control))
    console.log(`wire privacy: ${packets} packets, ${(raw.length / 1024).toFixed(0)} KiB captured (${flows.length} flows, ${(payloadBytes / 1024).toFixed(0)} KiB payload, ${dropped} dropped), ${forms.length} forms searched, ${found.length} found; plaintext control ${controlSeen ? 'found' : 'NOT found'}`)
    // Non-trivial: the file's ciphertext went through the capture (twice: to C and to the temporary node).
    expect((await stat(src)).size).toBe(SIZE)
    expect(dropped, dumpErr).toBe(0)
    expect(controlSeen, 'the control string, sent in clear in two segments, is found only by reassembly').toBe(true)
    expect(payloadBytes).toBeGreaterThan(2 * SIZE)
    expect(Math.max(...flows.map(f => f.length)), 'one flow carried a whole copy of the file').toBeGreaterThan(SIZE)
    expect(found).toEqual([])
  }, sized(300_000, 900_000))
})
