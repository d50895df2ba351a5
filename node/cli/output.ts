/**
 * Where the CLI writes. Human text goes to stdout (results) and stderr (notes, progress); with
 * --json, stdout carries exactly one JSON object per command (one line) and nothing else.
 */

export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }
  stderr: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }
}

export class Output {
  readonly json: boolean
  readonly debug: boolean
  readonly streams: Streams

  constructor (json: boolean, debug: boolean, streams: Streams = { stdout: process.stdout, stderr: process.stderr }) {
    this.json = json
    this.debug = debug
    this.streams = streams
  }

  get stdoutTTY (): boolean { return this.streams.stdout.isTTY === true }
  get stderrTTY (): boolean { return this.streams.stderr.isTTY === true }

  /** A line of human output on stdout; nothing in --json mode. */
  line (text = ''): void {
    if (!this.json) this.streams.stdout.write(text + '\n')
  }

  /** A note for a person on stderr; nothing in --json mode. */
  note (text: string): void {
    if (!this.json) this.streams.stderr.write(text + '\n')
  }

  /** The command's JSON result: one line on stdout, --json mode only. */
  result (value: unknown): void {
    if (this.json) this.streams.stdout.write(JSON.stringify(value) + '\n')
  }

  rawStdout (text: string): void { this.streams.stdout.write(text) }
  rawStderr (text: string): void { this.streams.stderr.write(text) }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes (n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?'
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++ }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${UNITS[u] as string}`
}

/** h:mm:ss or m:ss. */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table (header: string[], rows: string[][]): string {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map(r => (r[i] ?? '').length)))
  return all.map(r => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ')).join('\n')
}
