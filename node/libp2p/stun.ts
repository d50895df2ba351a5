/**
 * A minimal STUN (RFC 5389) Binding responder and client, so WebRTC between two homes behind NAT
 * needs no third-party STUN server (docs/NETWORK.md, Direct connections).
 *
 * ICE learns a node's public address (its server-reflexive candidate) by asking a STUN server
 * "what address did my packet come from?". @libp2p/webrtc's default is Google's, Twilio's,
 * Cloudflare's and Mozilla's public servers, which would learn every Kith user's IP address and
 * when they connect; Kith uses none of them. Instead a Kith node with a public address answers
 * Binding requests on UDP, on the port number of its TCP listener (4001 by default), and its
 * friends' nodes use it; a user may also configure servers (`--stun host:port`, `"stun"`).
 *
 * Only Binding requests are answered (no TURN, no authentication, no state): the answer is the
 * request's source address, XOR-mapped (the one attribute RFC 5389 requires). Anything else is
 * dropped without a reply. A reply (32 bytes for IPv4) is never much larger than the request (at
 * least 20), so the responder is a poor reflector; it is rate-limited per source address and in
 * total besides. Nothing is logged but counts; no address is kept beyond the rate limiter's
 * in-memory table (bounded, entries forgotten after STUN_BUCKET_IDLE_MS).
 */
