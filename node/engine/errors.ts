/**
 * Typed errors of the peer engine (node/engine/): one class per failure, like protocol/errors.ts.
 */
import { KithError, type ErrorCategory, type KithErrorOptions } from '../../protocol/errors.js'

/** No valid manifest record was found in the DHT (none stored, all peers unreachable, or only forgeries). */
export class RecordNotFoundError extends KithError {
  static override name = 'RecordNotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor (message = 'manifest not found in the DHT', options?: KithErrorOptions) { super(message, options) }
}

/**
 * A deadline passed (engine/abort.ts). Named like the DOMException an AbortSignal timeout raises,
 * so callers treat both alike: nobody answered in time.
 */
export class DeadlineError extends KithError {
  static override name = 'TimeoutError'
  static override category: ErrorCategory = 'unavailable'
  constructor (ms: number) { super(`timed out after ${ms} ms`) }
}

/** A provider record reached no DHT server (none known, or every send failed): nobody can find us through it yet. */
export class NothingProvidedError extends KithError {
  static override name = 'NothingProvidedError'
  static override category: ErrorCategory = 'unavailable'
  constructor () { super('the provider record reached no DHT server') }
}

/** Raised when a source no longer produces the bytes the manifest names. */
export class SourceChangedError extends KithError {
  static override name = 'SourceChangedError'
  constructor (index: number) {
    super(`the shared source changed: chunk ${index} no longer matches the manifest; stopped serving this share`)
  }
}

/** Why a PUT_VALUE from a peer was not stored (node/engine/dht-put-gate.ts). */
export type DhtPutRefusal = 'rate-limited' | 'not-closest' | 'full' | 'namespace'

/** This node refused to store a peer's DHT record: over its rate, not close to the key, out of room, or not a Kith record. */
export class DhtPutRefusedError extends KithError {
  static override name = 'DhtPutRefusedError'
  static override category: ErrorCategory = 'forbidden'
  readonly reason: DhtPutRefusal
  constructor (reason: DhtPutRefusal) {
    super(`DHT put refused: ${reason}`)
    this.reason = reason
  }
}

/**
 * A manifest block (meta piece, tree block or root) whose bytes match its digest but not the length
 * the manifest allows for it: the publisher made an impossible manifest, and no peer can serve
 * other bytes under that digest, so the fetch stops at once (nothing more is fetched or kept).
 */
export class ManifestBlockSizeError extends KithError {
  static override name = 'ManifestBlockSizeError'
  static override category: ErrorCategory = 'invalid'
  constructor (kind: string, position: number, length: number, allowed: { min: number, max: number }) {
    super(`manifest ${kind} ${position} has ${length} bytes; the manifest allows ${allowed.min === allowed.max ? allowed.max : `${allowed.min} … ${allowed.max}`} (bad publisher)`)
  }
}

/** A share's swarm has no session slot free (and none held by a peer idle long enough to evict). */
export class SwarmFullError extends KithError {
  static override name = 'SwarmFullError'
  static override category: ErrorCategory = 'unavailable'
  constructor (message = 'too many swarm sessions') { super(message) }
}

/**
 * The manifest was signed by another key than the one the caller expected (a circle post's
 * author, for auto-fetch): someone else's share posted under this author's name. Nothing written.
 */
export class PublisherMismatchError extends KithError {
  static override name = 'PublisherMismatchError'
  static override category: ErrorCategory = 'invalid'
  constructor (expected: string, actual: string) {
    super(`the share was published by ${actual}, not by ${expected} who posted it`)
  }
}

/**
 * The only path to a seeder is a limited relay (a public circuit relay: Kubo's and Helia's cut a
 * circuit after 128 KiB or 2 minutes, so the swarm never moves data over one) and no direct
 * connection came up through it (WebRTC hole punching failed: both NATs randomise ports, say),
 * and no friend's Kith node relays between us. Exit 5 like "no seeders" (docs/NETWORK.md).
 */
export class NoPathError extends KithError {
  static override name = 'NoPathError'
  static override category: ErrorCategory = 'unavailable'
  constructor (message = 'no direct path and no friend relay: the seeders found are reachable only through a public relay, and hole punching failed') { super(message) }
}
