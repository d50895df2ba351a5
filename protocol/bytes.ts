/**
 * The byte helpers the whole code base shares (protocol/, the engine and both hosts import them
 * from here; there is no second copy). protocol/index.ts does not export them: they are not part
 * of the protocol's API. Everything here is small, allocation-conscious and free of platform APIs.
 */
import { toString } from 'uint8arrays/to-string'

/**
 * Compares two byte arrays in time that depends only on their lengths, never on where they first
 * differ, so a MAC or admission proof cannot be guessed byte by byte from response timing.
 * Lengths are public (proofs and MACs have fixed sizes), so a length mismatch returns early.
 */
export function constantTimeEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

/** Concatenates byte arrays into a new one. */
export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/**
 * Reads a big-endian u32 at `offset`. Works on any view (honours byteOffset) without allocating a
 * DataView. The caller checks bounds: reading past the end is a programming error (RangeError).
 */
export function readU32 (bytes: Uint8Array, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + 4 > bytes.length) throw new RangeError('u32 read out of bounds')
  // `>>> 0` keeps the top bit from turning the result negative.
  return (((bytes[offset] as number) << 24) | ((bytes[offset + 1] as number) << 16) |
    ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number)) >>> 0
}

/** Writes `value` (an integer in [0, 2^32)) as a big-endian u32 at `offset`. */
export function writeU32 (bytes: Uint8Array, offset: number, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError('value is not a u32')
  if (!Number.isInteger(offset) || offset < 0 || offset + 4 > bytes.length) throw new RangeError('u32 write out of bounds')
  bytes[offset] = value >>> 24
  bytes[offset + 1] = (value >>> 16) & 0xff
  bytes[offset + 2] = (value >>> 8) & 0xff
  bytes[offset + 3] = value & 0xff
}

/** Writes `value` (an integer in [0, 2^16)) as a big-endian u16 at `offset`. */
export function writeU16 (bytes: Uint8Array, offset: number, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError('value is not a u16')
  if (!Number.isInteger(offset) || offset < 0 || offset + 2 > bytes.length) throw new RangeError('u16 write out of bounds')
  bytes[offset] = value >>> 8
  bytes[offset + 1] = value & 0xff
}

/** Lowercase hex of `bytes`, for map keys and digests shown to people (never for key material). */
export function hexOf (bytes: Uint8Array): string {
  return toString(bytes, 'base16')
}
