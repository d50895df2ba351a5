/**
 * One-line progress display on a terminal (stderr): redrawn in place, at most 10 times a second,
 * from a DownloadProgress (fed by local progress events or by polling the daemon). Draws nothing
 * when the stream is not a terminal.
 */
import type { DownloadProgress } from '../api/schema.js'
import { formatBytes, formatDuration } from './output.js'

const REDRAW_MS = 100
const RATE_WINDOW_MS = 5_000
/** Widest stats text: " 100%  1023 MiB / 1023 MiB  1023 MiB/s  99 peers  ETA 99:59:59". */
const STATS_WIDTH = 64

export class ProgressLine {
  readonly #stream: NodeJS.WritableStream & { columns?: number }
  readonly #enabled: boolean
  readonly #started = Date.now()
  #samples: Array<{ t: number, bytes: number }> = []
  #lastDraw = 0
  #drawn = false

  constructor (stream: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }, enabled = stream.isTTY === true) {
    this.#stream = stream
    this.#enabled = enabled
  }

  /** Records a progress snapshot and redraws (throttled unless `force`). */
  download (p: DownloadProgress, force = false): void {
    const now = Date.now()
    this.#sample(now, p.bytes)
    if (!this.#enabled || (!force && now - this.#lastDraw < REDRAW_MS)) return
    this.#lastDraw = now
    const peers = `${p.peers} peer${p.peers === 1 ? '' : 's'}`
    if (p.phase === 'finding' || p.total === 0) {
      this.#draw(`finding seeders… ${peers}  ${formatDuration((now - this.#started) / 1000)}`)
      return
    }
    if (p.phase === 'verifying') {
      this.#draw(`${p.name ?? ''}  checking what is already on disk…`)
      return
    }
    const rate = this.#rate()
    const eta = rate > 0 ? (p.total - p.bytes) / rate : Number.NaN
    const stats = `${percent(p.bytes, p.total)}  ${formatBytes(p.bytes)} / ${formatBytes(p.total)}  ${formatBytes(rate)}/s  ${peers}  ETA ${formatDuration(eta)}`
    this.#draw(this.#withBar(p.name ?? '', p.bytes, p.total, stats))
  }

  /** Encryption progress while publishing a share. */
  encrypt (bytes: number, total: number, force = false): void {
    const now = Date.now()
    this.#sample(now, bytes)
    if (!this.#enabled || (!force && now - this.#lastDraw < REDRAW_MS)) return
    this.#lastDraw = now
    this.#draw(this.#withBar('encrypting', bytes, total, `${percent(bytes, total)}  ${formatBytes(bytes)} / ${formatBytes(total)}  ${formatBytes(this.#rate())}/s`))
  }

  /** A free-form status line. */
  message (text: string): void {
    if (this.#enabled) this.#draw(text)
  }

  /** Erases the line (call before printing anything else). */
  clear (): void {
    if (this.#enabled && this.#drawn) this.#stream.write('\r\x1b[K')
    this.#drawn = false
  }

  #sample (t: number, bytes: number): void {
    this.#samples.push({ t, bytes })
    while (this.#samples.length > 2 && t - (this.#samples[0]?.t ?? t) > RATE_WINDOW_MS) this.#samples.shift()
  }

  #rate (): number {
    const first = this.#samples[0]
    const last = this.#samples[this.#samples.length - 1]
    if (first === undefined || last === undefined || last.t - first.t < 200) return 0
    return Math.max(0, (last.bytes - first.bytes) / ((last.t - first.t) / 1000))
  }

  #withBar (label: string, done: number, total: number, stats: string): string {
    const columns = this.#stream.columns !== undefined && this.#stream.columns > 20 ? this.#stream.columns : 80
    const name = label.length > 24 ? label.slice(0, 23) + '…' : label
    // Room for the widest stats line, so the bar keeps its width as the numbers change.
    const room = columns - 1 - name.length - Math.max(stats.length, STATS_WIDTH) - 6
    const width = Math.min(30, room)
    if (width < 5) return `${name}  ${stats}`
    const filled = total > 0 ? Math.round(width * Math.min(1, done / total)) : 0
    return `${name}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]  ${stats}`
  }

  #draw (text: string): void {
    const columns = this.#stream.columns !== undefined && this.#stream.columns > 20 ? this.#stream.columns : 80
    const line = text.length >= columns ? text.slice(0, Math.max(0, columns - 1)) : text
    this.#stream.write('\r\x1b[K' + line)
    this.#drawn = true
  }
}

function percent (done: number, total: number): string {
  return `${total > 0 ? Math.floor(100 * Math.min(1, done / total)) : 0}%`.padStart(4)
}
