/** Reading share sources (node/share/files.ts) and writing downloads safely (node/download/writer.ts). */
import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chunkCount } from '../../../protocol/chunker.js'
import type { FileEntry, ManifestMeta } from '../../../protocol/manifest.js'
import { DownloadWriter } from '../../../node/download/writer.js'
import { candidateName } from '../../../node/fs/fs-safe.js'
import { listShareSources, readChunkFromSource, readFileChunks } from '../../../node/share/files.js'
import { SourceError } from '../../../node/errors.js'

const CHUNK = 65536
const MANIFEST = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
let tmp: string

beforeEach(async () => { tmp = await mkdtemp(join(tmpdir(), 'kith-files-test-')) })
afterEach(async () => { await rm(tmp, { recursive: true, force: true }) })

function bytes (n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed * 2654435761 >>> 0
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24 }
  return out
}

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

function metaFor (name: string, kind: 'file' | 'dir', files: Array<{ path: string, data: Uint8Array, mode?: number }>): ManifestMeta {
  let first = 0
  const entries: FileEntry[] = files.map(f => {
    const chunks = chunkCount(f.data.length, CHUNK)
    const e = { path: f.path, size: f.data.length, mode: f.mode ?? 0o644, sha256: sha(f.data), firstChunk: first, chunks }
    first += chunks
    return e
  })
  return { name, kind, files: entries, size: files.reduce((n, f) => n + f.data.length, 0) }
}

function chunkOf (data: Uint8Array, position: number): Uint8Array {
  return data.subarray(position * CHUNK, Math.min(data.length, (position + 1) * CHUNK))
}

/** Writes every chunk of every file (in a scrambled order) and marks it. */
async function writeAll (w: DownloadWriter, meta: ManifestMeta, datas: Uint8Array[]): Promise<void> {
  const jobs: Array<[number, number]> = []
  meta.files.forEach((f, i) => { for (let p = 0; p < f.chunks; p++) jobs.push([i, p]) })
  jobs.reverse()
  if (jobs.length > 2) jobs.push(jobs.splice(1, 1)[0] as [number, number])
  for (const [i, p] of jobs) {
    await w.writeChunk(i, p, chunkOf(datas[i] as Uint8Array, p))
    w.markHave((meta.files[i] as FileEntry).firstChunk + p)
  }
}

