/**
 * `kith share <path>`: through the daemon when one runs (it keeps seeding; we return), else a
 * node of our own that prints the link as soon as the share is published and seeds in the
 * foreground until SIGINT/SIGTERM (like `croc send`).
 */
import { resolve } from 'node:path'
import { isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { ShareInfo } from '../api/schema.js'
import { KithNode } from '../node.js'
import type { ShareOptions } from '../engine/publish.js'
import { parseChunkSize } from './args.js'
import { catchTermination } from './signals.js'
import { findDaemon, multiaddrFlag, networkFlag, stunFlag, upnpFlag, openRepo, shutDown, untilAborted, type Context } from './context.js'
import { ProgressLine } from './progress.js'
import { qrString } from './qr.js'

const SHUTDOWN_MS = 10_000

export async function share (ctx: Context): Promise<number> {
  const path = resolve(ctx.cwd, ctx.args[0] as string)
  const chunkSize = ctx.flags['chunk-size'] !== undefined ? parseChunkSize(ctx.flags['chunk-size'], 'share') : undefined
  const listen = multiaddrFlag(ctx, 'listen')
  const announce = multiaddrFlag(ctx, 'announce')
  const stun = stunFlag(ctx)
  const upnp = upnpFlag(ctx)
  const bootstrap = multiaddrFlag(ctx, 'bootstrap')
  const network = networkFlag(ctx)
  const circle = ctx.flags.circle

  const term = catchTermination()
  const daemon = await findDaemon(ctx).catch((err: unknown) => { term.dispose(); throw err })
  if (daemon !== undefined) {
    if (listen !== undefined || announce !== undefined || bootstrap !== undefined || network !== undefined || upnp !== undefined) ctx.out.note('note: --listen/--announce/--bootstrap/--network/--upnp do not apply: the running daemon\'s node shares this')
    const progress = new ProgressLine(ctx.out.streams.stderr)
    progress.message('encrypting and publishing through the daemon…')
    let info: ShareInfo
    try {
      // Ctrl-C stops waiting; the daemon finishes the share regardless.
      info = await untilAborted(daemon.client.share({ path, ...(chunkSize !== undefined ? { chunkSize } : {}), ...(circle !== undefined ? { circle } : {}) }), term.signal)
    } finally {
      progress.clear()
      term.dispose()
    }
    await printShare(ctx, info)
    const status = await daemon.client.status().catch(() => undefined)
    if (status !== undefined) reachabilityNote(ctx, status.network, status.addrs)
    ctx.out.note(`the daemon (${daemon.info.api}) keeps seeding it; \`kith unshare <link>\` stops it`)
    return 0
  }

  const repo = await openRepo(ctx.repoDir, true).catch((err: unknown) => { term.dispose(); throw err })
  let node: KithNode | undefined
  const progress = new ProgressLine(ctx.out.streams.stderr)
  try {
    node = await KithNode.start({ repo, listen, announce, bootstrap, network, stun, upnp })
    const opts = {
      ...(chunkSize !== undefined ? { chunkSize } : {}),
      signal: term.signal,
      onProgress: (evt: Parameters<NonNullable<ShareOptions['onProgress']>>[0]) => {
        if (evt.type === 'kith:share:chunk') progress.encrypt(evt.detail.bytes, evt.detail.total, evt.detail.bytes === evt.detail.total)
        else progress.message('announcing…')
      }
    }
    const info = circle !== undefined ? await node.shareToCircle(path, circle, opts) : await node.share(path, opts)
    progress.clear()
    await printShare(ctx, info)
    ctx.out.note(`seeding from ${node.addrs().join(' ') || '(no listen address)'}`)
    reachabilityNote(ctx, node.network, node.addrs())
    ctx.out.note('seeding; press Ctrl-C to stop')
    await term.received
    return 0
  } finally {
    progress.clear()
    term.dispose()
    await shutDown(node, repo, SHUTDOWN_MS)
  }
}

/**
 * On a terminal: a `local` node with no public address (none it binds, announces or relays
 * through) is reachable from its LAN and its circle's nodes only; say so, and how to fix it.
 */
function reachabilityNote (ctx: Context, network: string, addrs: string[]): void {
  if (ctx.out.json || !ctx.out.stdoutTTY || network !== 'local') return
  const reachable = addrs.some(a => { try { return isPrivate(multiaddr(a)) === false } catch { return false } })
  if (reachable) return
  ctx.out.note('note: this node is on the local network only and has no public address: friends outside your LAN (and not on your circle\'s nodes) will not reach it.')
  ctx.out.note('      To fix that, share with --network amino (joins the public IPFS network), or forward a port on your router and pass --announce /ip4/<public address>/tcp/<port> (docs/NETWORK.md).')
}

async function printShare (ctx: Context, info: ShareInfo): Promise<void> {
  ctx.out.result({ link: info.link, name: info.name, size: info.size, chunks: info.chunks })
  ctx.out.line(info.link)
  if (ctx.flags.circle !== undefined) ctx.out.note(`posted to circle "${ctx.flags.circle}"`)
  if (!ctx.out.json && ctx.out.stdoutTTY) ctx.out.rawStdout(await qrString(info.link) + '\n')
}
