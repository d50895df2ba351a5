/**
 * `kith ls`, `kith unshare`, `kith peers`, `kith status`: through the daemon; without one, `ls`
 * and `unshare` read and edit the repo's share registry directly, `peers` and `status` fail with
 * NoDaemonError.
 */
import { manifestIdOf } from '../../protocol/link.js'
import { ShareNotFoundError } from '../api/errors.js'
import type { NatBasis, ReachabilityReport, ShareInfo } from '../api/schema.js'
import { bestBackend } from '../crypto/native.js'
import { forgetShare } from '../share/unshare.js'
import { shareInfo } from '../share/share-info.js'
import { findDaemon, openRepo, type Context } from './context.js'
import { NoDaemonError } from './errors.js'
import { formatBytes, table } from './output.js'

export async function ls (ctx: Context): Promise<number> {
  let shares: ShareInfo[]
  const daemon = await findDaemon(ctx)
  if (daemon !== undefined) {
    shares = (await daemon.client.shares()).shares
  } else {
    const repo = await openRepo(ctx.repoDir, false)
    try {
      shares = (await repo.listShares()).map(r => shareInfo(r))
    } finally {
      await repo.close()
    }
  }
  ctx.out.result({ shares })
  if (shares.length === 0) {
    ctx.out.line('no shares')
    return 0
  }
  ctx.out.line(table(
    ['NAME', 'SIZE', 'ROLE', 'PEERS', 'LINK'],
    shares.map(s => [s.kind === 'sealed' ? '(encrypted: blind seed)' : s.name + (s.kind === 'dir' ? '/' : ''), formatBytes(s.size), s.role + (s.complete ? '' : ' (incomplete)'), daemon !== undefined ? String(s.peers) : '-', s.link])
  ))
  if (daemon === undefined) ctx.out.note('(no daemon running: nothing is being served)')
  return 0
}

export async function unshare (ctx: Context): Promise<number> {
  const manifest = manifestIdOf(ctx.args[0] as string)
  const daemon = await findDaemon(ctx)
  if (daemon !== undefined) {
    await daemon.client.unshare(manifest)
  } else {
    const repo = await openRepo(ctx.repoDir, false)
    try {
      if (!(await forgetShare(repo, bestBackend(), manifest))) throw new ShareNotFoundError(`no share ${manifest} in ${ctx.repoDir}`)
    } finally {
      await repo.close()
    }
  }
  ctx.out.result({ manifest, removed: true })
  ctx.out.line(`unshared ${manifest} (files on disk are kept; a blind seed's ciphertext is deleted)`)
  return 0
}

export async function peers (ctx: Context): Promise<number> {
  const daemon = await findDaemon(ctx)
  if (daemon === undefined) throw new NoDaemonError(ctx.repoDir)
  const { peers } = await daemon.client.peers()
  ctx.out.result({ peers })
  if (peers.length === 0) ctx.out.line('no peers connected')
  else ctx.out.line(table(['PEER ID', 'TYPE', 'SESSIONS'], peers.map(p => [p.peerId, p.kind, String(p.sessions)])))
  return 0
}

export async function status (ctx: Context): Promise<number> {
  const daemon = await findDaemon(ctx)
  if (daemon === undefined) throw new NoDaemonError(ctx.repoDir)
  const s = await daemon.client.status()
  ctx.out.result({ ...s, repo: ctx.repoDir })
  ctx.out.line(`peer ID      ${s.peerId}`)
  ctx.out.line(`repo         ${ctx.repoDir}`)
  ctx.out.line(`API          ${s.api} (pid ${s.pid}, kith ${s.version})`)
  ctx.out.line(`network      ${s.network === 'amino' ? 'amino (the public IPFS Amino DHT, and local)' : 'local (LAN and friends\' nodes only)'}`)
  ctx.out.line(`addresses    ${s.addrs[0] ?? '(none)'}`)
  for (const a of s.addrs.slice(1)) ctx.out.line(`             ${a}`)
  ctx.out.line(`connections  ${s.connections}`)
  ctx.out.line(`shares       ${s.shares} served, ${s.sessions} swarm session${s.sessions === 1 ? '' : 's'}`)
  ctx.out.line(`downloads    ${s.downloads} running`)
  if (s.seeds > 0) ctx.out.line(`blind seeds  ${s.seeds} fetching`)
  for (const line of reachabilityLines(s.reachability)) ctx.out.line(line)
  return 0
}

const NAT_BASIS: Record<NatBasis, string> = {
  bound: 'it listens on a public address',
  announced: 'an address given with --announce',
  confirmed: 'a peer confirmed its address',
  observed: 'peers see it at an address it does not have',
  'private-source': 'it reaches the internet from a private address',
  none: 'no peer on the internet seen yet'
}

/** The reachability report (docs/NETWORK.md), as `kith status` prints it. */
function reachabilityLines (r: ReachabilityReport): string[] {
  const short = (id: string): string => `…${id.slice(-8)}`
  const who = (id: string, name: string | undefined, bootstrap: boolean): string => name !== undefined ? `${name} (${short(id)})` : `${short(id)}${bootstrap ? ' (bootstrap peer)' : ''}`
  const out = [`NAT          ${r.nat} (${NAT_BASIS[r.natBasis]})`]
  for (const a of r.publicAddrs) out.push(`             ${a}`)
  if (r.relays.length === 0) out.push('relays       no reservations')
  for (const [i, x] of r.relays.entries()) {
    out.push(`${i === 0 ? 'relays       ' : '             '}${who(x.peerId, x.name, x.bootstrap)} · ${x.kind === 'kith' ? 'Kith node (unlimited)' : 'public relay (limited)'} · until ${x.expires}`)
  }
  out.push(`UPnP         ${!r.upnp.enabled ? 'off' : r.upnp.mapped.length === 0 ? 'on, no mapping yet' : `mapped ${r.upnp.mapped.join(' ')}`}`)
  if (r.connections.length > 0) {
    out.push(table(['PEER', 'PATH', 'TRANSPORT', 'ADDRESS'], r.connections.map(c => [who(c.peerId, c.name, c.bootstrap), c.label, c.transport, c.remoteAddr])))
  }
  return out
}
