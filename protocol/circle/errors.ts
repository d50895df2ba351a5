/**
 * Typed errors of circle logs, invites and circle messages (protocol/circle/): one class per failure, each extending KithError with
 * a static `name` and `category` (protocol/errors.ts).
 */
import { KithError, type ErrorCategory, type KithErrorOptions } from '../errors.js'

/** A malformed, mistyped or tampered invite code. */
export class InviteCodeError extends KithError {
  static override name = 'InviteCodeError'
  static override category: ErrorCategory = 'invalid'
  constructor (message = 'not a valid kith invite code', options?: KithErrorOptions) { super(message, options) }
}

/** An entry that breaks a rule of the log (forged, unauthorised, malformed, out of order). */
export class CircleEntryError extends KithError {
  static override name = 'CircleEntryError'
  constructor (message = 'invalid circle entry', options?: KithErrorOptions) { super(message, options) }
}

/**
 * A validly signed entry that is kept (entries naming it must still apply) but not shown: a post
 * by a member removed later, or an over-quota post that another entry names.
 */
export class CircleEntryHiddenError extends CircleEntryError {
  static override name = 'CircleEntryHiddenError'
  constructor (message = 'circle entry kept but hidden', options?: KithErrorOptions) { super(message, options) }
}

/** A post over its author's quota for its epoch (or over the circle's post limit): not kept. */
export class CircleQuotaError extends CircleEntryError {
  static override name = 'CircleQuotaError'
  static override category: ErrorCategory = 'quota'
  constructor (message = 'post over its author\'s quota', options?: KithErrorOptions) { super(message, options) }
}

/** This node holds no key for the epoch (it was removed, or has not synced the rotation yet). */
export class NoEpochKeyError extends KithError {
  static override name = 'NoEpochKeyError'
  constructor (epoch: number) { super(`no key for epoch ${epoch} of this circle (removed from it, or not caught up yet)`) }
}

/** A circle message that does not decode; the stream is reset. */
export class MalformedCircleMessageError extends KithError {
  static override name = 'MalformedCircleMessageError'
  constructor (message = 'malformed circle message', options?: KithErrorOptions) { super(message, options) }
}
