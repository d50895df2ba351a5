/**
 * Re-opening the shares recorded in a repo when a node starts: publishers and completed downloads
 * (served again from their files, with every block of their manifest read from the local store) and
 * blind seeds (served from the blockstore). Nothing is fetched from the network: a share whose
 * manifest is not complete here is skipped, and said so in the log.
 */
import { join } from 'node:path'
import { Bitfield } from '../../protocol/bitfield.js'
import { deriveShareKeys } from '../../protocol/keys.js'
import { parseLink } from '../../protocol/link.js'
import { scope } from '../engine/abort.js'
import { diskReader } from './files.js'
import { chunkCryptoFor, type NodeContext } from '../engine/get.js'
import { openLocalManifest } from '../engine/manifest-fetch.js'
import type { Repo } from '../repo/repo.js'
import { reopenSeed } from '../engine/seed.js'
import { ShareState } from '../engine/share/share-state.js'
import { PlaintextChunkSource } from '../engine/share/sources.js'

export interface ReopenedShare {
  manifest: string
  state: ShareState
  /** Served from plaintext files (which may change under it), not from the blockstore. */
  plaintext: boolean
}

/** The repo's complete shares, ready to serve (not yet added to the swarm). */
export async function reopenShares (repo: Repo, ctx: NodeContext): Promise<ReopenedShare[]> {
  const out: ReopenedShare[] = []
  for (const r of await repo.listShares()) {
    if (!r.complete || (r.source === null && r.role !== 'seed')) continue
    try {
      const link = parseLink(r.link)
      if (r.role === 'seed') {
        const local = scope(30_000)
        const state = await reopenSeed(ctx, link, local.signal).finally(local.clear)
        out.push({ manifest: link.manifest.toString(), state, plaintext: false })
        continue
      }
      if (link.kind !== 'read' || r.source === null) continue
      const keys = deriveShareKeys(link.key)
      // Everything must be local: a share recorded as complete has all its blocks here.
      const local = scope(5_000)
      const fetched = await openLocalManifest({ backend: ctx.backend, blocks: repo.blocks, log: ctx.log, signal: local.signal }, link.manifest, keys).finally(local.clear)
      const meta = fetched.meta
      if (meta === undefined) continue
      const state = new ShareState({ keys, rootCid: link.manifest, backend: ctx.backend, blocks: repo.blocks })
      const have = new Bitfield(fetched.root.index.chunks)
      for (let i = 0; i < have.size; i++) have.set(i)
      state.setManifest(fetched.rootBytes, fetched.root.index, fetched.digests, fetched.treeBlockDigests, have)
      const base: string = r.source
      const paths = meta.files.map(f => meta.kind === 'file' ? base : join(base, ...f.path.split('/')))
      state.source = new PlaintextChunkSource(meta, fetched.root.index.chunkSize, chunkCryptoFor(ctx, keys), i => state.chunkDigest(i), diskReader(i => paths[i], fetched.root.index.chunkSize))
      out.push({ manifest: link.manifest.toString(), state, plaintext: true })
    } catch (err) {
      ctx.log.error('could not re-open a share from the repo: %s', (err as Error).name)
    }
  }
  return out
}
