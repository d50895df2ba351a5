import { ed25519 } from '@noble/curves/ed25519.js'
import { deriveShareKeys, nobleBackend, ShareEncoder, type CryptoBackend, type EncodedShare, type EncryptedChunk, type ManifestSigner, type RandomSource } from '../../../protocol/index.js'

/** Deterministic "random" bytes for reproducible vectors: a counter-based stream. NOT for real keys. */
export function fixedRandom (seed = 1): RandomSource {
  let counter = seed
  return (n: number) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = (counter * 131 + i * 7) & 0xff
    counter++
    return out
  }
}

export function testSigner (seedByte = 7): ManifestSigner & { secretKey: Uint8Array } {
  const secretKey = new Uint8Array(32).fill(seedByte)
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey), sign: (m: Uint8Array) => ed25519.sign(m, secretKey) }
}

export const FIXED_ROOT = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

export interface TestShare extends EncodedShare { chunks: EncryptedChunk[] }

/** Encodes files (path → bytes) as a share, collecting every encrypted chunk. */
export async function encodeShare (files: Array<[string, Uint8Array]>, opts: { name?: string, kind?: 'file' | 'dir', chunkSize?: number, root?: Uint8Array, backend?: CryptoBackend, random?: RandomSource } = {}): Promise<TestShare> {
  const kind = opts.kind ?? (files.length === 1 && opts.name === undefined ? 'file' : 'dir')
  const name = opts.name ?? (kind === 'file' ? files[0]![0] : 'folder')
  const enc = new ShareEncoder({ backend: opts.backend ?? nobleBackend, keys: deriveShareKeys(opts.root ?? FIXED_ROOT), name, kind, chunkSize: opts.chunkSize ?? 64 * 1024, random: opts.random ?? fixedRandom() })
  const chunks: EncryptedChunk[] = []
  for (const [path, data] of files) {
    // feed in odd-sized pieces to exercise the chunker
    const pieces: Uint8Array[] = []
    for (let i = 0; i < data.length; i += 10_007) pieces.push(data.subarray(i, i + 10_007))
    for await (const c of enc.encryptFile(path, 0o644, pieces)) chunks.push(c)
  }
  const share = await enc.finish(testSigner())
  return { ...share, chunks }
}

export function pseudoRandomBytes (n: number, seed = 42): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff }
  return out
}
