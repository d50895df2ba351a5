/**
 * `kith circle <subcommand>`: through the daemon when one runs for the repo (it keeps members in
 * sync); otherwise on the repo directly (create, invite, ls, members, feed, remove: changes reach
 * the other members when this repo's daemon next runs) or, for `join`, with a temporary node.
 */
import { Circles, DEFAULT_INVITE_TTL_MS, defaultMemberName } from '../circle/circles.js'
import type { CircleSummary, FeedEntry, MemberInfo } from '../api/schema.js'
import { bestBackend } from '../crypto/native.js'
import { KithNode } from '../node.js'
import { signerFor } from '../engine/publish.js'
import type { Repo } from '../repo/repo.js'
import { parseDuration } from './args.js'
import { bounded, findDaemon, multiaddrFlag, openRepo, type Context } from './context.js'
import { UsageError } from './errors.js'
import { formatBytes, table } from './output.js'
import { qrString } from './qr.js'

const SUBCOMMANDS = ['create', 'invite', 'join', 'ls', 'members', 'feed', 'remove', 'auto-fetch'] as const
type Sub = typeof SUBCOMMANDS[number]
const ARITY: Record<Sub, number> = { create: 1, invite: 1, join: 1, ls: 0, members: 1, feed: 1, remove: 2, 'auto-fetch': 2 }

export async function circle (ctx: Context): Promise<number> {
  const sub = ctx.args[0] as Sub
  if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown circle subcommand "${String(sub).slice(0, 20)}" (one of: ${SUBCOMMANDS.join(', ')})`, 'circle')
  const rest = ctx.args.slice(1)
  if (rest.length !== ARITY[sub]) throw new UsageError(`\`kith circle ${sub}\` takes ${ARITY[sub] === 0 ? 'no argument' : ARITY[sub] === 1 ? 'one argument' : 'two arguments'}`, 'circle')
  if (ctx.flags.ttl !== undefined && sub !== 'invite') throw new UsageError('--ttl applies to `circle invite` only', 'circle')
  if (ctx.flags.name !== undefined && sub !== 'create' && sub !== 'join') throw new UsageError('--name applies to `circle create` and `circle join` only', 'circle')
  const ttlMs = ctx.flags.ttl !== undefined ? parseDuration(ctx.flags.ttl, 'ttl', 'circle') : DEFAULT_INVITE_TTL_MS
  const memberName = ctx.flags.name ?? defaultMemberName()
  const [a, b] = rest as [string, string]

  const daemon = await findDaemon(ctx)
  if (daemon !== undefined) {
    const api = daemon.client
    switch (sub) {
      case 'create': return done(ctx, await api.circleCreate({ name: a, memberName }))
      case 'invite': return await printInvite(ctx, await api.circleInvite(a, { ttlSeconds: ttlMs / 1000 }), false)
      case 'join': return joined(ctx, await api.circleJoin({ code: a, memberName }))
      case 'ls': return list(ctx, (await api.circles()).circles)
      case 'members': return members(ctx, (await api.circleMembers(a)).members, true)
      case 'feed': return feed(ctx, (await api.circleFeed(a)).feed)
      case 'remove': return removed(ctx, await api.circleRemove(a, { peerId: b }))
      case 'auto-fetch': return autoFetched(ctx, a, (await api.circleAutoFetch(a, { dir: autoFetchDir(ctx, b) })).autoFetch)
    }
  }

  const repo = await openRepo(ctx.repoDir, sub === 'create' || sub === 'join')
  try {
    if (sub === 'join') return joined(ctx, await joinWithTemporaryNode(ctx, repo, a, memberName))
    const circles = await Circles.open(repo.dir, signerFor(repo.privateKey), bestBackend(), repo.secrets)
    switch (sub) {
      case 'create': return done(ctx, await circles.create(a, memberName))
      case 'invite': return await printInvite(ctx, await circles.invite(a, ttlMs, []), true)
      case 'ls': return list(ctx, circles.list())
      case 'members': return members(ctx, circles.members(a), false)
      case 'feed': return feed(ctx, circles.feed(a))
      case 'remove': {
        const r = await circles.remove(a, b)
        ctx.out.note('(no daemon running: the removal reaches the other members when your daemon runs)')
        return removed(ctx, r)
      }
      case 'auto-fetch': {
        const dir = autoFetchDir(ctx, b)
        await circles.setAutoFetch(a, dir)
        return autoFetched(ctx, a, dir)
      }
    }
  } finally {
    await repo.close()
  }
}

