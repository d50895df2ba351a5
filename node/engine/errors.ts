/**
 * Typed errors of the peer engine (node/engine/): one class per failure, like protocol/errors.ts.
 */
import { KithError, type KithErrorOptions } from '../../protocol/errors.js'

/** No valid manifest record was found in the DHT (none stored, all peers unreachable, or only forgeries). */
export class RecordNotFoundError extends KithError {
  static override name = 'RecordNotFoundError'
  constructor (message = 'manifest not found in the DHT', options?: KithErrorOptions) { super(message, options) }
}
