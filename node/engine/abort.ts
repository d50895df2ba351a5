/**
 * Deadlines and combined abort signals that are safe on Node 20.
 *
 * Node 20's `AbortSignal.any([AbortSignal.timeout(ms)])` can be garbage-collected before it fires
 * (the composite holds its sources weakly), so a read guarded by it may wait forever: exactly the
 * slowloris hole a deadline exists to close. These helpers hold strong references (a real timer
 * and listeners) and must be released with `clear()` when the guarded work ends.
 */
import { setMaxListeners } from 'main-event'
import { DeadlineError } from './errors.js'

export interface Scope {
  readonly signal: AbortSignal
  /** Removes the timer and listeners. Idempotent. */
  clear: () => void
}

/** A signal that aborts when any parent aborts, or after `ms` milliseconds if `ms` is given. */
export function scope (ms?: number, ...parents: Array<AbortSignal | undefined>): Scope {
  const controller = new AbortController()
  // A long-lived scope guards many concurrent operations (dials, reads), each with a listener.
  setMaxListeners(Infinity, controller.signal)
  const cleanups: Array<() => void> = []
  const clear = (): void => { for (const c of cleanups.splice(0)) c() }
  for (const p of parents) {
    if (p === undefined) continue
    if (p.aborted) { controller.abort(p.reason); return { signal: controller.signal, clear } }
    const onAbort = (): void => { controller.abort(p.reason); clear() }
    p.addEventListener('abort', onAbort, { once: true })
    cleanups.push(() => { p.removeEventListener('abort', onAbort) })
  }
  if (ms !== undefined) {
    const timer = setTimeout(() => { controller.abort(new DeadlineError(ms)); clear() }, ms)
    cleanups.push(() => { clearTimeout(timer) })
  }
  return { signal: controller.signal, clear }
}

/**
 * Waits `ms` milliseconds; rejects with the signal's reason as soon as `signal` aborts (also when
 * it already has). The one sleep of the code base: callers that want to wake quietly on abort
 * add `.catch(() => {})`.
 */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(t); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
