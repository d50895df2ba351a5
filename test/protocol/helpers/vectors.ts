import { ChunkCipher, cidFromDigest, deriveSeedKeys, deriveShareKeys, formatLink, nobleBackend, SecretKey, streamNonce } from '../../../protocol/index.js'
import { encodeShare, FIXED_ROOT, fixedRandom } from './fixtures.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Everything in test/vectors/v1.json, computed from fixed inputs. */
export async function buildVectors (): Promise<Record<string, unknown>> {
  const keys = deriveShareKeys(FIXED_ROOT)
  const seed = deriveSeedKeys(keys.seed)
  const cipher = new ChunkCipher(nobleBackend, keys.encryption, keys.noncePrefix)
  const plaintext = new TextEncoder().encode('Kith frozen vector: chunk 3, not last.')
  const small = await encodeShare([['hello.txt', new TextEncoder().encode('hello, friends\n')]], { random: fixedRandom(1) })
  const folder = await encodeShare([
    ['docs/readme.md', new TextEncoder().encode('# read me\n')],
    ['empty', new Uint8Array(0)],
    ['pattern.bin', Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)]
  ], { name: 'folder', random: fixedRandom(2) })
  const manifest = cidFromDigest(Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i))
  return {
    comment: 'Kith format v1 frozen vectors. Never regenerate: a change here breaks existing links and manifests.',
    keySchedule: {
      root: hex(FIXED_ROOT),
      encryption: hex(keys.encryption.bytes),
      noncePrefix: hex(keys.noncePrefix),
      seed: hex(keys.seed.bytes),
      index: hex(seed.index.bytes),
      access: hex(seed.access.bytes),
      discovery: hex(seed.discovery),
      discoveryCid: seed.discoveryCid.toString()
    },
    stream: {
      nonce_index3_notLast: hex(streamNonce(keys.noncePrefix, 3, false)),
      nonce_index3_last: hex(streamNonce(keys.noncePrefix, 3, true)),
      plaintext: hex(plaintext),
      sealed_index3_notLast: hex(cipher.seal(3, false, plaintext))
    },
    links: {
      read: formatLink({ kind: 'read', manifest, key: new SecretKey(FIXED_ROOT), hints: [] }),
      seed: formatLink({ kind: 'seed', manifest, key: keys.seed, hints: [] }),
      readWithHint: formatLink({ kind: 'read', manifest, key: new SecretKey(FIXED_ROOT), hints: [Uint8Array.from([0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1])] }),
      manifest: manifest.toString()
    },
    shares: [small, folder].map(s => ({
      root: { cid: s.root.cid.toString(), bytes: hex(s.root.bytes) },
      blocks: s.blocks.map(b => ({ cid: b.cid.toString(), bytes: hex(b.bytes) })),
      chunks: s.chunks.map(c => ({ index: c.index, cid: c.cid.toString(), bytes: hex(c.bytes) })),
      meta: { name: s.meta.name, kind: s.meta.kind, size: s.meta.size, files: s.meta.files.map(f => ({ path: f.path, size: f.size, sha256: hex(f.sha256) })) }
    }))
  }
}
