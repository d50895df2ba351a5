/**
 * Download and blind-seed progress as the API reports it (DownloadProgress, schema.ts), folded
 * from the engine's progress events. The daemon's jobs and the foreground CLI both use it.
 */
import type { GetProgressEvents } from '../engine/get.js'
import type { SeedProgressEvents } from '../engine/seed.js'
import type { DownloadProgress } from './schema.js'

export function initialProgress (): DownloadProgress {
  return { phase: 'finding', bytes: 0, total: 0, chunks: 0, totalChunks: 0, peers: 0 }
}

/** Folds one `seedShare` progress event into `p` (bytes are ciphertext; there is no name). */
export function applySeedProgress (p: DownloadProgress, evt: SeedProgressEvents): void {
  switch (evt.type) {
    case 'kith:seed:peers':
      p.peers = evt.detail.peers
      break
    case 'kith:seed:manifest':
      p.total = evt.detail.bytes
      p.totalChunks = evt.detail.chunks
      p.phase = 'downloading'
      break
    case 'kith:seed:chunk':
      applyChunk(p, evt.detail)
      break
  }
}

/** A chunk landed: the counts every chunk event carries. */
function applyChunk (p: DownloadProgress, d: Pick<DownloadProgress, 'bytes' | 'total' | 'chunks' | 'totalChunks' | 'peers'>): void {
  p.phase = 'downloading'
  p.bytes = d.bytes
  p.total = d.total
  p.chunks = d.chunks
  p.totalChunks = d.totalChunks
  p.peers = d.peers
}

/** Folds one `getShare` progress event into `p` (the daemon and the foreground CLI both use it). */
export function applyGetProgress (p: DownloadProgress, evt: GetProgressEvents): void {
  switch (evt.type) {
    case 'kith:get:peers':
      p.peers = evt.detail.peers
      break
    case 'kith:get:manifest':
      p.name = evt.detail.name
      p.total = evt.detail.size
      p.totalChunks = evt.detail.chunks
      if (p.phase === 'finding') p.phase = 'downloading'
      break
    case 'kith:get:verify':
      p.phase = 'verifying'
      break
    case 'kith:get:chunk':
      applyChunk(p, evt.detail)
      if (p.chunks >= p.totalChunks && p.totalChunks > 0) p.phase = 'finishing'
      break
    case 'kith:get:file':
      p.phase = 'finishing'
      break
  }
}
