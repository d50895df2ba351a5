/**
 * One mapping from an error to the daemon's HTTP status and the CLI's exit status (node/errors.ts
 * OUTCOMES, by category). The exit statuses are the ones the CLI gave before categories existed
 * (a name table then) and the HTTP statuses the API's name table gave, except two that table left
 * at 500: a wrong key is now 400 and "no seeders" 503 (both only ever reach a client inside a
 * failed job's status, whose HTTP status is 200). Scripts depend on these, so they are pinned here.
 */
import { describe, expect, it } from 'vitest'
import { KithError, LimitError, LinkChecksumError, NotAKithLinkError, UnsafePathError, WrongKeyError } from '../../protocol/errors.js'
import { InviteCodeError } from '../../protocol/circle/errors.js'
import { CircleQuotaError } from '../../protocol/circle/errors.js'
import { AlreadyHeldError, DiskFullError, OUTCOMES, OutputPathError, ShareBusyError, SourceError, categoryOf } from '../../node/errors.js'
import { DeadlineError } from '../../node/engine/errors.js'
import { NoSeedersError, SeedOnlyLinkError, StalledError } from '../../node/engine/get.js'
import { ManifestUnavailableError } from '../../node/engine/manifest-fetch.js'
import { CircleExistsError, CircleNotFoundError, MemberNotFoundError, NotCircleAdminError } from '../../node/circle/errors.js'
import { InviterUnreachableError } from '../../node/circle/errors.js'
import { BadRequestError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, UnauthorizedError, errorBody, statusForError } from '../../node/api/errors.js'
import { RemoteError } from '../../node/api/errors.js'
import { InterruptedError, UsageError, exitCodeFor } from '../../node/cli/errors.js'

const cases: Array<[string, unknown, number, number]> = [
  ['a bad link', new NotAKithLinkError(), 400, 3],
  ['a mistyped link', new LinkChecksumError(), 400, 3],
  ['a seed-only link where a read link is needed', new SeedOnlyLinkError(), 400, 3],
  ['the wrong key', new WrongKeyError(), 400, 4],
  ['no seeders', new NoSeedersError(60), 503, 5],
  ['a stalled download', new StalledError(60), 503, 5],
  ['a manifest nobody serves', new ManifestUnavailableError(), 503, 5],
  ['a deadline', new DeadlineError(1000), 503, 5],
  ['an AbortSignal timeout', new DOMException('timed out', 'TimeoutError'), 503, 5],
  ['a full disk', new DiskFullError('/tmp'), 507, 6],
  ['ENOSPC from the file system', Object.assign(new Error('no space'), { code: 'ENOSPC' }), 507, 6],
  ['a bad command line', new UsageError('missing <link>'), 400, 2],
  ['Ctrl-C', new InterruptedError('SIGINT'), 500, 130],
  ['a bad source path', new SourceError(), 400, 1],
  ['a bad output path', new OutputPathError(), 400, 1],
  ['an unsafe path', new UnsafePathError(), 400, 1],
  ['a value over a limit', new LimitError(), 400, 1],
  ['a bad invite code', new InviteCodeError(), 400, 1],
  ['a circle that exists', new CircleExistsError('friends'), 400, 1],
  ['a share already held', new AlreadyHeldError('publisher'), 400, 1],
  ['a bad request body', new BadRequestError('nope'), 400, 1],
  ['an unknown circle', new CircleNotFoundError('friends'), 404, 1],
  ['an unknown member', new MemberNotFoundError(), 404, 1],
  ['no such endpoint', new NotFoundError(), 404, 1],
  ['not the admin', new NotCircleAdminError('remove members'), 403, 1],
  ['a busy share', new ShareBusyError(), 409, 1],
  ['an unreachable inviter', new InviterUnreachableError(), 504, 1],
  ['a missing token', new UnauthorizedError(), 401, 1],
  ['a wrong method', new MethodNotAllowedError(), 405, 1],
  ['a large body', new PayloadTooLargeError(), 413, 1],
  ['a circle post over its quota', new CircleQuotaError(), 429, 1],
  ['a bug', new TypeError('x is undefined'), 500, 1],
  ['a KithError with no category of its own', new KithError('something'), 500, 1]
]

describe('error outcomes', () => {
  it.each(cases)('%s → HTTP status and exit status', (_what, err, status, exit) => {
    expect(statusForError(err)).toBe(status)
    expect(exitCodeFor(err)).toBe(exit)
  })

  it('an error the daemon reported keeps its category: the CLI exits as it would for a local one', () => {
    for (const [, err, status, exit] of cases) {
      const body = errorBody(err)
      const remote = new RemoteError(statusForError(err), body.error)
      expect(remote.name).toBe((err as Error).name)
      expect(remote.category).toBe(categoryOf(err))
      expect(exitCodeFor(remote)).toBe(exit)
      expect(statusForError(remote)).toBe(status)
    }
  })

  it('a daemon error with an unknown or missing category is internal', () => {
    expect(exitCodeFor(new RemoteError(500, { name: 'X', message: 'y', category: 'no-such' }))).toBe(1)
    expect(exitCodeFor(new RemoteError(500, { name: 'X', message: 'y' }))).toBe(1)
  })

  it('every category has an outcome', () => {
    for (const o of Object.values(OUTCOMES)) {
      expect(o.status).toBeGreaterThanOrEqual(400)
      expect(o.exit).toBeGreaterThan(0)
    }
  })
})
