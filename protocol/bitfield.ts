/**
 * Have-maps: one bit per chunk, most significant bit first (piece i is bit 7 − i mod 8 of byte
 * ⌊i/8⌋), as in BitTorrent's bitfield message. Spare bits in the last byte are zero; a decoder
 * refuses any other encoding so one have-map has one byte form.
 */
import { MAX_CHUNKS } from './constants.js'
import { MalformedMessageError } from './errors.js'

export class Bitfield {
  readonly size: number
  readonly #bytes: Uint8Array
  #count = 0

  constructor (size: number) {
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_CHUNKS) throw new RangeError(`bitfield size must be in [0, ${MAX_CHUNKS}]`)
    this.size = size
    this.#bytes = new Uint8Array(Math.ceil(size / 8))
  }

  /** Decodes a have-map of `size` pieces. Throws MalformedMessageError on a wrong length or spare bits. */
  static fromBytes (size: number, bytes: Uint8Array): Bitfield {
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_CHUNKS) throw new MalformedMessageError('have-map size out of range')
    if (bytes.length !== Math.ceil(size / 8)) throw new MalformedMessageError('have-map length does not match its piece count')
    const spare = bytes.length * 8 - size
    if (spare > 0 && ((bytes[bytes.length - 1] as number) & ((1 << spare) - 1)) !== 0) throw new MalformedMessageError('have-map has spare bits set')
    const b = new Bitfield(size)
    b.#bytes.set(bytes)
    let count = 0
    for (const byte of bytes) { let x = byte; while (x !== 0) { x &= x - 1; count++ } }
    b.#count = count
    return b
  }

  #check (i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`piece index ${i} outside [0, ${this.size})`)
  }

  get (i: number): boolean {
    this.#check(i)
    return ((this.#bytes[i >> 3] as number) & (0x80 >> (i & 7))) !== 0
  }

  set (i: number): void {
    this.#check(i)
    const mask = 0x80 >> (i & 7)
    const byte = this.#bytes[i >> 3] as number
    if ((byte & mask) === 0) { this.#bytes[i >> 3] = byte | mask; this.#count++ }
  }

  clear (i: number): void {
    this.#check(i)
    const mask = 0x80 >> (i & 7)
    const byte = this.#bytes[i >> 3] as number
    if ((byte & mask) !== 0) { this.#bytes[i >> 3] = byte & ~mask; this.#count-- }
  }

  count (): number { return this.#count }
  isComplete (): boolean { return this.#count === this.size }
  /** A copy of the encoded bytes. */
  toBytes (): Uint8Array { return Uint8Array.from(this.#bytes) }
}
