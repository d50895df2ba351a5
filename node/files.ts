/**
 * Reading what the user shares: listing a file or folder tree, streaming a file's bytes into the
 * encoder, and positioned reads of one chunk's plaintext for seeders that re-seal from source.
 */
import { createReadStream } from 'node:fs'
import { lstat, open, readdir } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { checkName, splitPath } from '../protocol/paths.js'
import { KithError } from '../protocol/errors.js'

export class SourceError extends KithError {
  static override name = 'SourceError'
  constructor (message: string, options?: { cause?: unknown }) { super(message, options) }
}

export interface SourceFile {
  /** '/'-joined path relative to the shared folder; for a one-file share, the file name. */
  path: string
  abs: string
  size: number
  mode: number
}

export interface ShareSources {
  name: string
  kind: 'file' | 'dir'
  files: SourceFile[]
}

/** Streams a file as byte arrays (1 MiB reads). */
export async function * readFileChunks (path: string, options: { signal?: AbortSignal, highWaterMark?: number } = {}): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, { highWaterMark: options.highWaterMark ?? 1024 * 1024, signal: options.signal })
  for await (const chunk of stream) yield chunk as Buffer
}

/**
 * Lists a file, or every regular file under a folder sorted by path. Symbolic links are skipped:
 * following them could share files from outside the folder the user chose.
 */
export async function listShareSources (path: string): Promise<ShareSources> {
  const abs = resolve(path)
  let st
  try {
    st = await lstat(abs)
  } catch (err) {
    throw new SourceError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
  }
  const name = basename(abs)
  try { checkName(name) } catch (err) { throw new SourceError(`cannot share ${path}: its name is not portable (${(err as Error).message})`, { cause: err }) }
  if (st.isFile()) return { name, kind: 'file', files: [{ path: name, abs, size: st.size, mode: st.mode }] }
  if (!st.isDirectory()) throw new SourceError(`cannot share ${path}: not a regular file or folder`)
  const files: SourceFile[] = []
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true })
    for (const e of entries) {
      const full = join(dir, e.name)
      if (e.isSymbolicLink()) continue
      const parts = [...rel, e.name]
      if (e.isDirectory()) await walk(full, parts)
      else if (e.isFile()) {
        const p = parts.join('/')
        try { splitPath(p) } catch (err) { throw new SourceError(`cannot share ${p}: ${(err as Error).message}`, { cause: err }) }
        const s = await lstat(full)
        files.push({ path: p, abs: full, size: s.size, mode: s.mode })
      }
    }
  }
  await walk(abs, [])
  if (files.length === 0) throw new SourceError(`cannot share ${path}: the folder has no files`)
  files.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
  return { name, kind: 'dir', files }
}

/** Plaintext of chunk `position` of a file (positioned read; shorter at the end of the file). */
export async function readChunkFromSource (abs: string, position: number, chunkSize: number, fileSize: number): Promise<Uint8Array> {
  const start = position * chunkSize
  const length = Math.max(0, Math.min(chunkSize, fileSize - start))
  const buf = new Uint8Array(length)
  if (length === 0) return buf
  const fh = await open(abs, 'r')
  try {
    let done = 0
    for (let i = 0; i < 1000 && done < length; i++) {
      const { bytesRead } = await fh.read(buf, done, length - done, start + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done === length ? buf : buf.subarray(0, done)
  } finally {
    await fh.close()
  }
}
