/**
 * Where a download may write, checked again in the Node runtime (defence in depth): the manifest
 * was validated when it was opened (protocol/paths.ts), but the names come from a possibly hostile
 * publisher, so every name is checked once more and every joined path is resolved against the
 * output folder before anything is created (node/download/writer.ts).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { chunkCount } from '../../protocol/chunker.js'
import { UnsafePathError } from '../../protocol/errors.js'
import type { ManifestMeta } from '../../protocol/manifest.js'
import { checkFileList, checkName, splitPath } from '../../protocol/paths.js'

/** True if `child` is strictly below `parent` (both absolute). */
export function inside (parent: string, child: string): boolean {
  const rel = relative(parent, child)
  return rel.length > 0 && rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel)
}

/**
 * Checks that `meta` lays out inside the absolute folder `out`: the share name and every file
 * path stay under it, a one-file share carries its own name, and the file sizes match the chunk
 * layout. Throws `UnsafePathError` for a hostile path, `RangeError` for an impossible layout.
 */
export function checkDownloadLayout (out: string, meta: ManifestMeta, chunkSize: number): void {
  checkName(meta.name)
  const top = resolve(out, meta.name)
  if (!inside(out, top)) throw new UnsafePathError('unsafe path: the share name leaves the output folder')
  if (meta.files.length === 0) throw new RangeError('manifest lists no files')
  if (meta.kind === 'file') {
    if (meta.files.length !== 1 || meta.files[0]?.path !== meta.name) throw new UnsafePathError('unsafe path: a one-file share must carry its own name')
  } else if (meta.kind === 'dir') {
    for (const f of meta.files) {
      const target = resolve(top, ...splitPath(f.path))
      if (!inside(top, target)) throw new UnsafePathError('unsafe path: a file path leaves the share folder')
    }
    checkFileList(meta.files.map(f => f.path))
  } else {
    throw new RangeError('manifest kind must be "file" or "dir"')
  }
  let next = 0
  for (const f of meta.files) {
    if (!Number.isSafeInteger(f.size) || f.size < 0 || f.firstChunk !== next || f.chunks !== chunkCount(f.size, chunkSize)) {
      throw new RangeError('manifest file sizes do not match its chunk layout')
    }
    next += f.chunks
  }
}
