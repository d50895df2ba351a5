/**
 * ChunkCrypto on worker threads, platform-neutral: the pool (the side that drives the network)
 * and the request handler (worker side). The browser runs it on Web Workers (web/peer/chunk-crypto.ts,
 * web/peer/crypto-worker.ts): the page's thread then only moves bytes, while verification, decryption
 * and re-sealing of chunks run beside it. (Node runs chunk crypto inline: tried on a
 * worker_threads pool, a 1 GiB download was no faster on 2 cores and its peak RSS rose by 40 MB.)
 *
 * A share's key goes to every worker under a number the pool chose, in memory, and is dropped by
 * `close`. Chunk bytes are transferred, not copied, when the caller's view covers its whole buffer
 * (the ChunkCrypto contract: callers give up the bytes they pass). Each request goes to the worker
 * with the fewest in flight.
 */
import { digestEquals } from '../../../protocol/cid.js'
import type { CryptoBackend } from '../../../protocol/crypto.js'
import { DecryptionError } from '../../../protocol/errors.js'
import { SecretKey } from '../../../protocol/keys.js'
import { ChunkCipher } from '../../../protocol/stream.js'
import type { ChunkCrypto, ChunkCryptoFactory } from './chunk-crypto.js'

export type WorkerRequest =
  | { t: 'key', k: number, key: Uint8Array, prefix: Uint8Array }
  | { t: 'drop', k: number }
  | { t: 'open' | 'seal', id: number, k: number, index: number, last: boolean, data: Uint8Array<ArrayBuffer>, digest: Uint8Array }

export type WorkerReply =
  | { id: number, ok: true, data: Uint8Array<ArrayBuffer> }
  | { id: number, ok: false, mismatch: true }
  | { id: number, ok: false, error: 'decrypt' | 'other', message: string }

/** One worker, as the pool sees it (a Web Worker or a worker_threads Worker behind an adapter). */
export interface WorkerPort {
  post: (msg: WorkerRequest, transfer: ArrayBuffer[]) => void
  /** Registers the handlers for the worker's replies and for its failure. */
  listen: (onReply: (r: WorkerReply) => void, onFail: (err: Error) => void) => void
  terminate: () => void
}

interface Slot { port: WorkerPort, inFlight: number }
interface Pending { resolve: (r: WorkerReply) => void, reject: (e: Error) => void, slot: Slot }

/** `bytes` as a view that owns its whole buffer (so it can be transferred), copying if needed. */
function owned (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes as Uint8Array<ArrayBuffer>
  return bytes.slice()
}

export class ChunkCryptoPool {
  readonly #slots: Slot[]
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #nextKey = 1

  constructor (ports: WorkerPort[]) {
    if (ports.length === 0) throw new RangeError('a worker pool needs at least one worker')
    this.#slots = ports.map(port => {
      const slot: Slot = { port, inFlight: 0 }
      port.listen(r => { this.#settle(r) }, err => { this.#fail(slot, err) })
      return slot
    })
  }

  get size (): number { return this.#slots.length }

  #settle (r: WorkerReply): void {
    const p = this.#pending.get(r.id)
    if (p === undefined) return
    this.#pending.delete(r.id)
    p.slot.inFlight--
    p.resolve(r)
  }

  #fail (slot: Slot, err: Error): void {
    for (const [id, p] of this.#pending) {
      if (p.slot !== slot) continue
      this.#pending.delete(id)
      slot.inFlight--
      p.reject(err)
    }
  }

  async #call (req: WorkerRequest & { id: number }, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    let slot = this.#slots[0] as Slot
    for (const s of this.#slots) if (s.inFlight < slot.inFlight) slot = s
    slot.inFlight++
    return await new Promise<WorkerReply>((resolve, reject) => {
      this.#pending.set(req.id, { resolve, reject, slot })
      slot.port.post(req, transfer)
    })
  }

  async #chunk (t: 'open' | 'seal', k: number, index: number, last: boolean, bytes: Uint8Array, digest: Uint8Array): Promise<Uint8Array | undefined> {
    const data = owned(bytes)
    const r = await this.#call({ t, id: this.#nextId++, k, index, last, data, digest: digest.slice() }, [data.buffer])
    if (r.ok) return r.data
    if ('mismatch' in r) return undefined
    if (r.error === 'decrypt') throw new DecryptionError(r.message)
    throw new Error(r.message)
  }

  /** One share's chunk crypto: its key goes to every worker. */
  readonly chunkCrypto: ChunkCryptoFactory = (key, noncePrefix): ChunkCrypto => {
    const k = this.#nextKey++
    for (const s of this.#slots) s.port.post({ t: 'key', k, key: Uint8Array.from(key.bytes), prefix: Uint8Array.from(noncePrefix) }, [])
    return {
      open: async (index, last, sealed, digest) => await this.#chunk('open', k, index, last, sealed, digest),
      seal: async (index, last, plaintext, digest) => await this.#chunk('seal', k, index, last, plaintext, digest),
      close: () => { for (const s of this.#slots) s.port.post({ t: 'drop', k }, []) }
    }
  }

  /** Stops the workers; requests still in flight fail. */
  terminate (): void {
    for (const s of this.#slots) {
      this.#fail(s, new Error('the crypto workers were stopped'))
      s.port.terminate()
    }
  }
}

/**
 * The worker side: answers the pool's requests with `backend` for ChaCha20-Poly1305 and `digest`
 * for SHA-256 (WebCrypto's is asynchronous). `reply` posts back, transferring the given buffers.
 */
export function chunkCryptoWorker (backend: CryptoBackend, digest: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array | Promise<Uint8Array>, reply: (msg: WorkerReply, transfer: ArrayBuffer[]) => void): (m: WorkerRequest) => Promise<void> {
  const ciphers = new Map<number, ChunkCipher>()
  const cipherFor = (k: number): ChunkCipher => {
    const c = ciphers.get(k)
    if (c === undefined) throw new Error('no key registered for this share')
    return c
  }
  return async (m) => {
    if (m.t === 'key') {
      const key = new SecretKey(m.key)
      ciphers.set(m.k, new ChunkCipher(backend, key, m.prefix))
      key.wipe()
      m.key.fill(0)
      return
    }
    if (m.t === 'drop') { ciphers.delete(m.k); return }
    try {
      if (m.t === 'open') {
        if (!digestEquals(await digest(m.data), m.digest)) { reply({ id: m.id, ok: false, mismatch: true }, []); return }
        const plain = owned(cipherFor(m.k).open(m.index, m.last, m.data))
        reply({ id: m.id, ok: true, data: plain }, [plain.buffer])
      } else {
        const sealed = owned(cipherFor(m.k).seal(m.index, m.last, m.data))
        if (!digestEquals(await digest(sealed), m.digest)) { reply({ id: m.id, ok: false, mismatch: true }, []); return }
        reply({ id: m.id, ok: true, data: sealed }, [sealed.buffer])
      }
    } catch (err) {
      // Messages only: a DecryptionError's text carries no key or plaintext (protocol/errors.ts).
      reply({ id: m.id, ok: false, error: err instanceof DecryptionError ? 'decrypt' : 'other', message: (err as Error).message }, [])
    }
  }
}
