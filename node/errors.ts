/**
 * Typed errors of the Node runtime (node/). Like protocol/errors.ts: one class per failure, each
 * extending KithError with a static `name` (callers match on `err.name`), causes kept with
 * `{ cause }`, and no message ever carrying key material (links, keys, tokens).
 */
import { KithError, type KithErrorOptions } from '../protocol/errors.js'

// --- repo (node/repo/repo.ts) ------------------------------------------------------------------------

/** `Repo.open` without `create` on a folder that holds no repo. */
export class RepoNotInitialisedError extends KithError {
  static override name = 'RepoNotInitialisedError'
  readonly dir: string
  constructor (dir: string, options?: KithErrorOptions) {
    super(`no kith repo at ${dir}: run \`kith init\` first`, options)
    this.dir = dir
  }
}

/** A repo file that is unreadable, malformed or of a format this Kith does not know. */
export class RepoFormatError extends KithError {
  static override name = 'RepoFormatError'
  constructor (message = 'malformed kith repo', options?: KithErrorOptions) { super(message, options) }
}

/** The repo is in use by another process (LevelDB lock held, or a live daemon.json). */
export class RepoLockedError extends KithError {
  static override name = 'RepoLockedError'
  readonly dir: string
  readonly pid: number | undefined
  constructor (dir: string, pid?: number, options?: KithErrorOptions) {
    super(`the kith repo at ${dir} is in use by another kith process${pid !== undefined ? ` (pid ${pid})` : ''}: stop it, or talk to its daemon`, options)
    this.dir = dir
    this.pid = pid
  }
}

/**
 * A write failed for lack of space (ENOSPC) or quota (EDQUOT). The message names the folder
 * only: never file contents, links or keys.
 */
export class DiskFullError extends KithError {
  static override name = 'DiskFullError'
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
  constructor (message = 'cannot share this file or folder', options?: KithErrorOptions) { super(message, options) }
}

// --- downloads (node/download/writer.ts) ----------------------------------------------------------

/** The output location cannot be used: no free file name, or a path that is not what it should be. */
export class OutputPathError extends KithError {
  static override name = 'OutputPathError'
  constructor (message = 'cannot write the download there', options?: KithErrorOptions) { super(message, options) }
}

/** A second download or blind seed of a share this node is already fetching. */
export class ShareBusyError extends KithError {
  static override name = 'ShareBusyError'
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
  constructor (role: string) { super(`this node already serves this share (as ${role}): there is nothing to seed blindly`) }
}
