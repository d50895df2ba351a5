/**
 * Crypto throughput benchmark: `npm run bench:crypto [-- --json]`.
 *
 * Single thread, sequential, 1 MiB chunks, over KITH_BENCH_MB MiB (default 256) per measurement
 * after a warm-up pass. Each measurement runs KITH_BENCH_ROUNDS times (default 5), interleaved
 * with the others, and the best round counts (least disturbed by other processes). MB/s is 10^6
 * bytes of plaintext per second.
 *
 * Every Kith path is compared with the raw primitives it is built on ("baseline"): the cost
 * Kith's own code adds (nonce building, one copy to put the tag after the ciphertext, the
 * chunker) should stay under 15% (target ≥ 0.85× its baseline).
 *   - baseline native: node:crypto chacha20-poly1305 update/final/getAuthTag, sha256 of the
 *     ciphertext and tag — the floor the native path cannot beat.
 *   - ShareEncoder.encryptFile also hashes the plaintext (the file's sha256 in the manifest), so
 *     its baseline is the native baseline plus one sha256 of the plaintext.
 *   - the noble rows run over min(total, 128 MiB): pure JS is several times slower.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { nativeBackend } from '../node/crypto/native.js'
import {
  ChunkCipher, deriveShareKeys, hchacha20, MiB, nobleBackend, ShareEncoder, streamNonce, xchachaInnerNonce
} from '../protocol/index.js'

const json = process.argv.includes('--json')
const totalMiB = envInt('KITH_BENCH_MB', 256)
const rounds = envInt('KITH_BENCH_ROUNDS', 5)
const nobleMiB = Math.min(totalMiB, 128)
const warmupMiB = Math.min(totalMiB, 32)
const CHUNK = MiB
const TAG = 16

function envInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`)
  return n
}

// --- inputs -------------------------------------------------------------------------------------

/** Deterministic, incompressible-looking source data (xorshift32), cycled through. */
function makeSource (bytes: number): Uint8Array {
  const out = new Uint8Array(bytes)
  const words = new Uint32Array(out.buffer)
  let x = 0x9e3779b9
  for (let i = 0; i < words.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; words[i] = x >>> 0 }
  return out
}

const RING = 16 // distinct 1 MiB chunks cycled through: 16 MiB, larger than any CPU cache here
const source = makeSource(RING * CHUNK)
const chunkAt = (i: number): Uint8Array => source.subarray((i % RING) * CHUNK, (i % RING + 1) * CHUNK)

const keys = deriveShareKeys(Uint8Array.from({ length: 32 }, (_, i) => i + 1))
const key = keys.encryption.bytes
const prefix = keys.noncePrefix
const subkey = hchacha20(key, prefix)
const nonce24 = (i: number, last: boolean): Uint8Array => streamNonce(prefix, i, last)
const nonce12 = (i: number, last: boolean): Uint8Array => xchachaInnerNonce(nonce24(i, last))

// Pre-sealed ring for the decrypt rows (the same ciphertext the path produces).
const sealedRing = Array.from({ length: RING }, (_, i) => {
  const ct = new ChunkCipher(nativeBackend, keys.encryption, prefix).seal(i, false, chunkAt(i))
  return { ct, digest: nativeBackend.sha256(ct) }
})

// --- measured operations (one call = one 1 MiB chunk at position i) -----------------------------

let sink = 0 // keeps results observable so nothing is optimised away

function rawNativeSealHash (i: number): void {
  const c = createCipheriv('chacha20-poly1305', subkey, nonce12(i, false), { authTagLength: TAG })
  const body = c.update(chunkAt(i))
  const rest = c.final()
  const tag = c.getAuthTag()
  const d = createHash('sha256').update(body).update(rest).update(tag).digest()
  sink ^= d[0] as number
}

function rawNativeSealHashPlain (i: number): void {
  const pt = chunkAt(i)
  const p = createHash('sha256').update(pt).digest()
  rawNativeSealHash(i)
  sink ^= p[0] as number
}

function rawNativeVerifyOpen (i: number): void {
  const { ct, digest } = sealedRing[i % RING]!
  const d = createHash('sha256').update(ct).digest()
  if (!d.equals(digest)) throw new Error('digest mismatch')
  const n = ct.length - TAG
  const c = createDecipheriv('chacha20-poly1305', subkey, nonce12(i % RING, false), { authTagLength: TAG })
  c.setAuthTag(ct.subarray(n))
  const pt = c.update(ct.subarray(0, n))
  c.final()
  sink ^= pt[0] as number
}

function rawNobleSealHash (i: number): void {
  const ct = xchacha20poly1305(key, nonce24(i, false)).encrypt(chunkAt(i))
  sink ^= nobleSha256(ct)[0] as number
}

function pathSealHash (cipher: ChunkCipher, backend: typeof nativeBackend) {
  return (i: number): void => {
    const ct = cipher.seal(i, false, chunkAt(i))
    sink ^= backend.sha256(ct)[0] as number
  }
}

