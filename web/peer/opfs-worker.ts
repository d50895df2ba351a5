/**
 * The browser node's download storage: one worker per download owns that download's OPFS files
 * through synchronous access handles (web/peer/opfs-target.ts is its client). Writes land in place at
 * their offset (a FileSystemWritableFileStream would copy the whole file into a swap file on every
 * reopen: quadratic for a large download), `flush` makes them durable, and each file's SHA-256 is
 * computed here, off the page's thread: as chunks are written in order (node/engine/share/ordered-hash.ts),
 * then whatever was not, read back from disk in slices.
 *
 * Requests run one at a time, in the order they were posted.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { Hasher } from '../../protocol/crypto.js'
import { OrderedHash } from '../../node/engine/share/ordered-hash.js'

/** The parts of the (worker-only) FileSystemSyncAccessHandle API used here. */
interface SyncHandle {
  read: (buffer: Uint8Array, options: { at: number }) => number
  write: (buffer: Uint8Array, options: { at: number }) => number
  truncate: (size: number) => void
  getSize: () => number
  flush: () => void
  close: () => void
}

export type StoreRequest =
  | { t: 'open', id: number, dir: string, chunkSize: number }
  | { t: 'write', id: number, file: number, position: number, data: Uint8Array<ArrayBuffer> }
  | { t: 'read', id: number, file: number, at: number, length: number }
  | { t: 'flush', id: number }
  | { t: 'finish', id: number, file: number, size: number }
  | { t: 'close', id: number }

export type StoreReply =
  | { id: number, ok: true, data?: Uint8Array<ArrayBuffer> }
  | { id: number, ok: false, name: string, message: string }

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<StoreRequest>) => void) | null
  postMessage: (msg: StoreReply, transfer: Transferable[]) => void
}

const HASH_SLICE = 4 * 1024 * 1024
/** Chunks written ahead of a file's in-order hash, kept in memory (bytes, all files). */
const HASH_AHEAD_BYTES = 16 * 1024 * 1024
let dir: FileSystemDirectoryHandle | undefined
let chunkSize = 0
/** Each file's SHA-256, as its chunks are written in order; the rest is read back at the end. */
const hashes = new OrderedHash(HASH_AHEAD_BYTES, (): Hasher => {
  const h = sha256.create()
  return { update: (b) => { h.update(b) }, digest: () => h.digest() }
})
const handles = new Map<number, SyncHandle>()

async function handle (file: number): Promise<SyncHandle> {
  let h = handles.get(file)
  if (h === undefined) {
    if (dir === undefined) throw new Error('storage not opened')
    const fh = await dir.getFileHandle(`f${file}`, { create: true }) as FileSystemFileHandle & { createSyncAccessHandle: () => Promise<SyncHandle> }
    h = await fh.createSyncAccessHandle()
    handles.set(file, h)
  }
  return h
}

function closeAll (): void {
  for (const h of handles.values()) { h.flush(); h.close() }
  handles.clear()
}

async function run (m: StoreRequest): Promise<StoreReply & { transfer?: Transferable[] }> {
  switch (m.t) {
    case 'open': {
      const root = await navigator.storage.getDirectory()
      dir = await (await root.getDirectoryHandle('kith', { create: true })).getDirectoryHandle(m.dir, { create: true })
      chunkSize = m.chunkSize
      return { id: m.id, ok: true }
    }
    case 'write': {
      const h = await handle(m.file)
      const at = m.position * chunkSize
      let done = 0
      for (let i = 0; done < m.data.length && i < 1000; i++) done += h.write(m.data.subarray(done), { at: at + done })
      if (done !== m.data.length) throw new Error('short write')
      hashes.add(m.file, m.position, m.data)
      return { id: m.id, ok: true }
    }
    case 'read': {
      const h = await handle(m.file)
      const out = new Uint8Array(m.length)
      const n = m.at + m.length <= h.getSize() ? h.read(out, { at: m.at }) : 0
      return n === m.length ? { id: m.id, ok: true, data: out, transfer: [out.buffer] } : { id: m.id, ok: true }
    }
    case 'flush':
      for (const h of handles.values()) h.flush()
      return { id: m.id, ok: true }
    case 'finish': {
      // Cut to the exact size, finish its hash (what was not hashed while writing is read back
      // from disk), and release it: the page reads it as a File.
      const h = await handle(m.file)
      if (h.getSize() !== m.size) h.truncate(m.size)
      h.flush()
      const { hash, next } = hashes.take(m.file)
      const slice = new Uint8Array(Math.min(HASH_SLICE, Math.max(1, m.size)))
      for (let at = Math.min(next * chunkSize, m.size); at < m.size;) {
        const n = h.read(slice.subarray(0, Math.min(slice.length, m.size - at)), { at })
        if (n <= 0) throw new Error('short read')
        hash.update(slice.subarray(0, n))
        at += n
      }
      h.close()
      handles.delete(m.file)
      const digest = hash.digest() as Uint8Array<ArrayBuffer>
      return { id: m.id, ok: true, data: digest }
    }
    case 'close':
      closeAll()
      return { id: m.id, ok: true }
  }
}

let chain: Promise<void> = Promise.resolve()
scope.onmessage = (e: MessageEvent<StoreRequest>) => {
  const m = e.data
  chain = chain.then(async () => {
    try {
      const { transfer, ...reply } = await run(m)
      scope.postMessage(reply, transfer ?? [])
    } catch (err) {
      // Names only matter here (QuotaExceededError: disk full; NoModificationAllowedError: the
      // files are locked by another tab running the same download); messages carry no data.
      scope.postMessage({ id: m.id, ok: false, name: (err as Error).name, message: (err as Error).message }, [])
    }
  })
}
