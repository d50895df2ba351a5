/**
 * What the API and `kith ls` show of a share: its registry record (node/repo/format.ts) with the
 * live figures of the running node, if any. No key leaves through it other than the link itself
 * (the user's own capability, shown to the user).
 */
import { CID } from 'multiformats/cid'
import { parseLink } from '../../protocol/link.js'
import type { ShareRecord } from '../repo/repo.js'

export interface ShareInfo {
  link: string
  manifest: string
  name: string
  size: number
  chunks: number
  kind: ShareRecord['kind']
  role: ShareRecord['role']
  complete: boolean
  /** Live figures (0 when not being served). */
  peers: number
  uploaded: number
  serving: boolean
}

/** A registry record as ShareInfo, with live figures when the share is being served. */
export function shareInfo (r: ShareRecord, live?: { peers: number, uploaded: number, serving: boolean }): ShareInfo {
  return {
    link: r.link,
    manifest: manifestOf(r.link),
    name: r.name,
    size: r.size,
    chunks: r.chunks,
    kind: r.kind,
    role: r.role,
    complete: r.complete,
    peers: live?.peers ?? 0,
    uploaded: live?.uploaded ?? 0,
    serving: live?.serving ?? false
  }
}

/** Manifest ID from a link (read or seed-only) or from a manifest ID. */
export function manifestOf (linkOrManifest: string): string {
  const text = linkOrManifest.trim()
  if (text.includes('kith:')) return parseLink(text).manifest.toString()
  return CID.parse(text).toString()
}