function digestEquals (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

function pathVerifyOpen (cipher: ChunkCipher) {
  return (i: number): void => {
    const { ct, digest } = sealedRing[i % RING]!
    if (!digestEquals(nativeBackend.sha256(ct), digest)) throw new Error('digest mismatch')
    sink ^= cipher.open(i % RING, false, ct)[0] as number
  }
}

/** The whole ShareEncoder.encryptFile pipeline: one file of `chunks` MiB fed as 1 MiB pieces. */
async function encoderPipeline (chunks: number): Promise<void> {
  const enc = new ShareEncoder({ backend: nativeBackend, keys, name: 'bench.bin', kind: 'file', chunkSize: CHUNK })
  function * pieces (): Generator<Uint8Array> { for (let i = 0; i < chunks; i++) yield chunkAt(i) }
  let n = 0
  for await (const c of enc.encryptFile('bench.bin', 0o644, pieces())) { sink ^= c.digest[0] as number; n++ }
  if (n !== chunks) throw new Error('pipeline chunk count')
}

// --- harness ------------------------------------------------------------------------------------

interface Case {
  readonly name: string
  readonly mib: number
  /** Name of the case this one is compared with; undefined for baselines. */
  readonly baseline?: string
  readonly run: (chunks: number) => void | Promise<void>
}

const loop = (f: (i: number) => void) => (chunks: number): void => { for (let i = 0; i < chunks; i++) f(i) }

const nativeCipher = new ChunkCipher(nativeBackend, keys.encryption, prefix)
const nobleCipher = new ChunkCipher(nobleBackend, keys.encryption, prefix)

const cases: Case[] = [
  { name: 'baseline native seal+sha256', mib: totalMiB, run: loop(rawNativeSealHash) },
  { name: 'native ChunkCipher seal+sha256', mib: totalMiB, baseline: 'baseline native seal+sha256', run: loop(pathSealHash(nativeCipher, nativeBackend)) },
  { name: 'baseline native sha256+open', mib: totalMiB, run: loop(rawNativeVerifyOpen) },
  { name: 'native sha256 verify+ChunkCipher open', mib: totalMiB, baseline: 'baseline native sha256+open', run: loop(pathVerifyOpen(nativeCipher)) },
  { name: 'baseline native seal+sha256(ct)+sha256(pt)', mib: totalMiB, run: loop(rawNativeSealHashPlain) },
  { name: 'native ShareEncoder.encryptFile', mib: totalMiB, baseline: 'baseline native seal+sha256(ct)+sha256(pt)', run: encoderPipeline },
  { name: 'baseline noble xchacha+sha256', mib: nobleMiB, run: loop(rawNobleSealHash) },
  { name: 'noble ChunkCipher seal+sha256', mib: nobleMiB, baseline: 'baseline noble xchacha+sha256', run: loop(pathSealHash(nobleCipher, nobleBackend)) }
]

async function time (c: Case, chunks: number): Promise<number> {
  const t0 = performance.now()
  await c.run(chunks)
  return (performance.now() - t0) / 1000
}

const best = new Map<string, number>()
const all = new Map<string, number[]>()
for (const c of cases) await c.run(Math.min(c.mib, warmupMiB)) // warm-up: JIT, allocator, caches
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const seconds = await time(c, c.mib)
    const mbps = (c.mib * CHUNK) / 1e6 / seconds
    best.set(c.name, Math.max(best.get(c.name) ?? 0, mbps))
    all.set(c.name, [...(all.get(c.name) ?? []), mbps])
  }
}

const TARGET = 0.85
const results = cases.map(c => {
  const mbps = best.get(c.name) as number
  const base = c.baseline === undefined ? undefined : best.get(c.baseline) as number
  const ratio = base === undefined ? undefined : mbps / base
  return {
    name: c.name,
    mib: c.mib,
    mbps: round(mbps, 1),
    rounds: (all.get(c.name) ?? []).map(x => round(x, 1)),
    baseline: c.baseline ?? null,
    ratio: ratio === undefined ? null : round(ratio, 3),
    target: ratio === undefined ? null : TARGET,
    status: ratio === undefined ? 'baseline' : ratio >= TARGET ? 'PASS' : 'BELOW'
  }
})

function round (x: number, digits: number): number { const f = 10 ** digits; return Math.round(x * f) / f }

const info = { node: process.version, arch: process.arch, openssl: process.versions.openssl, chunkBytes: CHUNK, totalMiB, nobleMiB, warmupMiB, rounds }
if (json) {
  console.log(JSON.stringify({ ...info, results, sink: sink & 0 }))
} else {
  console.log(`kith crypto benchmark — node ${info.node} (${info.arch}, OpenSSL ${info.openssl}), one thread, 1 MiB chunks`)
  console.log(`${totalMiB} MiB per native run, ${nobleMiB} MiB per noble run${nobleMiB < totalMiB ? ' (noble capped at 128 MiB: pure JS is slow)' : ''}, best of ${rounds} rounds after a ${warmupMiB} MiB warm-up; MB = 10^6 B of plaintext\n`)
  const w = Math.max(...results.map(r => r.name.length))
  console.log(`${'name'.padEnd(w)}  ${'MB/s'.padStart(8)}  ${'ratio'.padStart(6)}  ${'target'.padStart(7)}  status`)
  console.log('-'.repeat(w + 34))
  for (const r of results) {
    const ratio = r.ratio === null ? '—' : r.ratio.toFixed(2) + '×'
    const target = r.target === null ? '—' : '≥ ' + r.target.toFixed(2) + '×'
    console.log(`${r.name.padEnd(w)}  ${r.mbps.toFixed(1).padStart(8)}  ${ratio.padStart(6)}  ${target.padStart(7)}  ${r.status}${r.baseline !== null ? `  (vs ${r.baseline})` : ''}`)
  }
  const plain = best.get('baseline native seal+sha256') as number
  const enc = best.get('native ShareEncoder.encryptFile') as number
  console.log(`\nShareEncoder.encryptFile vs the plain native baseline (it also hashes the plaintext): ${(enc / plain).toFixed(2)}×`)
}
