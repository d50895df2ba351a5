/**
 * A download target in the Origin Private File System (the browser's DownloadTarget; node/get.ts).
 *
 * `<opfs>/kith/<manifest tail>/` holds one file per share file (`f<index>`), written at chunk
 * offsets, and `state.json` (the chunks written and committed), so a reload resumes: the download
 * flow re-verifies every claimed chunk before trusting it. Writes go through a
 * FileSystemWritableFileStream, which makes them visible only when it is closed: the target
 * commits (closes and reopens) every COMMIT_EVERY chunks and on flush, and reads back only
 * committed chunks, so nothing half-written is ever re-sealed and served. Commits also happen
 * every COMMIT_MS, so a slow download loses at most a few seconds of data to a reload; the page
 * resumes a download it finds partly here as soon as the link is opened again.
 *
 * Memory stays flat: chunks go to disk as they arrive; the final SHA-256 check reads the file
 * back in 4 MiB slices; the user gets the file as a disk-backed File (object URL), never a copy
 * in memory.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { IntegrityError } from '../protocol/errors.js'
import type { ManifestMeta } from '../protocol/manifest.js'
import type { DownloadTarget } from '../node/get.js'

const COMMIT_EVERY = 32
/** …or this long after the last commit, so a slow download loses little to a reload. */
const COMMIT_MS = 2000
const READ_SLICE = 4 * 1024 * 1024
/** A finished download's OPFS copy is removed on a later visit once untouched this long. */
const SWEEP_AFTER_MS = 60 * 60 * 1000

/** SHA-256 of a file read back in slices, on this thread. */
async function hashHere (file: File): Promise<Uint8Array> {
  const h = sha256.create()
  for (let at = 0; at < file.size; at += READ_SLICE) h.update(new Uint8Array(await file.slice(at, at + READ_SLICE).arrayBuffer()))
  return h.digest()
}

interface State { version: 1, manifest: string, committed: number[] }

export class OpfsTarget implements DownloadTarget {
  readonly #dir: FileSystemDirectoryHandle
  readonly #meta: ManifestMeta
  readonly #manifest: string
  readonly #chunkSize: number
  readonly #writers = new Map<number, FileSystemWritableFileStream>()
  readonly #written = new Set<number>()
  readonly #committed = new Set<number>()
  readonly #finished = new Map<number, File>()
  #sinceCommit = 0
  #lastCommit = performance.now()
  #chain: Promise<unknown> = Promise.resolve()

  readonly #sha256File: (file: File) => Promise<Uint8Array>

  private constructor (dir: FileSystemDirectoryHandle, meta: ManifestMeta, manifest: string, chunkSize: number, committed: number[], sha256File: (file: File) => Promise<Uint8Array>) {
    this.#sha256File = sha256File
    this.#dir = dir
    this.#meta = meta
    this.#manifest = manifest
    this.#chunkSize = chunkSize
    for (const c of committed) this.#committed.add(c)
  }

  /** `sha256File` hashes a finished file (the page passes a Web Worker's; default: this thread). */
  static async open (meta: ManifestMeta, manifest: string, chunkSize: number, sha256File: (file: File) => Promise<Uint8Array> = hashHere): Promise<OpfsTarget> {
    const root = await navigator.storage.getDirectory()
    const kith = await root.getDirectoryHandle('kith', { create: true })
    const dir = await kith.getDirectoryHandle(manifest.slice(-24), { create: true })
    let committed: number[] = []
    try {
      const text = await (await (await dir.getFileHandle('state.json')).getFile()).text()
      const s = JSON.parse(text) as State
      if (s.version === 1 && s.manifest === manifest && Array.isArray(s.committed)) committed = s.committed.filter(n => Number.isSafeInteger(n) && n >= 0)
    } catch {
      // No state yet: a fresh download.
    }
    return new OpfsTarget(dir, meta, manifest, chunkSize, committed, sha256File)
  }

  /**
   * Frees finished downloads left by earlier visits: a folder with no state.json is complete (the
   * browser has saved the files) and is only kept while its tab seeds it; one untouched for
   * SWEEP_AFTER_MS is removed. Partial downloads stay, to be resumed.
   */
  static async sweep (): Promise<number> {
    let removed = 0
    try {
      const kith = await (await navigator.storage.getDirectory()).getDirectoryHandle('kith', { create: true })
      const now = Date.now()
      for await (const [name, handle] of kith.entries()) {
        if (handle.kind !== 'directory') continue
        const dir = handle as FileSystemDirectoryHandle
        let partial = false
        let newest = 0
        for await (const [file, h] of dir.entries()) {
          if (file === 'state.json') partial = true
          else if (h.kind === 'file') newest = Math.max(newest, (await (h as FileSystemFileHandle).getFile()).lastModified)
        }
        if (partial || now - newest < SWEEP_AFTER_MS) continue
        await kith.removeEntry(name, { recursive: true })
        removed++
      }
    } catch {
      // Storage unavailable or busy: try again on the next visit.
    }
    return removed
  }

