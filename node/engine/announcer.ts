/**
 * Announcing the shares a node serves in the DHT: the root block as a self-certifying record, and
 * this node as a provider under the share's discovery key (docs/THREAT-MODEL.md §2.6). Each share has one
 * announcement pending at a time: again after REANNOUNCE_MS (kad-dht records live 48 h), or after
 * ANNOUNCE_RETRY_MS when it failed. A node with no connections does not query at all (the query
 * would wait for peers until its deadline): the first peer that connects triggers every
 * announcement still owed (`peerConnected`).
 *
 * In amino mode (the libp2p node has an `amino` service, node/libp2p/amino.ts) each announcement
 * also provides the share's current epoch key on the public Amino DHT (protocol/amino-key.ts):
 * again every AMINO_REPROVIDE_MS, and at once when the epoch rolls over (the next announcement is
 * scheduled for just after UTC midnight), when the previous epoch's key stops being re-provided.
 * Nothing else of the share goes to Amino: not the manifest, not the discovery key.
 */
import type { Libp2p, Logger } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'
import { AMINO_EPOCH_SECONDS, aminoEpoch, aminoProviderKey } from '../../protocol/amino-key.js'
import { scope } from './abort.js'
import { AMINO_REPROVIDE_MS, AMINO_ROLLOVER_DELAY_MS } from './constants.js'
import { countProvided, provide, putManifest } from './dht.js'
import { NothingProvidedError } from './errors.js'
import type { ShareState } from './share/share-state.js'

/** Re-announce (DHT record + provider record) this often; kad-dht records live 48 h. */
export const REANNOUNCE_MS = 60 * 60 * 1000
/** Retry a failed announcement (e.g. no DHT peers yet) this often. */
export const ANNOUNCE_RETRY_MS = 15 * 1000
/** How long one announcement (record put + provide) may take. */
const ANNOUNCE_TIMEOUT_MS = 30_000

/** A libp2p node with Kith's DHT, and in amino mode the Amino DHT. */
export type AnnouncerLibp2p = Libp2p<{ dht: KadDHT, amino?: KadDHT }>

export class Announcer {
  readonly #libp2p: AnnouncerLibp2p
  readonly #log: Logger
  /** Whether `state` is still served: an announcement of a share no longer served is dropped. */
  readonly #current: (state: ShareState) => boolean
  readonly #timers = new Map<ShareState, ReturnType<typeof setTimeout>>()
  /** Shares whose last announcement failed or could not be tried (no peers). */
  readonly #owed = new Set<ShareState>()
  /** Per share, the Amino epoch key it was last provided under, and when (amino mode). */
  readonly #amino = new Map<ShareState, { epoch: number, key: CID, at: number }>()
  readonly #now: () => number
  #soon: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor (libp2p: AnnouncerLibp2p, log: Logger, current: (state: ShareState) => boolean, opts: { now?: () => number } = {}) {
    this.#libp2p = libp2p
    this.#log = log
    this.#current = current
    this.#now = opts.now ?? Date.now
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
    const kith = async (): Promise<boolean> => {
      let ok = true
      try {
        if (state.root !== undefined) await putManifest(this.#libp2p, state.rootCid, state.root, { signal: guard.signal })
      } catch (err) {
        ok = false
        this.#log('could not put manifest into the DHT: %s', (err as Error).name)
      }
      try {
        if (await provide(this.#libp2p, state.keys.discoveryCid, { signal: guard.signal }) === 0) {
          ok = false
          this.#log('the provider record reached no DHT server: announcing again later')
        }
      } catch (err) {
        ok = false
        this.#log('could not announce as provider: %s', (err as Error).name)
      }
      return ok
    }
    const amino = async (): Promise<boolean> => {
      try {
        await this.#provideOnAmino(state, guard.signal)
        return true
      } catch (err) {
        this.#log('could not announce as provider on Amino: %s', (err as Error).name)
        return false
      }
    }
    let ok: boolean
    try {
      const [k, a] = await Promise.all([kith(), amino()])
      ok = k && a
    } finally {
      guard.clear()
    }
    if (ok) this.#owed.delete(state)
    else this.#owed.add(state)
    this.#schedule(state, ok ? this.#nextAnnouncementMs() : ANNOUNCE_RETRY_MS)
    return ok
  }

  /**
   * Amino mode: provides the share's current epoch key unless it was provided within
   * AMINO_REPROVIDE_MS; at an epoch rollover, then stops re-providing the previous epoch's key.
   */
  async #provideOnAmino (state: ShareState, signal: AbortSignal): Promise<void> {
    const dht = this.#libp2p.services.amino
    if (dht === undefined) return
    const now = this.#now()
    const epoch = aminoEpoch(now)
    const last = this.#amino.get(state)
    if (last !== undefined && last.epoch === epoch && now - last.at < AMINO_REPROVIDE_MS) return
    const key = aminoProviderKey(state.keys.discovery, epoch)
    const took = await countProvided(dht.provide(key, { signal }))
    if (took === 0) throw new NothingProvidedError()
    this.#log('provided on Amino for epoch %d to %d DHT servers', epoch, took)
    this.#amino.set(state, { epoch, key, at: now })
    if (last !== undefined && last.epoch !== epoch) await dht.cancelReprovide(last.key).catch(() => {})
  }

  /** REANNOUNCE_MS, or sooner in amino mode: just after the next epoch begins. */
  #nextAnnouncementMs (): number {
    if (this.#libp2p.services.amino === undefined) return REANNOUNCE_MS
    const now = this.#now()
    const nextEpochAt = (aminoEpoch(now) + 1) * AMINO_EPOCH_SECONDS * 1000
    return Math.max(1000, Math.min(REANNOUNCE_MS, nextEpochAt - now + AMINO_ROLLOVER_DELAY_MS))
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

  /**
   * This node's dialable addresses changed (a relay reservation gained or lost, a public address
   * confirmed): announce every share now, so the provider records' addresses are the new ones.
   */
  reannounceAll (): void {
    if (this.#stopped) return
    for (const state of new Set([...this.#timers.keys(), ...this.#owed])) {
      if (this.#current(state)) void this.announce(state).catch(() => {})
    }
  }

  /** No more announcements of `state` (unshared). */
  forget (state: ShareState): void {
    this.#owed.delete(state)
    const amino = this.#amino.get(state)
    this.#amino.delete(state)
    if (amino !== undefined) void this.#libp2p.services.amino?.cancelReprovide(amino.key).catch(() => {})
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
