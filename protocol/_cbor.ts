/**
 * Internal: canonical CBOR for everything Kith hashes, signs or seals (docs/PROTOCOL.md §4.1).
 *
 * Encoding is RFC 8949 §4.2.1 deterministic (cborg's rfc8949EncodeOptions: shortest integers,
 * map keys sorted bytewise). Decoding is strict (no indefinite lengths, no undefined, NaN,
 * Infinity, BigInt, duplicate keys or tags) and then re-encodes to check the input was canonical,
 * so any accepted byte string has exactly one meaning and one encoding. Field readers turn a
 * missing or mistyped field into the caller's typed error.
 */
import { decode, encode, rfc8949EncodeOptions } from 'cborg'
import { type KithError } from './errors.js'

type ErrorClass = new (message?: string, options?: { cause?: unknown }) => KithError

export function encodeCanonical (value: unknown): Uint8Array {
  return encode(value, rfc8949EncodeOptions)
}

/** Decodes a CBOR map, refusing anything non-canonical. Errors are thrown as `Err`. */
export function decodeCanonicalMap (bytes: Uint8Array, Err: ErrorClass, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = decode(bytes, { strict: true, rejectDuplicateMapKeys: true, allowIndefinite: false, allowUndefined: false, allowNaN: false, allowInfinity: false, allowBigInt: false, tags: [] })
  } catch (err) {
    throw new Err(`${what} is not valid CBOR`, { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new Err(`${what} is not a CBOR map`)
  }
  const again = encodeCanonical(value)
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) throw new Err(`${what} is not canonically encoded`)
  return value as Record<string, unknown>
}

/** Typed field access that throws `Err` naming the field (never its value). */
export class Fields {
  constructor (private readonly map: Record<string, unknown>, private readonly Err: ErrorClass, private readonly what: string) {}

  /** Throws unless the map has exactly these keys. */
  only (...keys: string[]): this {
    const have = Object.keys(this.map)
    for (const k of have) if (!keys.includes(k)) throw new this.Err(`${this.what}: unexpected field "${k.slice(0, 32)}"`)
    return this
  }

  uint (key: string, max = Number.MAX_SAFE_INTEGER, min = 0): number {
    const v = this.map[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new this.Err(`${this.what}: field "${key}" must be an integer in [${min}, ${max}]`)
    return v
  }

  bytes (key: string, length?: { exact?: number, max?: number, multipleOf?: number }): Uint8Array {
    const v = this.map[key]
    if (!(v instanceof Uint8Array)) throw new this.Err(`${this.what}: field "${key}" must be bytes`)
    if (length?.exact !== undefined && v.length !== length.exact) throw new this.Err(`${this.what}: field "${key}" must be ${length.exact} bytes`)
    if (length?.max !== undefined && v.length > length.max) throw new this.Err(`${this.what}: field "${key}" longer than ${length.max} bytes`)
    if (length?.multipleOf !== undefined && v.length % length.multipleOf !== 0) throw new this.Err(`${this.what}: field "${key}" length must be a multiple of ${length.multipleOf}`)
    return v
  }

  string (key: string): string {
    const v = this.map[key]
    if (typeof v !== 'string') throw new this.Err(`${this.what}: field "${key}" must be text`)
    return v
  }

  array (key: string, max: number): unknown[] {
    const v = this.map[key]
    if (!Array.isArray(v)) throw new this.Err(`${this.what}: field "${key}" must be a list`)
    if (v.length > max) throw new this.Err(`${this.what}: field "${key}" has more than ${max} entries`)
    return v
  }

  map_ (value: unknown, what: string): Fields {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new this.Err(`${what} must be a map`)
    return new Fields(value as Record<string, unknown>, this.Err, what)
  }
}
