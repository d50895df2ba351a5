/**
 * API bodies the web app uses too: plain types with no Node import, so web/ can import them
 * (node/api.ts re-exports them with the rest of the API's declarations).
 */

/** GET /settings, and the answer to PUT /settings: the repo's config and what it is. */
export interface SettingsResponse {
  /** Upload cap of the whole node, bytes/s; 0 = unlimited. */
  uploadRate: number
  /** Download cap of the whole node, bytes/s; 0 = unlimited. */
  downloadRate: number
  /** Plaintext chunk size of new shares, bytes. */
  chunkSize: number
  /** config.json's listen multiaddrs (take effect at restart; the running ones are in GET /status). */
  listen: string[]
  /** config.json's extra addresses to announce (take effect at restart). */
  announce: string[]
  /** config.json's bootstrap peers (take effect at restart). */
  bootstrap: string[]
  /** config.json's API address, host:port (takes effect at restart). */
  api: string
  /** Absolute path of the repo. */
  repo: string
  /** The repo's keys are sealed with a passphrase. */
  sealed: boolean
}

/**
 * PUT /settings → SettingsResponse: any of these, validated as config.json is, written to it
 * atomically and applied to the running node at once (rates: every transfer; chunk size: new shares).
 */
export interface SettingsRequest {
  uploadRate?: number
  downloadRate?: number
  chunkSize?: number
}