async function joinWithTemporaryNode (ctx: Context, repo: Repo, code: string, memberName: string): Promise<CircleSummary> {
  const listen = multiaddrFlag(ctx, 'listen') ?? ['/ip4/127.0.0.1/tcp/0']
  const bootstrap = multiaddrFlag(ctx, 'bootstrap')
  const node = await KithNode.start({ repo, listen, bootstrap })
  try {
    const summary = await node.circleJoin(code, memberName)
    await node.circleNet.settle()
    ctx.out.note('(no daemon running: start `kith daemon` to stay in sync with the circle)')
    return summary
  } finally {
    await bounded(node.stop(), 10_000)
  }
}

function autoFetchDir (ctx: Context, arg: string): string | null {
  if (arg === 'off') return null
  return resolvePath(ctx, arg)
}

function resolvePath (ctx: Context, p: string): string {
  return p.startsWith('/') ? p : `${ctx.cwd.replace(/\/+$/, '')}/${p}`
}

function done (ctx: Context, c: CircleSummary): number {
  ctx.out.result({ ...c })
  ctx.out.line(`created circle "${c.name}" (you are its admin); invite people with \`kith circle invite ${c.name}\``)
  return 0
}

function joined (ctx: Context, c: CircleSummary): number {
  ctx.out.result({ ...c })
  ctx.out.line(`joined circle "${c.name}": ${c.members} members, ${c.posts} posts (see \`kith circle feed ${c.name}\`)`)
  return 0
}

async function printInvite (ctx: Context, inv: { code: string, expires: string }, offline: boolean): Promise<number> {
  ctx.out.result({ code: inv.code, expires: inv.expires })
  ctx.out.line(inv.code)
  if (!ctx.out.json && ctx.out.stdoutTTY) ctx.out.rawStdout(await qrString(inv.code) + '\n')
  ctx.out.note(`one-time code, valid until ${inv.expires}; send it to one person out-of-band. They run: kith circle join <code>`)
  if (offline) ctx.out.note('(no daemon running: the code works while your daemon runs, so that they can reach you)')
  return 0
}

function list (ctx: Context, circles: CircleSummary[]): number {
  ctx.out.result({ circles })
  if (circles.length === 0) ctx.out.line('no circles (create one with `kith circle create <name>`)')
  else ctx.out.line(table(['NAME', 'MEMBERS', 'POSTS', 'EPOCH', 'ROLE', 'ID'], circles.map(c => [c.name, String(c.members), String(c.posts), String(c.epoch), c.admin ? 'admin' : 'member', c.id.slice(0, 16)])))
  return 0
}

function members (ctx: Context, list: MemberInfo[], live: boolean): number {
  ctx.out.result({ members: list })
  ctx.out.line(table(['PEER ID', 'NAME', 'ROLE', 'ONLINE'], list.map(m => [m.peerId, m.name + (m.me ? ' (you)' : ''), m.admin ? 'admin' : 'member', m.me ? 'yes' : live ? (m.online ? 'yes' : 'no') : '-'])))
  if (!live) ctx.out.note('(no daemon running: online status unknown)')
  return 0
}

function feed (ctx: Context, items: FeedEntry[]): number {
  ctx.out.result({ feed: items })
  if (items.length === 0) ctx.out.line('nothing posted yet (post with `kith share <path> --circle <name>`)')
  else ctx.out.line(table(['NAME', 'SIZE', 'AUTHOR', 'TIME', 'LINK'], items.map(f => [f.name, formatBytes(f.size), f.authorName !== '' ? f.authorName : f.author.slice(0, 16), f.time.replace('T', ' ').slice(0, 16), f.link])))
  return 0
}

function removed (ctx: Context, r: { epoch: number }): number {
  ctx.out.result({ epoch: r.epoch })
  ctx.out.line(`removed; the circle is now at epoch ${r.epoch} with a fresh key the removed member does not have`)
  return 0
}

function autoFetched (ctx: Context, name: string, dir: string | null): number {
  ctx.out.result({ circle: name, autoFetch: dir })
  ctx.out.line(dir === null ? `auto-fetch off for "${name}"` : `new posts in "${name}" download into ${dir} while the daemon runs`)
  return 0
}
