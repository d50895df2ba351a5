/**
 * Writing a download safely and resumably.
 *
 * Paths come from a verified manifest, i.e. from a possibly hostile publisher. Each file's final
 * path is `<out>/<name>` (one-file share) or `<out>/<name>/<path>` (folder); every name is checked
 * again, and the joined path with `path.resolve` against the output folder (defence in depth,
 * node/download/paths.ts), before anything is written.
 *
 * While downloading, everything lives in a hidden partial folder next to the output,
 * `<out>/.kith-partial-<manifest id, last 16 chars>/`:
 *   <fileIndex>   one file per manifest file, pre-sized (ftruncate) and written at chunk
 *                 offsets in any order, so memory stays flat whatever the file size (at most
 *                 32 open at once: node/download/handle-pool.ts)
 *   state.json    the have-map of chunks written (base64), the folder chosen for a folder
 *                 share, and the files already moved into place; written atomically at most
 *                 about once a second or every N chunks, and on close (claims only: the chunk
 *                 data is not synced first, a resume re-verifies it)
 * A restarted download trusts nothing in state.json blindly: the caller re-reads every claimed
 * chunk (`readChunk`) and re-checks it against the manifest before counting it (get.ts).
 *
 * The output folder may be shared with other local users (/tmp): one of them could plant a
 * `.kith-partial-*` folder, or a symbolic link inside one, so that a part file's truncate and
 * writes land in a file of the downloader's. So an existing partial folder is used only if it is a
 * real folder (not a link) owned by this user without group or other write access, and every part
 * file is opened with O_NOFOLLOW (created with O_EXCL), checked to be a regular file of this user,
 * and given its final mode through its open handle: nothing inside the partial folder is reached
 * through a link (`checkPartialDir`, `#openPart`).
 *
 * `finishFile` checks a file's SHA-256 against the manifest, then (and only then) moves it to its
 * final name, never over an existing file (`name (1).ext` instead, created with link(2) so a
 * concurrent writer cannot be clobbered either: fs-safe.ts, moveToFreeName). So no byte that failed verification, and no
 * partial file, ever appears under a final name. A folder share gets its own new folder
 * (`name (1)` if `name` exists): files never merge into a folder that was already there.
 *
 * Every downloaded file gets mode 0644 and every folder the download creates 0755 (less whatever
 * the umask removes), whatever mode the manifest records: a publisher (or a circle member whose
 * posts are fetched unattended) cannot hand over an executable.
 */
import { constants } from 'node:fs'
import { lstat, mkdir, open, readFile, realpath, rm, type FileHandle } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import { Bitfield } from '../../protocol/bitfield.js'
import { checkChunkSize } from '../../protocol/chunker.js'
import { IntegrityError, UnsafePathError } from '../../protocol/errors.js'
import { chunkPlaintextLength, type FileEntry, type ManifestMeta } from '../../protocol/manifest.js'
import { checkName, splitPath } from '../../protocol/paths.js'
import { DiskFullError, OutputPathError } from '../errors.js'
import type { Stats } from 'node:fs'
import { nativeBackend } from '../crypto/native.js'
import { OrderedHash } from '../engine/share/ordered-hash.js'
import { candidateName, MAX_NAME_ATTEMPTS, moveToFreeName, writeAtomic } from '../fs/fs-safe.js'
import { checkDownloadLayout, inside } from './paths.js'
import { formatState, parseState, STATE_FILE, type StateIdentity } from './state.js'
import { FileHandlePool } from './handle-pool.js'
import type { GetOptions } from '../engine/get.js'
import { hexOf } from '../../protocol/bytes.js'

const DEFAULT_FLUSH_MS = 1000
const DEFAULT_FLUSH_EVERY = 128
const MAX_OPEN_FILES = 32
const READ_SIZE = 1024 * 1024
/** A downloaded file's mode: never executable, whatever the manifest says (docs/THREAT-MODEL.md). */
const FILE_MODE = 0o644
/** A folder the download creates (the umask may take more away). */
const DIR_MODE = 0o755
/** Plaintext kept in memory, per download, for chunks written ahead of the in-order hash. */
const HASH_AHEAD_BYTES = 16 * 1024 * 1024

