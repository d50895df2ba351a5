/**
 * Frozen format vectors (test/vectors/v1.json). If this fails after a change, the change breaks
 * links or manifests already in people's hands: introduce a new format version instead.
 */
import { readFileSync } from 'node:fs'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { ChunkCipher, deriveShareKeys, locateChunk, nobleBackend, openMeta, openRoot, parseLink, verifyBlock, expandTree, metaPieceCount } from '../../protocol/index.js'
import { buildVectors } from './helpers/vectors.js'

const v1 = JSON.parse(readFileSync(new URL('../vectors/v1.json', import.meta.url), 'utf8'))
const unhex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'))

describe('frozen vectors v1', () => {
  it('today\'s code writes exactly the frozen bytes', async () => {
    expect(JSON.parse(JSON.stringify(await buildVectors()))).toEqual(v1)
  })

  it('today\'s code reads the frozen links', () => {
    const read = parseLink(v1.links.read)
    expect(read.kind).toBe('read')
    expect(read.manifest.toString()).toBe(v1.links.manifest)
    expect(Buffer.from(read.key.bytes).toString('hex')).toBe(v1.keySchedule.root)
    expect(parseLink(v1.links.seed).kind).toBe('seed')
    expect(parseLink(v1.links.readWithHint).hints).toHaveLength(1)
  })

  it('today\'s code opens the frozen shares and decrypts every chunk', async () => {
    const keys = deriveShareKeys(unhex(v1.keySchedule.root))
    const cipher = new ChunkCipher(nobleBackend, keys.encryption, keys.noncePrefix)
    for (const s of v1.shares) {
      const root = openRoot(nobleBackend, CID.parse(s.root.cid), unhex(s.root.bytes), keys)
      const blocks = s.blocks.map((b: { cid: string, bytes: string }) => { const bytes = unhex(b.bytes); verifyBlock(nobleBackend, CID.parse(b.cid), bytes); return bytes })
      const pieces = metaPieceCount(root.index)
      const sealedMeta = root.inlineMeta ?? Buffer.concat(blocks.slice(0, pieces))
      const meta = openMeta(nobleBackend, root.index, sealedMeta, keys)
      expect(meta.name).toBe(s.meta.name)
      const digests = await expandTree(nobleBackend, root.index.chunks, root.index.top, async (p) => blocks[pieces + p])
      for (const c of s.chunks) {
        const bytes = unhex(c.bytes)
        verifyBlock(nobleBackend, digests.subarray(c.index * 32, c.index * 32 + 32), bytes)
        const loc = locateChunk(meta, c.index)
        cipher.open(c.index, loc.last, bytes)
      }
    }
  })
})
