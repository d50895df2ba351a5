/**
 * `kith init [--passphrase] [--network local|amino] [--upnp]`: create the repo and identity; idempotent.
 * With --passphrase the repo's keys (identity, circle keys) are sealed under it
 * (node/repo/keystore.ts): a new repo is made sealed, an existing plain one is sealed in place, a
 * sealed one is only checked. --network sets config.json's "network" (through the daemon when one
 * runs: it takes effect when the daemon next starts); --upnp sets its "upnp" to true the same way.
 */
import { resealCircles } from '../circle/circles.js'
import { PassphraseRequiredError } from '../repo/errors.js'
import { Repo } from '../repo/repo.js'
import { findDaemon, networkFlag, openRepo, upnpFlag, type Context } from './context.js'
import { newPassphrase } from './passphrase.js'
import { SealWhileRunningError } from './errors.js'

export async function init (ctx: Context): Promise<number> {
  let peerId: string
  let created = false
  let sealed: boolean
  const network = networkFlag(ctx)
  const upnp = upnpFlag(ctx)
  const daemon = await findDaemon(ctx)
  if (daemon !== undefined) {
    if (ctx.flags.passphrase === true) throw new SealWhileRunningError()
    if (network !== undefined || upnp !== undefined) await daemon.client.updateSettings({ ...(network !== undefined ? { network } : {}), ...(upnp !== undefined ? { upnp } : {}) })
    // The daemon holds the repo open: it exists, and the daemon knows its peer ID.
    peerId = daemon.status.peerId
    sealed = daemon.status.sealed === true
  } else {
    created = !(await Repo.exists(ctx.repoDir))
    let repo: Repo
    if (ctx.flags.passphrase === true) {
      const passphrase = await newPassphrase(process.env)
      if (passphrase === undefined) throw new PassphraseRequiredError()
      repo = await Repo.open(ctx.repoDir, { create: true, createPassphrase: async () => passphrase, passphrase: async () => passphrase })
      try {
        if (!repo.sealed) {
          const { from, to } = await repo.seal(passphrase)
          await resealCircles(repo.dir, from, to)
        }
      } catch (err) {
        await repo.close()
        throw err
      }
    } else {
      repo = await openRepo(ctx.repoDir, true)
    }
    try {
      if (network !== undefined && repo.config.network !== network) await repo.updateConfig({ network })
      if (upnp !== undefined && repo.config.upnp !== upnp) await repo.updateConfig({ upnp })
    } finally {
      peerId = repo.peerId.toString()
      sealed = repo.sealed
      await repo.close()
    }
  }
  ctx.out.result({ repo: ctx.repoDir, peerId, created, sealed, ...(network !== undefined ? { network } : {}), ...(upnp !== undefined ? { upnp } : {}) })
  ctx.out.line(created ? `created a kith repo at ${ctx.repoDir}` : `a kith repo already exists at ${ctx.repoDir}`)
  ctx.out.line(`peer ID: ${peerId}`)
  if (network !== undefined) ctx.out.line(network === 'amino' ? 'network: amino (the public IPFS Amino DHT): friends anywhere can find this node' : 'network: local (LAN and friends\' nodes)')
  if (upnp !== undefined) ctx.out.line('upnp: on (from the next start the node asks the home router to forward its TCP port, and announces your home\'s public IP to its peers)')
  if (sealed) ctx.out.line('its keys are sealed with your passphrase (set KITH_PASSPHRASE for the daemon, or type it when asked)')
  return 0
}
