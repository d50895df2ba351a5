import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { deriveSeedKeys, deriveShareKeys, generateRootKey, SecretKey } from '../../protocol/index.js'
import { FIXED_ROOT } from './helpers/fixtures.js'

describe('key schedule', () => {
  it('derives distinct sub-keys per label', () => {
    const k = deriveShareKeys(FIXED_ROOT)
    const all = [k.root.bytes, k.encryption.bytes, k.seed.bytes, k.index.bytes, k.access.bytes, k.discovery].map(b => Buffer.from(b).toString('hex'))
    expect(new Set(all).size).toBe(all.length)
    expect(k.noncePrefix.length).toBe(16)
  })

  it('a seed capability derives the same seed keys, and nothing of the read keys', () => {
    const k = deriveShareKeys(FIXED_ROOT)
    const s = deriveSeedKeys(k.seed)
    expect(s.access.bytes).toEqual(k.access.bytes)
    expect(s.index.bytes).toEqual(k.index.bytes)
    expect(s.discoveryCid.equals(k.discoveryCid)).toBe(true)
    expect('encryption' in s).toBe(false)
    expect('root' in s).toBe(false)
  })

  it('draws root keys from the CSPRNG: 1,000 keys, all distinct, no constant bytes', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 1000; i++) seen.add(Buffer.from(generateRootKey().bytes).toString('hex'))
    expect(seen.size).toBe(1000)
  })

  it('rejects wrong key types and lengths', () => {
    expect(() => new SecretKey(new Uint8Array(31))).toThrow(RangeError)
    expect(() => new SecretKey('x' as unknown as Uint8Array)).toThrow(TypeError)
  })

  it('never shows key bytes in String, JSON, inspect or errors', () => {
    const k = deriveShareKeys(FIXED_ROOT)
    const hex = Buffer.from(k.encryption.bytes).toString('hex')
    const outputs = [String(k.encryption), JSON.stringify(k), inspect(k, { depth: 5 }), inspect(k.root), `${k.root}`]
    for (const o of outputs) {
      expect(o).not.toContain(hex)
      expect(o).not.toContain(Buffer.from(FIXED_ROOT).toString('hex'))
      expect(o).not.toMatch(/\b1, 2, 3, 4, 5\b/)
    }
    try { void new SecretKey(new Uint8Array(33).fill(0xab)) } catch (e) { expect(String(e)).not.toContain('171') }
  })
})
