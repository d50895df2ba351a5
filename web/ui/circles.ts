/**
 * The circles page of the desktop UI: manages the circles of the Kith node that served the page,
 * through its local API (api.ts), authorised by the node's API token (adoptToken). Create, invite
 * (code and QR code), join by code, the feed with a one-click download (in this browser,
 * peer-to-peer), members, remove.
 */
import { renderSVG } from 'uqr'
import type { CircleSummary } from '../../node/api/schema.js'
import { api } from './api.js'
import { $, el, guarded, message } from './dom.js'
import { formatMiB, formatMinute } from './format.js'

function qr (code: string): HTMLImageElement {
  const svg = renderSVG(code, { border: 2 })
  return el('img', { src: `data:image/svg+xml;base64,${btoa(svg)}`, alt: 'QR code of the invite', className: 'qr' })
}

/** Renders the page; `download(link)` starts a browser download of a feed item. */
export async function renderCircles (download: (link: string) => void): Promise<void> {
  await guarded(async () => {
    const { circles } = await api.circles()
    const list = $('circles-list')
    list.replaceChildren()
    if (circles.length === 0) list.append(el('p', { textContent: 'You are in no circle yet: create one, or join with an invite code.' }))
    for (const c of circles) list.append(await renderCircle(c, download))
  })
}

async function renderCircle (c: CircleSummary, download: (link: string) => void): Promise<HTMLElement> {
  const [{ members }, { feed }] = await Promise.all([api.circleMembers(c.name), api.circleFeed(c.name)])
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
          const r = await api.circleRemove(c.name, { peerId: m.peerId })
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
        const r = await api.circleInvite(c.name, {})
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
      await api.circleCreate({ name })
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
      const c = await api.circleJoin({ code, ...(memberName !== '' ? { memberName } : {}) })
      $<HTMLInputElement>('circle-join-code').value = ''
      message(`joined "${c.name}"`)
      await renderCircles(download)
    })
  })
  $('circles-refresh').addEventListener('click', () => { void renderCircles(download) })
}