describe('listShareSources', () => {
  it('lists a file as one entry', async () => {
    const p = join(tmp, 'photo.jpg')
    await writeFile(p, bytes(1000))
    const s = await listShareSources(p)
    expect(s).toEqual({ name: 'photo.jpg', kind: 'file', files: [{ path: 'photo.jpg', abs: p, size: 1000, mode: expect.any(Number) }] })
  })

  it('lists every regular file of a tree sorted bytewise, with empty files, skipping symlinks', async () => {
    const root = join(tmp, 'album')
    await mkdir(join(root, 'raw', 'deep'), { recursive: true })
    await mkdir(join(root, 'empty-dir'))
    await writeFile(join(root, 'b.txt'), 'b')
    await writeFile(join(root, 'B.md'), 'B')
    await writeFile(join(root, 'a.txt'), 'aa')
    await writeFile(join(root, 'raw', 'deep', 'x.bin'), bytes(300))
    await writeFile(join(root, 'raw', 'empty'), '')
    await writeFile(join(root, 'é.txt'), 'accent')
    await chmod(join(root, 'b.txt'), 0o755)
    const outside = join(tmp, 'secret.txt')
    await writeFile(outside, 'do not share')
    await mkdir(join(tmp, 'secret-dir'))
    await writeFile(join(tmp, 'secret-dir', 'key'), 'nope')
    await symlink(outside, join(root, 'link.txt'))
    await symlink(join(tmp, 'secret-dir'), join(root, 'linkdir'))

    const s = await listShareSources(root)
    expect(s.name).toBe('album')
    expect(s.kind).toBe('dir')
    expect(s.files.map(f => f.path)).toEqual(['B.md', 'a.txt', 'b.txt', 'raw/deep/x.bin', 'raw/empty', 'é.txt'])
    expect(s.files.map(f => f.size)).toEqual([1, 2, 1, 300, 0, 6])
    expect(s.files.find(f => f.path === 'raw/deep/x.bin')?.abs).toBe(join(root, 'raw', 'deep', 'x.bin'))
    expect((s.files.find(f => f.path === 'b.txt')?.mode ?? 0) & 0o111).not.toBe(0)
    expect(JSON.stringify(s)).not.toContain('secret')
  })

  it('refuses an unsafe name, naming the offending relative path', async () => {
    const root = join(tmp, 'docs')
    await mkdir(join(root, 'sub'), { recursive: true })
    await writeFile(join(root, 'ok.txt'), 'x')
    await writeFile(join(root, 'sub', 'bad\\name.txt'), 'x')
    const err = await listShareSources(root).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SourceError)
    expect((err as Error).message).toContain('"sub/bad\\name.txt"')
  })

  it('refuses to share a Windows-reserved or bidi-control name (protocol/paths.ts)', async () => {
    for (const bad of ['a:b.txt', 'NUL.txt', 'invoice\u202Efdp.exe']) {
      const root = join(tmp, `share-${bad.length}`)
      await mkdir(root, { recursive: true })
      await writeFile(join(root, bad), 'x')
      const err = await listShareSources(root).catch((e: unknown) => e)
      expect(err, bad).toBeInstanceOf(SourceError)
      expect(((err as Error).cause as Error).name, bad).toBe('UnsafePathError')
    }
  })

  it('refuses names that differ only in case, and an empty folder', async () => {
    const root = join(tmp, 'c')
    await mkdir(root)
    await writeFile(join(root, 'Readme'), 'x')
    await writeFile(join(root, 'README'), 'y')
    await expect(listShareSources(root)).rejects.toThrow(/differ only in case/)
    const empty = join(tmp, 'e')
    await mkdir(join(empty, 'nothing'), { recursive: true })
    await expect(listShareSources(empty)).rejects.toThrow(/holds no files/)
    await expect(listShareSources(join(tmp, 'missing'))).rejects.toBeInstanceOf(SourceError)
  })
})

describe('reading sources', () => {
  it('readChunkFromSource returns exact slices, the last one short', async () => {
    const data = bytes(CHUNK * 2 + 123)
    const p = join(tmp, 'f.bin')
    await writeFile(p, data)
    for (const pos of [0, 1, 2]) expect(Buffer.from(await readChunkFromSource(p, pos, CHUNK, data.length)).equals(Buffer.from(chunkOf(data, pos)))).toBe(true)
    expect((await readChunkFromSource(p, 2, CHUNK, data.length)).length).toBe(123)
    expect((await readChunkFromSource(p, 3, CHUNK, data.length)).length).toBe(0)
    // The file shrank since it was shared: a short read, for the caller to detect.
    expect((await readChunkFromSource(p, 2, CHUNK, data.length + 10)).length).toBe(123)
  })

  it('readFileChunks streams the whole file', async () => {
    const data = bytes(300_000, 9)
    const p = join(tmp, 'g.bin')
    await writeFile(p, data)
    const parts: Uint8Array[] = []
    for await (const piece of readFileChunks(p, { highWaterMark: 65536 })) {
      expect(piece.length).toBeLessThanOrEqual(65536)
      parts.push(piece)
    }
    expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true)
  })
})

