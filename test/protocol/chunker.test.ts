import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chunkCount, chunkStream, checkChunkSize } from '../../protocol/index.js'

async function collect (pieces: Uint8Array[], size: number) {
  const out = []
  for await (const c of chunkStream(pieces, size)) out.push(c)
  return out
}

describe('chunker', () => {
  it('accepts powers of two from 64 KiB to 8 MiB only', () => {
    for (const ok of [65536, 1 << 20, 8 << 20]) expect(() => checkChunkSize(ok)).not.toThrow()
    for (const bad of [0, 65535, 65536 * 3, 16 << 20, 1.5, -65536]) expect(() => checkChunkSize(bad)).toThrow(expect.objectContaining({ name: 'LimitError' }))
  })

  it('an empty file is one empty, last chunk', async () => {
    const out = await collect([], 65536)
    expect(out).toEqual([{ position: 0, data: new Uint8Array(0), last: true }])
    expect(chunkCount(0, 65536)).toBe(1)
  })

  it('re-assembles exactly, marks only the last chunk, for any piece sizes (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 8 }), async sizes => {
      let n = 0
      const pieces = sizes.map(s => Uint8Array.from({ length: s }, () => (n++) & 0xff))
      const total = sizes.reduce((a, b) => a + b, 0)
      const out = await collect(pieces, 65536)
      expect(out.length).toBe(chunkCount(total, 65536))
      out.forEach((c, i) => { expect(c.position).toBe(i); expect(c.last).toBe(i === out.length - 1); if (!c.last) expect(c.data.length).toBe(65536) })
      const joined = new Uint8Array(total)
      let at = 0
      for (const c of out) { joined.set(c.data, at); at += c.data.length }
      expect(at).toBe(total)
      for (let i = 0; i < total; i++) if (joined[i] !== (i & 0xff)) throw new Error(`byte ${i}`)
    }), { numRuns: 60 })
  })
})
