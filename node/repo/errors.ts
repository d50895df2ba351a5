/**
 * Typed errors of the repo (node/repo/): opening it, its formats, its lock, the passphrase vault.
 * One class per failure, each extending KithError with a static `name` and `category`.
 */
import { KithError, type ErrorCategory, type KithErrorOptions } from '../../protocol/errors.js'

/** `Repo.open` without `create` on a folder that holds no repo. */
export class RepoNotInitialisedError extends KithError {
  static override name = 'RepoNotInitialisedError'
  static override category: ErrorCategory = 'not-found'
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
  static override category: ErrorCategory = 'conflict'
  readonly dir: string
  readonly pid: number | undefined
  constructor (dir: string, pid?: number, options?: KithErrorOptions) {
    super(`the kith repo at ${dir} is in use by another kith process${pid !== undefined ? ` (pid ${pid})` : ''}: stop it, or talk to its daemon`, options)
    this.dir = dir
    this.pid = pid
  }
}

export class WrongPassphraseError extends KithError {
  static override name = 'WrongPassphraseError'
  static override category: ErrorCategory = 'invalid'
  constructor (options?: KithErrorOptions) { super('wrong passphrase: the repo\'s keys do not open with it', options) }
}

export class PassphraseRequiredError extends KithError {
  static override name = 'PassphraseRequiredError'
  static override category: ErrorCategory = 'invalid'
  constructor () { super('this repo\'s keys are sealed with a passphrase: set KITH_PASSPHRASE or run the command in a terminal to be asked for it') }
}

export class VaultFormatError extends KithError {
  static override name = 'VaultFormatError'
  constructor (message = 'malformed sealed secret', options?: KithErrorOptions) { super(message, options) }
}