/** `getShare` options on Node: the share is written under `outDir` (by a DownloadWriter). */
export type NodeGetOptions = Omit<GetOptions, 'openTarget'> & {
  outDir: string
  /** Refuses a share larger than this (ShareTooLargeError) once its manifest is known, before anything is written. */
  maxSize?: number
}

export interface DownloadWriterOptions {
  /** Longest time a written chunk waits before state.json records it (default 1000 ms). */
  flushIntervalMs?: number
  /** Also flush after this many newly marked chunks (default 128). */
  flushEveryChunks?: number
}

function codeOf (err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code
}

/** O_NOFOLLOW where the platform has it (not on Windows, which has no such symbolic links to follow). */
const NOFOLLOW = constants.O_NOFOLLOW ?? 0
/** This process's user id, where there are such ids (not on Windows). */
const myUid = (): number | undefined => process.platform === 'win32' ? undefined : process.getuid?.()

/**
 * Refuses an existing partial folder that another local user could have planted or can still
 * write into: a symbolic link, not a folder, not owned by this user, or writable by group/other.
 */
function checkPartialDir (path: string, st: Stats): void {
  if (st.isSymbolicLink()) throw new OutputPathError(`${path} is a symbolic link, not a partial download of this user's: remove it and try again`)
  if (!st.isDirectory()) throw new OutputPathError(`${path} exists and is not a folder: remove it and try again`)
  const uid = myUid()
  if (uid === undefined) return
  if (st.uid !== uid) throw new OutputPathError(`${path} belongs to another user: not resuming into it (remove it and try again)`)
  if ((st.mode & 0o022) !== 0) throw new OutputPathError(`${path} is writable by other users: not resuming into it (remove it and try again)`)
}

/** A part file (opened without following links) must be a regular file of this user. */
function checkPartFile (path: string, st: Stats): void {
  if (!st.isFile()) throw new OutputPathError(`${path} is not a regular file`)
  const uid = myUid()
  if (uid !== undefined && st.uid !== uid) throw new OutputPathError(`${path} belongs to another user`)
}

/** Opens an existing part file read-only without following a link, checked like `#openPart`'s. */
async function openPartForReading (path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_RDONLY | NOFOLLOW)
  try {
    checkPartFile(path, await fh.stat())
    return fh
  } catch (err) {
    await fh.close().catch(() => {})
    throw err
  }
}

export class DownloadWriter {
  /** Absolute output folder. */
  readonly outDir: string
  readonly partialDir: string
  readonly meta: ManifestMeta
  readonly manifestId: string
  readonly #chunkSize: number
  readonly #have: Bitfield
  readonly #files: FileHandlePool
  /** fileIndex → absolute final path, once verified and moved. */
  readonly #finished = new Map<number, string>()
  /** Each file's SHA-256, computed as its chunks are written in order (node/engine/share/ordered-hash.ts). */
  readonly #hashes = new OrderedHash(HASH_AHEAD_BYTES, () => nativeBackend.createSha256())
  #root: string | undefined
  readonly #flushMs: number
  readonly #flushEvery: number
  #pending = 0
  #dirty = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #flushing: Promise<void> = Promise.resolve()
  #closed = false
  #removed = false

  private constructor (outDir: string, partialDir: string, meta: ManifestMeta, manifestId: string, chunkSize: number, have: Bitfield, opts: DownloadWriterOptions) {
    this.outDir = outDir
    this.partialDir = partialDir
    this.meta = meta
    this.manifestId = manifestId
    this.#chunkSize = chunkSize
    this.#have = have
    this.#flushMs = opts.flushIntervalMs ?? DEFAULT_FLUSH_MS
    this.#flushEvery = opts.flushEveryChunks ?? DEFAULT_FLUSH_EVERY
    this.#files = new FileHandlePool(MAX_OPEN_FILES, async i => await this.#openPart(i))
  }

