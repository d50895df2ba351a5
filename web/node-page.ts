/**
 * The node page of the desktop UI: what the local Kith node shares (with seeding figures), its
 * downloads, and its peers with how each is connected; add a share by path. Through the local API,
 * authorised like the circles page (circles.ts).
 */
import { api, el, guarded } from './circles.js'

interface Share { name: string, kind: string, size: number, role: string, peers: number, uploaded: number, serving: boolean, link: string }
interface Peer { peerId: string, kind: string, sessions: number }
interface Download { id: string, state: string, bytes: number, total: number, peers: number, result?: { path: string } }

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`

export async function renderNode (): Promise<void> {
  await guarded(async () => {
    const [{ shares }, { peers }, { downloads }] = await Promise.all([
      api<{ shares: Share[] }>('GET', '/shares'),
      api<{ peers: Peer[] }>('GET', '/peers'),
      api<{ downloads: Download[] }>('GET', '/downloads')
    ])
    const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement
    $('node-shares').replaceChildren(...(shares.length === 0
      ? [el('li', { textContent: 'nothing shared yet' })]
      : shares.map(s => el('li', { dataset: { name: s.name } }, `${s.kind === 'sealed' ? '(encrypted: blind seed)' : s.name} · ${mib(s.size)} · ${s.role} · ${s.serving ? 'seeding' : 'not serving'} · ${s.peers} peers · ${mib(s.uploaded)} uploaded`))))
    $('node-downloads').replaceChildren(...(downloads.length === 0
      ? [el('li', { textContent: 'no downloads' })]
      : downloads.map(d => el('li', {}, `${d.result?.path ?? d.id} · ${d.state} · ${mib(d.bytes)} of ${mib(d.total)} · ${d.peers} peers`))))
    $('node-peers').replaceChildren(...(peers.length === 0
      ? [el('li', { textContent: 'no peers connected' })]
      : peers.map(p => el('li', { dataset: { peer: p.peerId, kind: p.kind } }, `…${p.peerId.slice(-10)} · ${p.kind}${p.sessions > 0 ? ` · ${p.sessions} swarm sessions` : ''}`))))
  })
}

export function wireNodeForms (): void {
  document.getElementById('node-add')?.addEventListener('submit', (e) => {
    e.preventDefault()
    const input = document.getElementById('node-add-path') as HTMLInputElement
    const path = input.value.trim()
    if (path === '') return
    void guarded(async () => {
      const s = await api<Share>('POST', '/shares', { path })
      input.value = ''
      const m = document.getElementById('node-message')
      if (m !== null) m.textContent = `sharing ${s.name}: ${s.link}`
      await renderNode()
    })
  })
  document.getElementById('node-refresh')?.addEventListener('click', () => { void renderNode() })
}
