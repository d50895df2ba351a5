/**
 * The API's errors: the HTTP errors its request handling throws, and the error body every failure
 * is sent as (`{ "error": { "name", "message" } }`, schema.ts).
 */
import { KithError } from '../../protocol/errors.js'
import { MAX_BODY_BYTES, type ApiErrorBody } from './schema.js'

/** An error with an HTTP status, thrown by the server's request handling. */
export class HttpError extends KithError {
  static override name = 'HttpError'
  readonly status: number
  constructor (status: number, message: string) {
    super(message)
    this.status = status
  }
}

export class BadRequestError extends HttpError {
  static override name = 'BadRequestError'
  constructor (message: string) { super(400, message) }
}

export class UnauthorizedError extends HttpError {
  static override name = 'UnauthorizedError'
  constructor (message = 'missing or wrong API token (Authorization: Bearer <contents of the repo\'s api-token file>)') { super(401, message) }
}

export class ForbiddenError extends HttpError {
  static override name = 'ForbiddenError'
  constructor (message = 'the Host header must name this loopback server') { super(403, message) }
}

export class NotFoundError extends HttpError {
  static override name = 'NotFoundError'
  constructor (message = 'no such endpoint') { super(404, message) }
}

export class MethodNotAllowedError extends HttpError {
  static override name = 'MethodNotAllowedError'
  /** Value for the Allow header. */
  readonly allow: string | undefined
  constructor (message = 'method not allowed', allow?: string) {
    super(405, message)
    this.allow = allow
  }
}

export class ConflictError extends HttpError {
  static override name = 'ConflictError'
  constructor (message: string) { super(409, message) }
}

export class PayloadTooLargeError extends HttpError {
  static override name = 'PayloadTooLargeError'
  constructor (message = `request body larger than ${MAX_BODY_BYTES} bytes`) { super(413, message) }
}

export class ShareNotFoundError extends HttpError {
  static override name = 'ShareNotFoundError'
  constructor (message = 'no share with that link or manifest ID') { super(404, message) }
}

export class DownloadNotFoundError extends HttpError {
  static override name = 'DownloadNotFoundError'
  constructor (message = 'no download with that ID') { super(404, message) }
}

export class SeedNotFoundError extends HttpError {
  static override name = 'SeedNotFoundError'
  constructor (message = 'no seed job with that ID') { super(404, message) }
}

/** Errors whose cause is the request itself: 400 rather than 500. */
const CLIENT_ERRORS = new Set([
  'NotAKithLinkError', 'LinkChecksumError', 'TruncatedLinkError', 'MalformedLinkError', 'UnsupportedVersionError',
  'SeedOnlyLinkError', 'SourceError', 'OutputPathError', 'LimitError', 'UnsafePathError',
  'InviteCodeError', 'InviteRefusedError', 'CircleExistsError', 'AlreadyHeldError'
])
/** Errors that name something the daemon does not have: 404. */
const NOT_FOUND_ERRORS = new Set(['CircleNotFoundError', 'MemberNotFoundError'])

/** HTTP status for an error thrown while handling a request. */
export function statusForError (err: unknown): number {
  if (err instanceof HttpError) return err.status
  const name = (err as Error | undefined)?.name ?? ''
  if (CLIENT_ERRORS.has(name)) return 400
  if (NOT_FOUND_ERRORS.has(name)) return 404
  if (name === 'NotCircleAdminError') return 403
  if (name === 'InviterUnreachableError') return 504
  if (name === 'ShareBusyError') return 409
  if (name === 'DiskFullError') return 507
  return 500
}

export function errorBody (err: unknown): ApiErrorBody {
  const e = err as Error | undefined
  const name = typeof e?.name === 'string' && e.name !== '' ? e.name : 'Error'
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err)
  return { error: { name, message: oneLine(message) } }
}

export function oneLine (text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}
