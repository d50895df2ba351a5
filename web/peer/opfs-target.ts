/**
 * A download target in the Origin Private File System (the browser's DownloadTarget; node/engine/get.ts).
 *
 * `<opfs>/kith/<manifest tail>/` holds one file per share file (`f<index>`), written at chunk
 * offsets, and `state.json` (the chunks written and committed), so a reload resumes: the download
 * flow re-verifies every claimed chunk before trusting it. The files belong to a storage worker
 * (web/peer/opfs-worker.ts) that writes them in place through synchronous access handles; a commit
 * (every COMMIT_EVERY chunks, every COMMIT_MS, and on flush) flushes them and only then records
 * the chunks in state.json, so a chunk is claimed only once its bytes are durable. The page
 * resumes a download it finds partly here as soon as the link is opened again.
 *
 * Memory stays flat: chunks go to disk as they arrive; the worker hashes them as they are written
 * in order and reads back only what it could not; the user gets the file as a disk-backed File
 * (object URL), never a copy in memory.
 */
import { IntegrityError } from '../../protocol/errors.js'
import type { ManifestMeta } from '../../protocol/manifest.js'
import type { DownloadTarget } from '../../node/engine/get.js'
import type { StoreReply, StoreRequest } from './opfs-worker.js'
import { DownloadBusyError, StorageFullError } from './errors.js'

const COMMIT_EVERY = 32
/** …or this long after the last commit, so a slow download loses little to a reload. */
const COMMIT_MS = 2000
/**
 * Where Web Locks are missing, a finished download's OPFS copy is removed on a later visit once
 * untouched this long. With them, it is removed on the next visit as soon as no tab holds it.
 */
const SWEEP_AFTER_MS = 60 * 60 * 1000

/**
 * Each download's folder is held under a Web Lock for as long as its tab is open (the tab seeds
 * from it): the lock is released when the tab closes, so the next visit's sweep can tell a folder
 * that no tab uses any more and removes its decrypted files at once (THREAT-MODEL §2.9).
 */
const lockName = (folder: string): string => `kith-opfs:${folder}`
const locks = (): LockManager | undefined => typeof navigator !== 'undefined' ? navigator.locks : undefined

function holdFolder (folder: string): void {
  const l = locks()
  if (l === undefined) return
  // Held until the tab closes: the callback's promise never settles.
  void l.request(lockName(folder), { mode: 'shared' }, async () => { await new Promise(() => {}) }).catch(() => {})
}

/** True if no open tab holds `folder` (then it may go); false if one does, or it cannot be told and the folder is young. */
async function unheld (folder: string, newest: number, now: number): Promise<boolean> {
  const l = locks()
  if (l === undefined) return now - newest >= SWEEP_AFTER_MS
  return await l.request(lockName(folder), { ifAvailable: true }, async lock => lock !== null)
}

interface State { version: 1, manifest: string, committed: number[] }

type Req = StoreRequest extends infer R ? R extends { id: number } ? Omit<R, 'id'> : never : never

/** Client of one storage worker: requests in order, answers matched by id. */
class Store {
  readonly #worker = new Worker(new URL('./opfs-worker.ts', import.meta.url), { type: 'module', name: 'kith-storage' })
  readonly #pending = new Map<number, { resolve: (r: StoreReply) => void, reject: (e: Error) => void }>()
  #next = 1

  constructor () {
    this.#worker.onmessage = (e: MessageEvent<StoreReply>) => {
      const p = this.#pending.get(e.data.id)
      this.#pending.delete(e.data.id)
      p?.resolve(e.data)
    }
    this.#worker.onerror = (e: ErrorEvent) => {
      for (const p of this.#pending.values()) p.reject(new Error(`storage worker failed: ${e.message}`))
      this.#pending.clear()
    }
  }

  async call (req: Req, transfer: Transferable[] = []): Promise<Uint8Array | undefined> {
    const id = this.#next++
    const r = await new Promise<StoreReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ ...req, id } as StoreRequest, transfer)
    })
    if (r.ok) return r.data
    const cause = Object.assign(new Error(r.message), { name: r.name })
    if (r.name === 'QuotaExceededError') throw new StorageFullError({ cause })
    if (r.name === 'NoModificationAllowedError' || r.name === 'InvalidStateError') throw new DownloadBusyError({ cause })
    throw cause
  }

  terminate (): void { this.#worker.terminate() }
}

export class OpfsTarget implements DownloadTarget {
  readonly #dir: FileSystemDirectoryHandle
  readonly #store: Store
  readonly #meta: ManifestMeta
  readonly #manifest: string
  readonly #chunkSize: number
  readonly #written = new Set<number>()
  readonly #committed = new Set<number>()
  readonly #finished = new Map<number, File>()
  #sinceCommit = 0
  #lastCommit = performance.now()
  #committing: Promise<void> | undefined

  private constructor (dir: FileSystemDirectoryHandle, store: Store, meta: ManifestMeta, manifest: string, chunkSize: number, committed: number[]) {
    this.#dir = dir
    this.#store = store
    this.#meta = meta
    this.#manifest = manifest
    this.#chunkSize = chunkSize
    for (const c of committed) this.#committed.add(c)
  }

