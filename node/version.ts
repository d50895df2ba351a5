/**
 * Kith's version: package.json's, found by walking up from this module (the source tree and the
 * built tree under dist/ sit at different depths).
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | undefined

export function kithVersion (): string {
  if (cached !== undefined) return cached
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'kith' && typeof pkg.version === 'string') {
        cached = pkg.version
        return cached
      }
    } catch {}
    const up = dirname(dir)
    if (up === dir) break
    dir = up
  }
  cached = '0.0.0-unknown'
  return cached
}
