/**
 * Content crypto on Web Workers (web/peer/crypto-worker.ts): the browser node's ChunkCryptoFactory
 * (node/engine/share/chunk-crypto-pool.ts). Keeps chunk verification, decryption and re-sealing off the
 * page's thread, so the page stays responsive while a large download runs (the files and their
 * final SHA-256 are the storage worker's: web/peer/opfs-worker.ts). A small pool: hardware threads − 1,
 * at most 4 (the page's thread runs libp2p and Noise).
 */
import { ChunkCryptoPool, type WorkerPort, type WorkerReply } from '../../node/engine/share/chunk-crypto-pool.js'

const MAX_WORKERS = 4

function webWorker (): WorkerPort {
  const worker = new Worker(new URL('./crypto-worker.ts', import.meta.url), { type: 'module', name: 'kith-crypto' })
  return {
    post: (msg, transfer) => { worker.postMessage(msg, transfer) },
    listen: (onReply, onFail) => {
      worker.onmessage = (e: MessageEvent<WorkerReply>) => { onReply(e.data) }
      worker.onerror = (e: ErrorEvent) => { onFail(new Error(`crypto worker failed: ${e.message}`)) }
    },
    terminate: () => { worker.terminate() }
  }
}

export function cryptoWorkers (count = Math.min(MAX_WORKERS, Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1))): ChunkCryptoPool {
  return new ChunkCryptoPool(Array.from({ length: count }, webWorker))
}
