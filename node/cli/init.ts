/** `kith init`: create the repo and identity; idempotent. */
import { Repo } from '../repo.js'
import { findDaemon, openRepo, type Context } from './context.js'

export async function init (ctx: Context): Promise<number> {
  let peerId: string
  let created = false
  const daemon = await findDaemon(ctx)
  if (daemon !== undefined) {
    // The daemon holds the repo open: it exists, and the daemon knows its peer ID.
    peerId = daemon.status.peerId
  } else {
    created = !(await Repo.exists(ctx.repoDir))
    const repo = await openRepo(ctx.repoDir, true)
    peerId = repo.peerId.toString()
    await repo.close()
  }
  ctx.out.result({ repo: ctx.repoDir, peerId, created })
  ctx.out.line(created ? `created a kith repo at ${ctx.repoDir}` : `a kith repo already exists at ${ctx.repoDir}`)
  ctx.out.line(`peer ID: ${peerId}`)
  return 0
}
