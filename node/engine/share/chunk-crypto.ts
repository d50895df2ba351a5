/**
 * Per-chunk content crypto of one share, behind an asynchronous interface so a platform can run
 * it off the thread that drives the network: the browser node hands it to Web Workers
 * (web/peer/chunk-crypto.ts), a Node process runs it inline with the native backend.
 *
 * Both operations check the sealed bytes against the chunk's content digest from the manifest, so
 * a caller never holds unverified ciphertext as if it were good:
 *  - `open`: a chunk received from a peer. Digest mismatch → undefined (the peer lied: drop it);
 *    digest matches but the tag fails → DecryptionError (the share itself is corrupt).
 *  - `seal`: a chunk regenerated from plaintext to serve or to re-verify what is on disk.
 *    Digest mismatch → undefined (the source changed since it was shared, or the disk rotted).
 *
 * Ownership: an implementation may take the input bytes (transfer them to a worker); callers must
 * not use `sealed` / `plaintext` after the call.
 */
import { digestEquals } from '../../../protocol/cid.js'
import type { CryptoBackend } from '../../../protocol/crypto.js'
import type { SecretKey } from '../../../protocol/keys.js'
import { ChunkCipher } from '../../../protocol/stream.js'

export interface ChunkCrypto {
  open: (index: number, last: boolean, sealed: Uint8Array, digest: Uint8Array) => Promise<Uint8Array | undefined>
  seal: (index: number, last: boolean, plaintext: Uint8Array, digest: Uint8Array) => Promise<Uint8Array | undefined>
  /** Forgets the share's key (a worker drops its copy). */
  close: () => void
}

/** Makes the chunk crypto of one share from its encryption key and nonce prefix. */
export type ChunkCryptoFactory = (key: SecretKey, noncePrefix: Uint8Array) => ChunkCrypto

/** Chunk crypto on the calling thread with `backend` (Node: node:crypto). */
export function inlineChunkCrypto (backend: CryptoBackend): ChunkCryptoFactory {
  return (key, noncePrefix) => {
    const cipher = new ChunkCipher(backend, key, noncePrefix)
    return {
      open: async (index, last, sealed, digest) => {
        if (!digestEquals(backend.sha256(sealed), digest)) return undefined
        return cipher.open(index, last, sealed)
      },
      seal: async (index, last, plaintext, digest) => {
        const sealed = cipher.seal(index, last, plaintext)
        return digestEquals(backend.sha256(sealed), digest) ? sealed : undefined
      },
      close: () => {}
    }
  }
}
