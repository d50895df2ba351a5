/**
 * The Node 20 WebSocket client (node/libp2p/polyfills.ts): a failed or aborted WebSockets dial
 * must end in a rejected dial, never in an uncaught exception (which ends a `kith` process with
 * "internal error", exit 1). Real libp2p dials on loopback to two servers that fail them the
 * way peers do: one that answers the upgrade with 503 (a `ws` server shutting down) and one that
 * accepts the TCP connection and never answers (the dial is aborted).
 */
import '../../../node/libp2p/polyfills.js'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { WebSocket as WsWebSocket } from 'ws'
import { NodeWebSocket } from '../../../node/libp2p/polyfills.js'

const uncaught: Error[] = []
const onUncaught = (err: Error): void => { uncaught.push(err) }
let busy: Server
let silent: TcpServer
const sockets: Socket[] = []
let node: Libp2p
let target: string

beforeAll(async () => {
  process.on('uncaughtException', onUncaught)
  busy = createServer((_req, res) => { res.writeHead(503).end() })
  // A `ws` server that is closing answers every upgrade with 503; this one takes 400 ms to.
  busy.on('upgrade', (_req, socket: Socket) => { setTimeout(() => { socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n') }, 400) })
  silent = createTcpServer(s => { sockets.push(s) })
  await Promise.all([
    new Promise<void>(resolve => { busy.listen(0, '127.0.0.1', resolve) }),
    new Promise<void>(resolve => { silent.listen(0, '127.0.0.1', resolve) })
  ])
  node = await createLibp2p({ transports: [webSockets()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  target = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
})

afterAll(async () => {
  await node?.stop()
  for (const s of sockets) s.destroy()
  await Promise.all([
    new Promise(resolve => { busy?.close(resolve) }),
    new Promise(resolve => { silent?.close(resolve) })
  ])
  process.off('uncaughtException', onUncaught)
})

beforeEach(() => { uncaught.length = 0 })

const port = (s: Server | TcpServer): number => (s.address() as AddressInfo).port
const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 300)) }

describe('the WebSocket client on Node 20', () => {
  it('is the polyfill (this runtime has no WHATWG WebSocket of its own)', () => {
    expect(globalThis.WebSocket).toBe(NodeWebSocket)
  })

  it('a dial answered with 503 is a rejected dial, not an uncaught exception', async () => {
    await expect(node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port(busy)}/ws/p2p/${target}`), { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    await settle()
    expect(uncaught.map(e => e.message)).toEqual([])
  })

  it('a dial aborted (our node stopping) before a 503 comes is a rejected dial, not an uncaught exception', async () => {
    await expect(node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port(busy)}/ws/p2p/${target}`), { signal: AbortSignal.timeout(100) })).rejects.toThrow()
    await settle()
    await settle()
    expect(uncaught.map(e => e.message)).toEqual([])
  })

  it('a dial aborted before the upgrade is answered is a rejected dial, not an uncaught exception', async () => {
    await expect(node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port(silent)}/ws/p2p/${target}`), { signal: AbortSignal.timeout(300) })).rejects.toThrow()
    // The peer then hangs up (the socket of an aborted handshake is reset, not answered).
    for (const s of sockets) s.destroy()
    await settle()
    expect(uncaught.map(e => e.message)).toEqual([])
  })

  it('error listeners added with addEventListener still run (the control: ws itself throws)', async () => {
    const seen: string[] = []
    const ws = new NodeWebSocket(`ws://127.0.0.1:${port(busy)}`)
    ws.addEventListener('error', () => { seen.push('error') })
    await new Promise(resolve => { ws.addEventListener('close', resolve) })
    expect(seen).toEqual(['error'])
    // Without the polyfill's listener, `ws` throws an 'error' that nobody listens to.
    const bare = new WsWebSocket(`ws://127.0.0.1:${port(busy)}`)
    expect(() => bare.emit('error', new Error('nobody listens'))).toThrow('nobody listens')
    bare.on('error', () => {})
    await new Promise(resolve => { bare.once('close', resolve) })
  })
})