describe('DownloadWriter', () => {
  it('writes chunks out of order, verifies the SHA-256 and moves the file into place', async () => {
    const out = join(tmp, 'out')
    const data = bytes(CHUNK * 3 + 500)
    const meta = metaFor('movie.mkv', 'file', [{ path: 'movie.mkv', data, mode: 0o755 }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    expect(w.partialDir).toBe(join(out, `.kith-partial-${MANIFEST.slice(-16)}`))
    await writeAll(w, meta, [data])
    // Nothing under the final name before verification; the partial file is pre-sized.
    expect(await readdir(out)).toEqual([`.kith-partial-${MANIFEST.slice(-16)}`])
    expect((await stat(join(w.partialDir, '0'))).size).toBe(data.length)
    const final = await w.finishFile(0, meta.files[0]!.sha256)
    expect(final).toBe(join(out, 'movie.mkv'))
    expect((await readFile(final)).equals(Buffer.from(data))).toBe(true)
    // The manifest says 0755: a download is never executable (0644 whatever the manifest says).
    if (process.platform !== 'win32') expect((await stat(final)).mode & 0o7777).toBe(0o644)
    expect(await w.commit()).toEqual({ path: final, files: [final] })
    await w.cleanup()
    expect(await readdir(out)).toEqual(['movie.mkv'])
  })

  it('hashes chunks as they are written in order (a late one waits in memory), and only reads back the rest', async () => {
    for (const order of [[0, 1, 2, 3, 4], [0, 2, 1, 4, 3], [4, 3, 2, 1, 0]]) {
      const out = join(tmp, `out-${order.join('')}`)
      const data = bytes(CHUNK * 4 + 77, 9)
      const meta = metaFor('stream.bin', 'file', [{ path: 'stream.bin', data }])
      const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
      for (const p of order) { await w.writeChunk(0, p, chunkOf(data, p)); w.markHave(p) }
      const final = await w.finishFile(0, meta.files[0]!.sha256)
      expect((await readFile(final)).equals(Buffer.from(data))).toBe(true)
      await w.cleanup()
    }
    // The same writes against a wrong digest still fail, whichever path hashed them.
    const out = join(tmp, 'out-wrong')
    const data = bytes(CHUNK * 2, 4)
    const meta = metaFor('w.bin', 'file', [{ path: 'w.bin', data }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    for (const p of [0, 1]) { await w.writeChunk(0, p, chunkOf(data, p)); w.markHave(p) }
    await expect(w.finishFile(0, sha(bytes(CHUNK * 2, 5)))).rejects.toMatchObject({ name: 'IntegrityError' })
    await w.close()
  })

  it('a wrong hash throws IntegrityError and leaves nothing under the final name', async () => {
    const out = join(tmp, 'out')
    const data = bytes(CHUNK + 10)
    const meta = metaFor('doc.pdf', 'file', [{ path: 'doc.pdf', data }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await writeAll(w, meta, [data])
    const wrong = sha(bytes(5))
    await expect(w.finishFile(0, wrong)).rejects.toMatchObject({ name: 'IntegrityError' })
    expect((await readdir(out)).filter(n => !n.startsWith('.kith-partial'))).toEqual([])
    expect(await readdir(w.partialDir)).not.toContain('0')
    // Its chunks are forgotten, so a resume fetches them again.
    expect(w.claimedChunks()).toEqual([])
    await w.close()
  })

  it('resume state survives close and open', async () => {
    const out = join(tmp, 'out')
    const data = bytes(CHUNK * 4, 3)
    const meta = metaFor('big.bin', 'file', [{ path: 'big.bin', data }])
    const a = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await a.writeChunk(0, 3, chunkOf(data, 3)); a.markHave(3)
    await a.writeChunk(0, 1, chunkOf(data, 1)); a.markHave(1)
    await a.close()
    const state = JSON.parse(await readFile(join(a.partialDir, 'state.json'), 'utf8'))
    expect(state).toMatchObject({ version: 1, manifest: MANIFEST, chunkSize: CHUNK, chunks: 4 })

    const b = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    expect(b.claimedChunks()).toEqual([1, 3])
    expect([0, 1, 2, 3].map(i => b.haveChunks().get(i))).toEqual([false, true, false, true])
    // The caller re-verifies what is claimed by reading it back.
    expect(Buffer.from((await b.readChunk(0, 1, CHUNK))!).equals(Buffer.from(chunkOf(data, 1)))).toBe(true)
    expect(Buffer.from((await b.readChunk(0, 3, CHUNK))!).equals(Buffer.from(chunkOf(data, 3)))).toBe(true)
    await b.writeChunk(0, 0, chunkOf(data, 0)); b.markHave(0)
    await b.writeChunk(0, 2, chunkOf(data, 2)); b.markHave(2)
    const final = await b.finishFile(0, meta.files[0]!.sha256)
    expect((await readFile(final)).equals(Buffer.from(data))).toBe(true)
    await b.cleanup()
    expect(await readdir(out)).toEqual(['big.bin'])

    // The partial folder of another manifest with the same short id: its state is not trusted.
    const d = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await d.writeChunk(0, 0, chunkOf(data, 0)); d.markHave(0)
    await d.close()
    const otherId = 'bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' + MANIFEST.slice(-16)
    const e = await DownloadWriter.open(out, meta, otherId, CHUNK)
    expect(e.partialDir).toBe(d.partialDir)
    expect(e.claimedChunks()).toEqual([])
    await e.cleanup()
  })

  it('flushes state after N chunks without waiting for close', async () => {
    const out = join(tmp, 'out')
    const data = bytes(CHUNK * 4, 4)
    const meta = metaFor('n.bin', 'file', [{ path: 'n.bin', data }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK, { flushEveryChunks: 2, flushIntervalMs: 60_000 })
    await w.writeChunk(0, 0, chunkOf(data, 0)); w.markHave(0)
    await w.writeChunk(0, 1, chunkOf(data, 1)); w.markHave(1)
    await w.flush() // waits for the queued background flush too
    const state = JSON.parse(await readFile(join(w.partialDir, 'state.json'), 'utf8'))
    expect(Buffer.from(state.have, 'base64')[0]).toBe(0b11000000)
    await w.abort()
    expect(await readdir(out)).toEqual([`.kith-partial-${MANIFEST.slice(-16)}`])
  })

  it('refuses a hostile name before writing anything', async () => {
    const out = join(tmp, 'out')
    const data = bytes(10)
    for (const meta of [
      metaFor('../evil', 'file', [{ path: '../evil', data }]),
      metaFor('ok', 'dir', [{ path: '../evil', data }]),
      metaFor('ok', 'dir', [{ path: 'a/../../evil', data }]),
      metaFor('ok', 'dir', [{ path: '/etc/passwd', data }]),
      metaFor('..', 'dir', [{ path: 'x', data }]),
      metaFor('ok', 'file', [{ path: 'other', data }]),
      metaFor('CON', 'file', [{ path: 'CON', data }]),
      metaFor('ok', 'dir', [{ path: 'sub/a:b', data }]),
      metaFor('invoice\u202Efdp.exe', 'file', [{ path: 'invoice\u202Efdp.exe', data }])
    ]) {
      await expect(DownloadWriter.open(out, meta, MANIFEST, CHUNK)).rejects.toMatchObject({ name: 'UnsafePathError' })
    }
    expect(await readdir(tmp)).toEqual([])
  })

  it('never overwrites an existing file: picks "name (1).ext"', async () => {
    const out = join(tmp, 'out')
    await mkdir(out)
    await writeFile(join(out, 'report.txt'), 'mine')
    await writeFile(join(out, 'report (1).txt'), 'mine too')
    const data = bytes(100, 5)
    const meta = metaFor('report.txt', 'file', [{ path: 'report.txt', data }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await writeAll(w, meta, [data])
    const final = await w.finishFile(0, meta.files[0]!.sha256)
    expect(final).toBe(join(out, 'report (2).txt'))
    expect(await readFile(join(out, 'report.txt'), 'utf8')).toBe('mine')
    expect(await readFile(join(out, 'report (1).txt'), 'utf8')).toBe('mine too')
    expect((await readFile(final)).equals(Buffer.from(data))).toBe(true)
    expect((await w.commit()).path).toBe(final)
    await w.cleanup()
  })

  it('writes a folder share into its own new folder, with nested and empty files', async () => {
    // No umask: the folders' modes are the writer's own (0755), not a restrictive default's.
    const umask = process.umask(0)
    try { await writeFolderShare() } finally { process.umask(umask) }
  })

  async function writeFolderShare (): Promise<void> {
    const out = join(tmp, 'out')
    await mkdir(join(out, 'album'), { recursive: true })
    await writeFile(join(out, 'album', 'a.txt'), 'already here')
    const datas = [bytes(10, 1), bytes(CHUNK * 2 + 7, 2), new Uint8Array(0)]
    const meta = metaFor('album', 'dir', [{ path: 'a.txt', data: datas[0]! }, { path: 'raw/big.bin', data: datas[1]!, mode: 0o755 }, { path: 'raw/deep/empty', data: datas[2]! }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await writeAll(w, meta, datas)
    for (let i = 0; i < meta.files.length; i++) await w.finishFile(i, meta.files[i]!.sha256)
    const { path, files } = await w.commit()
    expect(path).toBe(join(out, 'album (1)'))
    expect(files).toEqual([join(path, 'a.txt'), join(path, 'raw', 'big.bin'), join(path, 'raw', 'deep', 'empty')])
    for (let i = 0; i < files.length; i++) expect((await readFile(files[i]!)).equals(Buffer.from(datas[i]!))).toBe(true)
    expect(await readFile(join(out, 'album', 'a.txt'), 'utf8')).toBe('already here')
    if (process.platform !== 'win32') {
      for (const f of files) expect((await stat(f)).mode & 0o7777, f).toBe(0o644)
      for (const d of [path, join(path, 'raw'), join(path, 'raw', 'deep')]) expect((await stat(d)).mode & 0o7777, d).toBe(0o755)
    }
    await w.cleanup()
    expect((await readdir(out)).sort()).toEqual(['album', 'album (1)'])
  }

  it('resumes a folder share after some files were finished', async () => {
    const out = join(tmp, 'out')
    const datas = [bytes(CHUNK + 1, 7), bytes(CHUNK + 2, 8)]
    const meta = metaFor('set', 'dir', [{ path: 'one.bin', data: datas[0]! }, { path: 'two.bin', data: datas[1]! }])
    const a = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await writeAll(a, meta, datas)
    const first = await a.finishFile(0, meta.files[0]!.sha256)
    await a.close()
    const b = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    expect(b.claimedChunks()).toEqual([0, 1, 2, 3])
    expect(b.partialPath(0)).toBe(first)
    expect(Buffer.from((await b.readChunk(0, 1, 1))!).equals(Buffer.from(chunkOf(datas[0]!, 1)))).toBe(true)
    expect(await b.finishFile(0, meta.files[0]!.sha256)).toBe(first)
    await b.finishFile(1, meta.files[1]!.sha256)
    expect((await b.commit()).path).toBe(join(out, 'set'))
    await b.cleanup()
    expect(await readdir(join(out, 'set'))).toEqual(['one.bin', 'two.bin'])
  })

  it('refuses writes of the wrong length or outside the file', async () => {
    const out = join(tmp, 'out')
    const data = bytes(CHUNK + 5)
    const meta = metaFor('x.bin', 'file', [{ path: 'x.bin', data }])
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await expect(w.writeChunk(0, 1, new Uint8Array(CHUNK))).rejects.toBeInstanceOf(RangeError)
    await expect(w.writeChunk(0, 2, new Uint8Array(5))).rejects.toBeInstanceOf(RangeError)
    await expect(w.writeChunk(1, 0, new Uint8Array(5))).rejects.toBeInstanceOf(RangeError)
    expect((await stat(join(w.partialDir, '0')).catch(() => undefined))?.size ?? 0).toBeLessThanOrEqual(data.length)
    await w.cleanup()
  })

  it('candidateName keeps the extension and stays within 255 bytes', () => {
    expect(candidateName('a.txt', 0, true)).toBe('a.txt')
    expect(candidateName('a.txt', 3, true)).toBe('a (3).txt')
    expect(candidateName('.bashrc', 1, true)).toBe('.bashrc (1)')
    expect(candidateName('photos.2024', 1, false)).toBe('photos.2024 (1)')
    const long = 'é'.repeat(126) + '.txt' // 256 bytes before the suffix is added: already too long + suffix
    expect(Buffer.byteLength(candidateName(long, 12, true))).toBeLessThanOrEqual(255)
    expect(candidateName(long, 12, true).endsWith(' (12).txt')).toBe(true)
  })
})

describe('DownloadWriter in an output folder other local users can write to (/tmp)', () => {
  const partialOf = (out: string): string => join(out, `.kith-partial-${MANIFEST.slice(-16)}`)
  const isRoot = process.getuid?.() === 0

  it('refuses a planted partial folder writable by group/other, or a symbolic link to a folder', async () => {
    const out = join(tmp, 'shared')
    const data = bytes(CHUNK + 10)
    const meta = metaFor('f.bin', 'file', [{ path: 'f.bin', data }])
    await mkdir(partialOf(out), { recursive: true })
    await chmod(partialOf(out), 0o777)
    await expect(DownloadWriter.open(out, meta, MANIFEST, CHUNK)).rejects.toMatchObject({ name: 'OutputPathError', message: expect.stringContaining('writable by other users') })
    await chmod(partialOf(out), 0o720)
    await expect(DownloadWriter.open(out, meta, MANIFEST, CHUNK)).rejects.toMatchObject({ name: 'OutputPathError' })
    await rm(partialOf(out), { recursive: true })
    const elsewhere = join(tmp, 'elsewhere')
    await mkdir(elsewhere, { mode: 0o700 })
    await symlink(elsewhere, partialOf(out))
    await expect(DownloadWriter.open(out, meta, MANIFEST, CHUNK)).rejects.toMatchObject({ name: 'OutputPathError' })
    expect(await readdir(elsewhere)).toEqual([])
  })

  it.skipIf(!isRoot)('refuses a partial folder owned by another user (run as root: chown)', async () => {
    const { chown } = await import('node:fs/promises')
    const out = join(tmp, 'shared')
    const meta = metaFor('f.bin', 'file', [{ path: 'f.bin', data: bytes(10) }])
    await mkdir(partialOf(out), { recursive: true, mode: 0o700 })
    await chown(partialOf(out), 65534, 65534)
    await expect(DownloadWriter.open(out, meta, MANIFEST, CHUNK)).rejects.toMatchObject({ name: 'OutputPathError', message: expect.stringContaining('another user') })
  })

  it('never writes, truncates or reads through a symbolic link planted as a part file', async () => {
    const out = join(tmp, 'shared')
    const data = bytes(CHUNK * 2 + 10)
    const meta = metaFor('f.bin', 'file', [{ path: 'f.bin', data }])
    const victim = join(tmp, 'victim.txt')
    await writeFile(victim, 'precious data of the downloading user')
    await chmod(victim, 0o600)
    await mkdir(partialOf(out), { recursive: true, mode: 0o700 })
    await symlink(victim, join(partialOf(out), '0'))
    const w = await DownloadWriter.open(out, meta, MANIFEST, CHUNK)
    await expect(w.writeChunk(0, 0, chunkOf(data, 0))).rejects.toMatchObject({ name: 'OutputPathError' })
    expect(await w.readChunk(0, 0, 10)).toBeUndefined()
    await expect(w.finishFile(0, meta.files[0]!.sha256)).rejects.toMatchObject({ name: 'OutputPathError' })
    await w.close()
    expect(await readFile(victim, 'utf8')).toBe('precious data of the downloading user')
    expect((await stat(victim)).mode & 0o777).toBe(0o600)
  })
})
