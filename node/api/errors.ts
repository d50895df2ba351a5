/**
 * The API's errors: the ones its request handling throws, each with a category (protocol/errors.ts)
 * that gives its HTTP status through node/errors.ts's OUTCOMES, like every other error, and the
 * error body every failure is sent as (`{ "error": { "name", "message", "category" } }`, schema.ts).
 */
import { KithError, type ErrorCategory } from '../../protocol/errors.js'
import { categoryOf, OUTCOMES } from '../errors.js'
import { MAX_BODY_BYTES, type ApiErrorBody } from './schema.js'

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
