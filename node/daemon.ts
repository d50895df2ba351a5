/**
 * The daemon: one long-running KithNode for a repo, plus the local HTTP API (node/api/schema.ts) through
 * which the CLI (and later the web UI) drives it.
 *
 * `ApiServer` is the HTTP side only: it serves any `ApiBackend` (KithNode is one), so it can be
 * tested without libp2p. `Daemon` wires the repo, the node and the server together, records
 * `daemon.json` once the API listens and removes it on stop.
 *
 * Security: the server binds a loopback address only (parseApiAddress refuses anything else),
 * refuses requests whose Host header does not name that address or `localhost` with its port
 * (DNS rebinding), requires the repo's API token as a bearer token on every /api/ request
 * (compared in constant time), bounds request bodies, and never sends CORS headers, so a web page
 * in a browser cannot drive it. Error bodies carry only error names and messages, never a link.
 */

import { KithNode } from './node.js'
import type { NetworkMode } from './engine/constants.js'

import { Repo, readDaemonInfo } from './repo/repo.js'
import { ApiServer, parseApiAddress } from './api/server.js'
import { DaemonRunningError } from './api/errors.js'

export interface DaemonOptions {
  repoDir: string
  /** Overrides the repo config's listen addresses. */
  listen?: string[]
  /** Overrides the repo config's announce addresses. */
  announce?: string[]
  /** Overrides the repo config's STUN servers. */
  stun?: string[]
  /** UPnP port mapping (default: the repo config's `upnp`). */
  upnp?: boolean
  /** Overrides the repo config's bootstrap addresses. */
  bootstrap?: string[]
  /** Overrides the repo config's network ('local' or 'amino'). */
  network?: NetworkMode
  /** host:port; default the repo config's `api`. */
  api?: string
  staticRoot?: string
  transports?: 'tcp' | 'memory'
  /** Asked only if the repo is sealed (KITH_PASSPHRASE or a terminal prompt, from the CLI). */
  passphrase?: () => Promise<string | undefined>
}

export class Daemon {
  readonly repo: Repo
  readonly node: KithNode
  readonly server: ApiServer
  #stopping: Promise<void> | undefined

  private constructor (repo: Repo, node: KithNode, server: ApiServer) {
    this.repo = repo
    this.node = node
    this.server = server
  }

  /** Opens (creating if missing) the repo, starts the node and the API, writes daemon.json. */
  static async start (opts: DaemonOptions): Promise<Daemon> {
    const flagAddress = opts.api !== undefined ? parseApiAddress(opts.api) : undefined
    const running = await readDaemonInfo(opts.repoDir)
    if (running !== undefined && running.pid !== process.pid) throw new DaemonRunningError(opts.repoDir, running)
    const repo = await Repo.open(opts.repoDir, { create: true, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) })
    let node: KithNode | undefined
    let server: ApiServer | undefined
    try {
      const address = flagAddress ?? parseApiAddress(repo.config.api)
      node = await KithNode.start({ repo, listen: opts.listen, announce: opts.announce, bootstrap: opts.bootstrap, network: opts.network, stun: opts.stun, upnp: opts.upnp, transports: opts.transports })
      server = await ApiServer.listen({ backend: node, token: repo.apiToken, address, staticRoot: opts.staticRoot })
      await repo.writeDaemonInfo({ pid: process.pid, api: server.url })
      return new Daemon(repo, node, server)
    } catch (err) {
      await server?.close().catch(() => {})
      await node?.stop().catch(() => {})
      await repo.close().catch(() => {})
      throw err
    }
  }

  get url (): string { return this.server.url }

  /** Stops the API, removes daemon.json, stops the node, closes the repo. Idempotent. */
  async stop (): Promise<void> {
    this.#stopping ??= (async () => {
      await this.server.close().catch(() => {})
      await this.repo.clearDaemonInfo().catch(() => {})
      await this.node.stop().catch(() => {})
      await this.repo.close().catch(() => {})
    })()
    await this.#stopping
  }
}
