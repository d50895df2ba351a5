/**
 * The content work a 1→1 transfer cannot skip, measured on this machine (scripts/bench-transfer.ts):
 * CPU seconds per GiB, with Kith's own crypto backend and 1 MiB chunks, each step on its own.
 *   sha256   one pass of SHA-256 (a transfer needs three: the seeder checks each re-sealed chunk
 *            against its content ID, the downloader checks each received chunk and hashes the
 *            file it writes)
 *   seal     ChaCha20-Poly1305 seal (the seeder re-seals from the plaintext file)
 *   open     ChaCha20-Poly1305 open (the downloader)
 *   write    writing a new file of that size in 1 MiB writes, one at a time (the downloader's
 *            writes; CPU of every thread, kernel time included; one at a time is the cheapest:
 *            concurrent writes to one file also spin on its inode lock)
 *   read     reading it back (the seeder reads its shared file; it is in the page cache)
 * Args: <scratch dir> <bytes>. Prints one JSON object of CPU seconds per GiB.
 */
import { randomBytes } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { nativeBackend } from '../../node/crypto/native.js'

const [dir, bytesArg] = process.argv.slice(2) as [string, string]
const MiB = 1024 * 1024
const GiB = 1024 * MiB
const total = Math.max(MiB, Math.floor(Number(bytesArg) / MiB) * MiB)
const chunks = total / MiB
const perGiB = GiB / total

/** CPU seconds (all threads, user + system) spent by `f`. */
async function cpu (f: () => Promise<void> | void): Promise<number> {
  const c0 = process.cpuUsage()
  await f()
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1e6 * perGiB
}

const key = randomBytes(32)
const plain = new Uint8Array(randomBytes(MiB))
const sealedOne = nativeBackend.chachaSeal(key, new Uint8Array(12), plain)
const file = join(dir, 'floor.bin')
const out: Record<string, number> = {}

out.sha256 = await cpu(() => { for (let i = 0; i < chunks; i++) nativeBackend.sha256(sealedOne) })
out.seal = await cpu(() => {
  const nonce = new Uint8Array(12)
  for (let i = 0; i < chunks; i++) { new DataView(nonce.buffer).setUint32(0, i); nativeBackend.chachaSeal(key, nonce, plain) }
})
out.open = await cpu(() => { for (let i = 0; i < chunks; i++) nativeBackend.chachaOpen(key, new Uint8Array(12), sealedOne) })
const buf = new Uint8Array(randomBytes(MiB))
out.write = await cpu(async () => {
  const fh = await open(file, 'w')
  try {
    await fh.truncate(total)
    for (let i = 0; i < chunks; i++) await fh.write(buf, 0, MiB, i * MiB)
  } finally {
    await fh.close()
  }
})
out.read = await cpu(async () => {
  const fh = await open(file, 'r')
  const b = new Uint8Array(MiB)
  try {
    for (let i = 0; i < chunks; i++) await fh.read(b, 0, MiB, i * MiB)
  } finally {
    await fh.close()
  }
})
await rm(file, { force: true })
console.log(JSON.stringify(out))
