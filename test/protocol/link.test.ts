import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { base32 } from 'multiformats/bases/base32'
import { cidFromDigest, deriveSeedKeys, deriveShareKeys, formatLink, parseLink, SecretKey, seedOnlyLink, type ShareLink } from '../../protocol/index.js'

const digest = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i)
const key = new SecretKey(Uint8Array.from({ length: 32 }, (_, i) => i))
const link: ShareLink = { kind: 'read', manifest: cidFromDigest(digest), key, hints: [] }

const arbLink = fc.record({
  kind: fc.constantFrom('read' as const, 'seed' as const),
  digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  hints: fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 4 })
}).map(r => ({ kind: r.kind, manifest: cidFromDigest(r.digest), key: new SecretKey(r.key), hints: r.hints }))

function same (a: ShareLink, b: ShareLink): void {
  expect(a.kind).toBe(b.kind)
  expect(a.manifest.equals(b.manifest)).toBe(true)
  expect(a.key.bytes).toEqual(b.key.bytes)
  expect(a.hints).toEqual(b.hints)
}

describe('links', () => {
  it('formats a read link of 119 characters and parses it back', () => {
    const text = formatLink(link)
    expect(text.startsWith('kith:')).toBe(true)
    expect(text.length).toBe(119)
    expect(text).toMatch(/^kith:[a-z2-7]+$/)
    same(parseLink(text), link)
  })

  it('seedOnlyLink: same manifest and hints, the seed key in place of the root key; a seed link stays as it is', () => {
    const hinted: ShareLink = { ...link, hints: [Uint8Array.of(4, 127, 0, 0, 1)] }
    const seed = seedOnlyLink(hinted)
    expect(seed.kind).toBe('seed')
    expect(seed.manifest.equals(hinted.manifest)).toBe(true)
    expect(seed.hints).toEqual(hinted.hints)
    const keys = deriveShareKeys(key)
    expect(seed.key.bytes).toEqual(keys.seed.bytes)
    expect(seed.key.bytes).not.toEqual(key.bytes)
    // Whoever holds it derives what a seeder needs and nothing a reader needs.
    const derived = deriveSeedKeys(seed.key)
    expect(derived.discovery).toEqual(keys.discovery)
    expect(derived.access.bytes).toEqual(keys.access.bytes)
    expect('encryption' in derived).toBe(false)
    same(parseLink(formatLink(seed)), seed)
    expect(seedOnlyLink(seed)).toBe(seed)
  })

  it('round-trips any capability (property)', () => {
    fc.assert(fc.property(arbLink, l => { same(parseLink(formatLink(l)), l) }), { numRuns: 300 })
  })

  it('accepts the link in a URL fragment, upper case (QR), and with whitespace', () => {
    const text = formatLink(link)
    same(parseLink(`https://example.invalid/app/#${text}`), link)
    same(parseLink(`  ${text.toUpperCase()}\n`), link)
  })

  it('says what is wrong with a bad link', () => {
    const text = formatLink(link)
    const cases: Array<[string, string]> = [
      ['', 'NotAKithLinkError'],
      ['https://example.invalid/', 'NotAKithLinkError'],
      ['magnet:?xt=urn:btih:abc', 'NotAKithLinkError'],
      ['kith:', 'TruncatedLinkError'],
      [text.slice(0, 60), 'TruncatedLinkError'],
      [text.slice(0, -3), 'TruncatedLinkError'],
      ['kith:' + 'a'.repeat(3000), 'MalformedLinkError'],
      [text.slice(0, 40) + '!' + text.slice(41), 'MalformedLinkError'],
      [text.slice(0, 40) + (text[40] === 'a' ? 'b' : 'a') + text.slice(41), 'LinkChecksumError']
    ]
    for (const [input, name] of cases) {
      expect(() => parseLink(input), input.slice(0, 20)).toThrow(expect.objectContaining({ name }))
    }
  })

  it('refuses an unknown version with UnsupportedVersionError', () => {
    const payload = base32.baseDecode(formatLink(link).slice(5))
    payload[0] = 2
    expect(() => parseLink('kith:' + base32.baseEncode(payload))).toThrow(expect.objectContaining({ name: 'UnsupportedVersionError', version: 2 }))
  })

  it('rejects any single-character change (property)', () => {
    const text = formatLink({ ...link, hints: [new Uint8Array([4, 127, 0, 0, 1])] })
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    fc.assert(fc.property(fc.integer({ min: 5, max: text.length - 1 }), fc.integer({ min: 1, max: 31 }), (pos, shift) => {
      const c = alphabet[(alphabet.indexOf(text[pos]!) + shift) % 32]!
      const mutated = text.slice(0, pos) + c + text.slice(pos + 1)
      let err: unknown
      try { parseLink(mutated) } catch (e) { err = e }
      // The last character carries only spare bits for some lengths; those decode identically
      // or fail as truncated. Every other change must be refused.
      if (err === undefined) {
        expect(pos).toBe(text.length - 1)
      } else {
        expect((err as Error).name).toMatch(/LinkChecksumError|TruncatedLinkError|MalformedLinkError|UnsupportedVersionError/)
      }
    }), { numRuns: 2000 })
  })

  it('rejects any bit flip in the decoded payload (property)', () => {
    const payload = base32.baseDecode(formatLink(link).slice(5))
    fc.assert(fc.property(fc.integer({ min: 0, max: payload.length * 8 - 1 }), bit => {
      const p = Uint8Array.from(payload)
      p[bit >> 3]! ^= 1 << (bit & 7)
      expect(() => parseLink('kith:' + base32.baseEncode(p))).toThrow()
    }), { numRuns: 1000 })
  })

  it('never prints the key: String, JSON, errors', () => {
    const parsed = parseLink(formatLink(link))
    const keyHex = Buffer.from(key.bytes).toString('hex')
    const keyB64 = Buffer.from(key.bytes).toString('base64')
    for (const s of [String(parsed.key), JSON.stringify(parsed), `${parsed.key}`]) {
      expect(s).not.toContain(keyHex)
      expect(s).not.toContain(keyB64)
      expect(s).not.toContain(key.bytes.join(','))
    }
  })
})
