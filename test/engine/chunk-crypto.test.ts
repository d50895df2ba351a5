/**
 * ChunkCrypto: the inline implementation (Node) and the worker pool (the browser's, run here over
 * a real MessageChannel with transfers, the worker-side handler on the far end) give the same
 * bytes and the same verdicts: a good chunk opens; a chunk that does not match its digest is
 * refused (undefined) without decrypting; a chunk that matches its digest but fails its tag is a
 * DecryptionError; re-sealing checks the digest too.
 */
import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { nobleBackend } from '../../protocol/crypto.js'
import { DecryptionError } from '../../protocol/errors.js'
import { deriveShareKeys, generateRootKey } from '../../protocol/keys.js'
import { ChunkCipher } from '../../protocol/stream.js'
import { nativeBackend } from '../../node/crypto/native.js'
import { inlineChunkCrypto, type ChunkCrypto } from '../../node/engine/share/chunk-crypto.js'
import { ChunkCryptoPool, chunkCryptoWorker, type WorkerReply, type WorkerRequest } from '../../node/engine/share/chunk-crypto-pool.js'
import { pseudoRandomBytes } from '../protocol/helpers/fixtures.js'

function channelPool (workers: number): { pool: ChunkCryptoPool, close: () => void } {
  const channels = Array.from({ length: workers }, () => new MessageChannel())
  const pool = new ChunkCryptoPool(channels.map(({ port1, port2 }) => {
    const handle = chunkCryptoWorker(nobleBackend, b => nobleBackend.sha256(b), (msg, transfer) => { port2.postMessage(msg, transfer) })
    port2.on('message', (m: WorkerRequest) => { void handle(m) })
    return {
      post: (msg, transfer) => { port1.postMessage(msg, transfer) },
      listen: (onReply) => { port1.on('message', (r: WorkerReply) => { onReply(r) }) },
      terminate: () => { port1.close(); port2.close() }
    }
  }))
  return { pool, close: () => { pool.terminate() } }
}

describe('ChunkCrypto', () => {
  const keys = deriveShareKeys(generateRootKey())
  const reference = new ChunkCipher(nativeBackend, keys.encryption, keys.noncePrefix)
  const plain = pseudoRandomBytes(256 * 1024 + 5, 7)
  const sealed = reference.seal(3, true, plain)
  const digest = nativeBackend.sha256(sealed)

  const check = async (c: ChunkCrypto): Promise<void> => {
    expect(await c.open(3, true, sealed.slice(), digest)).toEqual(plain)
    // Another chunk's bytes under this digest: refused before decryption.
    const other = sealed.slice()
    other[10] = (other[10] as number) ^ 1
    expect(await c.open(3, true, other, digest)).toBeUndefined()
    // Matches its digest, but opened as the wrong chunk (index, last flag): the tag fails.
    await expect(c.open(4, true, sealed.slice(), digest)).rejects.toBeInstanceOf(DecryptionError)
    await expect(c.open(3, false, sealed.slice(), digest)).rejects.toBeInstanceOf(DecryptionError)
    // Re-sealing from plaintext gives the published bytes, checked against the digest.
    expect(await c.seal(3, true, plain.slice(), digest)).toEqual(sealed)
    const edited = plain.slice()
    edited[0] = (edited[0] as number) ^ 1
    expect(await c.seal(3, true, edited, digest)).toBeUndefined()
  }

  it('inline (node:crypto and noble) gives the reference bytes and verdicts', async () => {
    for (const backend of [nativeBackend, nobleBackend]) {
      const c = inlineChunkCrypto(backend)(keys.encryption, keys.noncePrefix)
      await check(c)
      c.close()
    }
  })

  it('the worker pool gives the same, with the bytes transferred to the worker and back', async () => {
    const { pool, close } = channelPool(2)
    try {
      const c = pool.chunkCrypto(keys.encryption, keys.noncePrefix)
      await check(c)
      // Ownership: a whole-buffer input is moved (detached here), a view of a larger buffer copied.
      const whole = sealed.slice()
      await c.open(3, true, whole, digest)
      expect(whole.byteLength).toBe(0)
      const big = new Uint8Array(sealed.length + 8)
      big.set(sealed, 8)
      expect(await c.open(3, true, big.subarray(8), digest)).toEqual(plain)
      expect(big.byteLength).toBe(sealed.length + 8)
      // Many at once, spread over both workers, each answered with its own chunk.
      const many = await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        const p = pseudoRandomBytes(4096, i)
        const s = reference.seal(i, false, p)
        return { p, got: await c.open(i, false, s, nativeBackend.sha256(s)) }
      }))
      for (const { p, got } of many) expect(got).toEqual(p)
      // After close, the workers no longer hold the key.
      c.close()
      await expect(c.open(3, true, sealed.slice(), digest)).rejects.toThrow(/no key/)
    } finally {
      close()
    }
  })
})
