#!/usr/bin/env node
/**
 * The web build's digest (SECURITY.md §11): SHA-256 over every file of the built app, in path
 * order, each as `path NUL size NUL bytes`. Writes <dir>/build.json ({sha256, files}) for the page,
 * which recomputes the digest from the files it fetched and shows it, and prints the digest.
 * Usage: node scripts/web-digest.mjs [dir]   (default dist/web)
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export async function webDigest (dir) {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter(e => e.isFile())
    .map(e => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .filter(p => p !== 'build.json')
    .sort()
  const h = createHash('sha256')
  for (const p of files) {
    const bytes = await readFile(join(dir, p))
    h.update(`${p}\0${bytes.length}\0`)
    h.update(bytes)
  }
  return { sha256: h.digest('hex'), files }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? fileURLToPath(new URL('../dist/web', import.meta.url))
  const d = await webDigest(dir)
  await writeFile(join(dir, 'build.json'), JSON.stringify(d) + '\n')
  const size = (await Promise.all(d.files.map(async p => (await readFile(join(dir, p))).length))).reduce((a, b) => a + b, 0)
  console.log(`web app: ${d.files.length} files, ${(size / 1024).toFixed(0)} KiB, sha256 ${d.sha256}`)
}
