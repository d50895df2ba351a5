/**
 * The NAT-PMP client (node/libp2p/nat-pmp.ts) against a NAT-PMP responder on loopback
 * (127.0.0.2:5351, RFC 6886's answers) that can drop, garble or refuse. The real router
 * (miniupnpd) is in test/internet/upnp.test.ts.
 */
import { createSocket, type Socket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeExternalAddress, decodeMapping, defaultGateway4, NatPmpError, natPmpExternalAddress, natPmpMapTcp, NAT_PMP_PORT } from '../../../node/libp2p/nat-pmp.js'
import { removeTree, tempDir } from '../fixtures/procs.js'

const GATEWAY = '127.0.0.2'
const EXTERNAL = [11, 0, 0, 1]

/** How the responder treats the next requests. */
let mode: 'answer' | 'drop-2' | 'short' | 'version' | 'refuse' | 'silent' = 'answer'
let received = 0
let server: Socket
const uncaught: Error[] = []
const onUncaught = (err: Error): void => { uncaught.push(err) }

function answer (req: Buffer): Buffer {
  const op = req[1] ?? 0
  if (op === 0) {
    const b = Buffer.alloc(12)
    b.writeUInt8(128, 1)
    b.writeUInt32BE(1234, 4)
    EXTERNAL.forEach((x, i) => b.writeUInt8(x, 8 + i))
    return b
  }
  const b = Buffer.alloc(16)
  b.writeUInt8(128 + op, 1)
  b.writeUInt32BE(1234, 4)
  b.writeUInt16BE(req.readUInt16BE(4), 8)
  b.writeUInt16BE(req.readUInt32BE(8) === 0 ? 0 : req.readUInt16BE(6) + 1, 10) // the router picks the next port
  b.writeUInt32BE(Math.min(req.readUInt32BE(8), 3600), 12)
  return b
}

beforeAll(async () => {
  process.on('uncaughtException', onUncaught)
  server = createSocket('udp4')
  server.on('message', (req, from) => {
    received++
    const reply = (b: Buffer): void => { server.send(b, from.port, from.address) }
    if (mode === 'silent' || (mode === 'drop-2' && received <= 2)) return
    if (mode === 'short') { reply(Buffer.from([0, 130])); return }
    const b = answer(req)
    if (mode === 'version') b.writeUInt8(2, 0)
    if (mode === 'refuse') b.writeUInt16BE(2, 2)
    reply(b)
  })
  await new Promise<void>(resolve => { server.bind(NAT_PMP_PORT, GATEWAY, resolve) })
})
afterAll(() => {
  server?.close()
  process.off('uncaughtException', onUncaught)
})
beforeEach(() => { mode = 'answer'; received = 0; uncaught.length = 0 })

describe('NAT-PMP client', () => {
  it('gets the external address, maps a TCP port (the router may pick another) and deletes it', async () => {
    expect(await natPmpExternalAddress(GATEWAY, AbortSignal.timeout(5_000))).toBe('11.0.0.1')
    expect(await natPmpMapTcp(GATEWAY, 4001, 7200, AbortSignal.timeout(5_000))).toEqual({ internalPort: 4001, externalPort: 4002, lifetime: 3600 })
    expect(await natPmpMapTcp(GATEWAY, 4001, 0, AbortSignal.timeout(5_000))).toEqual({ internalPort: 4001, externalPort: 0, lifetime: 0 })
    expect(received).toBe(3)
  })

  it('sends again when an answer does not come (250 ms, doubling)', async () => {
    mode = 'drop-2'
    const t0 = Date.now()
    expect(await natPmpExternalAddress(GATEWAY, AbortSignal.timeout(5_000))).toBe('11.0.0.1')
    expect(received).toBe(3)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700)
  })

  it('a router that never answers: NatPmpError after 4 sends; an abort ends the wait at once', async () => {
    mode = 'silent'
    await expect(natPmpExternalAddress(GATEWAY, AbortSignal.timeout(10_000))).rejects.toThrow(/no answer from 127\.0\.0\.2:5351/)
    expect(received).toBe(4)
    const t0 = Date.now()
    await expect(natPmpMapTcp(GATEWAY, 4001, 7200, AbortSignal.timeout(100))).rejects.toThrow()
    expect(Date.now() - t0).toBeLessThan(1_000)
  })

  it('a truncated, wrong-version or refused answer is a NatPmpError, never an uncaught exception', async () => {
    for (const [m, re] of [['short', /answer of 2 bytes/], ['version', /version 2/], ['refuse', /refused: not authorized/]] as const) {
      mode = m
      const err = await natPmpMapTcp(GATEWAY, 4001, 7200, AbortSignal.timeout(5_000)).catch((e: unknown) => e)
      expect(err, m).toBeInstanceOf(NatPmpError)
      expect((err as Error).message, m).toMatch(re)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(uncaught).toEqual([])
  })

  it('decodes only well-formed answers: 100,000 random and mutated ones give NatPmpError or a value', () => {
    const good = [answer(Buffer.from([0, 0])), answer(Buffer.from([0, 2, 0, 0, 15, 161, 15, 161, 0, 0, 28, 32]))]
    let decoded = 0
    for (let i = 0; i < 100_000; i++) {
      const base = good[i % 2] as Buffer
      const b = i % 3 === 0 ? randomBytes(i % 20) : Buffer.from(base.subarray(0, i % 17))
      if (i % 3 === 1 && b.length > 0) b[i % b.length] = (b[i % b.length] ?? 0) ^ (1 + (i % 255))
      for (const decode of [decodeExternalAddress, decodeMapping]) {
        try {
          decode(b)
          decoded++
        } catch (err) {
          if (!(err instanceof NatPmpError)) throw err
        }
      }
    }
    expect(decoded).toBeGreaterThan(0)
  })
})

describe('the default gateway', () => {
  let dir: string
  beforeAll(async () => { dir = await tempDir('kith-route-') })
  afterAll(async () => { await removeTree(dir) })

  it('is read from /proc/net/route (little-endian hex); none without a default route', async () => {
    const header = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT'
    const withDefault = join(dir, 'route')
    await writeFile(withDefault, [header, 'lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0', 'lan\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0', ''].join('\n'))
    expect(await defaultGateway4(withDefault)).toBe('192.168.1.1')
    const without = join(dir, 'route-none')
    await writeFile(without, [header, 'lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0', ''].join('\n'))
    expect(await defaultGateway4(without)).toBeUndefined()
    expect(await defaultGateway4(join(dir, 'absent'))).toBeUndefined()
  })
})
