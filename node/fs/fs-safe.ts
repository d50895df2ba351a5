/**
 * Crash-safe file writes for the repo and downloads: atomic replace (temporary file, fsync,
 * rename, fsync of the folder), exclusive create (link(2) fails if the name exists), moving a
 * finished file to a free name without ever replacing one, and ENOSPC/EDQUOT reported as
 * DiskFullError naming where.
 */
import { randomBytes } from 'node:crypto'
import { chmod, link, lstat, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { MAX_NAME_BYTES } from '../../protocol/constants.js'
import { DiskFullError, OutputPathError } from '../errors.js'

/** How many names (`name`, `name (1)`, …) a move to a free name tries. */
export const MAX_NAME_ATTEMPTS = 100

/** Rethrows ENOSPC/EDQUOT as `DiskFullError` naming `where`; anything else unchanged. */
export function mapDiskError (err: unknown, where: string): never {
  DiskFullError.rethrow(err, where)
}

export function tmpName (path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
}

export async function syncDir (dir: string): Promise<void> {
  // Makes a rename durable. Best effort: not every platform can open a folder (Windows).
  try {
    const fh = await open(dir, 'r')
    try { await fh.sync() } finally { await fh.close() }
  } catch {}
}

/** Writes `data` to a new temporary file next to `path`, fsynced. Private modes are exact (not umask-reduced). */
export async function writeTemp (path: string, data: string | Uint8Array, mode: number): Promise<string> {
  const tmp = tmpName(path)
  const fh = await open(tmp, 'wx', mode)
  try {
    if ((mode & 0o077) === 0) await fh.chmod(mode)
    await fh.writeFile(data)
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
  await fh.close()
  return tmp
}

/** Writes a file atomically: temporary file, fsync, rename over `path`, fsync of the folder. */
export async function writeAtomic (path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  let tmp: string | undefined
  try {
    tmp = await writeTemp(path, data, mode)
    await rename(tmp, path)
    tmp = undefined
  } catch (err) {
    if (tmp !== undefined) await rm(tmp, { force: true }).catch(() => {})
    DiskFullError.rethrow(err, dirname(path))
  }
  await syncDir(dirname(path))
}

/**
 * Creates `path` with `data` only if it does not exist yet (atomically, via link(2)). Returns
 * false if it already existed, so two processes initialising one repo agree on one key.
 */
export async function writeExclusive (path: string, data: string | Uint8Array, mode = 0o600): Promise<boolean> {
  let tmp: string | undefined
  try {
    tmp = await writeTemp(path, data, mode)
    try {
      await link(tmp, path)
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err
      // No hard links on this filesystem: exclusive create instead (not atomic, still exclusive).
      let fh
      try {
        fh = await open(path, 'wx', mode)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
        throw e
      }
      try {
        await fh.writeFile(data)
        await fh.sync()
      } finally {
        await fh.close()
      }
      return true
    }
  } catch (err) {
    return DiskFullError.rethrow(err, dirname(path))
  } finally {
    if (tmp !== undefined) await unlink(tmp).catch(() => {})
    await syncDir(dirname(path))
  }
}

export async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

export async function makeDir (path: string, mode: number): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode })
  } catch (err) {
    DiskFullError.rethrow(err, path)
  }
}

/** Removes group/other access from a private file if someone loosened it (best effort). */
export async function keepPrivate (path: string): Promise<void> {
  try {
    const st = await stat(path)
    if ((st.mode & 0o077) !== 0) await chmod(path, 0o600)
  } catch {}
}

// --- formats -----------------------------------------------------------------------------------

// --- final names -------------------------------------------------------------------------------

/** `name`, or for attempt i > 0 `stem (i).ext` (folders: `name (i)`), kept within NAME_MAX. */
export function candidateName (name: string, attempt: number, splitExtension: boolean): string {
  if (attempt === 0) return name
  const ext = splitExtension ? extname(name) : ''
  let stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name
  const suffix = ` (${attempt})${stem === name ? '' : ext}`
  const chars = Array.from(stem)
  while (chars.length > 1 && Buffer.byteLength(chars.join('') + suffix) > MAX_NAME_BYTES) chars.pop()
  stem = chars.join('')
  return stem + suffix
}

/**
 * Gives file `tmp` mode `mode` (if given: a caller that set it through an open handle passes none,
 * so no path is followed), then moves it to the first free name in `dir` among `name`,
 * `stem (1).ext`, … and syncs the folder; returns the final path. Never replaces a file: link(2)
 * fails if the name exists, so there is no check-then-rename race. Where there are no hard links
 * (FAT, some network filesystems): check, then rename.
 */
export async function moveToFreeName (tmp: string, dir: string, name: string, mode?: number): Promise<string> {
  try {
    if (mode !== undefined) await chmod(tmp, mode)
  } catch (err) {
    DiskFullError.rethrow(err, dirname(tmp))
  }
  for (let i = 0; i < MAX_NAME_ATTEMPTS; i++) {
    const candidate = join(dir, candidateName(name, i, true))
    try {
      await link(tmp, candidate)
      await unlink(tmp)
      await syncDir(dir)
      return candidate
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') continue
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') {
        const taken = await lstat(candidate).then(() => true, () => false)
        if (taken) continue
        try {
          await rename(tmp, candidate)
        } catch (e) {
          DiskFullError.rethrow(e, dir)
        }
        await syncDir(dir)
        return candidate
      }
      DiskFullError.rethrow(err, dir)
    }
  }
  throw new OutputPathError(`no free name for "${name}" in ${dir} after ${MAX_NAME_ATTEMPTS} tries`)
}
