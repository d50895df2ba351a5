/**
 * Announced addresses: `--announce <multiaddr>` (repeatable) on daemon/share/get/seed, `"announce"`
 * in config.json, and what a node then announces (node/libp2p/assembly.ts, node/libp2p/address-announce.ts). A
 * public address the node binds is announced at once too: that needs a public address on an
 * interface, so it is tested on the simulated internet (test/internet/announce.test.ts).
 */
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../../node/cli/args.js'
import { UsageError } from '../../../node/cli/errors.js'
import { isPublicDirect, isRelayed } from '../../../node/libp2p/address-announce.js'
import { createKithLibp2p } from '../../../node/libp2p/assembly.js'
import { parseConfig } from '../../../node/repo/format.js'
import { parseLink } from '../../../protocol/link.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { API, buildOnce, killAll, LISTEN, Sandbox, tempDir, type DaemonInfo } from '../fixtures/procs.js'

const PUBLIC = '/ip4/11.0.0.10/tcp/4001'
const PUBLIC2 = '/ip4/21.0.0.10/tcp/4002/ws'

describe('--announce on the command line', () => {
  it('is repeatable on daemon, share, get and seed', () => {
    expect(parseCommandLine(['daemon', '--announce', PUBLIC, '--announce', PUBLIC2]).flags.announce).toEqual([PUBLIC, PUBLIC2])
    expect(parseCommandLine(['share', 'f.txt', '--announce', PUBLIC]).flags.announce).toEqual([PUBLIC])
    expect(parseCommandLine(['get', 'kith:x', '--announce', PUBLIC]).flags.announce).toEqual([PUBLIC])
    expect(parseCommandLine(['seed', 'kith:x', `--announce=${PUBLIC}`]).flags.announce).toEqual([PUBLIC])
  })

  it('is refused by commands that run no node, and needs a value', () => {
    expect(() => parseCommandLine(['ls', '--announce', PUBLIC])).toThrow(UsageError)
    expect(() => parseCommandLine(['daemon', '--announce'])).toThrow(/needs a value/)
  })
})

describe('"announce" in config.json', () => {
  it('defaults to none, takes a list of multiaddrs, refuses anything else', () => {
    expect(parseConfig('{"version":1}').announce).toEqual([])
    expect(parseConfig(JSON.stringify({ version: 1, announce: [PUBLIC, PUBLIC2] })).announce).toEqual([PUBLIC, PUBLIC2])
    expect(() => parseConfig(JSON.stringify({ version: 1, announce: PUBLIC }))).toThrow(/"announce"/)
    expect(() => parseConfig(JSON.stringify({ version: 1, announce: ['not a multiaddr'] }))).toThrow(/"announce"/)
  })
})

describe('isPublicDirect', () => {
  it('is true for public IP addresses only, never relayed, private or loopback ones', () => {
    expect(isPublicDirect(multiaddr(PUBLIC))).toBe(true)
    expect(isPublicDirect(multiaddr(PUBLIC2))).toBe(true)
    expect(isPublicDirect(multiaddr('/ip6/2a01:4f8::1/tcp/4001'))).toBe(true)
    for (const a of ['/ip4/127.0.0.1/tcp/1', '/ip4/192.168.1.2/tcp/1', '/ip4/10.1.2.3/tcp/1', '/ip4/100.64.0.1/tcp/1', '/ip4/198.18.0.1/tcp/1',
      '/ip6/::1/tcp/1', '/ip6/fe80::1/tcp/1', '/memory/x', `${PUBLIC}/p2p/12D3KooWGzkGBK7Yan3W2J6g4ecVNqt2pXGVxjNk9qHq2gpcbQhP/p2p-circuit`]) {
      expect(isPublicDirect(multiaddr(a)), a).toBe(false)
    }
  })
})

describe('isRelayed', () => {
  it('is true for relay (circuit) addresses only', () => {
    expect(isRelayed(multiaddr(`${PUBLIC}/p2p/12D3KooWGzkGBK7Yan3W2J6g4ecVNqt2pXGVxjNk9qHq2gpcbQhP/p2p-circuit`))).toBe(true)
    expect(isRelayed(multiaddr(PUBLIC))).toBe(false)
  })
})

describe('createKithLibp2p({ announce })', () => {
  it('announces the given addresses at once, with /p2p/, besides its own', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(privateKey).toString()
    const node = await createKithLibp2p({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], announce: [PUBLIC, `${PUBLIC2}/p2p/${id}`] })
    try {
      const addrs = node.getMultiaddrs().map(a => a.toString())
      expect(addrs).toContain(`${PUBLIC}/p2p/${id}`)
      expect(addrs).toContain(`${PUBLIC2}/p2p/${id}`)
      expect(addrs.some(a => a.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
    } finally {
      await node.stop()
    }
  })

  it('refuses an address that names another peer', async () => {
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await expect(createKithLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'], announce: [`${PUBLIC}/p2p/${other}`] })).rejects.toThrow(/another peer/)
  })
})

describe('kith with announced addresses (real processes)', () => {
  let box: Sandbox
  beforeAll(async () => {
    await buildOnce()
    box = new Sandbox(await tempDir('kith-announce-'))
  }, 240_000)
  afterAll(async () => { await killAll() })

  it('kith daemon --announce: its --json line, `kith status` and its links carry the address', async () => {
    const repo = await box.repo()
    const proc = box.start(['daemon', '--repo', repo, ...LISTEN, ...API, '--announce', PUBLIC, '--json'])
    const info = await proc.firstJsonLine<DaemonInfo>(40_000)
    expect(info.addrs).toContain(`${PUBLIC}/p2p/${info.peerId}`)

    const status = await box.kith(['status', '--repo', repo, '--json'])
    expect(status.code).toBe(0)
    expect((JSON.parse(status.stdout) as { addrs: string[] }).addrs).toContain(`${PUBLIC}/p2p/${info.peerId}`)

    const file = join(box.dir, 'hello.txt')
    await writeFile(file, 'hello\n')
    const shared = await box.share(repo, file)
    const hints = parseLink(shared.link).hints.map(h => multiaddr(h).toString())
    // The routable address first: the link's first hint is the announced one.
    expect(hints[0]).toBe(`${PUBLIC}/p2p/${info.peerId}`)
    await proc.stop()
  })

  it('"announce" in the repo config does the same; --announce replaces it', async () => {
    const repo = await box.repo({ announce: [PUBLIC2] })
    const a = box.start(['daemon', '--repo', repo, ...LISTEN, ...API, '--json'])
    const fromConfig = await a.firstJsonLine<DaemonInfo>(40_000)
    expect(fromConfig.addrs).toContain(`${PUBLIC2}/p2p/${fromConfig.peerId}`)
    await a.stop()
    const b = box.start(['daemon', '--repo', repo, ...LISTEN, ...API, '--announce', PUBLIC, '--json'])
    const fromFlag = await b.firstJsonLine<DaemonInfo>(40_000)
    expect(fromFlag.addrs).toContain(`${PUBLIC}/p2p/${fromFlag.peerId}`)
    expect(fromFlag.addrs).not.toContain(`${PUBLIC2}/p2p/${fromFlag.peerId}`)
    await b.stop()
  })

  it('a bad --announce is a usage error', async () => {
    const r = await box.kith(['daemon', '--repo', box.path('repo'), ...LISTEN, ...API, '--announce', 'nope'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--announce: "nope" is not a multiaddr/)
  })
})