  static async open (meta: ManifestMeta, manifest: string, chunkSize: number): Promise<OpfsTarget> {
    const root = await navigator.storage.getDirectory()
    const kith = await root.getDirectoryHandle('kith', { create: true })
    const name = manifest.slice(-24)
    const dir = await kith.getDirectoryHandle(name, { create: true })
    holdFolder(name)
    let committed: number[] = []
    try {
      const text = await (await (await dir.getFileHandle('state.json')).getFile()).text()
      const s = JSON.parse(text) as State
      if (s.version === 1 && s.manifest === manifest && Array.isArray(s.committed)) committed = s.committed.filter(n => Number.isSafeInteger(n) && n >= 0)
    } catch {
      // No state yet: a fresh download.
    }
    const store = new Store()
    try {
      await store.call({ t: 'open', dir: name, chunkSize })
    } catch (err) {
      store.terminate()
      throw err
    }
    return new OpfsTarget(dir, store, meta, manifest, chunkSize, committed)
  }

  /**
   * Frees finished downloads left by earlier visits: a folder with no state.json is complete (the
   * browser has saved the files) and is only kept while its tab seeds it, so one no open tab holds
   * is removed (decrypted plaintext does not linger). Partial downloads stay, to be resumed: they
   * hold the verified part of the plaintext until the download completes or the site's data is
   * cleared (docs/RUNTIME.md).
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
        if (partial || !await unheld(name, newest, now)) continue
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

  async writeChunk (fileIndex: number, position: number, plaintext: Uint8Array): Promise<void> {
    const data = (plaintext.byteOffset === 0 && plaintext.byteLength === plaintext.buffer.byteLength && plaintext.buffer instanceof ArrayBuffer ? plaintext : plaintext.slice()) as Uint8Array<ArrayBuffer>
    await this.#store.call({ t: 'write', file: fileIndex, position, data }, [data.buffer])
  }

  markHave (index: number): void {
    this.#written.add(index)
    if (++this.#sinceCommit >= COMMIT_EVERY || performance.now() - this.#lastCommit >= COMMIT_MS) void this.flush().catch(() => {})
  }

  unmarkHave (index: number): void {
    this.#written.delete(index)
    this.#committed.delete(index)
  }

  /** Makes the written chunks durable, then records them (one commit at a time). */
  async flush (): Promise<void> {
    while (this.#committing !== undefined) await this.#committing
    this.#committing = (async () => {
      const pending = [...this.#written]
      this.#written.clear()
      this.#sinceCommit = 0
      this.#lastCommit = performance.now()
      try {
        await this.#store.call({ t: 'flush' })
      } catch (err) {
        for (const c of pending) this.#written.add(c)
        throw err
      }
      for (const c of pending) this.#committed.add(c)
      const state: State = { version: 1, manifest: this.#manifest, committed: [...this.#committed] }
      const w = await (await this.#dir.getFileHandle('state.json', { create: true })).createWritable()
      await w.write(JSON.stringify(state))
      await w.close()
    })()
    try {
      await this.#committing
    } finally {
      this.#committing = undefined
    }
  }

  async readChunk (fileIndex: number, position: number, length: number): Promise<Uint8Array | undefined> {
    const file = this.#meta.files[fileIndex]
    if (file === undefined) return undefined
    const start = position * this.#chunkSize
    const finished = this.#finished.get(fileIndex)
    try {
      if (finished !== undefined) {
        const bytes = new Uint8Array(await finished.slice(start, start + length).arrayBuffer())
        return bytes.length === length ? bytes : undefined
      }
      if (!this.#committed.has(file.firstChunk + position) && !this.#written.has(file.firstChunk + position)) return undefined
      return await this.#store.call({ t: 'read', file: fileIndex, at: start, length })
    } catch {
      return undefined
    }
  }

  /** Checks the file's SHA-256 (computed on the worker) before it counts as done. */
  async finishFile (fileIndex: number, expected: Uint8Array): Promise<string> {
    const entry = this.#meta.files[fileIndex]
    if (entry === undefined) throw new RangeError('no such file')
    await this.flush()
    const got = await this.#store.call({ t: 'finish', file: fileIndex, size: entry.size })
    if (got === undefined || got.length !== expected.length || got.some((b, i) => b !== expected[i])) {
      await this.#dir.removeEntry(`f${fileIndex}`).catch(() => {})
      for (let c = entry.firstChunk; c < entry.firstChunk + entry.chunks; c++) this.#committed.delete(c)
      throw new IntegrityError(`file ${fileIndex} does not match its SHA-256 in the manifest`)
    }
    this.#finished.set(fileIndex, await (await this.#dir.getFileHandle(`f${fileIndex}`)).getFile())
    return entry.path
  }

  async commit (): Promise<{ path: string }> {
    return { path: this.#meta.name }
  }

  async cleanup (): Promise<void> {
    await this.#dir.removeEntry('state.json').catch(() => {})
    // Every file is finished and handed over as a File: the worker holds nothing any more.
    await this.#store.call({ t: 'close' }).catch(() => {})
    this.#store.terminate()
  }

  async close (): Promise<void> {
    await this.flush().catch(() => {})
    await this.#store.call({ t: 'close' }).catch(() => {})
    this.#store.terminate()
  }

  /** The verified files, as disk-backed File objects named like the share's files. */
  files (): Array<{ path: string, file: File }> {
    return [...this.#finished.entries()].map(([i, file]) => ({ path: this.#meta.files[i]?.path ?? `file-${i}`, file }))
  }
}
