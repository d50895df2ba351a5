/**
 * The node page of the desktop UI: what the local Kith node shares (with seeding figures), its
 * downloads, and its peers with how each is connected; add a share by path; show a share's
 * seed-only link; blind-seed a friend's share by its seed-only link. Through the local API,
 * authorised like the circles page (api.ts).
 */
import { formatLink, parseLink, seedOnlyLink } from '../../protocol/link.js'
import type { NatBasis, ReachabilityReport, ShareInfo } from '../../node/api/schema.js'
import { api } from './api.js'
import { $, el, guarded, message } from './dom.js'
import { formatMiB } from './format.js'

/** How often, and at most how long, the page follows a seed job (the daemon times it out sooner). */
const SEED_POLL_MS = 500
const SEED_FOLLOW_MS = 6 * 60 * 60 * 1000

export async function renderNode (): Promise<void> {
  await guarded(async () => {
    const [{ shares }, { peers }, { downloads }, { reachability }] = await Promise.all([
      api.shares(),
      api.peers(),
      api.downloads(),
      api.status()
    ])
    $('node-shares').replaceChildren(...(shares.length === 0
      ? [el('li', { textContent: 'nothing shared yet' })]
      : shares.map(shareItem)))
    $('node-downloads').replaceChildren(...(downloads.length === 0
      ? [el('li', { textContent: 'no downloads' })]
      : downloads.map(d => el('li', {}, `${d.result?.path ?? d.id} · ${d.state} · ${formatMiB(d.bytes)} of ${formatMiB(d.total)} · ${d.peers} peers`))))
    $('node-peers').replaceChildren(...(peers.length === 0
      ? [el('li', { textContent: 'no peers connected' })]
      : peers.map(p => el('li', { dataset: { peer: p.peerId, kind: p.kind } }, `…${p.peerId.slice(-10)} · ${p.kind}${p.sessions > 0 ? ` · ${p.sessions} swarm sessions` : ''}`))))
    renderReachability(reachability)
  })
}

const NAT_WORDS: Record<NatBasis, string> = {
  bound: 'it listens on a public address',
  announced: 'an address you gave it to announce',
  confirmed: 'a peer confirmed its address',
  observed: 'peers see it at an address it does not have',
  'private-source': 'it reaches the internet from a private address',
  none: 'no peer on the internet seen yet'
}

/** The reachability report (docs/NETWORK.md): NAT status, relay reservations, UPnP, each connection's path. */
function renderReachability (r: ReachabilityReport): void {
  const short = (id: string): string => `…${id.slice(-8)}`
  const nat = $('node-nat')
  nat.dataset.nat = r.nat
  const headline = r.nat === 'public'
    ? 'Public: peers on the internet can reach this node'
    : r.nat === 'behind NAT' ? 'Behind NAT: peers on the internet reach this node through a relay or a hole punched through the NAT' : 'NAT status unknown'
  nat.textContent = `${headline} (${NAT_WORDS[r.natBasis]})${r.publicAddrs.length > 0 ? ` · ${r.publicAddrs.join(', ')}` : ''}`
  $('node-relays').replaceChildren(...(r.relays.length === 0
    ? [el('li', { textContent: 'no relay reservations' })]
    : r.relays.map(x => el('li', { dataset: { relay: x.peerId, kind: x.kind } }, `relay ${x.name !== undefined ? `${x.name}'s node` : short(x.peerId)}${x.bootstrap ? ' (bootstrap peer)' : ''} · ${x.kind === 'kith' ? 'a Kith node, unlimited' : 'a public relay, limited'} · until ${new Date(x.expires).toLocaleString()}`))))
  $('node-upnp').textContent = `UPnP: ${!r.upnp.enabled ? 'off' : r.upnp.mapped.length === 0 ? 'on, no mapping yet' : `mapped ${r.upnp.mapped.join(', ')}`}`
  $('node-connections').replaceChildren(...(r.connections.length === 0
    ? [el('li', { textContent: 'no connections' })]
    : r.connections.map(c => el('li', { dataset: { peer: c.peerId, path: c.path } }, `${c.name ?? short(c.peerId)} · ${c.label} · ${c.transport} · ${c.remoteAddr}`))))
}

function shareItem (s: ShareInfo): HTMLLIElement {
  const sealed = s.kind === 'sealed'
  const li = el('li', { dataset: { name: s.name, role: s.role } }, `${sealed ? '(encrypted: blind seed)' : s.name} · ${formatMiB(s.size)} · ${s.role}${s.complete ? '' : ' (incomplete: run Seed again to finish)'} · ${s.serving ? 'seeding' : 'not serving'} · ${s.peers} peers · ${formatMiB(s.uploaded)} uploaded `)
  if (!sealed) {
    // Worked out here from the share's link: the seed-only form needs no daemon.
    const button = el('button', { type: 'button', className: 'secondary', textContent: 'Seed-only link' })
    button.addEventListener('click', () => {
      void guarded(async () => { message(`seed-only link of ${s.name} (for someone who keeps it online without reading it): ${formatLink(seedOnlyLink(parseLink(s.link)))}`) })
    })
    li.append(button)
  }
  return li
}

/** Starts a blind seed on the daemon and follows it until it ends, in the message line. */
async function seed (text: string): Promise<void> {
  // Only the seed-only form leaves the page, even if a read link was pasted.
  const link = formatLink(seedOnlyLink(parseLink(text)))
  let job = await api.startSeed({ link })
  const until = Date.now() + SEED_FOLLOW_MS
  while (job.state === 'running' && Date.now() < until) {
    message(`fetching the encrypted chunks: ${formatMiB(job.bytes)} of ${formatMiB(job.total)} · ${job.peers} peers`)
    await new Promise(resolve => setTimeout(resolve, SEED_POLL_MS))
    job = await api.seed(job.id)
  }
  if (job.state === 'done' && job.result !== undefined) message(`seeding ${job.manifest}: ${job.result.chunks} chunk${job.result.chunks === 1 ? '' : 's'}, ${formatMiB(job.result.bytes)} of ciphertext, all verified; this node keeps it online`)
  else if (job.state === 'failed') message(`could not seed it: ${job.error?.message ?? 'unknown error'}`, true)
  await renderNode()
}

export function wireNodeForms (): void {
  $('node-seed').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = $<HTMLInputElement>('node-seed-link')
    const text = input.value.trim()
    if (text === '') return
    void guarded(async () => {
      input.value = ''
      await seed(text)
    })
  })
  $('node-add').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = $<HTMLInputElement>('node-add-path')
    const path = input.value.trim()
    if (path === '') return
    void guarded(async () => {
      const s = await api.share({ path })
      input.value = ''
      $('node-message').textContent = `sharing ${s.name}: ${s.link}`
      await renderNode()
    })
  })
  $('node-refresh').addEventListener('click', () => { void renderNode() })
}
