/**
 * What every command gets (the parsed line, the repo path, the output), and the helpers they
 * share: opening the repo, finding the daemon, validating addresses, waiting for Ctrl-C.
 */
import { isStunServer } from '../repo/format.js'
import { multiaddr } from '@multiformats/multiaddr'
import { sleep } from '../engine/abort.js'
import { NETWORKS, type NetworkMode } from '../engine/constants.js'
import { isNetwork } from '../repo/format.js'
import { DOWNLOAD_POLL_MS, type ApiError } from '../api/schema.js'
import { connectDaemon, type DaemonConnection } from '../api/client.js'
import { RemoteError } from '../api/errors.js'
import { RepoLockedError } from '../repo/errors.js'
import { Repo } from '../repo/repo.js'
import type { CommandSpec, Flags } from './args.js'
import { UsageError } from './errors.js'
import { passphraseSource } from './passphrase.js'
import type { Output } from './output.js'

export interface Context {
  command: CommandSpec
  args: string[]
  flags: Flags
  /** Absolute repo path. */
  repoDir: string
  out: Output
  cwd: string
}

/**
 * Opens the repo; held by another process → RepoLockedError (the repo reports it itself). A sealed
 * repo's passphrase comes from KITH_PASSPHRASE or a prompt on the terminal.
 */
export async function openRepo (dir: string, create: boolean, env: NodeJS.ProcessEnv = process.env): Promise<Repo> {
  try {
    return await Repo.open(dir, { create, passphrase: passphraseSource(env) })
  } catch (err) {
    // Belt and braces: should a raw LevelDB lock error ever escape the repo, say what it means.
    const e = err as Error & { code?: string }
    if (e.name === 'OpenFailedError' || e.code === 'LEVEL_LOCKED') throw new RepoLockedError(dir, undefined, { cause: err })
    throw err
  }
}

/** The daemon running for this repo, if any (see connectDaemon). */
export async function findDaemon (ctx: Context): Promise<DaemonConnection | undefined> {
  return await connectDaemon(ctx.repoDir)
}

/** `--network`: 'local' or 'amino'; undefined when not given. */
export function networkFlag (ctx: Context): NetworkMode | undefined {
  const v = ctx.flags.network
  if (v === undefined) return undefined
  if (!isNetwork(v)) throw new UsageError(`--network must be ${NETWORKS.map(n => `"${n}"`).join(' or ')}`, ctx.command.name)
  return v
}

/** Validates multiaddr flags; undefined when the flag was not given. */
export function multiaddrFlag (ctx: Context, name: 'listen' | 'announce' | 'bootstrap'): string[] | undefined {
  const list = ctx.flags[name]
  if (list === undefined || list.length === 0) return undefined
  for (const a of list) {
    try {
      multiaddr(a)
    } catch {
      throw new UsageError(`--${name}: "${a}" is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001)`, ctx.command.name)
    }
  }
  return list
}

/** `--upnp`: true when given; undefined otherwise (the repo config decides). */
export function upnpFlag (ctx: Context): true | undefined {
  return ctx.flags.upnp === true ? true : undefined
}

/** Validates `--stun host:port` flags; undefined when none was given. */
export function stunFlag (ctx: Context): string[] | undefined {
  const list = ctx.flags.stun
  if (list === undefined || list.length === 0) return undefined
  for (const s of list) {
    if (!isStunServer(s)) throw new UsageError(`--stun: "${s}" is not host:port (e.g. stun.example.org:3478)`, ctx.command.name)
  }
  return list
}

import type { Termination } from './signals.js'

/** Awaits `p`, but gives up waiting after `ms` (shutdown must not hang). */
export async function bounded (p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    p.catch(() => {}),
    new Promise<void>(resolve => { timer = setTimeout(resolve, ms); timer.unref?.() })
  ])
  if (timer !== undefined) clearTimeout(timer)
}

/** Stops a command's own node, then closes its repo; gives up waiting after `ms`. */
export async function shutDown (node: { stop: () => Promise<void> } | undefined, repo: { close: () => Promise<void> }, ms: number): Promise<void> {
  await bounded((async () => {
    await node?.stop()
    await repo.close()
  })(), ms)
}

/** Awaits `p`, or throws the signal's reason as soon as it aborts. */
export async function untilAborted<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    ])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

/** A daemon job (a download or a seed) as the CLI follows it. */
interface JobStatusLike<R> { id: string, state: string, result?: R, error?: ApiError }

/**
 * Starts a job on the daemon and polls it until it ends, drawing each status; Ctrl-C cancels it on
 * the daemon. Resolves with its result; a failed job throws its error as the daemon reported it.
 */
export async function followJob<S extends JobStatusLike<R>, R> (
  job: { start: () => Promise<S>, poll: (id: string) => Promise<S>, cancel: (id: string) => Promise<unknown> },
  draw: (status: S, force?: boolean) => void,
  term: Termination,
  failed: string
): Promise<R> {
  let status = await job.start()
  const id = status.id
  try {
    // Ends when the job does: the daemon fails a job whose peers make no progress (its timeout).
    while (status.state === 'running') {
      draw(status)
      await Promise.race([sleep(DOWNLOAD_POLL_MS), term.received])
      if (term.signal.aborted) throw term.signal.reason
      status = await job.poll(id)
    }
  } catch (err) {
    if (term.signal.aborted) await bounded(job.cancel(id), 5_000)
    throw err
  }
  draw(status, true)
  if (status.state === 'failed' || status.result === undefined) {
    throw new RemoteError(500, { name: 'Error', message: failed, ...status.error })
  }
  return status.result
}
