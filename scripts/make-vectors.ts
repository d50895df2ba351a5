/**
 * Writes test/vectors/v1.json: frozen vectors for Kith's own formats (format version 1), made
 * with fixed keys and a fixed "random" source so they are reproducible. test/protocol/vectors.test.ts
 * checks that today's code (a) still reads these bytes and (b) still writes exactly these bytes.
 *
 * Run `npm run vectors` ONLY when introducing a new format version, into a new file (v2.json);
 * never regenerate v1.json: that is what makes a breaking change fail the tests.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { buildVectors } from '../test/protocol/helpers/vectors.js'

const out = fileURLToPath(new URL(`../test/vectors/${process.argv[2] ?? 'v1'}.json`, import.meta.url))
const vectors = await buildVectors()
writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n')
console.log(`wrote ${out}`)
