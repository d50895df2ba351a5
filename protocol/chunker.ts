/**
 * Fixed-size chunking of a byte stream (docs/PROTOCOL.md §2).
 *
 * A file is an async iterable of byte arrays of any sizes; `chunkStream` turns it into chunks of
 * exactly `chunkSize` bytes (the last one shorter), each tagged with whether it is the file's last.
 * Memory is bounded by two chunks (the one being filled and the one held back to learn whether it
 * is last), whatever the file size. An empty file yields one empty last chunk, so every file is a
 * STREAM of at least one chunk.
 *
 * Zero copy where possible: a whole chunk that lies inside one piece, starting at a chunk
 * boundary, is yielded as a view of that piece (`subarray`), not copied. This is the common case
 * (a file read in chunk-sized pieces, as node/share/files.ts does) and saves a copy of every byte. So a
 * source must not reuse or modify a piece's memory once it has yielded it (Node streams and web
 * ReadableStreams hand out fresh buffers; a caller recycling one read buffer must copy first).
 * Only chunks straddling pieces are assembled in a fresh buffer.
 */
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './constants.js'
import { LimitError } from './errors.js'

export interface Chunk {
  /** Position of the chunk within its file, from 0. */
  readonly position: number
  readonly data: Uint8Array
  /** True for the file's final chunk. */
  readonly last: boolean
}

/** Throws `LimitError` unless `chunkSize` is a power of two in [64 KiB, 8 MiB]. */
export function checkChunkSize (chunkSize: number): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE || (chunkSize & (chunkSize - 1)) !== 0) {
    throw new LimitError(`chunk size must be a power of two from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes, got ${chunkSize}`)
  }
}

/** Number of chunks a file of `size` bytes has (≥ 1: an empty file is one empty chunk). */
export function chunkCount (size: number, chunkSize: number): number {
  return size === 0 ? 1 : Math.ceil(size / chunkSize)
}

/** Splits `source` into `chunkSize` chunks (views of `source`'s pieces where possible, see above). */
export async function * chunkStream (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, chunkSize: number): AsyncGenerator<Chunk> {
  checkChunkSize(chunkSize)
  let buffer: Uint8Array | undefined // a chunk being assembled from several pieces
  let filled = 0
  let held: Uint8Array | undefined
  let position = 0
  for await (const piece of source) {
    let offset = 0
    while (offset < piece.length) {
      let full: Uint8Array | undefined
      if (filled === 0 && piece.length - offset >= chunkSize) {
        full = piece.subarray(offset, offset + chunkSize)
        offset += chunkSize
      } else {
        buffer ??= new Uint8Array(chunkSize)
        const n = Math.min(chunkSize - filled, piece.length - offset)
        buffer.set(piece.subarray(offset, offset + n), filled)
        filled += n
        offset += n
        if (filled === chunkSize) {
          full = buffer
          buffer = undefined
          filled = 0
        }
      }
      if (full !== undefined) {
        if (held !== undefined) yield { position: position++, data: held, last: false }
        held = full
      }
    }
  }
  if (filled > 0) {
    if (held !== undefined) yield { position: position++, data: held, last: false }
    yield { position, data: (buffer as Uint8Array).subarray(0, filled), last: true }
  } else if (held !== undefined) {
    yield { position, data: held, last: true }
  } else {
    yield { position: 0, data: new Uint8Array(0), last: true }
  }
}
