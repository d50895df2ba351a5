/**
 * Path safety (docs/PROTOCOL.md §5). Names in a manifest come from a possibly hostile publisher;
 * a writer joins them under its output folder. Every name is checked here so no manifest can make
 * a writer leave that folder, overwrite a parent, or create names a filesystem mishandles.
 *
 * A path is '/'-separated, relative, 1..MAX_PATH_DEPTH components, each 1..255 UTF-8 bytes, none
 * of them '.', '..' or containing '/', '\\', NUL or any C0/C1 control character or DEL, and with
 * no leading or trailing space or trailing dot (Windows silently strips those, so two distinct
 * names could collide on disk). Names must be in Unicode NFC, so one name has one byte form.
 *
 * Also refused, so a share made on one system downloads unchanged on every other and a name shows
 * what it is:
 * - Windows' reserved characters `< > : " | ? *` (`a:b` would name an NTFS alternate data stream)
 *   and device names (CON, PRN, AUX, NUL, COM0-9, LPT0-9, also with an extension: `nul.txt` opens
 *   the device; Microsoft, "Naming Files, Paths, and Namespaces");
 * - invisible format characters that change how a name reads: the bidirectional controls (LRM, RLM,
 *   ALM, U+202A-U+202E, U+2066-U+2069: `invoice\u202Efdp.exe` shows as `invoiceexe.pdf`; Boucher
 *   and Anderson 2021, "Trojan Source"), zero-width space, word joiner and invisible operators
 *   (U+200B, U+2060-U+2064), the BOM/zero-width no-break space (U+FEFF), and the line and paragraph
 *   separators (U+2028, U+2029). ZWNJ and ZWJ (U+200C, U+200D) stay allowed: Persian, Indic
 *   scripts and emoji sequences need them, and they cannot reorder what is shown.
 */
import { MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH } from './constants.js'
import { UnsafePathError } from './errors.js'

const encoder = new TextEncoder()
// C0 controls, DEL, C1 controls, '/', '\\'. Reported by position and code point only.

const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\]/u
// Windows' reserved characters ('/' and '\\' are refused above).
const WINDOWS_RESERVED = /[<>:"|?*]/u
// CON, PRN, AUX, NUL, COM0-9, LPT0-9 (and the superscript digits Windows also maps), as the whole
// name or before the first dot, in any case, with trailing spaces ignored as Windows ignores them.
const WINDOWS_DEVICE = /^(?:con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]) *(?:\.|$)/iu
// Bidirectional controls, zero-width and invisible characters, line/paragraph separators.
const INVISIBLE = /[\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u

/** Validates one path component. Throws `UnsafePathError`. */
export function checkName (name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafePathError('unsafe path: empty name')
  if (name === '.' || name === '..') throw new UnsafePathError('unsafe path: "." or ".." component')
  if (FORBIDDEN.test(name)) throw new UnsafePathError('unsafe path: control character, slash or backslash in a name')
  if (WINDOWS_RESERVED.test(name)) throw new UnsafePathError('unsafe path: a name contains a character Windows reserves (< > : " | ? *)')
  if (WINDOWS_DEVICE.test(name)) throw new UnsafePathError('unsafe path: a name is a Windows device name (CON, NUL, COM1, …)')
  if (INVISIBLE.test(name)) throw new UnsafePathError('unsafe path: a name contains a bidirectional control or an invisible character')
  if (name !== name.normalize('NFC')) throw new UnsafePathError('unsafe path: name is not in Unicode NFC form')
  if (/^\s|\s$|\.$/u.test(name)) throw new UnsafePathError('unsafe path: name starts or ends with a space, or ends with a dot')
  if (hasLoneSurrogate(name)) throw new UnsafePathError('unsafe path: name is not valid Unicode')
  if (encoder.encode(name).length > MAX_NAME_BYTES) throw new UnsafePathError(`unsafe path: name longer than ${MAX_NAME_BYTES} bytes`)
}

function hasLoneSurrogate (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1)
      if (!(d >= 0xdc00 && d <= 0xdfff)) return true
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return true
    }
  }
  return false
}

/** Validates a relative '/'-separated path and returns its components. Throws `UnsafePathError`. */
export function splitPath (path: string): string[] {
  if (typeof path !== 'string' || path.length === 0) throw new UnsafePathError('unsafe path: empty path')
  if (encoder.encode(path).length > MAX_PATH_BYTES) throw new UnsafePathError(`unsafe path: longer than ${MAX_PATH_BYTES} bytes`)
  const parts = path.split('/')
  if (parts.length > MAX_PATH_DEPTH) throw new UnsafePathError(`unsafe path: deeper than ${MAX_PATH_DEPTH} levels`)
  for (const part of parts) checkName(part)
  return parts
}

/**
 * Validates a whole file list: every path safe, no duplicates (case-folded, since macOS and
 * Windows filesystems fold case), and no file that is also a parent folder of another file.
 */
export function checkFileList (paths: readonly string[]): void {
  const files = new Set<string>()
  const dirs = new Set<string>()
  for (const path of paths) {
    const parts = splitPath(path)
    const key = path.toLowerCase()
    if (files.has(key) || dirs.has(key)) throw new UnsafePathError('unsafe path: two entries with the same name')
    files.add(key)
    let prefix = ''
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = i === 0 ? (parts[0] as string).toLowerCase() : `${prefix}/${(parts[i] as string).toLowerCase()}`
      if (files.has(prefix)) throw new UnsafePathError('unsafe path: a file is also used as a folder')
      dirs.add(prefix)
    }
  }
}
