/**
 * `kith seed <link>`: blind seeding. The link is turned into its seed-only form at once (a read
 * link's key never goes further than this process's parser). Through the daemon when one runs for
 * the repo (polling its progress; the daemon keeps seeding), else with a node of our own that
 * fetches every chunk, prints the result, and seeds in the foreground until SIGINT/SIGTERM.
 *
 * `kith seed-link <link>`: prints a read link's seed-only form.
 */
import { formatLink, parseLink, seedOnlyLink } from '../../protocol/link.js'
import { applySeedProgress, initialProgress } from '../api/progress.js'
import type { SeedRequest, SeedStatus } from '../api/schema.js'
import type { DaemonConnection } from '../api/client.js'
import { DEFAULT_GET_TIMEOUT_MS } from '../engine/get.js'
import { KithNode } from '../node.js'
import type { SeedResult } from '../engine/seed.js'
import { parseSeconds } from './args.js'
import { catchTermination, type Termination } from './signals.js'
import { findDaemon, followJob, multiaddrFlag, networkFlag, stunFlag, upnpFlag, openRepo, shutDown, type Context } from './context.js'
import { formatBytes } from './output.js'
import { ProgressLine } from './progress.js'
import { qrString } from './qr.js'

const SHUTDOWN_MS = 10_000
/** What the progress bar calls the bytes of a blind seed. */
const LABEL = 'ciphertext'

export async function seedLink (ctx: Context): Promise<number> {
  const link = formatLink(seedOnlyLink(parseLink(ctx.args[0] as string)))
  ctx.out.result({ seedLink: link })
  ctx.out.line(link)
  if (!ctx.out.json && ctx.out.stdoutTTY) ctx.out.rawStdout(await qrString(link) + '\n')
  return 0
}

export async function seed (ctx: Context): Promise<number> {
  const link = seedOnlyLink(parseLink(ctx.args[0] as string))
  const linkText = formatLink(link)
  const timeoutSeconds = ctx.flags.timeout !== undefined ? parseSeconds(ctx.flags.timeout, 'timeout', 'seed') : DEFAULT_GET_TIMEOUT_MS / 1000
  const listen = multiaddrFlag(ctx, 'listen')
  const announce = multiaddrFlag(ctx, 'announce')
  const stun = stunFlag(ctx)
  const upnp = upnpFlag(ctx)
  const bootstrap = multiaddrFlag(ctx, 'bootstrap')
  const network = networkFlag(ctx)

  const progress = new ProgressLine(ctx.out.streams.stderr)
  const term = catchTermination()
  try {
    const daemon = await findDaemon(ctx)
    if (daemon !== undefined) {
      if (listen !== undefined || announce !== undefined || network !== undefined || upnp !== undefined) ctx.out.note('note: --listen/--announce/--network/--upnp do not apply: the running daemon\'s node seeds this')
      const result = await viaDaemon(daemon, { link: linkText, timeoutSeconds, ...(bootstrap !== undefined ? { bootstrap } : {}) }, progress, term)
      progress.clear()
      printResult(ctx, result)
      ctx.out.note(`the daemon (${daemon.info.api}) keeps seeding it; \`kith unshare <link>\` stops it and deletes the ciphertext`)
      return 0
    }

    const repo = await openRepo(ctx.repoDir, true)
    let node: KithNode | undefined
    try {
      node = await KithNode.start({ repo, listen, announce, bootstrap, network, stun, upnp })
      const p = initialProgress()
      p.name = LABEL
      const ticker = setInterval(() => { progress.download(p) }, 500)
      let result: SeedResult
      try {
        result = await node.seed(link, {
          timeoutMs: Math.round(timeoutSeconds * 1000),
          signal: term.signal,
          onProgress: evt => {
            applySeedProgress(p, evt)
            progress.download(p)
          }
        })
      } finally {
        clearInterval(ticker)
        progress.clear()
      }
      printResult(ctx, result)
      ctx.out.note(`seeding from ${node.addrs().join(' ') || '(no listen address)'}`)
      ctx.out.note('seeding; press Ctrl-C to stop')
      await term.received
      return 0
    } finally {
      await shutDown(node, repo, SHUTDOWN_MS)
    }
  } finally {
    progress.clear()
    term.dispose()
  }
}

function printResult (ctx: Context, r: SeedResult): void {
  ctx.out.result({ manifest: r.manifest, seedLink: r.seedLink, chunks: r.chunks, bytes: r.bytes })
  ctx.out.line(`${r.manifest}  ${formatBytes(r.bytes)} of ciphertext in ${r.chunks} chunks, all verified`)
}

async function viaDaemon (daemon: DaemonConnection, req: SeedRequest, progress: ProgressLine, term: Termination): Promise<SeedResult> {
  return await followJob<SeedStatus, SeedResult>({
    start: async () => await daemon.client.startSeed(req),
    poll: async id => await daemon.client.seed(id),
    cancel: async id => await daemon.client.cancelSeed(id)
  }, (s, force) => { progress.download({ ...s, name: LABEL }, force) }, term, 'seeding failed')
}
