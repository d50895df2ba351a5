/**
 * `kith get <link>`: parse the link first (a bad link fails at once, exit 3), then download
 * through the daemon when one runs for the repo (polling its progress), else with a temporary node
 * of our own. The progress line goes to stderr on a terminal; the result is one line on stdout.
 */
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseLink } from '../../protocol/link.js'
import { applyGetProgress, initialProgress } from '../api/progress.js'
import type { DownloadRequest, DownloadResult, DownloadStatus } from '../api/schema.js'
import type { DaemonConnection } from '../api/client.js'
import { DEFAULT_GET_TIMEOUT_MS, SeedOnlyLinkError } from '../engine/get.js'
import type { NetworkMode } from '../engine/constants.js'
import { KithNode } from '../node.js'
import { mapDiskError } from '../fs/fs-safe.js'
import { parseSeconds } from './args.js'
import { catchTermination, type Termination } from './signals.js'
import { findDaemon, followJob, multiaddrFlag, networkFlag, stunFlag, upnpFlag, openRepo, shutDown, type Context } from './context.js'
import { formatBytes } from './output.js'
import { ProgressLine } from './progress.js'

/** Default listen address of the temporary node: loopback, any port. */
export const TEMP_NODE_LISTEN = ['/ip4/127.0.0.1/tcp/0']
const SHUTDOWN_MS = 5_000

/**
 * `paths` in `kith get --json` (temporary node only): which connections the data came over, one
 * entry per peer and path, e.g. `{ "peer": "12D3…", "path": "direct (hole punched)", "kind":
 * "webrtc", "limited": false, "received": 3146962 }` (docs/NETWORK.md, Direct connections).
 */
interface GetPath { peer: string, path: string, kind: string, limited: boolean, received: number }

export async function get (ctx: Context): Promise<number> {
  const linkText = (ctx.args[0] as string).trim()
  const link = parseLink(linkText)
  if (link.kind !== 'read') throw new SeedOnlyLinkError()
  const outDir = resolve(ctx.cwd, ctx.flags.output ?? '.')
  const timeoutSeconds = ctx.flags.timeout !== undefined ? parseSeconds(ctx.flags.timeout, 'timeout', 'get') : DEFAULT_GET_TIMEOUT_MS / 1000
  const listen = multiaddrFlag(ctx, 'listen')
  const announce = multiaddrFlag(ctx, 'announce')
  const stun = stunFlag(ctx)
  const upnp = upnpFlag(ctx)
  const bootstrap = multiaddrFlag(ctx, 'bootstrap')
  const network = networkFlag(ctx)

  const progress = new ProgressLine(ctx.out.streams.stderr)
  const term = catchTermination()
  let result: DownloadResult & { paths?: GetPath[] }
  try {
    const daemon = await findDaemon(ctx)
    if (daemon !== undefined) {
      if (listen !== undefined || announce !== undefined || network !== undefined || upnp !== undefined) ctx.out.note('note: --listen/--announce/--network/--upnp do not apply: the running daemon\'s node downloads this')
      result = await viaDaemon(daemon, { link: linkText, outDir, timeoutSeconds, ...(bootstrap !== undefined ? { bootstrap } : {}) }, progress, term)
    } else {
      result = await withTemporaryNode(ctx, linkText, outDir, timeoutSeconds, { listen, announce, bootstrap, network, stun, upnp }, progress, term)
    }
  } finally {
    progress.clear()
    term.dispose()
  }
  ctx.out.result({ path: result.path, name: result.name, size: result.size, sha256: result.sha256, publisher: result.publisher, seeders: result.seeders, ...(result.paths !== undefined ? { paths: result.paths } : {}) })
  ctx.out.line(`${result.path}  ${formatBytes(result.size)}  sha256 ${result.sha256}`)
  return 0
}

async function viaDaemon (daemon: DaemonConnection, req: DownloadRequest, progress: ProgressLine, term: Termination): Promise<DownloadResult> {
  return await followJob<DownloadStatus, DownloadResult>({
    start: async () => await daemon.client.startDownload(req),
    poll: async id => await daemon.client.download(id),
    cancel: async id => await daemon.client.cancelDownload(id)
  }, (s, force) => { progress.download(s, force) }, term, 'the download failed')
}

async function withTemporaryNode (ctx: Context, link: string, outDir: string, timeoutSeconds: number, net: { listen?: string[], announce?: string[], bootstrap?: string[], network?: NetworkMode, stun?: string[], upnp?: boolean }, progress: ProgressLine, term: Termination): Promise<DownloadResult & { paths: GetPath[] }> {
  await mkdir(outDir, { recursive: true }).catch(err => mapDiskError(err, outDir))
  const repo = await openRepo(ctx.repoDir, true)
  let node: KithNode | undefined
  try {
    // A one-shot download never needs to be reachable: no relay reservations (a daemon or
    // `kith seed` keeps them).
    node = await KithNode.start({ repo, listen: net.listen ?? TEMP_NODE_LISTEN, announce: net.announce, bootstrap: net.bootstrap, network: net.network, stun: net.stun, upnp: net.upnp, relayReservations: false })
    const p = initialProgress()
    progress.download(p, true)
    const ticker = setInterval(() => { progress.download(p) }, 500)
    try {
      const result = await node.get(link, {
        outDir,
        timeoutMs: Math.round(timeoutSeconds * 1000),
        signal: term.signal,
        onProgress: evt => {
          applyGetProgress(p, evt)
          progress.download(p)
        }
      })
      return { ...result, paths: node.paths(result.manifest).map(u => ({ peer: u.peer, path: u.label, kind: u.kind, limited: u.limited, received: u.received })) }
    } finally {
      clearInterval(ticker)
    }
  } finally {
    await shutDown(node, repo, SHUTDOWN_MS)
  }
}
