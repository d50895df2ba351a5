/**
 * Typed errors of the browser node (web/peer/): one class per failure, each extending KithError with
 * a static `name` and `category` (protocol/errors.ts).
 */
import { KithError, type ErrorCategory } from '../../protocol/errors.js'

/** The browser's storage for this site is full. */
export class StorageFullError extends KithError {
  static override name = 'StorageFullError'
  static override category: ErrorCategory = 'disk-full'
  constructor (options?: ErrorOptions) {
    super('not enough storage space in this browser for the download: free some space and open the link again to resume', options)
  }
}

/** Another tab of this site is running the same download (it holds the files). */
export class DownloadBusyError extends KithError {
  static override name = 'DownloadBusyError'
  static override category: ErrorCategory = 'conflict'
  constructor (options?: ErrorOptions) {
    super('this download is already running in another tab', options)
  }
}
