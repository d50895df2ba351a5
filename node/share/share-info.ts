/**
 * What the API and `kith ls` show of a share: its registry record (node/repo/format.ts) with the
 * live figures of the running node, if any. No key leaves through it other than the link itself
 * (the user's own capability, shown to the user).
 */
import { manifestIdOf } from '../../protocol/link.js'
import type { ShareRecord } from '../repo/format.js'
import type { ShareInfo } from '../api/schema.js'

/** A registry record as ShareInfo, with live figures when the share is being served. */
export function shareInfo (r: ShareRecord, live?: { peers: number, uploaded: number, serving: boolean }): ShareInfo {
  return {
    link: r.link,
    manifest: manifestIdOf(r.link),
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
