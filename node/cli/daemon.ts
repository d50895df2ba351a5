/** `kith daemon`: run the node and the local API until SIGINT/SIGTERM, then exit 0. */
import { Daemon } from '../daemon.js'
import { parseApiAddress } from '../api/server.js'
import { UsageError } from './errors.js'
import { bounded, multiaddrFlag, networkFlag, stunFlag, untilAborted, upnpFlag, type Context } from './context.js'
import { catchTermination } from './signals.js'
import { passphraseSource } from './passphrase.js'

/** Longest a clean shutdown may take before the process exits anyway. */
const SHUTDOWN_MS = 10_000

export async function daemon (ctx: Context): Promise<number> {
  const listen = multiaddrFlag(ctx, 'listen')
  const announce = multiaddrFlag(ctx, 'announce')
  const stun = stunFlag(ctx)
  const bootstrap = multiaddrFlag(ctx, 'bootstrap')
  const network = networkFlag(ctx)
  const upnp = upnpFlag(ctx)
  if (ctx.flags.api !== undefined) {
    try {
      parseApiAddress(ctx.flags.api)
    } catch (err) {
      throw new UsageError(`--api: ${(err as Error).message}`, 'daemon')
    }
  }
  // Catch signals from the start: a SIGTERM while starting still ends in a clean stop.
  const term = catchTermination()
  try {
    const staticRoot = await webRoot()
    const starting = Daemon.start({ repoDir: ctx.repoDir, listen, announce, bootstrap, network, stun, upnp, api: ctx.flags.api, passphrase: passphraseSource(process.env), ...(staticRoot !== undefined ? { staticRoot } : {}) })
    let d: Daemon
    try {
      d = await untilAborted(starting, term.signal)
    } catch (err) {
      if (!term.signal.aborted) throw err
      // Interrupted while starting: let the start finish, then stop what it started.
      await bounded(starting.then(async started => { await started.stop() }), SHUTDOWN_MS)
      return 0
    }
    const status = d.node.status()
    const ui = staticRoot !== undefined ? `${d.url}/` : undefined
    ctx.out.result({ peerId: status.peerId, addrs: status.addrs, api: d.url, ...(ui !== undefined ? { ui } : {}) })
    ctx.out.line(`kith daemon running for ${ctx.repoDir}`)
    ctx.out.line(`peer ID   ${status.peerId}`)
    ctx.out.line(`network   ${status.network === 'amino' ? 'amino (the public IPFS Amino DHT, and local)' : 'local (LAN and friends\' nodes)'}`)
    if (d.node.libp2p.services.upnp !== undefined) ctx.out.line('UPnP      on: asking the home router to forward the TCP port (kith status shows the mapping)')
    ctx.out.line('listening on')
    for (const a of status.addrs) ctx.out.line(`  ${a}`)
    ctx.out.line(`API       ${d.url}`)
    if (ui !== undefined) {
      ctx.out.line(`web UI    ${ui}`)
      // The management link carries the API token: shown on a terminal only, never in --json or
      // in output that may go to a log file.
      if (ctx.out.stdoutTTY && !ctx.out.json) ctx.out.line(`manage    ${ui}#token=${d.repo.apiToken}   (your node's key to its API: do not share this link)`)
      else ctx.out.note(`to manage this node in the browser, open ${ui}#token=<the token in ${ctx.repoDir}/api-token>`)
    } else {
      ctx.out.line('web UI    not built (npm run build)')
    }
    ctx.out.note('press Ctrl-C to stop')
    const sig = await term.received
    ctx.out.note(`${sig}: stopping…`)
    await bounded(d.stop(), SHUTDOWN_MS)
    ctx.out.note('stopped')
    return 0
  } finally {
    term.dispose()
  }
}

/** The built web app (dist/web next to dist/node), if it was built. */
async function webRoot (): Promise<string | undefined> {
  const { fileURLToPath } = await import('node:url')
  const { stat } = await import('node:fs/promises')
  const dir = fileURLToPath(new URL('../../web/', import.meta.url))
  const ok = await stat(`${dir}index.html`).then(s => s.isFile(), () => false)
  return ok ? dir : undefined
}
