/**
 * How the page writes sizes and times, one copy for web/main.ts and the pages in web/ui/. Binary
 * units throughout (1 KiB = 1024 bytes); the settings page's MB/s form fields are its own.
 */

/** `512 B`, `1.5 KiB`, `3.2 GiB`: the largest unit that keeps the number at least 1. */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let x = n
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++ }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i] as string}`
}

/** Always in MiB, one decimal (`0.0 MiB`, `1536.0 MiB`): the managed pages' lists and progress lines. */
export const formatMiB = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`

/** A power-of-two size (a chunk size) exactly: `64 KiB`, `1 MiB`, `16 MiB`. */
export function formatChunkSize (bytes: number): string {
  return bytes >= 1048576 ? `${bytes / 1048576} MiB` : `${bytes / 1024} KiB`
}

/** An ISO 8601 time to the minute, as written: `2025-01-31 14:05` (no zone conversion). */
export const formatMinute = (iso: string): string => iso.slice(0, 16).replace('T', ' ')
