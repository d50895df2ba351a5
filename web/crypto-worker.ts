/**
 * The browser node's content-crypto worker: verifies, opens and seals chunks off the page's
 * thread (web/chunk-crypto.ts is its client). The page's thread keeps only
 * the network (libp2p, Noise) and the UI.
 *
 * It holds the encryption keys of the shares the page is downloading or seeding, in memory, under
 * a number the page chose; nothing here touches the network or storage. SHA-256 of a chunk uses
 * WebCrypto (native) where the page is a secure context, else @noble/hashes; ChaCha20-Poly1305 is
 * @noble/ciphers (WebCrypto has none).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { digestEquals } from '../protocol/cid.js'
import { nobleBackend } from '../protocol/crypto.js'
import { DecryptionError } from '../protocol/errors.js'
import { SecretKey } from '../protocol/keys.js'
import { ChunkCipher } from '../protocol/stream.js'
import type { WorkerReply, WorkerRequest } from './chunk-crypto.js'

/** The worker's global scope, typed by hand: the DOM and WebWorker libs cannot share a program. */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null
  postMessage: (msg: WorkerReply, transfer: Transferable[]) => void
}

const ciphers = new Map<number, ChunkCipher>()

async function digestOf (bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  if (globalThis.crypto?.subtle !== undefined) return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return sha256(bytes)
}

function cipherFor (k: number): ChunkCipher {
  const c = ciphers.get(k)
  if (c === undefined) throw new Error('no key registered for this share')
  return c
}

function reply (msg: WorkerReply, transfer: Transferable[] = []): void {
  scope.postMessage(msg, transfer)
}

scope.onmessage = (e: MessageEvent<WorkerRequest>) => { void handle(e.data) }

async function handle (m: WorkerRequest): Promise<void> {
  if (m.t === 'key') {
    const key = new SecretKey(m.key)
    ciphers.set(m.k, new ChunkCipher(nobleBackend, key, m.prefix))
    key.wipe()
    m.key.fill(0)
    return
  }
  if (m.t === 'drop') { ciphers.delete(m.k); return }
  try {
    if (m.t === 'open') {
      if (!digestEquals(await digestOf(m.data), m.digest)) { reply({ id: m.id, ok: false, mismatch: true }); return }
      const plain = cipherFor(m.k).open(m.index, m.last, m.data) as Uint8Array<ArrayBuffer>
      reply({ id: m.id, ok: true, data: plain }, [plain.buffer])
    } else if (m.t === 'seal') {
      const sealed = cipherFor(m.k).seal(m.index, m.last, m.data) as Uint8Array<ArrayBuffer>
      if (!digestEquals(await digestOf(sealed), m.digest)) { reply({ id: m.id, ok: false, mismatch: true }); return }
      reply({ id: m.id, ok: true, data: sealed }, [sealed.buffer])
    }
  } catch (err) {
    // Messages only: a DecryptionError's text carries no key or plaintext (protocol/errors.ts).
    reply({ id: m.id, ok: false, error: err instanceof DecryptionError ? 'decrypt' : 'other', message: (err as Error).message })
  }
}
