import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AMINO_KEY_TAG, aminoEpoch, aminoLookupKeys, aminoProviderKey, deriveShareKeys } from '../../protocol/index.js'
import { FIXED_ROOT } from './helpers/fixtures.js'

const seq = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

describe('Amino provider keys (protocol/amino-key.ts)', () => {
  // Vectors computed independently (Python hashlib + base32 of 0x01 0x55 0x12 0x20 || digest).
  it('matches fixed vectors', () => {
    expect(aminoProviderKey(seq, 20425).toString()).toBe('bafkreihrdv56cf4lrlauzkeqgrhivh6tyqhzistqu2kvq3s37jcb4sks2y')
    expect(aminoProviderKey(new Uint8Array(32), 0).toString()).toBe('bafkreiftmdqszt3bnho6og2ggvbb6x5tet22jblhyforrtv5xhbwlx3qsu')
    expect(aminoProviderKey(new Uint8Array(32).fill(0xff), 20424).toString()).toBe('bafkreibqzosovgfeequtwriccygmbt6lwgwikrhpnghdpu47v7xhtrbzbi')
  })

  it('is CIDv1, raw codec, sha2-256 of tag || discovery || epoch u64 BE', () => {
    const cid = aminoProviderKey(seq, 20425)
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55)
    expect(cid.multihash.code).toBe(0x12)
    const epoch = Buffer.alloc(8)
    epoch.writeBigUInt64BE(20425n)
    const expected = createHash('sha256').update(Buffer.concat([Buffer.from(AMINO_KEY_TAG), seq, epoch])).digest()
    expect(Buffer.from(cid.multihash.digest).equals(expected)).toBe(true)
  })

  it('epochs are UTC days', () => {
    const midnight = Date.UTC(2025, 11, 3) // 1764720000 s
    expect(aminoEpoch(midnight)).toBe(20425)
    expect(aminoEpoch(midnight - 1)).toBe(20424)
    expect(aminoEpoch(midnight + 86_399_999)).toBe(20425)
    expect(aminoEpoch(0)).toBe(0)
    expect(() => aminoEpoch(-1)).toThrow(RangeError)
    expect(() => aminoEpoch(Number.NaN)).toThrow(RangeError)
  })

  it('lookups try the current epoch, then the previous one', () => {
    const t = Date.UTC(2025, 11, 3, 0, 5)
    const keys = aminoLookupKeys(seq, t)
    expect(keys.map(k => k.toString())).toEqual([aminoProviderKey(seq, 20425).toString(), aminoProviderKey(seq, 20424).toString()])
    expect(aminoLookupKeys(seq, 1000).length).toBe(1)
  })

  it('differs per epoch and per share, and never equals the Kith DHT key or carries the discovery key', () => {
    const k = deriveShareKeys(FIXED_ROOT)
    const a = aminoProviderKey(k.discovery, 20425)
    expect(a.equals(aminoProviderKey(k.discovery, 20426))).toBe(false)
    expect(a.equals(aminoProviderKey(seq, 20425))).toBe(false)
    expect(a.equals(k.discoveryCid)).toBe(false)
    expect(Buffer.from(a.bytes).includes(Buffer.from(k.discovery))).toBe(false)
  })

  it('refuses malformed input', () => {
    expect(() => aminoProviderKey(new Uint8Array(31), 1)).toThrow(RangeError)
    expect(() => aminoProviderKey(seq, -1)).toThrow(RangeError)
    expect(() => aminoProviderKey(seq, 1.5)).toThrow(RangeError)
  })
})
