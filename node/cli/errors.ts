/**
 * Exit statuses and error reporting for the CLI. One rule everywhere: a failure prints one line
 * `kith: <reason>` on stderr (a usage error adds a one-line hint) and exits non-zero; with --json
 * stdout also gets exactly one object `{"error": "<reason>", "code": "<ErrorName>"}`. Stack traces
 * only with KITH_DEBUG=1. Messages come from the typed errors, which never hold key material.
 */
import { KithError, type ErrorCategory } from '../../protocol/errors.js'
import { categoryOf, OUTCOMES } from '../errors.js'
import { oneLine } from '../api/errors.js'

/** Bad command line: unknown command or option, missing or bad argument. */
export class UsageError extends KithError {
  static override name = 'UsageError'
  static override category: ErrorCategory = 'usage'
  /** The command whose usage to hint at. */
  readonly command: string | undefined
  constructor (message: string, command?: string) {
    super(message)
    this.command = command
  }
}

/** Ctrl-C / SIGTERM during a command that does not treat it as a normal end. */
export class InterruptedError extends KithError {
  static override name = 'InterruptedError'
  static override category: ErrorCategory = 'interrupted'
  constructor (signal: string) { super(`interrupted (${signal})`) }
}

export class NoDaemonError extends KithError {
  static override name = 'NoDaemonError'
  static override category: ErrorCategory = 'unreachable'
  constructor (dir: string) { super(`no daemon running for ${dir}; start one with \`kith daemon\``) }
}

/** Error name, whether the error was thrown here or reported by the daemon. */
export function errorName (err: unknown): string {
  const name = (err as Error | undefined)?.name
  return typeof name === 'string' && name !== '' ? name : 'Error'
}

/** The exit status for an error: its category's (node/errors.ts OUTCOMES), local or from the daemon. */
export function exitCodeFor (err: unknown): number {
  return OUTCOMES[categoryOf(err)].exit
}

/** One line saying what went wrong, for a person. */
export function describeError (err: unknown): string {
  const e = err as (Error & { code?: string, status?: number }) | undefined
  const name = errorName(err)
  if (name === 'TimeoutError') return 'timed out: no seeder answered in time'
  if (e?.status === 401) return 'the daemon refused this repo\'s API token (is --repo the daemon\'s repo?)'
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return 'disk full'
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err)
  return oneLine(message)
}

export interface ErrorSink {
  stdout: (text: string) => void
  stderr: (text: string) => void
  json: boolean
  debug: boolean
}

/** Prints the error by the rule above; returns the exit status. */
export function reportError (err: unknown, sink: ErrorSink): number {
  const code = exitCodeFor(err)
  const reason = describeError(err)
  sink.stderr(`kith: ${reason}\n`)
  if (err instanceof UsageError) {
    sink.stderr(err.command !== undefined ? `usage: see \`kith help ${err.command}\`\n` : 'usage: kith <command> [options]; see `kith --help`\n')
  }
  if (sink.debug && err instanceof Error && err.stack !== undefined) sink.stderr(err.stack + '\n')
  if (sink.json) sink.stdout(JSON.stringify({ error: reason, code: errorName(err) }) + '\n')
  return code
}

export class SealWhileRunningError extends KithError {
  static override name = 'SealWhileRunningError'
  static override category: ErrorCategory = 'conflict'
  constructor () { super('stop the daemon first: the repo cannot be sealed while a daemon holds it') }
}

export class PassphraseMismatchError extends KithError {
  static override name = 'PassphraseMismatchError'
  static override category: ErrorCategory = 'invalid'
  constructor () { super('the two passphrases differ; nothing was changed') }
}
