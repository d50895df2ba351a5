/**
 * The daemon's background jobs (node/api/server.ts): downloads (`POST /downloads`) and blind seeds
 * (`POST /seeds`). Each has a status the client polls; DELETE cancels a running one. At most
 * MAX_FINISHED_DOWNLOADS finished jobs of each kind are remembered.
 */
import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { KithError } from '../../protocol/errors.js'
import { BadRequestError, errorBody } from './errors.js'
import { MAX_FINISHED_DOWNLOADS, type DownloadStatus, type SeedStatus } from './schema.js'
import { DEFAULT_GET_TIMEOUT_MS } from '../engine/get.js'
import { CancelledError } from './errors.js'

export type JobStatus = DownloadStatus | SeedStatus

interface Job<S extends JobStatus> {
  status: S
  controller: AbortController
  done: Promise<void>
}

export class JobTable<S extends JobStatus> {
  readonly #jobs = new Map<string, Job<S>>()
  readonly #notFound: () => Error

  /** `notFound`: the error for an unknown job ID (404). */
  constructor (notFound: () => Error) {
    this.#notFound = notFound
  }

  list (): S[] { return [...this.#jobs.values()].map(j => snapshot(j.status)) }

  get running (): number { return [...this.#jobs.values()].filter(j => j.status.state === 'running').length }

  /** The running job for share `manifest`, if any. */
  runningFor (manifest: string): S | undefined {
    return [...this.#jobs.values()].find(j => j.status.manifest === manifest && j.status.state === 'running')?.status
  }

  /**
   * Starts `work` as a job with `status` (state "running"); the status turns done or failed when
   * it settles. Returns a snapshot of the status.
   */
  start (status: S, work: (signal: AbortSignal) => Promise<void>): S {
    const controller = new AbortController()
    const done = work(controller.signal).then(() => {
      status.state = 'done'
      status.phase = 'done'
    }, (err: unknown) => {
      status.state = 'failed'
      status.phase = 'failed'
      const reason = controller.signal.aborted && controller.signal.reason instanceof KithError ? controller.signal.reason : err
      status.error = errorBody(reason).error
    }).finally(() => {
      status.finished = new Date().toISOString()
      const finished = [...this.#jobs.entries()].filter(([, j]) => j.status.state !== 'running')
      for (const [id] of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_DOWNLOADS))) this.#jobs.delete(id)
    })
    this.#jobs.set(status.id, { status, controller, done })
    return snapshot(status)
  }

  /** GET (status) or DELETE (cancel, then forget) one job. */
  async route (id: string, method: string, allow: (methods: string) => never): Promise<[number, S]> {
    const job = this.#jobs.get(id)
    if (job === undefined) throw this.#notFound()
    if (method === 'GET') return [200, snapshot(job.status)]
    if (method === 'DELETE') {
      if (job.status.state === 'running') {
        job.controller.abort(new CancelledError())
        await job.done
      }
      this.#jobs.delete(id)
      return [200, snapshot(job.status)]
    }
    return allow('GET, DELETE')
  }

  /** Cancels every running job; resolves when they have wound down. */
  async cancelAll (reason: Error): Promise<void> {
    const jobs = [...this.#jobs.values()]
    for (const job of jobs) if (job.status.state === 'running') job.controller.abort(reason)
    await Promise.all(jobs.map(async j => { await j.done }))
  }
}

/** A copy a client can hold (the job goes on changing its own). */
function snapshot<S extends JobStatus> (s: S): S {
  return { ...s, ...(s.result !== undefined ? { result: { ...s.result } } : {}), ...(s.error !== undefined ? { error: { ...s.error } } : {}) }
}

export function jobId (): string { return randomBytes(8).toString('hex') }

export function timeoutOf (seconds: number | undefined): number {
  return seconds !== undefined ? Math.round(seconds * 1000) : DEFAULT_GET_TIMEOUT_MS
}

/** Validates a request's bootstrap multiaddrs (400 for a bad one). */
export function bootstrapAddrs (list: string[] | undefined): string[] {
  return (list ?? []).map(a => {
    try {
      return multiaddr(a).toString()
    } catch {
      throw new BadRequestError(`"bootstrap": "${a.slice(0, 100)}" is not a multiaddr`)
    }
  })
}
