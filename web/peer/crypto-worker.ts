/**
 * The browser node's content-crypto worker (web/peer/chunk-crypto.ts is its pool): verifies, opens and
 * seals chunks off the page's thread with node/engine/share/chunk-crypto-pool.ts's handler. SHA-256 of a
 * chunk uses WebCrypto (native) where the page is a secure context, else @noble/hashes;
 * ChaCha20-Poly1305 is @noble/ciphers (WebCrypto has none). Nothing here touches the network or
 * storage.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { nobleBackend } from '../../protocol/crypto.js'
import { chunkCryptoWorker, type WorkerReply, type WorkerRequest } from '../../node/engine/share/chunk-crypto-pool.js'

/** The worker's global scope, typed by hand: the DOM and WebWorker libs cannot share a program. */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null
  postMessage: (msg: WorkerReply, transfer: Transferable[]) => void
}

async function digestOf (bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  if (globalThis.crypto?.subtle !== undefined) return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return sha256(bytes)
}

const handle = chunkCryptoWorker(nobleBackend, digestOf, (msg, transfer) => { scope.postMessage(msg, transfer) })
scope.onmessage = (e: MessageEvent<WorkerRequest>) => { void handle(e.data) }