  /**
   * Opens (or resumes) the download of `meta` into `outDir`. Every name is validated before
   * anything is created: throws `UnsafePathError` for a hostile name.
   */
  static async open (outDir: string, meta: ManifestMeta, manifestId: string, chunkSize: number, opts: DownloadWriterOptions = {}): Promise<DownloadWriter> {
    const out = resolve(outDir)
    checkChunkSize(chunkSize)
    if (!/^[A-Za-z0-9]{16,128}$/.test(manifestId)) throw new RangeError('manifest id must be a CID string')
    checkDownloadLayout(out, meta, chunkSize)

    const partialDir = join(out, `.kith-partial-${manifestId.slice(-16)}`)
    try {
      await mkdir(out, { recursive: true })
    } catch (err) {
      if (codeOf(err) === 'EEXIST') throw new OutputPathError(`${out} exists and is not a folder`, { cause: err })
      DiskFullError.rethrow(err, out)
    }
    try {
      await mkdir(partialDir, { mode: 0o700 })
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') DiskFullError.rethrow(err, out)
    }
    checkPartialDir(partialDir, await lstat(partialDir))

    const total = meta.files.reduce((n, f) => n + f.chunks, 0)
    const writer = new DownloadWriter(out, partialDir, meta, manifestId, chunkSize, new Bitfield(total), opts)
    await writer.#load()
    return writer
  }

  get chunkSize (): number { return this.#chunkSize }

  #file (fileIndex: number): FileEntry {
    const f = Number.isInteger(fileIndex) ? this.meta.files[fileIndex] : undefined
    if (f === undefined) throw new RangeError(`no file ${fileIndex} in this share`)
    return f
  }