  /** True if this origin holds part of the download of `manifest` (a reload interrupted it). */
  static async hasPartial (manifest: string): Promise<boolean> {
    try {
      const kith = await (await navigator.storage.getDirectory()).getDirectoryHandle('kith')
      const dir = await kith.getDirectoryHandle(manifest.slice(-24))
      const s = JSON.parse(await (await (await dir.getFileHandle('state.json')).getFile()).text()) as State
      return s.version === 1 && s.manifest === manifest && Array.isArray(s.committed) && s.committed.length > 0
    } catch {
      return false
    }
  }

  claimedChunks (): number[] { return [...this.#committed] }

  /** Serialises operations on the files (writes, commits, reads). */
  async #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn)
    this.#chain = run.catch(() => {})
    return await run
  }

  async #writer (fileIndex: number): Promise<FileSystemWritableFileStream> {
    let w = this.#writers.get(fileIndex)
    if (w === undefined) {
      const handle = await this.#dir.getFileHandle(`f${fileIndex}`, { create: true })
      w = await handle.createWritable({ keepExistingData: true })
      this.#writers.set(fileIndex, w)
    }
    return w
  }

  async writeChunk (fileIndex: number, position: number, plaintext: Uint8Array): Promise<void> {
    await this.#serial(async () => {
      const w = await this.#writer(fileIndex)
      await w.write({ type: 'write', position: position * this.#chunkSize, data: plaintext as Uint8Array<ArrayBuffer> })
    })
  }

  markHave (index: number): void {
    this.#written.add(index)
    if (++this.#sinceCommit >= COMMIT_EVERY || performance.now() - this.#lastCommit >= COMMIT_MS) void this.flush().catch(() => {})
  }

  unmarkHave (index: number): void {
    this.#written.delete(index)
    this.#committed.delete(index)
  }

  /** Closes the open writers (their data becomes visible and durable), then records the chunks. */
  async flush (): Promise<void> {
    await this.#serial(async () => {
      const pending = [...this.#written]
      for (const w of this.#writers.values()) await w.close()
      this.#writers.clear()
      for (const c of pending) this.#committed.add(c)
      this.#written.clear()
      this.#sinceCommit = 0
      this.#lastCommit = performance.now()
      const state: State = { version: 1, manifest: this.#manifest, committed: [...this.#committed] }
      const w = await (await this.#dir.getFileHandle('state.json', { create: true })).createWritable()
      await w.write(JSON.stringify(state))
      await w.close()
    })
  }

  async readChunk (fileIndex: number, position: number, length: number): Promise<Uint8Array | undefined> {
    const file = this.#meta.files[fileIndex]
    if (file === undefined) return undefined
    if (!this.#finished.has(fileIndex) && !this.#committed.has(file.firstChunk + position)) return undefined
    return await this.#serial(async () => {
      try {
        const f = this.#finished.get(fileIndex) ?? await (await this.#dir.getFileHandle(`f${fileIndex}`)).getFile()
        const start = position * this.#chunkSize
        const bytes = new Uint8Array(await f.slice(start, start + length).arrayBuffer())
        return bytes.length === length ? bytes : undefined
      } catch {
        return undefined
      }
    })
  }

  /** Checks the file's SHA-256 (read back in slices) before it counts as done. */
  async finishFile (fileIndex: number, expected: Uint8Array): Promise<string> {
    const entry = this.#meta.files[fileIndex]
    if (entry === undefined) throw new RangeError('no such file')
    await this.flush()
    const handle = await this.#dir.getFileHandle(`f${fileIndex}`, { create: true })
    if ((await handle.getFile()).size !== entry.size) {
      const w = await handle.createWritable({ keepExistingData: true })
      await w.truncate(entry.size)
      await w.close()
    }
    const file = await handle.getFile()
    const got = await this.#sha256File(file)
    if (got.length !== expected.length || got.some((b, i) => b !== expected[i])) {
      await this.#dir.removeEntry(`f${fileIndex}`).catch(() => {})
      for (let c = entry.firstChunk; c < entry.firstChunk + entry.chunks; c++) this.#committed.delete(c)
      throw new IntegrityError(`file ${fileIndex} does not match its SHA-256 in the manifest`)
    }
    this.#finished.set(fileIndex, file)
    return entry.path
  }

  async commit (): Promise<{ path: string }> {
    return { path: this.#meta.name }
  }

  async cleanup (): Promise<void> {
    await this.#dir.removeEntry('state.json').catch(() => {})
  }

  async close (): Promise<void> {
    await this.flush().catch(() => {})
  }

  /** The verified files, as disk-backed File objects named like the share's files. */
  files (): Array<{ path: string, file: File }> {
    return [...this.#finished.entries()].map(([i, file]) => ({ path: this.#meta.files[i]?.path ?? `file-${i}`, file }))
  }
}
