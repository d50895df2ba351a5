/**
 * Writing a download safely and resumably.
 *
 * Everything goes under a hidden partial folder next to the output, `<out>/.kith-partial-<id>/`:
 * one pre-sized `<i>.part` file per manifest file, written at chunk offsets (any order, memory
 * flat), and `state.json` with the have-map of chunks written so far (flushed at most once a
 * second and on close, atomically). A restarted download re-verifies every chunk the state
 * claims before trusting it (get.ts). A file is checked against its plaintext SHA-256 from the
 * manifest before it is moved into `tree/`, and only when every file checked out is the result
 * renamed into `<out>/<name>` in one step, never over an existing file (`name (1).ext` instead).
 * So no byte that failed verification ever appears under a final name.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, rename, rm, stat, chmod, type FileHandle } from 'node:fs/promises'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { Bitfield } from '../protocol/bitfield.js'
import { IntegrityError } from '../protocol/errors.js'
import type { ManifestMeta } from '../protocol/manifest.js'
import { splitPath } from '../protocol/paths.js'
import { mapDiskError, writeAtomic } from './repo.js'

const FLUSH_MS = 1000
const MAX_OPEN_FILES = 32
const MAX_NAME_ATTEMPTS = 1000

export class DownloadWriter {
  readonly outDir: string
  readonly partialDir: string
  readonly meta: ManifestMeta
  readonly #chunkSize: number
  readonly #have: Bitfield
  readonly #handles = new Map<number, FileHandle>()
  readonly #verified = new Set<number>()
  #dirty = false
  #flushTimer: ReturnType<typeof setTimeout> | undefined
  #committed: { path: string, files: string[] } | undefined
  readonly #manifestId: string

  private constructor (outDir: string, partialDir: string, meta: ManifestMeta, chunkSize: number, have: Bitfield, manifestId: string) {
    this.#manifestId = manifestId
    this.outDir = outDir
    this.partialDir = partialDir
    this.meta = meta
    this.#chunkSize = chunkSize
    this.#have = have
  }

  /** Opens (or resumes) the partial download of `meta` into `outDir`. */
  static async open (outDir: string, meta: ManifestMeta, manifestId: string, chunkSize: number): Promise<DownloadWriter> {
    const out = resolve(outDir)
    // Defence in depth: every path was validated when the manifest was opened; check again.
    for (const f of meta.files) {
      splitPath(f.path)
      const target = resolve(out, meta.name, ...f.path.split('/'))
      if (!target.startsWith(out + sep)) throw new IntegrityError('manifest path escapes the output folder')
    }
    const partialDir = join(out, `.kith-partial-${manifestId.slice(-16)}`)
    try {
      await mkdir(join(partialDir, 'tree'), { recursive: true, mode: 0o700 })
    } catch (err) {
      mapDiskError(err, out)
    }
    const total = meta.files.reduce((n, f) => n + f.chunks, 0)
    let have = new Bitfield(total)
    try {
      const state = JSON.parse(await readFile(join(partialDir, 'state.json'), 'utf8')) as { version: number, manifest: string, chunkSize: number, chunks: number, have: string }
      if (state.version === 1 && state.manifest === manifestId && state.chunkSize === chunkSize && state.chunks === total) {
        have = Bitfield.fromBytes(total, Buffer.from(state.have, 'base64'))
      }
    } catch {
      // no state yet, or unreadable: start from nothing (chunks on disk are re-fetched)
    }
    return new DownloadWriter(out, partialDir, meta, chunkSize, have, manifestId)
  }

  /** Chunk indices the saved state says were written (to be re-verified by the caller). */
  claimedChunks (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.#have.size; i++) if (this.#have.get(i)) out.push(i)
    return out
  }

  #partFile (fileIndex: number): string {
    return join(this.partialDir, `${fileIndex}.part`)
  }

  /** Where file `fileIndex`'s bytes are now (partial file, or verified copy), for re-sealing. */
  partialPath (fileIndex: number): string | undefined {
    if (this.#committed !== undefined) return this.#committed.files[fileIndex]
    const file = this.meta.files[fileIndex]
    if (file === undefined) return undefined
    return this.#verified.has(fileIndex) ? this.#treePath(fileIndex) : this.#partFile(fileIndex)
  }

  #treePath (fileIndex: number): string {
    const f = this.meta.files[fileIndex]
    if (f === undefined) throw new RangeError('no such file')
    return this.meta.kind === 'file' ? join(this.partialDir, 'tree', `${fileIndex}.verified`) : join(this.partialDir, 'tree', ...f.path.split('/'))
  }

  async #handle (fileIndex: number): Promise<FileHandle> {
    let fh = this.#handles.get(fileIndex)
    if (fh !== undefined) return fh
    if (this.#handles.size >= MAX_OPEN_FILES) {
      const [oldest, h] = this.#handles.entries().next().value as [number, FileHandle]
      this.#handles.delete(oldest)
      await h.close()
    }
    const file = this.meta.files[fileIndex]
    if (file === undefined) throw new RangeError('no such file')
    let handle: FileHandle
    try {
      // 'a+' creates the file if missing; reopen 'r+' because O_APPEND would ignore offsets.
      await (await open(this.#partFile(fileIndex), 'a+')).close()
      handle = await open(this.#partFile(fileIndex), 'r+')
      const st = await handle.stat()
      if (st.size !== file.size) await handle.truncate(file.size)
    } catch (err) {
      mapDiskError(err, this.partialDir)
    }
    this.#handles.set(fileIndex, handle)
    return handle
  }

  /** Writes verified plaintext of chunk `position` of file `fileIndex`. */
  async writeChunk (fileIndex: number, position: number, plaintext: Uint8Array): Promise<void> {
    if (plaintext.length === 0) { await this.#handle(fileIndex); return }
    const fh = await this.#handle(fileIndex)
    try {
      let done = 0
      for (let i = 0; i < 1000 && done < plaintext.length; i++) {
        const { bytesWritten } = await fh.write(plaintext, done, plaintext.length - done, position * this.#chunkSize + done)
        done += bytesWritten
      }
    } catch (err) {
      mapDiskError(err, this.partialDir)
    }
  }

  /** Records chunk `index` as written (persisted by the next flush). */
  markHave (index: number): void {
    this.#have.set(index)
    this.#scheduleFlush()
  }

  unmarkHave (index: number): void {
    this.#have.clear(index)
    this.#scheduleFlush()
  }

  #scheduleFlush (): void {
    this.#dirty = true
    if (this.#flushTimer !== undefined) return
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined
      void this.flush().catch(() => {})
    }, FLUSH_MS)
  }

  /** Persists the have-map (atomic). Chunk data is synced before the map that claims it. */
  async flush (): Promise<void> {
    if (this.#flushTimer !== undefined) { clearTimeout(this.#flushTimer); this.#flushTimer = undefined }
    if (!this.#dirty || this.#committed !== undefined) return
    this.#dirty = false
    for (const fh of this.#handles.values()) await fh.datasync().catch(() => {})
    await writeAtomic(join(this.partialDir, 'state.json'), JSON.stringify({
      version: 1, manifest: this.#manifestId, chunkSize: this.#chunkSize, chunks: this.#have.size, have: Buffer.from(this.#have.toBytes()).toString('base64')
    }))
  }

  /** Reads back plaintext a previous run wrote (for re-verification), or undefined. */
  async readChunk (fileIndex: number, position: number, length: number): Promise<Uint8Array | undefined> {
    const path = this.#partFile(fileIndex)
    try {
      const fh = await open(path, 'r')
      try {
        const buf = new Uint8Array(length)
        const { bytesRead } = await fh.read(buf, 0, length, position * this.#chunkSize)
        return bytesRead === length ? buf : undefined
      } finally {
        await fh.close()
      }
    } catch {
      return undefined
    }
  }

  /** Checks file `fileIndex` against its SHA-256 and moves it into the verified tree. */
  async finishFile (fileIndex: number, expectedSha256: Uint8Array): Promise<string> {
    const file = this.meta.files[fileIndex]
    if (file === undefined) throw new RangeError('no such file')
    if (this.#verified.has(fileIndex)) return this.#treePath(fileIndex)
    await this.#handle(fileIndex)
    const fh = this.#handles.get(fileIndex)
    if (fh !== undefined) { await fh.sync(); await fh.close(); this.#handles.delete(fileIndex) }
    const part = this.#partFile(fileIndex)
    const hash = createHash('sha256')
    for await (const piece of createReadStream(part, { highWaterMark: 1024 * 1024 })) hash.update(piece as Buffer)
    const digest = hash.digest()
    if (!digest.equals(Buffer.from(expectedSha256))) {
      await rm(part, { force: true })
      throw new IntegrityError(`file ${fileIndex} does not match its SHA-256 in the manifest; discarded`)
    }
    await chmod(part, file.mode === 0o755 ? 0o755 : 0o644)
    const target = this.#treePath(fileIndex)
    try {
      await mkdir(dirname(target), { recursive: true })
      await rename(part, target)
    } catch (err) {
      mapDiskError(err, this.partialDir)
    }
    this.#verified.add(fileIndex)
    return target
  }

  /**
   * Moves the verified result to its final name in one rename (never over an existing file).
   * Every file must have been finished. Returns the final path and each file's final path.
   */
  async commit (): Promise<{ path: string, files: string[] }> {
    if (this.#committed !== undefined) return this.#committed
    if (this.#verified.size !== this.meta.files.length) throw new IntegrityError('not every file is verified')
    const source = this.meta.kind === 'file' ? this.#treePath(0) : join(this.partialDir, 'tree')
    const final = await uniqueName(this.outDir, this.meta.name)
    try {
      await rename(source, final)
    } catch (err) {
      mapDiskError(err, this.outDir)
    }
    const files = this.meta.kind === 'file' ? [final] : this.meta.files.map(f => join(final, ...f.path.split('/')))
    this.#committed = { path: final, files }
    return this.#committed
  }

  /** Final path once committed. */
  get sharePath (): string {
    if (this.#committed === undefined) throw new Error('not committed yet')
    return this.#committed.path
  }

  /** Closes files and saves the state (the partial folder stays, for a resume). */
  async close (): Promise<void> {
    await this.flush().catch(() => {})
    for (const fh of this.#handles.values()) await fh.close().catch(() => {})
    this.#handles.clear()
  }

  /** Removes the partial folder (after commit). */
  async cleanup (): Promise<void> {
    await this.close()
    await rm(this.partialDir, { recursive: true, force: true })
  }
}

async function uniqueName (dir: string, name: string): Promise<string> {
  const ext = extname(name)
  const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name
  for (let i = 0; i < MAX_NAME_ATTEMPTS; i++) {
    const candidate = join(dir, i === 0 ? name : `${stem} (${i})${ext.length < name.length ? ext : ''}`)
    try {
      await stat(candidate)
    } catch {
      return candidate
    }
  }
  throw new IntegrityError(`too many files named like ${name} in ${dir}`)
}
