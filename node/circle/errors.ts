/**
 * Typed errors of the circles a node belongs to (node/circle/): one class per failure, each extending KithError with
 * a static `name` and `category` (protocol/errors.ts).
 */
import { KithError, type ErrorCategory } from '../../protocol/errors.js'

export class CircleNotFoundError extends KithError {
  static override name = 'CircleNotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor (what: string) { super(`no circle named "${what.slice(0, 64)}" (see \`kith circle ls\`)`) }
}

export class CircleExistsError extends KithError {
  static override name = 'CircleExistsError'
  static override category: ErrorCategory = 'invalid'
  constructor (name: string) { super(`a circle named "${name.slice(0, 64)}" exists already`) }
}

export class NotCircleAdminError extends KithError {
  static override name = 'NotCircleAdminError'
  static override category: ErrorCategory = 'forbidden'
  constructor (what: string) { super(`only the circle's admin can ${what}`) }
}

export class MemberNotFoundError extends KithError {
  static override name = 'MemberNotFoundError'
  static override category: ErrorCategory = 'not-found'
  constructor () { super('no such member in this circle') }
}

export class InviterUnreachableError extends KithError {
  static override name = 'InviterUnreachableError'
  static override category: ErrorCategory = 'unreachable'
  constructor () { super('could not reach the member who made this invite: they must be online (is their daemon running?)') }
}

export class CircleRefusedError extends KithError {
  static override name = 'CircleRefusedError'
  constructor (message = 'the peer refused: not a member of this circle') { super(message) }
}

export class InviteRefusedError extends KithError {
  static override name = 'InviteRefusedError'
  static override category: ErrorCategory = 'invalid'
  constructor (reason: string) { super(`the invite was refused: ${reason.slice(0, 120)}`) }
}
