/**
 * Reading what the user shares: listing a file or folder tree, streaming a file's bytes into the
 * encoder, and positioned reads of one chunk's plaintext for seeders that re-seal from source.
 */
import { createReadStream, type Dirent } from 'node:fs'
import { lstat, open, readdir, stat, type FileHandle } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { MAX_FILES, MAX_PATH_DEPTH } from '../../protocol/constants.js'
import { checkFileList, checkName, splitPath } from '../../protocol/paths.js'
import { SourceError } from '../errors.js'
import type { PlaintextReader } from '../engine/share/sources.js'
import type { ShareSource } from '../engine/publish.js'

export interface SourceFile {
  /** '/'-joined path relative to the shared folder; for a one-file share, the file name. */
  path: string
  /** Absolute path on this machine. */
  abs: string
  size: number
  /** Permission bits (st_mode & 0o7777); the encoder reduces them to 0o644/0o755. */
  mode: number
}

export interface ShareSources {
  /** The share's name: the file or folder name. */
  name: string
  kind: 'file' | 'dir'
  /** Sorted by path, bytewise (UTF-8). */
  files: SourceFile[]
}

const DEFAULT_READ_SIZE = 1024 * 1024
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Streams a file as byte arrays (1 MiB reads by default) for the encoder. */
export async function * readFileChunks (path: string, options: { signal?: AbortSignal, highWaterMark?: number } = {}): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, { highWaterMark: options.highWaterMark ?? DEFAULT_READ_SIZE, signal: options.signal })
  for await (const chunk of stream) yield chunk as Buffer
}

function unsafe (rel: string, err: unknown): SourceError {
  const reason = err instanceof Error ? err.message.replace(/^unsafe path: /, '') : 'unsafe name'
  return new SourceError(`cannot share "${rel}": its name cannot be shared safely (${reason}); rename it`, { cause: err })
}

function byteCompare (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * Lists what sharing `path` means: a file is one entry; a folder is every regular file under it,
 * sorted by path (bytewise). Throws `SourceError` naming the offending relative path if a name
 * cannot be carried safely (protocol/paths.ts), if two names differ only in case, if the folder
 * holds no file or too many.
 *
 * Inside a folder, symbolic links are skipped, never followed: following them could share files
 * from outside the folder the user chose (a link to ~/.ssh, say). Sockets, FIFOs and devices are
 * skipped too (reading a FIFO would block forever). The path the user names may itself be a
 * link: that is an explicit choice, so it is followed.
 */
export async function listShareSources (path: string): Promise<ShareSources> {
  const abs = resolve(path)
  let st
  try {
    st = await stat(abs)
  } catch (err) {
    throw new SourceError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
  }
  const name = basename(abs)
  try { checkName(name) } catch (err) { throw unsafe(name, err) }
  if (st.isFile()) return { name, kind: 'file', files: [{ path: name, abs, size: st.size, mode: st.mode & 0o7777 }] }
  if (!st.isDirectory()) throw new SourceError(`cannot share ${path}: not a regular file or folder`)

  const files: SourceFile[] = []
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    let entries: Array<Dirent<Buffer>>
    try {
      entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' }) as unknown as Array<Dirent<Buffer>>
    } catch (err) {
      throw new SourceError(`cannot read folder "${rel.join('/') || name}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
    }
    for (const e of entries) {
      if (e.isSymbolicLink()) continue // never followed: see above
      if (!e.isFile() && !e.isDirectory()) continue
      let entryName: string
      try {
        entryName = utf8.decode(e.name)
      } catch (err) {
        throw unsafe([...rel, e.name.toString('utf8')].join('/'), new Error('name is not valid UTF-8'))
      }
      const parts = [...rel, entryName]
      const relPath = parts.join('/')
      try { checkName(entryName) } catch (err) { throw unsafe(relPath, err) }
      const full = join(dir, entryName)
      if (e.isDirectory()) {
        if (parts.length >= MAX_PATH_DEPTH) throw new SourceError(`cannot share "${relPath}": folders nest deeper than ${MAX_PATH_DEPTH} levels`)
        await walk(full, parts)
        continue
      }
      try { splitPath(relPath) } catch (err) { throw unsafe(relPath, err) }
      if (files.length >= MAX_FILES) throw new SourceError(`cannot share ${path}: it holds more than ${MAX_FILES} files`)
      let s
      try {
        s = await lstat(full)
      } catch (err) {
        throw new SourceError(`cannot read "${relPath}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
      }
      if (!s.isFile()) continue // replaced by something else since the listing
      files.push({ path: relPath, abs: full, size: s.size, mode: s.mode & 0o7777 })
    }
  }
  await walk(abs, [])
  if (files.length === 0) throw new SourceError(`cannot share ${path}: the folder holds no files`)
  files.sort((a, b) => byteCompare(a.path, b.path))

  // Names that differ only in case collide on macOS and Windows: name the pair.
  const seen = new Map<string, string>()
  for (const f of files) {
    const parts = f.path.split('/')
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/')
      const other = seen.get(p.toLowerCase())
      if (other !== undefined && other !== p) throw new SourceError(`cannot share ${path}: "${other}" and "${p}" differ only in case, which other systems cannot store side by side; rename one`)
      seen.set(p.toLowerCase(), p)
    }
  }
  try { checkFileList(files.map(f => f.path)) } catch (err) { throw new SourceError(`cannot share ${path}: ${(err as Error).message}`, { cause: err }) }
  return { name, kind: 'dir', files }
}

