/**
 * Content crypto on Web Workers (web/crypto-worker.ts): the browser node's ChunkCryptoFactory
 * (node/swarm/chunk-crypto.ts). Keeps chunk verification, decryption and re-sealing off the
 * page's thread, so the page stays responsive while a large download runs (the files and their
 * final SHA-256 are the storage worker's: web/opfs-worker.ts).
 *
 * A small pool (hardware threads − 1, at most 4; the page's thread runs libp2p and Noise); each
 * request goes to the worker with the fewest in flight. Chunk bytes are transferred, not copied,
 * when the caller's view covers its whole buffer (the ChunkCrypto contract: callers give up the
 * bytes they pass).
 */
import { DecryptionError } from '../protocol/errors.js'
import type { ChunkCrypto, ChunkCryptoFactory } from '../node/swarm/chunk-crypto.js'

export type WorkerRequest =
  | { t: 'key', k: number, key: Uint8Array, prefix: Uint8Array }
  | { t: 'drop', k: number }
  | { t: 'open' | 'seal', id: number, k: number, index: number, last: boolean, data: Uint8Array<ArrayBuffer>, digest: Uint8Array }

export type WorkerReply =
  | { id: number, ok: true, data: Uint8Array<ArrayBuffer> }
  | { id: number, ok: false, mismatch: true }
  | { id: number, ok: false, error: 'decrypt' | 'other', message: string }

interface Pending { resolve: (r: WorkerReply) => void, reject: (e: Error) => void, worker: Slot }
interface Slot { worker: Worker, inFlight: number }

const MAX_WORKERS = 4

/** `bytes` as a view that owns its whole buffer (so it can be transferred), copying if needed. */
function owned (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes as Uint8Array<ArrayBuffer>
  return bytes.slice()
}

export class CryptoWorkers {
  readonly #slots: Slot[]
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #nextKey = 1

  constructor (count = Math.min(MAX_WORKERS, Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1))) {
    this.#slots = Array.from({ length: count }, () => {
      const slot: Slot = { worker: new Worker(new URL('./crypto-worker.ts', import.meta.url), { type: 'module', name: 'kith-crypto' }), inFlight: 0 }
      slot.worker.onmessage = (e: MessageEvent<WorkerReply>) => { this.#settle(e.data) }
      slot.worker.onerror = (e: ErrorEvent) => { this.#fail(slot, new Error(`crypto worker failed: ${e.message}`)) }
      return slot
    })
  }

  get size (): number { return this.#slots.length }

  #settle (r: WorkerReply): void {
    const p = this.#pending.get(r.id)
    if (p === undefined) return
    this.#pending.delete(r.id)
    p.worker.inFlight--
    p.resolve(r)
  }

  #fail (slot: Slot, err: Error): void {
    for (const [id, p] of this.#pending) {
      if (p.worker !== slot) continue
      this.#pending.delete(id)
      slot.inFlight--
      p.reject(err)
    }
  }

  async #call (req: WorkerRequest & { id: number }, transfer: Transferable[]): Promise<WorkerReply> {
    let slot = this.#slots[0] as Slot
    for (const s of this.#slots) if (s.inFlight < slot.inFlight) slot = s
    slot.inFlight++
    return await new Promise<WorkerReply>((resolve, reject) => {
      this.#pending.set(req.id, { resolve, reject, worker: slot })
      slot.worker.postMessage(req, transfer)
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

  /** One share's chunk crypto: its key goes to every worker, under a number of this page's. */
  readonly chunkCrypto: ChunkCryptoFactory = (key, noncePrefix): ChunkCrypto => {
    const k = this.#nextKey++
    for (const s of this.#slots) s.worker.postMessage({ t: 'key', k, key: Uint8Array.from(key.bytes), prefix: Uint8Array.from(noncePrefix) } satisfies WorkerRequest)
    return {
      open: async (index, last, sealed, digest) => await this.#chunk('open', k, index, last, sealed, digest),
      seal: async (index, last, plaintext, digest) => await this.#chunk('seal', k, index, last, plaintext, digest),
      close: () => { for (const s of this.#slots) s.worker.postMessage({ t: 'drop', k } satisfies WorkerRequest) }
    }
  }
}
