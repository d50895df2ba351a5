/**
 * Removing a share from the repo's registry (`kith unshare`, with or without a daemon). The files
 * on disk stay; a blind seed's blocks go, except any block another share in the repo also names.
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import type { CryptoBackend } from '../../protocol/crypto.js'
import { parseLink } from '../../protocol/link.js'
import { scope } from '../engine/abort.js'
import type { Repo } from '../repo/repo.js'
import type { ShareRecord } from '../repo/format.js'
import { shareBlocks } from '../engine/seed.js'

const repoLog = logger('kith:repo')

/**
 * Removes a share from the repo's registry (files on disk stay). A blind seed's blocks go too: its
 * ciphertext is of no use to this node, which cannot decrypt it.
 */
export async function forgetShare (repo: Repo, backend: CryptoBackend, manifest: string): Promise<boolean> {
  const rec = await repo.getShare(manifest)
  if (rec?.role === 'seed') await dropSeedBlocks(repo, backend, rec, true)
  return await repo.removeShare(manifest)
}

/**
 * Deletes a blind seed's chunk blocks, and with `manifest` its manifest blocks too, except any
 * block another share in the repo also names: a publisher signs whatever digests it likes, so a
 * crafted share could list another share's blocks as its own chunks. If another share's blocks
 * cannot be listed (its manifest is incomplete here), nothing is deleted.
 */
export async function dropSeedBlocks (repo: Repo, backend: CryptoBackend, rec: ShareRecord, manifest: boolean): Promise<void> {
  const guard = scope(30_000)
  const ctx = { backend, blocks: repo.blocks, log: repoLog }
  try {
    const own = parseLink(rec.link)
    let mine: { manifest: CID[], chunks: CID[] }
    try {
      mine = await shareBlocks(ctx, own, true, guard.signal)
    } catch (err) {
      repoLog.error('a blind seed\'s manifest is incomplete: its blocks cannot be named and stay: %s', (err as Error).name)
      return
    }
    const keep = new Set<string>()
    for (const other of await repo.listShares()) {
      const link = parseLink(other.link)
      if (link.manifest.equals(own.manifest)) continue
      try {
        const theirs = await shareBlocks(ctx, link, other.role === 'seed', guard.signal)
        for (const cid of [...theirs.manifest, ...theirs.chunks]) keep.add(cid.toString())
      } catch (err) {
        repoLog.error('another share\'s blocks cannot be listed; keeping every block: %s', (err as Error).name)
        return
      }
    }
    for (const cid of manifest ? [...mine.chunks, ...mine.manifest] : mine.chunks) {
      if (!keep.has(cid.toString())) await repo.blocks.delete(cid).catch(() => {})
    }
  } finally {
    guard.clear()
  }
}