  #partFile (fileIndex: number): string {
    return join(this.partialDir, String(fileIndex))
  }

  // --- resume state --------------------------------------------------------------------------------

  get #identity (): StateIdentity {
    return { manifest: this.manifestId, chunkSize: this.#chunkSize, chunks: this.#have.size }
  }

  async #load (): Promise<void> {
    let text: string
    try {
      text = await readFile(join(this.partialDir, STATE_FILE), 'utf8')
    } catch {
      return // no state yet: start from nothing
    }
    const state = parseState(text, this.#identity)
    if (state === undefined) return // unreadable, or another download's: start from nothing
    for (let i = 0; i < state.have.size; i++) if (state.have.get(i)) this.#have.set(i)

    if (this.meta.kind === 'dir' && state.root !== undefined) {
      try {
        checkName(state.root)
        const root = join(this.outDir, state.root)
        const st = await lstat(root).catch(() => undefined)
        if (st === undefined || st.isDirectory()) this.#root = root
      } catch {}
    }
    for (const [i, rel] of state.finished) {
      const f = this.meta.files[i]
      if (f === undefined) continue
      let ok = false
      try {
        const abs = resolve(this.outDir, ...splitPath(rel))
        const base = this.meta.kind === 'dir' ? this.#root : this.outDir
        if (base !== undefined && inside(base, abs)) {
          const st = await lstat(abs)
          ok = st.isFile() && st.size === f.size
          if (ok) this.#finished.set(i, abs)
        }
      } catch {}
      // Moved away or changed since: download that file again.
      if (!ok) for (let c = f.firstChunk; c < f.firstChunk + f.chunks; c++) this.#have.clear(c)
    }
  }

  /** A copy of the have-map from the saved state plus this run's writes (claims, until re-verified). */
  haveChunks (): Bitfield {
    return Bitfield.fromBytes(this.#have.size, this.#have.toBytes())
  }

  /** Chunk indices marked as written (to be re-verified by the caller after a resume). */
  claimedChunks (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.#have.size; i++) if (this.#have.get(i)) out.push(i)
    return out
  }

  /** Records chunk `index` (share-wide) as written; persisted by the next flush. */
  markHave (index: number): void {
    this.#have.set(index)
    this.#touch()
  }

  /** Forgets chunk `index` (it failed re-verification). */
  unmarkHave (index: number): void {
    this.#have.clear(index)
    this.#touch()
  }

  #touch (): void {
    this.#dirty = true
    if (this.#closed) return
    // Background flushes: a failure leaves the state dirty, and the next flush retries it.
    if (++this.#pending >= this.#flushEvery) {
      void this.flush().catch(() => {})
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        void this.flush().catch(() => {})
      }, this.#flushMs)
      this.#timer.unref?.()
    }
  }

  /**
   * Writes state.json now if anything changed (atomically). A background flush that failed (disk
   * full) left the state dirty, so this retries it.
   */
  async flush (): Promise<void> {
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
    await this.#enqueue(false)
  }

  /** Serialises state writes, so an older snapshot never lands after a newer one. */
  async #enqueue (force: boolean): Promise<void> {
    const run = this.#flushing.then(async () => { await this.#writeState(force) })
    this.#flushing = run.catch(() => {})
    await run
  }

  async #writeState (force = false): Promise<void> {
    if ((!this.#dirty && !force) || this.#removed) return
    this.#dirty = false
    this.#pending = 0
    // Snapshot first: every chunk it claims was written (not necessarily synced) before this.
    const have = this.#have.toBytes()
    const finished = new Map([...this.#finished].map(([i, abs]) => [i, relative(this.outDir, abs).split(sep).join('/')]))
    const text = formatState(this.#identity, have, this.#root === undefined ? undefined : relative(this.outDir, this.#root), finished)
    // No fdatasync of the chunk data first: a resume re-verifies every chunk state.json claims
    // (get.ts), so a claim whose bytes a power cut lost is caught and fetched again. Syncing here
    // forced 1 GiB of writeback in 128 MiB steps during the transfer. Finished files are synced
    // before they get their final name (finishFile).
    try {
      await writeAtomic(join(this.partialDir, STATE_FILE), text, 0o600)
    } catch (err) {
      this.#dirty = true
      throw err
    }
  }

  async #saveNow (): Promise<void> {
    await this.#enqueue(true)
  }

  // --- partial files ---------------------------------------------------------------------------

  /**
   * Opens file `fileIndex`'s partial file, created (exclusively) and pre-sized on first use. Never
   * through a symbolic link: O_NOFOLLOW makes a planted link fail (ELOOP) instead of truncating
   * whatever it points to, and a new file is created with O_EXCL, which also refuses a link.
   */
  async #openPart (fileIndex: number): Promise<FileHandle> {
    const file = this.#file(fileIndex)
    const path = this.#partFile(fileIndex)
    let fh: FileHandle | undefined
    try {
      try {
        fh = await open(path, constants.O_RDWR | NOFOLLOW)
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') throw err
        fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600)
      }
      const st = await fh.stat()
      checkPartFile(path, st)
      if (st.size !== file.size) await fh.truncate(file.size)
      return fh
    } catch (err) {
      await fh?.close().catch(() => {})
      if (codeOf(err) === 'ELOOP' || codeOf(err) === 'EEXIST') throw new OutputPathError(`${path} is a symbolic link or appeared while it was being created: refusing to write through it`, { cause: err })
      DiskFullError.rethrow(err, this.partialDir)
    }
  }

  /**
   * Writes the (verified, decrypted) plaintext of chunk `position` of file `fileIndex` at
   * position × chunkSize. Its length must be exactly that chunk's plaintext length.
   */
  async writeChunk (fileIndex: number, position: number, plaintext: Uint8Array): Promise<void> {
    const file = this.#file(fileIndex)
    if (!Number.isInteger(position) || position < 0 || position >= file.chunks) throw new RangeError(`chunk ${position} outside file ${fileIndex}`)
    if (plaintext.length !== chunkPlaintextLength(file, position, this.#chunkSize)) throw new RangeError(`chunk ${position} of file ${fileIndex} has the wrong length`)
    if (this.#finished.has(fileIndex)) throw new RangeError(`file ${fileIndex} is already complete`)
    if (this.#closed) throw new Error('download writer is closed')
    const fh = await this.#files.acquire(fileIndex)
    try {
      let done = 0
      const at = position * this.#chunkSize
      while (done < plaintext.length) {
        const { bytesWritten } = await fh.write(plaintext, done, plaintext.length - done, at + done)
        if (bytesWritten <= 0) throw new Error('write made no progress')
        done += bytesWritten
      }
    } catch (err) {
      DiskFullError.rethrow(err, this.partialDir)
    } finally {
      await this.#files.release(fileIndex)
    }
    this.#hashes.add(fileIndex, position, plaintext)
  }

  /**
   * Reads back `length` bytes of chunk `position` of file `fileIndex` (from its partial file, or
   * from its final place once finished), or undefined if they are not all there.
   */
  async readChunk (fileIndex: number, position: number, length: number): Promise<Uint8Array | undefined> {
    this.#file(fileIndex)
    if (!Number.isInteger(position) || position < 0 || !Number.isInteger(length) || length < 0 || length > this.#chunkSize) throw new RangeError('bad chunk read')
    const path = this.partialPath(fileIndex)
    if (path === undefined) return undefined
    const buf = new Uint8Array(length)
    if (length === 0) return buf
    let fh: FileHandle
    try {
      fh = await openPartForReading(path)
    } catch {
      return undefined
    }
    try {
      let done = 0
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, position * this.#chunkSize + done)
        if (bytesRead === 0) return undefined
        done += bytesRead
      }
      return buf
    } catch {
      return undefined
    } finally {
      await fh.close().catch(() => {})
    }
  }

  /** Where file `fileIndex`'s bytes are now: its final path once finished, else its partial file. */
  partialPath (fileIndex: number): string | undefined {
    if (this.meta.files[fileIndex] === undefined) return undefined
    return this.#finished.get(fileIndex) ?? (this.#removed ? undefined : this.#partFile(fileIndex))
  }

  /** The final path of file `fileIndex`, once finished. */
  finalPath (fileIndex: number): string | undefined {
    return this.#finished.get(fileIndex)
  }

  // --- finishing --------------------------------------------------------------------------------

  /**
   * Checks file `fileIndex` against its plaintext SHA-256 from the manifest (hashed as its chunks
   * were written, in order; whatever was not, read back from disk); on a match, syncs
   * it, sets its mode (0644: never executable, whatever the manifest says) and moves it to a free final name.
   * Returns that final path. On a mismatch deletes the partial file, forgets its chunks and
   * throws `IntegrityError`: nothing appears under a final name.
   */
  async finishFile (fileIndex: number, expectedSha256: Uint8Array): Promise<string> {
    const file = this.#file(fileIndex)
    const done = this.#finished.get(fileIndex)
    if (done !== undefined) return done
    if (expectedSha256.length !== 32) throw new RangeError('expected a 32-byte SHA-256')
    // Creates (and pre-sizes) the file if no chunk was ever written: an empty file has no bytes to receive.
    const fh = await this.#files.acquire(fileIndex)
    try {
      await fh.sync()
    } catch (err) {
      DiskFullError.rethrow(err, this.partialDir)
    } finally {
      await this.#files.release(fileIndex)
    }
    await this.#files.close(fileIndex)

    const part = this.#partFile(fileIndex)
    // What was hashed while writing, then the rest read back from disk, and the final mode set,
    // through one handle opened without following a link.
    const { hash, next } = this.#hashes.take(fileIndex)
    const from = next * this.#chunkSize
    let reader: FileHandle
    try {
      reader = await openPartForReading(part)
    } catch (err) {
      if (codeOf(err) === 'ELOOP') throw new OutputPathError(`${part} is a symbolic link: refusing to read through it`, { cause: err })
      throw err
    }
    try {
      if (from < file.size) {
        for await (const piece of reader.createReadStream({ highWaterMark: READ_SIZE, start: from, autoClose: false })) hash.update(piece as Buffer)
      }
      await reader.chmod(FILE_MODE)
    } finally {
      await reader.close().catch(() => {})
    }
    const digest = Buffer.from(hash.digest())
    if (!digest.equals(Buffer.from(expectedSha256.buffer, expectedSha256.byteOffset, expectedSha256.byteLength))) {
      await rm(part, { force: true })
      for (let c = file.firstChunk; c < file.firstChunk + file.chunks; c++) this.#have.clear(c)
      this.#dirty = true
      await this.#saveNow().catch(() => {})
      throw new IntegrityError(`"${file.path}" does not match its SHA-256 in the manifest (got ${hexOf(digest).slice(0, 16)}…): discarded`)
    }

    const final = await this.#place(fileIndex, part)
    this.#finished.set(fileIndex, final)
    await this.#saveNow()
    return final
  }

  /** Folder share: the share's own top-level folder, created on first need (never an existing one). */
  async #ensureRoot (): Promise<string> {
    if (this.#root !== undefined) {
      try {
        await mkdir(this.#root, { mode: DIR_MODE })
      } catch (err) {
        if (codeOf(err) !== 'EEXIST') DiskFullError.rethrow(err, this.outDir)
      }
      const st = await lstat(this.#root)
      if (!st.isDirectory()) throw new OutputPathError(`${this.#root} is no longer a folder`)
      return this.#root
    }
    for (let i = 0; i < MAX_NAME_ATTEMPTS; i++) {
      const candidate = join(this.outDir, candidateName(this.meta.name, i, false))
      try {
        await mkdir(candidate, { mode: DIR_MODE })
      } catch (err) {
        if (codeOf(err) === 'EEXIST') continue
        DiskFullError.rethrow(err, this.outDir)
      }
      this.#root = candidate
      await this.#saveNow()
      return candidate
    }
    throw new OutputPathError(`no free name for "${this.meta.name}" in ${this.outDir} after ${MAX_NAME_ATTEMPTS} tries`)
  }

  /** Moves the verified `tmp` to a free final name for file `fileIndex` (fs-safe.ts); returns it. */
  async #place (fileIndex: number, tmp: string): Promise<string> {
    const file = this.#file(fileIndex)
    let dir: string
    let name: string
    if (this.meta.kind === 'file') {
      dir = this.outDir
      name = this.meta.name
    } else {
      const root = await this.#ensureRoot()
      const parts = splitPath(file.path)
      name = parts[parts.length - 1] as string
      dir = resolve(root, ...parts.slice(0, -1))
      try {
        await mkdir(dir, { recursive: true, mode: DIR_MODE })
      } catch (err) {
        DiskFullError.rethrow(err, root)
      }
      // A folder on the way that was swapped for a link elsewhere must not take the file with it.
      const realRoot = await realpath(root)
      const realDir = await realpath(dir)
      if (realDir !== realRoot && !inside(realRoot, realDir)) throw new UnsafePathError(`unsafe path: ${dir} leads outside ${root}`)
    }
    return await moveToFreeName(tmp, dir, name) // its mode was set through its handle (finishFile)
  }

  /**
   * Once every file is finished: the share's final path (the file, or the share's folder) and
   * each file's final path, by file index.
   */
  async commit (): Promise<{ path: string, files: string[] }> {
    const files: string[] = []
    for (let i = 0; i < this.meta.files.length; i++) {
      const p = this.#finished.get(i)
      if (p === undefined) throw new IntegrityError(`not every file is verified yet (file ${i} is not)`)
      files.push(p)
    }
    const path = this.meta.kind === 'file' ? files[0] as string : await this.#ensureRoot()
    return { path, files }
  }

  /** The share's final path once every file is finished. */
  get sharePath (): string {
    if (this.#finished.size !== this.meta.files.length) throw new Error('not every file is finished yet')
    return this.meta.kind === 'file' ? this.#finished.get(0) as string : this.#root as string
  }

  // --- closing ----------------------------------------------------------------------------------

  /** Saves the state and closes every file; the partial folder stays for a resume. Idempotent. */
  async close (): Promise<void> {
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
    let error: unknown
    if (!this.#closed) {
      this.#closed = true
      await this.flush().catch((err: unknown) => { error = err })
    }
    await this.#files.closeAll()
    if (error !== undefined) throw error
  }

  /** Stops writing, keeping the partial folder and its state for a later resume. */
  async abort (): Promise<void> {
    await this.close()
  }

  /** Removes the partial folder (after every file is finished, or to discard the download). */
  async cleanup (): Promise<void> {
    await this.close().catch(() => {})
    await this.#flushing
    this.#removed = true
    await rm(this.partialDir, { recursive: true, force: true })
  }
}
