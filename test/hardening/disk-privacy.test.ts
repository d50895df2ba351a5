/**
 * Standing suite, item 7 (disk privacy, first half): after a session with several peers, no
 * peer's IP address or port is anywhere in any repo.
 *
 * Three real `kith daemon` processes, each on its own loopback address (127.0.0.2, .3, .4: all of
 * 127/8 is loopback on Linux), in a line A ← B ← C. A shares a file; C gets it without hints, so
 * it finds A through the DHT (B's routing table, A's provider record: the places a peer store,
 * routing table or provider store would keep addresses); a fresh temporary node gets it from B.
 * Then every daemon stops cleanly (so whatever it persists is flushed) and every byte of every
 * file under every repo is searched for every node's address and port, in text ("127.0.0.3",
 * "/tcp/40123", ":40123") and binary multiaddr form (0x04 7f 00 00 03, and 0x06 + the port
 * big-endian behind it: 8 bytes, so random chunk ciphertext cannot match by chance).
 *
 * (A share is kept by reference, chunks are read from the file, and downloads go to output
 * folders, so the repos hold only the node's own state: keys, registry, datastore, circles.)
 *
 * `sized`: the long run shares more and larger files. The debug-log half of item 7 (no key or
 * link at any debug level) is test/hardening/log-privacy.test.ts.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatLink, parseLink } from '../../protocol/link.js'
import { API, buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, writeRandomFile, type DaemonInfo, type Proc } from '../node/fixtures/procs.js'
import { walk } from '../node/helpers/nodes.js'
import { sized } from './long.js'

const IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
const FILES = sized(2, 6)
const SIZE = sized(2 * 1024 * 1024 + 17, 24 * 1024 * 1024 + 17)

interface Daemon { proc: Proc, info: DaemonInfo, repo: string, ip: string, port: number }

let box: Sandbox
const daemons: Daemon[] = []
const repos: string[] = []

/** Every form in which `ip:port` could sit in a file: text and multiaddr bytes. */
function patterns (ip: string, port: number): Array<{ what: string, bytes: Buffer }> {
  const octets = ip.split('.').map(Number)
  const ip4 = Buffer.from([0x04, ...octets])
  const tcp = Buffer.from([0x06, port >> 8, port & 0xff])
  return [
    { what: `text ${ip}`, bytes: Buffer.from(ip) },
    { what: `text /tcp/${port}`, bytes: Buffer.from(`/tcp/${port}`) },
    { what: `text :${port}`, bytes: Buffer.from(`:${port}`) },
    { what: `multiaddr bytes of ${ip}/tcp/${port}`, bytes: Buffer.concat([ip4, tcp]) }
  ]
}

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-diskpriv-'))
}, 300_000)

afterAll(async () => {
  await Promise.allSettled(daemons.map(async d => { await d.proc.stop('SIGTERM', 10_000) }))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

describe('disk privacy: no peer IP address or port in any repo', () => {
  it('after shares, DHT lookups and downloads among three daemons on three addresses, no repo holds any of their addresses or ports', async () => {
    for (const [i, ip] of IPS.entries()) {
      const repo = await box.repo()
      repos.push(repo)
      const bootstrap = i === 0 ? [] : ['--bootstrap', daemons[i - 1]?.info.addrs[0] as string]
      const proc = box.start(['daemon', '--repo', repo, '--listen', `/ip4/${ip}/tcp/0`, ...API, ...bootstrap, '--json'])
      const info = await proc.firstJsonLine<DaemonInfo>(40_000)
      const addr = info.addrs.find(a => a.startsWith(`/ip4/${ip}/tcp/`))
      expect(addr, `daemon ${i} announces ${info.addrs.join(' ')}`).toBeDefined()
      const port = Number((addr as string).split('/')[4])
      expect(port).toBeGreaterThan(0)
      daemons.push({ proc, info, repo, ip, port })
    }
    const [a, b, c] = daemons as [Daemon, Daemon, Daemon]

    let fetched = 0
    for (let f = 0; f < FILES; f++) {
      const src = join(box.dir, `private-${f}.bin`)
      const sha = await writeRandomFile(src, SIZE + f)
      const shared = await box.share(a.repo, src, [], 120_000)
      // Without hints: C must find A through the DHT (provider records, routing tables).
      const bare = formatLink({ ...parseLink(shared.link), hints: [] })
      const out = box.path('out-c')
      const r = await box.kith(['get', bare, '--repo', c.repo, '-o', out, '--json', '--timeout', '60'], 180_000)
      expect(r.code, r.stderr).toBe(0)
      expect(await sha256File(join(out, `private-${f}.bin`))).toBe(sha)
      // A brand-new user with a temporary node on the first address's neighbour, bootstrapped to B.
      const fresh = box.path('repo-fresh')
      repos.push(fresh)
      const out2 = box.path('out-fresh')
      const r2 = await box.kith(['get', shared.link, '--repo', fresh, '--bootstrap', b.info.addrs[0] as string, '-o', out2, '--json', '--timeout', '60'], 180_000)
      expect(r2.code, r2.stderr).toBe(0)
      expect(await sha256File(join(out2, `private-${f}.bin`))).toBe(sha)
      fetched += 2
    }

    // C talked to A directly (the DHT led it there), so each daemon knew the others' addresses.
    const peers = await box.kith(['peers', '--repo', c.repo, '--json'])
    expect((JSON.parse(peers.stdout) as { peers: Array<{ peerId: string }> }).peers.map(p => p.peerId)).toContain(a.info.peerId)

    // Clean stops: whatever a daemon persists is on disk now.
    for (const d of daemons) expect((await d.proc.stop('SIGTERM', 20_000)).code).toBe(0)

    const forms = daemons.flatMap(d => patterns(d.ip, d.port))
    let files = 0
    let bytes = 0
    const found: string[] = []
    for (const repo of repos) {
      for (const file of await walk(repo)) {
        const data = await readFile(file)
        files++
        bytes += data.length
        for (const p of forms) if (data.includes(p.bytes)) found.push(`${p.what} in ${file.slice(box.dir.length)}`)
      }
    }
    console.log(`disk privacy: ${repos.length} repos, ${files} files, ${(bytes / 1024).toFixed(0)} KiB scanned for ${forms.length} address forms after ${fetched} downloads: ${found.length} found`)
    expect(files).toBeGreaterThan(repos.length) // the scan saw real repos, not empty folders
    expect((await stat(repos[0] as string)).isDirectory()).toBe(true)
    expect(found).toEqual([])
  }, sized(400_000, 1_200_000))
})
