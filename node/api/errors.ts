/**
 * The API's errors: the ones its request handling throws, each with a category (protocol/errors.ts)
 * that gives its HTTP status through node/errors.ts's OUTCOMES, like every other error, and the
 * error body every failure is sent as (`{ "error": { "name", "message", "category" } }`, schema.ts).
 */
import { KithError, type ErrorCategory } from '../../protocol/errors.js'
import { categoryOf, OUTCOMES } from '../errors.js'
import { MAX_BODY_BYTES, type ApiErrorBody } from './schema.js'
import type { DaemonInfo } from '../repo/format.js'

/** An error of the API's own request handling (bad body, no such endpoint, ...). */
export class HttpError extends KithError {
  static override name = 'HttpError'
  /** The HTTP status this error is answered with (from its category). */
  get status (): number { return OUTCOMES[this.category].status }
}

export class BadRequestError extends HttpError {
  static override name = 'BadRequestError'
  static override category: ErrorCategory = 'invalid'
}

export class UnauthorizedError extends HttpError {
  static override name = 'UnauthorizedError'
  static override category: ErrorCategory = 'unauthorized'
  constructor (message = 'missing or wrong API token (Authorization: Bearer <contents of the repo\'s api-token file>)') { super(message) }
}

export class ForbiddenError extends HttpError {
  static override name = 'ForbiddenError'
  static override category: ErrorCategory = 'forbidden'
  constructor (message = 'the Host header must name this loopback server') { super(message) }
}

export class NotFoundError extends HttpError {
  static override name = 'NotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor (message = 'no such endpoint') { super(message) }
}

export class MethodNotAllowedError extends HttpError {
  static override name = 'MethodNotAllowedError'
  static override category: ErrorCategory = 'method-not-allowed'
  /** Value for the Allow header. */
  readonly allow: string | undefined
  constructor (message = 'method not allowed', allow?: string) {
    super(message)
    this.allow = allow
  }
}

export class ConflictError extends HttpError {
  static override name = 'ConflictError'
  static override category: ErrorCategory = 'conflict'
}

export class PayloadTooLargeError extends HttpError {
  static override name = 'PayloadTooLargeError'
  static override category: ErrorCategory = 'too-large'
  constructor (message = `request body larger than ${MAX_BODY_BYTES} bytes`) { super(message) }
}

export class ShareNotFoundError extends HttpError {
  static override name = 'ShareNotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor (message = 'no share with that link or manifest ID') { super(message) }
}

export class DownloadNotFoundError extends HttpError {
  static override name = 'DownloadNotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor (message = 'no download with that ID') { super(message) }
}

export class SeedNotFoundError extends HttpError {
  static override name = 'SeedNotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor (message = 'no seed job with that ID') { super(message) }
}

/** HTTP status for an error thrown while handling a request: its category's (node/errors.ts). */
export function statusForError (err: unknown): number {
  return OUTCOMES[categoryOf(err)].status
}

export function errorBody (err: unknown): ApiErrorBody {
  const e = err as Error | undefined
  const name = typeof e?.name === 'string' && e.name !== '' ? e.name : 'Error'
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err)
  return { error: { name, message: oneLine(message), category: categoryOf(err) } }
}

export function oneLine (text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}

/**
 * An error the daemon answered with: `name` and `category` are the daemon-side error's, so the
 * CLI reports it (and picks its exit status) exactly as it would a local one.
 */
export class RemoteError extends KithError {
  static override name = 'RemoteError'
  readonly status: number
  readonly #category: ErrorCategory
  constructor (status: number, error: { name?: string, message?: string, category?: string }) {
    super(error.message ?? `the daemon answered ${status}`)
    this.name = error.name ?? 'Error'
    this.status = status
    this.#category = isCategory(error.category) ? error.category : 'internal'
  }

  override get category (): ErrorCategory { return this.#category }
}

/** The daemon did not answer (not running, crashed, timed out). */
export class DaemonUnreachableError extends KithError {
  static override name = 'DaemonUnreachableError'
  static override category: ErrorCategory = 'unreachable'
}

export class CancelledError extends KithError {
  static override name = 'CancelledError'
  constructor (message = 'cancelled') { super(message) }
}

/** An --api address that is not host:port on a loopback address. */
export class ApiAddressError extends KithError {
  static override name = 'ApiAddressError'
  static override category: ErrorCategory = 'usage'
}

/** The API could not listen (port in use, ...). */
export class ApiListenError extends KithError {
  static override name = 'ApiListenError'
}

export class DaemonRunningError extends KithError {
  static override name = 'DaemonRunningError'
  static override category: ErrorCategory = 'conflict'
  readonly info: DaemonInfo
  constructor (dir: string, info: DaemonInfo) {
    super(`a daemon is already running for ${dir} (pid ${info.pid}, API ${info.api})`)
    this.info = info
  }
}

function isCategory (c: unknown): c is ErrorCategory {
  return typeof c === 'string' && Object.hasOwn(OUTCOMES, c)
}
