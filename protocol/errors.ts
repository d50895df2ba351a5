/**
 * Typed errors for every failure the protocol can report.
 *
 * One class per failure, each with a static `name` (tests and callers match on `err.name`, which
 * survives bundling and crossing a worker boundary) and a default message. Causes are kept with
 * `{ cause }`. No message ever contains key material: constructors take only lengths, indices,
 * versions and fixed reasons, never the bytes they were given.
 *
 * Every class also has a static `category`: what kind of failure it is, for whoever reports it.
 * The daemon's HTTP status and the CLI's exit status are both derived from it, in one table
 * (node/errors.ts, OUTCOMES); nothing else maps error names to codes.
 */

export interface KithErrorOptions {
  cause?: unknown
}

/**
 * What went wrong, in the terms a caller acts on:
 *   internal            a bug, or a failure with no better category (the default)
 *   usage               a bad command line
 *   invalid             a bad request: a value, path, name or code the caller gave
 *   bad-link            a link that does not parse, or the wrong kind of link
 *   wrong-key           the key does not open the share
 *   not-found           the thing named does not exist here
 *   forbidden           not allowed for this caller
 *   conflict            clashes with work in progress
 *   unauthorized        missing or wrong credentials
 *   method-not-allowed  an HTTP method the endpoint does not take
 *   too-large           a request body over the limit
 *   quota               a per-member allowance is used up (circle posts per epoch)
 *   unavailable         nobody serves it (no seeders, nobody answered in time)
 *   unreachable         a named peer could not be reached
 *   disk-full           no space or quota left
 *   interrupted         stopped by a signal
 */
export type ErrorCategory =
  | 'internal' | 'usage' | 'invalid' | 'bad-link' | 'wrong-key' | 'not-found' | 'forbidden' | 'conflict'
  | 'unauthorized' | 'method-not-allowed' | 'too-large' | 'quota' | 'unavailable' | 'unreachable' | 'disk-full' | 'interrupted'

/** Base class: `instanceof KithError` tells a protocol failure from a bug. */
export class KithError extends Error {
  static override name = 'KithError'
  static category: ErrorCategory = 'internal'
  constructor (message: string, options?: KithErrorOptions) {
    super(message, options)
    this.name = (this.constructor as typeof KithError).name
  }

  /** The class's category (see ErrorCategory). */
  get category (): ErrorCategory {
    return (this.constructor as typeof KithError).category
  }
}

// --- links --------------------------------------------------------------------------------------

/** The text is not a Kith link at all (wrong scheme, empty, not text). */
export class NotAKithLinkError extends KithError {
  static override name = 'NotAKithLinkError'
  static override category: ErrorCategory = 'bad-link'
  constructor (message = 'not a kith link: it must start with "kith:"', options?: KithErrorOptions) { super(message, options) }
}

/** A link (or manifest) of a format version this code does not know. */
export class UnsupportedVersionError extends KithError {
  static override name = 'UnsupportedVersionError'
  static override category: ErrorCategory = 'bad-link'
  readonly version: number
  constructor (version: number, what = 'link', options?: KithErrorOptions) {
    super(`unsupported ${what} version ${version}: this Kith understands version 1; upgrade Kith`, options)
    this.version = version
  }
}

/** A link whose checksum does not match: mistyped or damaged in transit. */
export class LinkChecksumError extends KithError {
  static override name = 'LinkChecksumError'
  static override category: ErrorCategory = 'bad-link'
  constructor (message = 'bad link checksum: the link was mistyped or cut; copy it again', options?: KithErrorOptions) { super(message, options) }
}

/** A link that ends too early. */
export class TruncatedLinkError extends KithError {
  static override name = 'TruncatedLinkError'
  static override category: ErrorCategory = 'bad-link'
  constructor (message = 'truncated link: part of it is missing; copy the whole link', options?: KithErrorOptions) { super(message, options) }
}

/** A link that decodes but whose content is not well formed (bad characters, bad hint). */
export class MalformedLinkError extends KithError {
  static override name = 'MalformedLinkError'
  static override category: ErrorCategory = 'bad-link'
  constructor (message = 'malformed link', options?: KithErrorOptions) { super(message, options) }
}

// --- crypto and integrity --------------------------------------------------------------------

/** The key does not open this manifest: the link's key is wrong (or the manifest was swapped). */
export class WrongKeyError extends KithError {
  static override name = 'WrongKeyError'
  static override category: ErrorCategory = 'wrong-key'
  constructor (message = 'wrong key: this link\'s key does not open the share', options?: KithErrorOptions) { super(message, options) }
}

/** AEAD authentication failed on a chunk or block: tampered, swapped, reordered or truncated. */
export class DecryptionError extends KithError {
  static override name = 'DecryptionError'
  constructor (message = 'decryption failed: the data was tampered with or does not belong here', options?: KithErrorOptions) { super(message, options) }
}

/** Bytes do not hash to the name (CID) they were requested or stored under. */
export class IntegrityError extends KithError {
  static override name = 'IntegrityError'
  constructor (message = 'integrity check failed: data does not match its content ID', options?: KithErrorOptions) { super(message, options) }
}

/** The publisher's signature over a manifest does not verify. */
export class SignatureError extends KithError {
  static override name = 'SignatureError'
  constructor (message = 'bad signature on manifest', options?: KithErrorOptions) { super(message, options) }
}

/** A manifest that decrypts but is not well formed, or violates a limit. */
export class ManifestError extends KithError {
  static override name = 'ManifestError'
  constructor (message = 'malformed manifest', options?: KithErrorOptions) { super(message, options) }
}

/** A path in a manifest that could escape its output folder or is otherwise unsafe. */
export class UnsafePathError extends KithError {
  static override name = 'UnsafePathError'
  static override category: ErrorCategory = 'invalid'
  constructor (message = 'unsafe path in manifest', options?: KithErrorOptions) { super(message, options) }
}

/** A caller-supplied value outside the protocol's limits (chunk size, file count, ...). */
export class LimitError extends KithError {
  static override name = 'LimitError'
  static override category: ErrorCategory = 'invalid'
  constructor (message = 'limit exceeded', options?: KithErrorOptions) { super(message, options) }
}

// --- wire ----------------------------------------------------------------------------------------

/** A wire message that is larger than the protocol allows. The stream must be reset. */
export class MessageTooLargeError extends KithError {
  static override name = 'MessageTooLargeError'
  constructor (message = 'message too large', options?: KithErrorOptions) { super(message, options) }
}

/** A wire message that does not decode. The stream must be reset and the peer penalised. */
export class MalformedMessageError extends KithError {
  static override name = 'MalformedMessageError'
  constructor (message = 'malformed message', options?: KithErrorOptions) { super(message, options) }
}

/** The remote peer failed the admission proof (does not know the share's access key). */
export class AdmissionError extends KithError {
  static override name = 'AdmissionError'
  constructor (message = 'admission refused: peer did not prove knowledge of the share', options?: KithErrorOptions) { super(message, options) }
}
