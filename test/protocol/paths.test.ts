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

  it.each([
    ['a:b'], ['x<y'], ['x>y'], ['say "hi"'], ['a|b'], ['why?'], ['star*'], ['dir/a:b'],
    ['CON'], ['con'], ['NUL'], ['nul.txt'], ['Nul.tar.gz'], ['COM1'], ['com9.log'], ['LPT1'], ['lpt0'], ['AUX.h'], ['PRN'], ['COM\u00b9'], ['CON .txt'], ['sub/CON'],
    ['trailing.'], ['trailing '], ['invoice\u202Efdp.exe'], ['a\u202Ab'], ['a\u2066b'], ['a\u2069'], ['\u200Fx'], ['\u200Ex'], ['a\u061Cb'],
    ['zero\u200Bwidth'], ['word\u2060joiner'], ['\uFEFFbom'], ['line\u2028sep'], ['para\u2029sep']
  ])('refuses the Windows-reserved or invisible-control name %j', (path) => {
    expect(() => splitPath(path)).toThrow(expect.objectContaining({ name: 'UnsafePathError' }))
  })

  it('still accepts names that only look like device names, and ZWNJ/ZWJ', () => {
    for (const name of ['console', 'CONFIG.sys', 'nullable', 'com10', 'lpt', 'aux_file', 'COM1x.txt', 'a.con', 'time 12-00.txt', 'می\u200Cخواهم', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}.png']) {
      expect(() => checkName(name), name).not.toThrow()
    }
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
