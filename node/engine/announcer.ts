/**
 * Announcing the shares a node serves in the DHT: the root block as a self-certifying record, and
 * this node as a provider under the share's discovery key (docs/THREAT-MODEL.md §2.6). Each share has one
 * announcement pending at a time: again after REANNOUNCE_MS (kad-dht records live 48 h), or after
 * ANNOUNCE_RETRY_MS when it failed. A node with no connections does not query at all (the query
 * would wait for peers until its deadline): the first peer that connects triggers every
 * announcement still owed (`peerConnected`).
 */
import type { Libp2p, Logger } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { scope } from './abort.js'
import { provide, putManifest } from './dht.js'
import type { ShareState } from './share/share-state.js'

/** Re-announce (DHT record + provider record) this often; kad-dht records live 48 h. */
export const REANNOUNCE_MS = 60 * 60 * 1000
/** Retry a failed announcement (e.g. no DHT peers yet) this often. */
export const ANNOUNCE_RETRY_MS = 15 * 1000
/** How long one announcement (record put + provide) may take. */
const ANNOUNCE_TIMEOUT_MS = 30_000

export class Announcer {
  readonly #libp2p: Libp2p<{ dht: KadDHT }>
  readonly #log: Logger
  /** Whether `state` is still served: an announcement of a share no longer served is dropped. */
  readonly #current: (state: ShareState) => boolean
  readonly #timers = new Map<ShareState, ReturnType<typeof setTimeout>>()
  /** Shares whose last announcement failed or could not be tried (no peers). */
  readonly #owed = new Set<ShareState>()
  #soon: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor (libp2p: Libp2p<{ dht: KadDHT }>, log: Logger, current: (state: ShareState) => boolean) {
    this.#libp2p = libp2p
    this.#log = log
    this.#current = current
  }

  /** Puts the root into the DHT and provides under the discovery key; retries until it works. */
  async announce (state: ShareState, signal?: AbortSignal): Promise<boolean> {
    if (this.#stopped || !state.serving) return false
    if (this.#libp2p.getConnections().length === 0) {
      this.#owed.add(state)
      this.#schedule(state, ANNOUNCE_RETRY_MS)
      return false
    }
    const guard = scope(ANNOUNCE_TIMEOUT_MS, signal)
    let ok = true
    try {
      if (state.root !== undefined) await putManifest(this.#libp2p, state.rootCid, state.root, { signal: guard.signal })
    } catch (err) {
      ok = false
      this.#log('could not put manifest into the DHT: %s', (err as Error).name)
    }
    try {
      await provide(this.#libp2p, state.keys.discoveryCid, { signal: guard.signal })
    } catch (err) {
      ok = false
      this.#log('could not announce as provider: %s', (err as Error).name)
    } finally {
      guard.clear()
    }
    if (ok) this.#owed.delete(state)
    else this.#owed.add(state)
    this.#schedule(state, ok ? REANNOUNCE_MS : ANNOUNCE_RETRY_MS)
    return ok
  }

  /** A peer connected: announce what is owed (soon, once for a burst of connections). */
  peerConnected (): void {
    if (this.#owed.size === 0 || this.#soon !== undefined || this.#stopped) return
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      for (const state of [...this.#owed]) {
        this.#owed.delete(state)
        if (this.#current(state)) void this.announce(state).catch(() => {})
      }
    }, 500)
  }

  /** No more announcements of `state` (unshared). */
  forget (state: ShareState): void {
    this.#owed.delete(state)
    const t = this.#timers.get(state)
    if (t !== undefined) clearTimeout(t)
    this.#timers.delete(state)
  }

  stop (): void {
    this.#stopped = true
    if (this.#soon !== undefined) clearTimeout(this.#soon)
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
  }

  /** The next announcement of `state`, replacing any pending one. */
  #schedule (state: ShareState, ms: number): void {
    if (this.#stopped) return
    const previous = this.#timers.get(state)
    if (previous !== undefined) clearTimeout(previous)
    const t = setTimeout(() => {
      this.#timers.delete(state)
      if (this.#current(state)) void this.announce(state).catch(() => {})
    }, ms)
    // Node: a pending announcement does not keep the process alive (browsers have no unref).
    ;(t as { unref?: () => void }).unref?.()
    this.#timers.set(state, t)
  }
}
