/**
 * SIGINT/SIGTERM handling for the commands that run a node (daemon, share, get).
 *
 * `holdSignals()` is called by main.ts before such a command loads its modules (about a second
 * of libp2p imports): a signal arriving then is remembered instead of killing the process, and
 * handed to the command's `catchTermination()`, so even an early Ctrl-C ends in a clean stop.
 */
import { InterruptedError } from './errors.js'

let pending: NodeJS.Signals | undefined
let holder: ((sig: NodeJS.Signals) => void) | undefined

export function holdSignals (): void {
  if (holder !== undefined) return
  holder = (sig: NodeJS.Signals) => { pending ??= sig }
  process.on('SIGINT', holder)
  process.on('SIGTERM', holder)
}

/** Stops holding; a signal that arrived meanwhile and was never taken over gets its default action. */
export function releaseSignals (): void {
  if (holder === undefined) return
  process.off('SIGINT', holder)
  process.off('SIGTERM', holder)
  holder = undefined
  const sig = pending
  pending = undefined
  if (sig !== undefined) process.kill(process.pid, sig)
}

export interface Termination {
  /** Aborts (with InterruptedError) on the first SIGINT/SIGTERM. */
  signal: AbortSignal
  /** Resolves with the signal's name on the first SIGINT/SIGTERM. */
  received: Promise<NodeJS.Signals>
  dispose: () => void
}

/**
 * Catches SIGINT/SIGTERM from now on (taking over one held since start-up): the first aborts
 * `signal` and resolves `received`, so the command can shut down cleanly; a second exits at once.
 */
export function catchTermination (onSecond: () => void = () => { process.exit(130) }): Termination {
  const controller = new AbortController()
  let resolve!: (s: NodeJS.Signals) => void
  const received = new Promise<NodeJS.Signals>(_resolve => { resolve = _resolve })
  const handler = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) { onSecond(); return }
    controller.abort(new InterruptedError(sig))
    resolve(sig)
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  if (holder !== undefined) {
    process.off('SIGINT', holder)
    process.off('SIGTERM', holder)
    holder = undefined
  }
  const early = pending
  pending = undefined
  if (early !== undefined) handler(early)
  return {
    signal: controller.signal,
    received,
    dispose: () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    }
  }
}
