import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkFileList, checkName, splitPath } from '../../protocol/index.js'

describe('path safety', () => {
  it('accepts ordinary relative paths', () => {
    expect(splitPath('photos/2024/beach.jpg')).toEqual(['photos', '2024', 'beach.jpg'])
    expect(splitPath('Ünïcödé ✓.txt')).toEqual(['Ünïcödé ✓.txt'])
    checkFileList(['a/b', 'a/c', 'd'])
  })

  it.each([
    ['..'], ['../x'], ['a/../../x'], ['/etc/passwd'], ['a//b'], ['a/'], ['.'], ['a/./b'], ['a\\..\\b'], ['C:\\x'.replace(':', '\\')],
    ['a\u0000b'], ['a\nb'], ['a\u007fb'], ['a\u0085b'], [' lead'], ['trail '], ['dot.'], ['x'.repeat(256)],
    [Array(65).fill('d').join('/')], ['e\u0301'] // not NFC
  ])('refuses %j', (path) => {
    expect(() => splitPath(path)).toThrow(expect.objectContaining({ name: 'UnsafePathError' }))
  })

  it('refuses duplicates (case-folded) and file/folder clashes', () => {
    expect(() => checkFileList(['a', 'A'])).toThrow(expect.objectContaining({ name: 'UnsafePathError' }))
    expect(() => checkFileList(['a', 'a/b'])).toThrow(expect.objectContaining({ name: 'UnsafePathError' }))
    expect(() => checkFileList(['a/b', 'a'])).toThrow(expect.objectContaining({ name: 'UnsafePathError' }))
  })

  it('no accepted path can climb out of its folder (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40, unit: fc.constantFrom('a', '.', '/', '\\', '\u0000', ' ', 'é', '..') }), s => {
      let parts: string[]
      try { parts = splitPath(s) } catch (e) { expect((e as Error).name).toBe('UnsafePathError'); return }
      for (const p of parts) { expect(p).not.toBe('..'); expect(p).not.toBe('.'); expect(p).not.toContain('/'); expect(p).not.toContain('\\'); expect(p.length).toBeGreaterThan(0) }
      expect(() => checkName(parts[0]!)).not.toThrow()
    }), { numRuns: 3000 })
  })
})