/**
 * Plaintext of chunk `position` of a file of `fileSize` bytes (positioned read). Shorter than
 * expected only if the file shrank since it was shared: the caller detects that.
 */
/**
 * A plaintext reader over files on disk, for PlaintextChunkSource: `pathOf(fileIndex)` gives where
 * file i is now. A short read (the file shrank) yields undefined; the seal-and-check catches edits.
 */
export function diskReader (pathOf: (fileIndex: number) => string | undefined, chunkSize: number): PlaintextReader {
  return async (fileIndex, position, length) => {
    const path = pathOf(fileIndex)
    if (path === undefined) return undefined
    const buf = await readChunkFromSource(path, position, chunkSize, position * chunkSize + length)
    return buf.length === length ? buf : undefined
  }
}

/**
 * Source files kept open between chunk reads while a share is being served (opening and closing
 * the file for every 1 MiB chunk was a tenth of a seeder's CPU): at most MAX_OPEN, each closed
 * after IDLE_MS without a read. Reads are positioned (pread), so concurrent ones do not interfere.
 */
const MAX_OPEN = 16
const IDLE_MS = 5_000
const openFiles = new Map<string, { fh: Promise<FileHandle>, users: number, timer?: ReturnType<typeof setTimeout> }>()

async function withOpenFile<T> (abs: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
  let entry = openFiles.get(abs)
  if (entry === undefined) {
    if (openFiles.size >= MAX_OPEN) {
      for (const [path, e] of openFiles) {
        if (e.users > 0) continue
        clearTimeout(e.timer)
        openFiles.delete(path)
        void e.fh.then(async fh => { await fh.close() }).catch(() => {})
        break
      }
    }
    entry = { fh: open(abs, 'r'), users: 0 }
    openFiles.set(abs, entry)
    entry.fh.catch(() => { if (openFiles.get(abs) === entry) openFiles.delete(abs) })
  }
  const e = entry
  clearTimeout(e.timer)
  e.users++
  try {
    return await fn(await e.fh)
  } finally {
    e.users--
    if (e.users === 0 && openFiles.get(abs) === e) {
      e.timer = setTimeout(() => {
        if (e.users > 0 || openFiles.get(abs) !== e) return
        openFiles.delete(abs)
        void e.fh.then(async fh => { await fh.close() }).catch(() => {})
      }, IDLE_MS)
      e.timer.unref?.()
    }
  }
}

export async function readChunkFromSource (abs: string, position: number, chunkSize: number, fileSize: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(position) || position < 0) throw new RangeError('chunk position must be a non-negative integer')
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new RangeError('chunk size must be a positive integer')
  const start = position * chunkSize
  const length = Math.max(0, Math.min(chunkSize, fileSize - start))
  if (length === 0) return new Uint8Array(0)
  // Not zero-filled: only the bytes read are returned.
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length)
  return await withOpenFile(abs, async fh => {
    let done = 0
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, start + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done === length ? buf : buf.subarray(0, done)
  })
}

/** A file or folder on disk as a ShareSource for publishShare. */
export async function fileShareSource (path: string): Promise<ShareSource> {
  const sources = await listShareSources(path)
  const abs = sources.files.map(f => f.abs)
  return {
    name: sources.name,
    kind: sources.kind,
    files: sources.files.map(f => ({ path: f.path, size: f.size, mode: f.mode, read: (signal?: AbortSignal) => readFileChunks(f.abs, { signal }) })),
    reader: (chunkSize: number) => diskReader(i => abs[i], chunkSize),
    locations: abs
  }
}
