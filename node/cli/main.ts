/**
 * The `kith` command line (bin/kith.js runs the built copy of this module). docs/CLI.md is the
 * reference: commands, options, output, exit statuses.
 */
import '../libp2p/polyfills.js'
import { resolve } from 'node:path'
import { commandSpec, parseCommandLine, wantsJson, type CommandLine } from './args.js'
import type { Context } from './context.js'
import { UsageError, reportError } from './errors.js'
import { EXIT } from '../errors.js'
import { commandHelp, topHelp } from './help.js'
import { Output, type Streams } from './output.js'
import { holdSignals, releaseSignals } from './signals.js'
import { kithVersion } from '../version.js'

type Handler = (ctx: Context) => Promise<number>

/** Commands that catch SIGINT/SIGTERM to shut a node down cleanly. */
const SIGNAL_AWARE = new Set(['daemon', 'share', 'get', 'seed'])

/** Loaded on demand: --help, --version and usage errors do not load libp2p. */
const HANDLERS: Record<string, () => Promise<Handler>> = {
  init: async () => (await import('./init.js')).init,
  daemon: async () => (await import('./daemon.js')).daemon,
  share: async () => (await import('./share.js')).share,
  get: async () => (await import('./get.js')).get,
  seed: async () => (await import('./seed.js')).seed,
  'seed-link': async () => (await import('./seed.js')).seedLink,
  ls: async () => (await import('./manage.js')).ls,
  unshare: async () => (await import('./manage.js')).unshare,
  peers: async () => (await import('./manage.js')).peers,
  status: async () => (await import('./manage.js')).status,
  circle: async () => (await import('./circle.js')).circle
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  streams?: Streams
}

/** Runs one command line; resolves with the exit status. Never throws. */
export async function run (argv: string[], opts: RunOptions = {}): Promise<number> {
  const env = opts.env ?? process.env
  const debug = env.KITH_DEBUG === '1'
  let out = new Output(wantsJson(argv), debug, opts.streams)
  const detach = guardProcess(out)
  try {
    const line: CommandLine = parseCommandLine(argv)
    out = new Output(line.flags.json === true, debug, opts.streams)
    if (line.flags.version === true) {
      out.result({ version: kithVersion() })
      out.line(kithVersion())
      return EXIT.ok
    }
    if (line.command?.name === 'help' || line.flags.help === true) {
      const target = line.command?.name === 'help' ? line.args[0] : line.command?.name
      if (target === undefined) {
        out.rawStdout(topHelp())
        return EXIT.ok
      }
      const spec = commandSpec(target)
      if (spec === undefined) throw new UsageError(`unknown command "${target}"`)
      out.rawStdout(commandHelp(spec))
      return EXIT.ok
    }
    if (line.command === undefined) throw new UsageError('missing command')
    const load = HANDLERS[line.command.name]
    if (load === undefined) throw new UsageError(`unknown command "${line.command.name}"`)
    if (SIGNAL_AWARE.has(line.command.name)) holdSignals()
    const [handler, { Repo }] = await Promise.all([load(), import('../repo/repo.js')])
    const cwd = opts.cwd ?? process.cwd()
    const repoDir = resolve(cwd, line.flags.repo !== undefined && line.flags.repo !== '' ? line.flags.repo : Repo.defaultPath(env))
    return await handler({ command: line.command, args: line.args, flags: line.flags, repoDir, out, cwd })
  } catch (err) {
    return reportError(err, {
      json: out.json,
      debug,
      stdout: text => { out.rawStdout(text) },
      stderr: text => { out.rawStderr(text) }
    })
  } finally {
    releaseSignals()
    detach()
  }
}

/**
 * Stray errors from libp2p internals must not print a stack trace (nor crash a seeding node for
 * a rejected promise nobody awaited): one line, only with KITH_DEBUG=1 for rejections.
 */
function guardProcess (out: Output): () => void {
  const onRejection = (reason: unknown): void => {
    if (out.debug) out.rawStderr(`kith: unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}\n`)
  }
  const onException = (err: Error): void => {
    out.rawStderr(`kith: internal error: ${out.debug ? err.stack ?? err.message : err.message.split('\n')[0] ?? ''}\n`)
    process.exit(EXIT.error)
  }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  }
}
