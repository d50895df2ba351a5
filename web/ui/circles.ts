/**
 * The circles page of the desktop UI: manages the circles of the Kith node that served the page,
 * through its local API (docs/API.md), authorised by the node's API token. The token arrives once
 * in the fragment (`#token=…`, as `kith daemon` prints it), is kept in sessionStorage for this tab
 * only, and is removed from the address bar at once. Create, invite (code and QR code), join by
 * code, the feed with a one-click download (in this browser, peer-to-peer), members, remove.
 */
import { renderSVG } from 'uqr'
import { KithError } from '../../protocol/errors.js'
import { $, el, guarded, message } from './dom.js'
import { formatMiB, formatMinute } from './format.js'

const TOKEN_KEY = 'kith-api-token'

interface CircleSummary { id: string, name: string, epoch: number, members: number, posts: number, admin: boolean }
interface Member { peerId: string, name: string, admin: boolean, online: boolean, me: boolean }
interface FeedItem { id: string, name: string, size: number, link: string, authorName: string, author: string, time: string }

/** Takes `#token=…` out of the address bar into sessionStorage. True if a token is known. */
export function adoptToken (): boolean {
  const m = /^#token=([0-9a-f]{64})$/.exec(location.hash)
  if (m !== null) {
    sessionStorage.setItem(TOKEN_KEY, m[1] as string)
    history.replaceState(null, '', `${location.pathname}#circles`)
  }
  return sessionStorage.getItem(TOKEN_KEY) !== null
}

/** The daemon refused a request (or the page has no token): the message is the daemon's, shown as it is. */
class ApiError extends KithError {
  static override name = 'ApiError'
}

export async function api<T> (method: string, path: string, body?: unknown): Promise<T> {
  const token = sessionStorage.getItem(TOKEN_KEY)
  if (token === null) throw new ApiError('open this page from the address `kith daemon` prints (it carries the access token)')
  const res = await fetch(new URL(`api/v1${path}`, new URL('./', location.href)), {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    cache: 'no-store'
  })
  const value = await res.json().catch(() => ({})) as { error?: { message?: string } }
  if (!res.ok) throw new ApiError(value.error?.message ?? `HTTP ${res.status}`)
  return value as T
}

function qr (code: string): HTMLImageElement {
  const svg = renderSVG(code, { border: 2 })
  return el('img', { src: `data:image/svg+xml;base64,${btoa(svg)}`, alt: 'QR code of the invite', className: 'qr' })
}

/** Renders the page; `download(link)` starts a browser download of a feed item. */
export async function renderCircles (download: (link: string) => void): Promise<void> {
  await guarded(async () => {
    const { circles } = await api<{ circles: CircleSummary[] }>('GET', '/circles')
    const list = $('circles-list')
    list.replaceChildren()
    if (circles.length === 0) list.append(el('p', { textContent: 'You are in no circle yet: create one, or join with an invite code.' }))
    for (const c of circles) list.append(await renderCircle(c, download))
  })
}

async function renderCircle (c: CircleSummary, download: (link: string) => void): Promise<HTMLElement> {
  const enc = encodeURIComponent(c.name)
  const [{ members }, { feed }] = await Promise.all([
    api<{ members: Member[] }>('GET', `/circles/${enc}/members`),
    api<{ feed: FeedItem[] }>('GET', `/circles/${enc}/feed`)
  ])
  const box = el('article', { className: 'circle', dataset: { circle: c.name } })
  box.append(el('h3', { textContent: `${c.name}` }, el('small', { textContent: ` · ${c.members} members · epoch ${c.epoch}${c.admin ? ' · you are the admin' : ''}` })))
  const feedList = el('ul', { className: 'feed' })
  for (const f of feed) {
    const button = el('button', { type: 'button', textContent: 'Download', className: 'feed-download' })
    button.addEventListener('click', () => { download(f.link) })
    feedList.append(el('li', { dataset: { name: f.name } }, `${f.name} · ${formatMiB(f.size)} · ${f.authorName !== '' ? f.authorName : f.author.slice(-8)} · ${formatMinute(f.time)} `, button))
  }
  box.append(el('h4', { textContent: 'Feed' }), feed.length > 0 ? feedList : el('p', { textContent: 'Nothing posted yet (kith share <path> --circle ' + c.name + ').' }))
  const memberList = el('ul', { className: 'members' })
  for (const m of members) {
    const li = el('li', { dataset: { peer: m.peerId } }, `${m.name}${m.me ? ' (you)' : ''} · ${m.admin ? 'admin' : 'member'} · ${m.online ? 'online' : 'offline'} · …${m.peerId.slice(-8)} `)
    if (c.admin && !m.me) {
      const rm = el('button', { type: 'button', textContent: 'Remove', className: 'secondary' })
      rm.addEventListener('click', () => {
        void guarded(async () => {
          const r = await api<{ epoch: number }>('POST', `/circles/${enc}/remove`, { peerId: m.peerId })
          message(`removed ${m.name}; the circle key was rotated (epoch ${r.epoch})`)
          await renderCircles(download)
        })
      })
      li.append(rm)
    }
    memberList.append(li)
  }
  box.append(el('h4', { textContent: 'Members' }), memberList)
  if (c.admin) {
    const out = el('div', { className: 'invite' })
    const inv = el('button', { type: 'button', textContent: 'Invite someone' })
    inv.addEventListener('click', () => {
      void guarded(async () => {
        const r = await api<{ code: string, expires: string }>('POST', `/circles/${enc}/invite`, {})
        out.replaceChildren(
          el('p', { textContent: `One-time code, valid until ${formatMinute(r.expires)} UTC. Send it privately to one person:` }),
          el('input', { readOnly: true, value: r.code, className: 'invite-code' }),
          qr(r.code)
        )
      })
    })
    box.append(inv, out)
  }
  return box
}

export function wireCircleForms (download: (link: string) => void): void {
  $<HTMLFormElement>('circle-create').addEventListener('submit', (e) => {
    e.preventDefault()
    const name = $<HTMLInputElement>('circle-create-name').value.trim()
    if (name === '') return
    void guarded(async () => {
      await api('POST', '/circles', { name })
      message(`created "${name}"`)
      await renderCircles(download)
    })
  })
  $<HTMLFormElement>('circle-join').addEventListener('submit', (e) => {
    e.preventDefault()
    const code = $<HTMLInputElement>('circle-join-code').value.trim()
    if (code === '') return
    void guarded(async () => {
      message('joining…')
      const memberName = $<HTMLInputElement>('circle-join-name').value.trim()
      const c = await api<CircleSummary>('POST', '/circles/join', { code, ...(memberName !== '' ? { memberName } : {}) })
      $<HTMLInputElement>('circle-join-code').value = ''
      message(`joined "${c.name}"`)
      await renderCircles(download)
    })
  })
  $('circles-refresh').addEventListener('click', () => { void renderCircles(download) })
}
