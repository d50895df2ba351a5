/**
 * The settings page of the desktop UI: the node's upload and download limits and the chunk size of
 * new shares, changed at once through the local API (PUT /settings writes config.json and applies
 * them to the running node); the network (Local or Public, i.e. the IPFS Amino DHT), written to
 * config.json and used from the next start (docs/NETWORK.md), and likewise UPnP (ask the home router
 * to forward the TCP port; off by default: it publishes the home's public IP); listen addresses, bootstrap peers, the API address, the repo and
 * whether its keys are sealed, read-only (they take effect at restart). Authorised like the
 * circles page (api.ts).
 */
import { KithError } from '../../protocol/errors.js'
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../protocol/constants.js'
import type { SettingsRequest, SettingsResponse } from '../../node/api/schema.js'
import { api } from './api.js'
import { $, el, guarded, message } from './dom.js'
import { formatChunkSize } from './format.js'

/** The page shows rates in MB/s: 1 MB = 1,000,000 bytes. */
const MB = 1_000_000

/** Bytes/s as MB/s for the form: '' for unlimited. */
function toMBps (rate: number): string {
  return rate === 0 ? '' : String(Number((rate / MB).toFixed(3)))
}

/** The form's MB/s as bytes/s ('' or 0 = unlimited); a negative number is left for the API to refuse. */
function fromMBps (text: string, what: string): number {
  const t = text.trim()
  if (t === '') return 0
  const n = Number(t)
  if (!Number.isFinite(n)) throw new SettingsInputError(`${what}: "${t.slice(0, 20)}" is not a number of MB/s`)
  return Math.round(n * MB)
}

/** A limit typed into the form that is not a number (told on the page, never sent). */
class SettingsInputError extends KithError {
  static override name = 'SettingsInputError'
}

function fill (s: SettingsResponse): void {
  $<HTMLInputElement>('settings-upload').value = toMBps(s.uploadRate)
  $<HTMLInputElement>('settings-download').value = toMBps(s.downloadRate)
  const chunk = $<HTMLSelectElement>('settings-chunk')
  const options: HTMLOptionElement[] = []
  for (let size = MIN_CHUNK_SIZE; size <= MAX_CHUNK_SIZE; size *= 2) {
    options.push(el('option', { value: String(size), textContent: `${formatChunkSize(size)}${size === DEFAULT_CHUNK_SIZE ? ' (default)' : ''}` }))
  }
  chunk.replaceChildren(...options)
  chunk.value = String(s.chunkSize)
  $<HTMLSelectElement>('settings-network').value = s.network
  $<HTMLInputElement>('settings-upnp').checked = s.upnp
  const list = (items: string[], none: string): HTMLElement => items.length === 0
    ? el('dd', { textContent: none })
    : el('dd', {}, el('ul', {}, ...items.map(a => el('li', {}, el('code', { textContent: a })))))
  $('settings-info').replaceChildren(
    el('dt', { textContent: 'Listen addresses' }), list(s.listen, 'none'),
    el('dt', { textContent: 'Bootstrap peers' }), list(s.bootstrap, 'none'),
    el('dt', { textContent: 'API and web UI address' }), el('dd', {}, el('code', { textContent: s.api })),
    el('dt', { textContent: 'Repo' }), el('dd', {}, el('code', { textContent: s.repo })),
    el('dt', { textContent: 'Keys' }), el('dd', { dataset: { sealed: String(s.sealed) }, textContent: s.sealed ? 'sealed with a passphrase' : 'not sealed (no passphrase; kith init --passphrase seals them)' })
  )
}

export async function renderSettings (): Promise<void> {
  message('')
  await guarded(async () => { fill(await api.settings()) })
}

export function wireSettingsForm (): void {
  $<HTMLFormElement>('settings-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const button = $<HTMLButtonElement>('settings-save')
    button.disabled = true
    void guarded(async () => {
      let body: SettingsRequest
      try {
        body = {
          uploadRate: fromMBps($<HTMLInputElement>('settings-upload').value, 'upload limit'),
          downloadRate: fromMBps($<HTMLInputElement>('settings-download').value, 'download limit'),
          chunkSize: Number($<HTMLSelectElement>('settings-chunk').value),
          network: $<HTMLSelectElement>('settings-network').value === 'amino' ? 'amino' : 'local',
          upnp: $<HTMLInputElement>('settings-upnp').checked
        }
      } catch (err) {
        if (err instanceof SettingsInputError) { message(err.message, true); return }
        throw err
      }
      fill(await api.updateSettings(body))
      message('saved')
    }).finally(() => { button.disabled = false })
  })
}
