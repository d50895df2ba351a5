/**
 * Shows which build of the app this page runs (docs/THREAT-MODEL.md §2.11): fetches build.json's file list,
 * re-hashes those files exactly as scripts/web-digest.mjs does, and shows the digest only if it
 * matches the one the build printed. Compare it with `npm run build` output on your own machine.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { hexOf } from '../../protocol/bytes.js'

const enc = new TextEncoder()

export async function buildDigest (): Promise<{ sha256: string, verified: boolean }> {
  const base = new URL('./', location.href)
  base.hash = ''
  const manifest = await (await fetch(new URL('build.json', base), { cache: 'no-store' })).json() as { sha256: string, files: string[] }
  const h = sha256.create()
  for (const path of manifest.files) {
    const bytes = new Uint8Array(await (await fetch(new URL(path, base), { cache: 'no-store' })).arrayBuffer())
    h.update(enc.encode(`${path}\0${bytes.length}\0`))
    h.update(bytes)
  }
  const got = hexOf(h.digest())
  return { sha256: got, verified: got === manifest.sha256 }
}
