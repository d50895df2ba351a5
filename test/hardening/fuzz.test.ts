/**
 * Fuzz: ≥ 100,000 inputs into each decoder of untrusted bytes (links, manifest roots, manifest
 * meta). Each must only ever throw a typed KithError, never hang, never another error type.
 * Inputs come from a seeded PRNG, so a failure is reproducible; a failing input is printed as hex.
 */
import { describe, expect, it } from 'vitest'
import { base32 } from 'multiformats/bases/base32'
import { encodeCanonical } from '../../protocol/_cbor.js'
import {
  cidOf, deriveShareKeys, DOMAINS, formatLink, FORMAT_VERSION, KithError, nobleBackend, openMeta, openRoot, parseLink, xchachaSeal, type ManifestIndex
} from '../../protocol/index.js'
import { encodeShare, FIXED_ROOT } from '../protocol/helpers/fixtures.js'
import { sized } from './long.js'

const B = nobleBackend
const keys = deriveShareKeys(FIXED_ROOT)
/** 100,000 inputs per decoder in `npm test`; 1,000,000 under `npm run test:hardening`. */
const N = sized(100_000, 1_000_000)
/** Per-test bound: a hang fails the test instead of stalling the run. */
const BOUND = sized(60_000, 1_800_000)

function prng (seed: number): () => number {
  let x = seed >>> 0
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x }
}

function mutate (r: () => number, base: Uint8Array): Uint8Array {
  const op = r() % 5
  const b = Uint8Array.from(base)
  if (op === 0) { const bit = r() % (b.length * 8); b[bit >> 3]! ^= 1 << (bit & 7); return b }
  if (op === 1) return b.subarray(0, r() % b.length)
  if (op === 2) { const ext = new Uint8Array(b.length + 1 + (r() % 16)); ext.set(b); for (let i = b.length; i < ext.length; i++) ext[i] = r() & 0xff; return ext }
  if (op === 3) { for (let k = 0; k < 1 + (r() % 8); k++) b[r() % b.length] = r() & 0xff; return b }
  const len = r() % 300
  return Uint8Array.from({ length: len }, () => r() & 0xff)
}

function expectTyped (fn: () => unknown, input: Uint8Array | string): void {
  try { fn() } catch (err) {
    if (!(err instanceof KithError)) {
      const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 200)) : Buffer.from(input).toString('hex').slice(0, 400)
      throw new Error(`untyped ${(err as Error)?.name}: ${(err as Error)?.message} for input ${shown}`)
    }
  }
}

describe('fuzz', () => {
  it(`parseLink: ${N} inputs, typed errors only`, () => {
    const r = prng(1)
    const valid = formatLink({ kind: 'read', manifest: cidOf(B, new Uint8Array(1)), key: keys.root, hints: [new Uint8Array([1, 2, 3])] })
    const payload = base32.baseDecode(valid.slice(5))
    const chars = 'abcdefghijklmnopqrstuvwxyz234567:#/ !\u0000é'
    for (let i = 0; i < N; i++) {
      let input: string
      const kind = i % 3
      if (kind === 0) input = 'kith:' + base32.baseEncode(mutate(r, payload))
      else if (kind === 1) input = Array.from({ length: r() % 140 }, () => chars[r() % chars.length]).join('')
      else { const p = valid.split(''); p[5 + (r() % (p.length - 5))] = chars[r() % chars.length]!; input = p.join('') }
      expectTyped(() => parseLink(input), input)
    }
  }, BOUND)

  it(`openRoot: ${N} inputs (random and mutated roots, self-consistent IDs), typed errors only`, async () => {
    const share = await encodeShare([['x.bin', new Uint8Array(100_000)]])
    const r = prng(2)
    for (let i = 0; i < N; i++) {
      const bytes = mutate(r, share.root.bytes)
      expectTyped(() => openRoot(B, cidOf(B, bytes), bytes, keys), bytes)
    }
  }, BOUND)

  it(`openMeta: ${N} authenticated-but-hostile plaintexts, typed errors only`, async () => {
    // The attacker here knows the key (a malicious publisher): it can seal any bytes it likes.
    const share = await encodeShare([['a/b.txt', new Uint8Array(5)], ['c', new Uint8Array(70_000)]], { name: 'dir' })
    const plain = encodeCanonical({
      v: FORMAT_VERSION,
      name: 'dir',
      kind: 'dir',
      files: share.meta.files.map(f => ({ path: f.path, size: f.size, mode: f.mode, sha256: f.sha256 }))
    })
    const aad = new Uint8Array([...new TextEncoder().encode(DOMAINS.manifestMetaAad), 0, FORMAT_VERSION])
    const r = prng(3)
    const nonce = new Uint8Array(24)
    for (let i = 0; i < N; i++) {
      const p = mutate(r, plain)
      const sealed = new Uint8Array([...nonce, ...xchachaSeal(B, keys.encryption.bytes, nonce, p, aad)])
      const index: ManifestIndex = { ...share.index, metaDigest: B.sha256(sealed) }
      expectTyped(() => openMeta(B, index, sealed, keys), p)
    }
  }, BOUND)

  it('huge declared sizes are refused before allocation', () => {
    const big = encodeCanonical({ v: 1, index: new Uint8Array(70_000) })
    expect(() => openRoot(B, cidOf(B, big), big, keys)).toThrow(expect.objectContaining({ name: 'ManifestError' }))
  }, BOUND)
})
