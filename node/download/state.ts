/**
 * `state.json` of a partial download (node/download/writer.ts), version 1: what a restarted
 * `kith get` starts from. Everything in it is a claim: the chunks it lists are re-verified
 * against the manifest before they count (get.ts), and the paths it names are checked again.
 */
import { Bitfield } from '../../protocol/bitfield.js'

export const STATE_FILE = 'state.json'

/** Which download a state belongs to: a state saved for anything else is ignored. */
export interface StateIdentity {
  manifest: string
  chunkSize: number
  chunks: number
}

/** A parsed state: the have-map, and the unchecked names it recorded. */
export interface LoadedState {
  have: Bitfield
  /** Folder share: the top-level folder chosen under the output folder, once created. */
  root: string | undefined
  /** fileIndex → final path relative to the output folder ('/'-joined), once verified and moved. */
  finished: Map<number, string>
}

interface SavedState extends StateIdentity {
  version: 1
  /** base64 have-map of chunks written (to be re-verified on resume). */
  have: string
  root: string | null
  finished: Record<string, string>
}

/** Parses `text`; undefined if it is unreadable or saved for another download (start afresh). */
export function parseState (text: string, id: StateIdentity): LoadedState | undefined {
  let state: SavedState
  try {
    state = JSON.parse(text)
  } catch {
    return undefined
  }
  if (state === null || typeof state !== 'object' || state.version !== 1 || state.manifest !== id.manifest ||
    state.chunkSize !== id.chunkSize || state.chunks !== id.chunks || typeof state.have !== 'string') return undefined
  let have: Bitfield
  try {
    have = Bitfield.fromBytes(id.chunks, Buffer.from(state.have, 'base64'))
  } catch {
    return undefined
  }
  const finished = new Map<number, string>()
  if (state.finished !== null && typeof state.finished === 'object') {
    for (const [key, rel] of Object.entries(state.finished)) {
      const i = Number(key)
      if (Number.isSafeInteger(i) && i >= 0 && typeof rel === 'string') finished.set(i, rel)
    }
  }
  return { have, root: typeof state.root === 'string' ? state.root : undefined, finished }
}

/** The text of a state (one JSON line). `finished` paths are relative to the output folder. */
export function formatState (id: StateIdentity, have: Uint8Array, root: string | undefined, finished: Map<number, string>): string {
  const state: SavedState = {
    version: 1,
    manifest: id.manifest,
    chunkSize: id.chunkSize,
    chunks: id.chunks,
    have: Buffer.from(have).toString('base64'),
    root: root ?? null,
    finished: Object.fromEntries([...finished].map(([i, rel]) => [String(i), rel]))
  }
  return JSON.stringify(state) + '\n'
}
