/**
 * Path safety (docs/PROTOCOL.md §5). Names in a manifest come from a possibly hostile publisher;
 * a writer joins them under its output folder. Every name is checked here so no manifest can make
 * a writer leave that folder, overwrite a parent, or create names a filesystem mishandles.
 *
 * A path is '/'-separated, relative, 1..MAX_PATH_DEPTH components, each 1..255 UTF-8 bytes, none
 * of them '.', '..' or containing '/', '\\', NUL or any C0/C1 control character or DEL, and with
 * no leading or trailing space or trailing dot (Windows silently strips those, so two distinct
 * names could collide on disk). Names must be in Unicode NFC, so one name has one byte form.
 */
import { MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH } from './constants.js'
import { UnsafePathError } from './errors.js'

const encoder = new TextEncoder()
// C0 controls, DEL, C1 controls, '/', '\\'. Reported by position and code point only.

const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\]/u

/** Validates one path component. Throws `UnsafePathError`. */
export function checkName (name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafePathError('unsafe path: empty name')
  if (name === '.' || name === '..') throw new UnsafePathError('unsafe path: "." or ".." component')
  if (FORBIDDEN.test(name)) throw new UnsafePathError('unsafe path: control character, slash or backslash in a name')
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
