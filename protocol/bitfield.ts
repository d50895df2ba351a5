/**
 * Have-maps: one bit per chunk of a share, as carried by the `have-map` swarm message
 * (messages.ts, docs/PROTOCOL.md §7.1).
 *
 * Layout: most significant bit first, as in BitTorrent's bitfield message (BEP 3): piece i is
 * bit (7 − i mod 8) of byte ⌊i/8⌋, and the encoding is exactly ⌈size/8⌉ bytes. Spare bits in the
 * last byte MUST be zero; `fromBytes` refuses anything else so one have-map has exactly one byte
 * form (no hidden channel, and equal maps compare equal as bytes).
 *
 * Bounds: size ≤ MAX_CHUNKS (2^24), so a bitfield is at most 2 MiB and every index fits a u32.
 * An index outside [0, size) is a caller bug (RangeError); bytes that do not decode come from the
 * network (MalformedMessageError).
 */
import { MAX_CHUNKS } from './constants.js'
import { MalformedMessageError } from './errors.js'

/** Set bits per byte value: makes `fromBytes` on a 2 MiB map one table look-up per byte. */
const POPCOUNT = /* @__PURE__ */ (() => {
  const t = new Uint8Array(256)
  for (let i = 1; i < 256; i++) t[i] = (i & 1) + (t[i >> 1] as number)
  return t
})()

function validSize (size: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && size <= MAX_CHUNKS
}

export class Bitfield {
  /** Number of pieces (bits) this map covers. */
  readonly size: number
  readonly #bytes: Uint8Array
  // Kept up to date on every change so count() and isComplete() are O(1): the scheduler asks
  // after every received piece.
  #count = 0

  /** An empty map of `size` pieces. RangeError unless 0 ≤ size ≤ MAX_CHUNKS. */
  constructor (size: number) {
    if (!validSize(size)) throw new RangeError(`bitfield size must be an integer in [0, ${MAX_CHUNKS}]`)
    this.size = size
    this.#bytes = new Uint8Array(Math.ceil(size / 8))
  }

  /**
   * Decodes a have-map of `size` pieces (from the wire or from disk). Copies `bytes`, so the
   * caller's buffer may be reused. Throws MalformedMessageError on a size out of range, a length
   * other than ⌈size/8⌉, or a set spare bit.
   */
  static fromBytes (size: number, bytes: Uint8Array): Bitfield {
    if (!validSize(size)) throw new MalformedMessageError('malformed have-map: piece count out of range')
    if (!(bytes instanceof Uint8Array)) throw new MalformedMessageError('malformed have-map: not bytes')
    if (bytes.length !== Math.ceil(size / 8)) throw new MalformedMessageError('malformed have-map: length does not match its piece count')
    const spare = bytes.length * 8 - size
    if (spare > 0 && ((bytes[bytes.length - 1] as number) & ((1 << spare) - 1)) !== 0) {
      throw new MalformedMessageError('malformed have-map: spare bits set')
    }
    const b = new Bitfield(size)
    b.#bytes.set(bytes)
    let count = 0
    for (let i = 0; i < bytes.length; i++) count += POPCOUNT[bytes[i] as number] as number
    b.#count = count
    return b
  }

  #check (i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`piece index ${i} outside [0, ${this.size})`)
  }

  /** True if piece `i` is present. */
  get (i: number): boolean {
    this.#check(i)
    return ((this.#bytes[i >> 3] as number) & (0x80 >> (i & 7))) !== 0
  }

  /** Marks piece `i` present (idempotent). */
  set (i: number): void {
    this.#check(i)
    const mask = 0x80 >> (i & 7)
    const byte = this.#bytes[i >> 3] as number
    if ((byte & mask) === 0) { this.#bytes[i >> 3] = byte | mask; this.#count++ }
  }

  /** Marks piece `i` absent (idempotent), e.g. after a chunk on disk fails verification. */
  clear (i: number): void {
    this.#check(i)
    const mask = 0x80 >> (i & 7)
    const byte = this.#bytes[i >> 3] as number
    if ((byte & mask) !== 0) { this.#bytes[i >> 3] = byte & ~mask; this.#count-- }
  }

  /** Number of pieces present. */
  count (): number { return this.#count }

  /** True when every piece is present (a 0-piece map is complete). */
  isComplete (): boolean { return this.#count === this.size }

  /** The wire encoding (⌈size/8⌉ bytes, spare bits zero). A copy: mutating it changes nothing here. */
  toBytes (): Uint8Array { return Uint8Array.from(this.#bytes) }
}
