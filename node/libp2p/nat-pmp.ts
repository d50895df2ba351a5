/**
 * A NAT-PMP client (RFC 6886), for routers that map ports by NAT-PMP (or PCP with its NAT-PMP
 * fallback) and not by UPnP IGD: part of `--upnp` (node/libp2p/upnp.ts). Two requests only: the
 * router's external address, and a TCP mapping (lifetime 0 deletes it).
 *
 * Written here rather than taken from @achingbrain/nat-port-mapper (which @libp2p/upnp-nat
 * carries): its NAT-PMP gateway binds the fixed port 5350, reads answers without checking their
 * length (a 2-byte datagram from the LAN throws inside the socket's handler: an uncaught
 * exception), never retransmits, and a request whose answer never came blocks every later one.
 * Here each request has its own socket on an ephemeral port, connected to the gateway's port 5351
 * (the kernel drops datagrams from anyone else), answers are length-checked and matched to the
 * request, the request is sent again after 250 ms, doubling (RFC 6886 §3.1, shortened to 4 sends),
 * and every wait is bounded by the caller's signal.
 */
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'

export const NAT_PMP_PORT = 5351
const OP_EXTERNAL_ADDRESS = 0
const OP_MAP_TCP = 2
/** First retransmission after 250 ms, then 500, 1000: 4 sends, about 3.75 s in all. */
const FIRST_RETRY_MS = 250
const SENDS = 4

const RESULTS: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized or refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode'
}

/** A NAT-PMP request that failed: no answer, a refusal (with the router's result code), or a malformed answer. */
export class NatPmpError extends Error {
  override name = 'NatPmpError'
  constructor (message: string, readonly resultCode?: number) { super(message) }
}

export interface NatPmpMapping {
  internalPort: number
  externalPort: number
  /** Seconds the router keeps it. */
  lifetime: number
}

/** The router's external IPv4 address, e.g. "11.0.0.1". */
export async function natPmpExternalAddress (gateway: string, signal: AbortSignal): Promise<string> {
  const msg = await request(gateway, Uint8Array.of(0, OP_EXTERNAL_ADDRESS), OP_EXTERNAL_ADDRESS, signal)
  return decodeExternalAddress(msg)
}

/** Maps TCP `internalPort` (asking for the same external port) for `lifetime` seconds; 0 deletes the mapping. */
export async function natPmpMapTcp (gateway: string, internalPort: number, lifetime: number, signal: AbortSignal): Promise<NatPmpMapping> {
  const req = new Uint8Array(12)
  const v = new DataView(req.buffer)
  v.setUint8(1, OP_MAP_TCP)
  v.setUint16(4, internalPort)
  v.setUint16(6, lifetime === 0 ? 0 : internalPort)
  v.setUint32(8, lifetime)
  return decodeMapping(await request(gateway, req, OP_MAP_TCP, signal))
}

/** The answer's common header checked: version 0, the request's opcode + 128, its length, result 0. */
export function checkAnswer (msg: Uint8Array, op: number): DataView {
  const want = op === OP_EXTERNAL_ADDRESS ? 12 : 16
  if (msg.length < want) throw new NatPmpError(`answer of ${msg.length} bytes, expected ${want}`)
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  if (v.getUint8(0) !== 0) throw new NatPmpError(`answer of version ${v.getUint8(0)}`)
  if (v.getUint8(1) !== 128 + op) throw new NatPmpError(`answer to opcode ${v.getUint8(1) - 128}, expected ${op}`)
  const code = v.getUint16(2)
  if (code !== 0) throw new NatPmpError(`refused: ${RESULTS[code] ?? `result code ${code}`}`, code)
  return v
}

export function decodeExternalAddress (msg: Uint8Array): string {
  const v = checkAnswer(msg, OP_EXTERNAL_ADDRESS)
  return [8, 9, 10, 11].map(i => v.getUint8(i)).join('.')
}

export function decodeMapping (msg: Uint8Array): NatPmpMapping {
  const v = checkAnswer(msg, OP_MAP_TCP)
  return { internalPort: v.getUint16(8), externalPort: v.getUint16(10), lifetime: v.getUint32(12) }
}

/** Sends `req` to the gateway until an answer to `op` comes (or the sends run out, or `signal` aborts). */
async function request (gateway: string, req: Uint8Array, op: number, signal: AbortSignal): Promise<Uint8Array> {
  signal.throwIfAborted()
  const socket = createSocket('udp4')
  return await new Promise<Uint8Array>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let sends = 0
    const done = (err: Error | undefined, msg?: Uint8Array): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      socket.removeAllListeners('message')
      socket.on('error', () => {})
      try { socket.close() } catch {}
      if (err !== undefined) reject(err)
      else resolve(msg as Uint8Array)
    }
    const onAbort = (): void => { done(signal.reason instanceof Error ? signal.reason : new NatPmpError('aborted')) }
    const send = (): void => {
      if (sends === SENDS) { done(new NatPmpError(`no answer from ${gateway}:${NAT_PMP_PORT}`)); return }
      const wait = FIRST_RETRY_MS * 2 ** sends
      sends++
      socket.send(req, err => { if (err != null) done(new NatPmpError(`cannot send to ${gateway}:${NAT_PMP_PORT}: ${err.message}`)) })
      timer = setTimeout(send, wait)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', err => { done(new NatPmpError(`socket: ${err.message}`)) })
    socket.on('message', (msg: Buffer) => {
      // An answer to another opcode (a late one) is not ours: keep waiting; anything else is decided.
      if (msg.length >= 2 && msg[0] === 0 && msg[1] !== 128 + op) return
      try { checkAnswer(msg, op) } catch (err) { done(err as Error); return }
      done(undefined, new Uint8Array(msg))
    })
    socket.connect(NAT_PMP_PORT, gateway, () => { send() })
  })
}

/**
 * The IPv4 default gateway, from Linux's routing table (/proc/net/route); undefined elsewhere or
 * without one. NAT-PMP asks the default gateway, and no other host (RFC 6886 §3).
 */
export async function defaultGateway4 (routeTable = '/proc/net/route'): Promise<string | undefined> {
  const text = await readFile(routeTable, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    // Iface Destination Gateway Flags ...: the default route (destination 0) with RTF_GATEWAY (2).
    if (f.length < 4 || f[1] !== '00000000' || (parseInt(f[3] ?? '0', 16) & 2) === 0) continue
    const hex = f[2] ?? ''
    if (!/^[0-9A-Fa-f]{8}$/.test(hex)) continue
    const n = parseInt(hex, 16)
    // Little-endian in the file: the first octet is the low byte.
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.')
  }
  return undefined
}