import { createSocket, type Socket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import type { ComponentLogger, Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isPublicDirect } from './address-announce.js'

const MAGIC_COOKIE = 0x2112a442
const BINDING_REQUEST = 0x0001
const BINDING_SUCCESS = 0x0101
const ATTR_XOR_MAPPED_ADDRESS = 0x0020
const ATTR_MAPPED_ADDRESS = 0x0001
const HEADER = 20
/** Longest request answered (RFC 5389 §7.1: a STUN message over UDP fits 548 bytes when unsure of the path MTU). */
const MAX_REQUEST = 548

/** Answers per second from one source address, and the burst allowed. */
export const STUN_PER_SOURCE_RATE = 20
export const STUN_PER_SOURCE_BURST = 40
/** Answers per second in all. */
export const STUN_TOTAL_RATE = 2_000
/** Source addresses the rate limiter remembers at once; over it the oldest is forgotten. */
const STUN_MAX_SOURCES = 4_096
const STUN_BUCKET_IDLE_MS = 10_000

/** Parses a Binding request; undefined for anything else (then nothing is sent back). */
export function parseBindingRequest (msg: Uint8Array): Uint8Array | undefined {
  if (msg.length < HEADER || msg.length > MAX_REQUEST) return undefined
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  if (view.getUint16(0) !== BINDING_REQUEST) return undefined
  const length = view.getUint16(2)
  if (length % 4 !== 0 || HEADER + length !== msg.length) return undefined
  if (view.getUint32(4) !== MAGIC_COOKIE) return undefined
  return msg.slice(8, 20)
}

/** A Binding success response for `transaction` telling `address:port` (IPv4 only). */
export function bindingResponse (transaction: Uint8Array, address: string, port: number): Uint8Array {
  const out = new Uint8Array(HEADER + 12)
  const view = new DataView(out.buffer)
  view.setUint16(0, BINDING_SUCCESS)
  view.setUint16(2, 12)
  view.setUint32(4, MAGIC_COOKIE)
  out.set(transaction, 8)
  view.setUint16(20, ATTR_XOR_MAPPED_ADDRESS)
  view.setUint16(22, 8)
  view.setUint8(24, 0)
  view.setUint8(25, 0x01) // IPv4
  view.setUint16(26, port ^ (MAGIC_COOKIE >>> 16))
  const ip = address.split('.').reduce((n, b) => (n * 256) + Number(b), 0)
  view.setUint32(28, (ip ^ MAGIC_COOKIE) >>> 0)
  return out
}

/** Reads the mapped address from a Binding success response to `transaction`. */
export function parseBindingResponse (msg: Uint8Array, transaction: Uint8Array): { address: string, port: number } | undefined {
  if (msg.length < HEADER || msg.length > MAX_REQUEST) return undefined
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  if (view.getUint16(0) !== BINDING_SUCCESS || view.getUint32(4) !== MAGIC_COOKIE) return undefined
  const length = view.getUint16(2)
  if (HEADER + length > msg.length) return undefined
  for (let i = 0; i < 12; i++) if (msg[8 + i] !== transaction[i]) return undefined
  let at = HEADER
  let mapped: { address: string, port: number } | undefined
  while (at + 4 <= HEADER + length) {
    const type = view.getUint16(at)
    const len = view.getUint16(at + 2)
    if (at + 4 + len > HEADER + length) return undefined
    if ((type === ATTR_XOR_MAPPED_ADDRESS || type === ATTR_MAPPED_ADDRESS) && len >= 8 && view.getUint8(at + 5) === 0x01) {
      const xor = type === ATTR_XOR_MAPPED_ADDRESS
      const port = view.getUint16(at + 6) ^ (xor ? MAGIC_COOKIE >>> 16 : 0)
      const ip = (view.getUint32(at + 8) ^ (xor ? MAGIC_COOKIE : 0)) >>> 0
      const found = { address: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'), port }
      if (xor || mapped === undefined) mapped = found
    }
    at += 4 + Math.ceil(len / 4) * 4
  }
  return mapped
}

/** A UDP STUN Binding responder on `port` (all IPv4 interfaces). */
export class StunResponder {
  readonly #socket: Socket
  readonly #buckets = new Map<string, { tokens: number, last: number }>()
  #total = { tokens: STUN_TOTAL_RATE, last: Date.now() }
  answered = 0
  dropped = 0

  private constructor (socket: Socket) {
    this.#socket = socket
    socket.on('message', (msg, rinfo) => { this.#onMessage(msg, rinfo.address, rinfo.port) })
    socket.on('error', () => { /* a send to an unreachable source: nothing to do */ })
  }

  /** Binds the responder; rejects if the port is taken. */
  static async listen (port: number, host = '0.0.0.0'): Promise<StunResponder> {
    const socket = createSocket({ type: 'udp4' })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, host, () => { socket.off('error', reject); resolve() })
    })
    return new StunResponder(socket)
  }

  get port (): number { return this.#socket.address().port }

  close (): void { this.#socket.close() }

  #onMessage (msg: Buffer, address: string, port: number): void {
    const transaction = parseBindingRequest(msg)
    if (transaction === undefined || !isIPv4(address) || !this.#allow(address)) { this.dropped++; return }
    this.answered++
    this.#socket.send(bindingResponse(transaction, address, port), port, address)
  }

  #allow (source: string): boolean {
    const now = Date.now()
    this.#total = refill(this.#total, now, STUN_TOTAL_RATE, STUN_TOTAL_RATE)
    if (this.#total.tokens < 1) return false
    let b = this.#buckets.get(source)
    if (b === undefined) {
      if (this.#buckets.size >= STUN_MAX_SOURCES) {
        for (const [k, v] of this.#buckets) if (now - v.last > STUN_BUCKET_IDLE_MS) this.#buckets.delete(k)
        if (this.#buckets.size >= STUN_MAX_SOURCES) this.#buckets.delete(this.#buckets.keys().next().value as string)
      }
      b = { tokens: STUN_PER_SOURCE_BURST, last: now }
    } else {
      this.#buckets.delete(source) // re-inserted last: the table stays in order of use
      b = refill(b, now, STUN_PER_SOURCE_RATE, STUN_PER_SOURCE_BURST)
    }
    this.#buckets.set(source, b)
    if (b.tokens < 1) return false
    b.tokens--
    this.#total.tokens--
    return true
  }
}

function refill (b: { tokens: number, last: number }, now: number, rate: number, burst: number): { tokens: number, last: number } {
  return { tokens: Math.min(burst, b.tokens + (now - b.last) * rate / 1000), last: now }
}

/**
 * Asks the STUN server at host:port for our mapped address (one Binding request, retransmitted
 * after 250 and 750 ms, RFC 5389 §7.2.1 shortened); undefined if no valid answer in `timeoutMs`.
 */
export async function stunBinding (host: string, port: number, timeoutMs = 1_500): Promise<{ address: string, port: number } | undefined> {
  const socket = createSocket({ type: 'udp4' })
  const transaction = globalThis.crypto.getRandomValues(new Uint8Array(12))
  const request = new Uint8Array(HEADER)
  const view = new DataView(request.buffer)
  view.setUint16(0, BINDING_REQUEST)
  view.setUint32(4, MAGIC_COOKIE)
  request.set(transaction, 8)
  const timers: Array<ReturnType<typeof setTimeout>> = []
  try {
    return await new Promise(resolve => {
      socket.on('message', msg => {
        const mapped = parseBindingResponse(msg, transaction)
        if (mapped !== undefined) resolve(mapped)
      })
      socket.on('error', () => { resolve(undefined) })
      const send = (): void => { socket.send(request, port, host, () => {}) }
      socket.bind(0, () => {
        send()
        timers.push(setTimeout(send, 250), setTimeout(send, 750))
      })
      timers.push(setTimeout(() => { resolve(undefined) }, timeoutMs))
    })
  } finally {
    for (const t of timers) clearTimeout(t)
    socket.close()
  }
}

/** Parses `host:port` (a `--stun` value); port defaults to 3478. Throws TypeError when malformed. */
export function parseStunServer (text: string): { host: string, port: number } {
  const m = /^(?:stun:)?([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text.trim())
  const port = Number(m?.[2] ?? 3478)
  if (m === null || port < 1 || port > 65535) throw new TypeError(`STUN server "${text}" is not host:port`)
  return { host: m[1] as string, port }
}

export interface StunServiceComponents {
  addressManager: AddressManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/**
 * The libp2p service that runs the responder while the node announces a public, directly
 * dialable TCP address: on UDP, on that address's port number (the friend's side derives the STUN
 * server from the address it knows, node/libp2p/webrtc.ts). A home node behind NAT announces none
 * and runs none. If the UDP port is taken, the node runs without it (logged).
 */
export class StunService implements Startable {
  readonly #components: StunServiceComponents
  readonly #log: Logger
  #responder: StunResponder | undefined
  #binding: Promise<void> | undefined
  #started = false
  readonly #onUpdate = (): void => { this.#check() }

  constructor (components: StunServiceComponents) {
    this.#components = components
    this.#log = components.logger.forComponent('kith:stun')
  }

  readonly [Symbol.toStringTag] = 'kith:stun'

  get responder (): StunResponder | undefined { return this.#responder }

  start (): void {
    this.#started = true
    this.#components.events.addEventListener('self:peer:update', this.#onUpdate)
  }

  afterStart (): void { this.#check() }

  stop (): void {
    this.#started = false
    this.#components.events.removeEventListener('self:peer:update', this.#onUpdate)
    this.#responder?.close()
    this.#responder = undefined
  }

  #check (): void {
    if (!this.#started || this.#responder !== undefined || this.#binding !== undefined) return
    const port = publicTcpPort(this.#components.addressManager.getAddresses())
    if (port === undefined) return
    this.#binding = StunResponder.listen(port).then(r => {
      if (this.#started) { this.#responder = r; this.#log('answering STUN on udp port %d', port) } else r.close()
    }, err => {
      this.#log.error('cannot answer STUN on udp port %d: %s', port, (err as Error).message)
    })
  }
}

/** The TCP port of the first public, directly dialable TCP address, if any. */
export function publicTcpPort (addrs: Multiaddr[]): number | undefined {
  for (const a of addrs) {
    if (!isPublicDirect(a)) continue
    const tcp = a.getComponents().find(c => c.name === 'tcp')
    if (tcp?.value !== undefined && a.getComponents().every(c => c.name !== 'ws' && c.name !== 'wss')) return Number(tcp.value)
  }
  return undefined
}

/** The libp2p service factory: `services: { stun: stunService() }`. */
export function stunService (): (components: StunServiceComponents) => StunService {
  return (components) => new StunService(components)
}
