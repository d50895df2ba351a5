/**
 * Typed errors of the Node runtime (node/). Like protocol/errors.ts: one class per failure, each
 * extending KithError with a static `name` (callers match on `err.name`), causes kept with
 * `{ cause }`, and no message ever carrying key material (links, keys, tokens).
 */
import { KithError, type ErrorCategory, type KithErrorOptions } from '../protocol/errors.js'

// --- outcomes: the one mapping from an error to an HTTP status and an exit status -------------------

/** Exit statuses of the `kith` command (docs/CLI.md). */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  badLink: 3,
  wrongKey: 4,
  noSeeders: 5,
  diskFull: 6,
  /** Interrupted by Ctrl-C while downloading (128 + SIGINT). */
  interrupted: 130
} as const

/** What the daemon's API answers and what the CLI exits with, per category of error. */
export const OUTCOMES: Readonly<Record<ErrorCategory, { status: number, exit: number }>> = Object.freeze({
  internal: { status: 500, exit: EXIT.error },
  usage: { status: 400, exit: EXIT.usage },
  invalid: { status: 400, exit: EXIT.error },
  'bad-link': { status: 400, exit: EXIT.badLink },
  'wrong-key': { status: 400, exit: EXIT.wrongKey },
  'not-found': { status: 404, exit: EXIT.error },
  forbidden: { status: 403, exit: EXIT.error },
  conflict: { status: 409, exit: EXIT.error },
  unauthorized: { status: 401, exit: EXIT.error },
  'method-not-allowed': { status: 405, exit: EXIT.error },
  'too-large': { status: 413, exit: EXIT.error },
  quota: { status: 429, exit: EXIT.error },
  unavailable: { status: 503, exit: EXIT.noSeeders },
  unreachable: { status: 504, exit: EXIT.error },
  'disk-full': { status: 507, exit: EXIT.diskFull },
  interrupted: { status: 500, exit: EXIT.interrupted }
})

const CATEGORIES = new Set(Object.keys(OUTCOMES))

/**
 * The category of anything thrown: a KithError's own; an error the daemon reported (it carries
 * the daemon-side category); a write that ran out of space (ENOSPC, EDQUOT); an AbortSignal
 * timeout (nobody answered in time). Anything else is internal.
 */
export function categoryOf (err: unknown): ErrorCategory {
  if (err instanceof KithError) return err.category
  const e = err as { name?: unknown, code?: unknown, category?: unknown } | undefined
  if (typeof e?.category === 'string' && CATEGORIES.has(e.category)) return e.category as ErrorCategory
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return 'disk-full'
  if (e?.name === 'TimeoutError') return 'unavailable'
  return 'internal'
}

// --- disk (node/fs/fs-safe.ts: the repo and downloads) -------------------------------------------------

/**
 * A write failed for lack of space (ENOSPC) or quota (EDQUOT). The message names the folder
 * only: never file contents, links or keys.
 */
export class DiskFullError extends KithError {
  static override name = 'DiskFullError'
  static override category: ErrorCategory = 'disk-full'
  readonly dir: string
  constructor (dir: string, options?: KithErrorOptions) {
    super(`disk full: cannot write to ${dir}; free some space and try again`, options)
    this.dir = dir
  }

  /** True if `err` (or an error in its cause chain) is ENOSPC/EDQUOT. */
  static matches (err: unknown): boolean {
    for (let e = err, depth = 0; e != null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
      if (e instanceof DiskFullError) return true
      const code = (e as { code?: unknown }).code
      if (code === 'ENOSPC' || code === 'EDQUOT') return true
      // blockstore-fs rethrows fs errors as PutFailedError(String(err)): only the text is left.
      const message = (e as Error).message
      if (typeof message === 'string' && /\b(ENOSPC|EDQUOT)\b/.test(message)) return true
    }
    return false
  }

  /** Rethrows `err` as a DiskFullError naming `dir` if it is one, else unchanged. */
  static rethrow (err: unknown, dir: string): never {
    if (err instanceof DiskFullError) throw err
    if (DiskFullError.matches(err)) throw new DiskFullError(dir, { cause: err })
    throw err
  }
}

// --- share sources (node/share/files.ts) ------------------------------------------------------------

/** A file or folder that cannot be shared (unreadable, unsafe name, empty folder, too many files). */
export class SourceError extends KithError {
  static override name = 'SourceError'
  static override category: ErrorCategory = 'invalid'
  constructor (message = 'cannot share this file or folder', options?: KithErrorOptions) { super(message, options) }
}

// --- downloads and shares --------------------------------------------------------------------------

/** The output location cannot be used: no free file name, or a path that is not what it should be. */
export class OutputPathError extends KithError {
  static override name = 'OutputPathError'
  static override category: ErrorCategory = 'invalid'
  constructor (message = 'cannot write the download there', options?: KithErrorOptions) { super(message, options) }
}

/** A share larger than the caller allows (auto-fetch's cap: node/circle/circles.ts). */
export class ShareTooLargeError extends KithError {
  static override name = 'ShareTooLargeError'
  static override category: ErrorCategory = 'too-large'
  constructor (size: number, max: number) { super(`the share is ${size} bytes, more than the ${max} allowed here: fetch it by hand`) }
}

/** A second download or blind seed of a share this node is already fetching. */
export class ShareBusyError extends KithError {
  static override name = 'ShareBusyError'
  static override category: ErrorCategory = 'conflict'
  constructor () { super('this node is already fetching this share (a download or a blind seed): wait for it, or unshare it') }
}

/** A download or blind seed stopped because its share was unshared meanwhile. */
export class UnsharedError extends KithError {
  static override name = 'UnsharedError'
  constructor () { super('stopped: the share was unshared while it was being fetched') }
}

/** `seed` of a share this node already holds in plaintext (it serves it already). */
export class AlreadyHeldError extends KithError {
  static override name = 'AlreadyHeldError'
  static override category: ErrorCategory = 'invalid'
  constructor (role: string) { super(`this node already serves this share (as ${role}): there is nothing to seed blindly`) }
}
