/**
 * Circles on the network: serves `/kith/circle/1.0.0`, keeps members in sync, and finds them.
 *
 * - Every circle is announced in the DHT under its current epoch's discovery key (a DHT node
 *   cannot tell which circle a key belongs to, and the key changes with every removal).
 * - A sync runs with a member when it connects, when this node appends an entry (so a post or a
 *   removal reaches online members at once), and every SYNC_INTERVAL_MS with members found
 *   through the DHT or dialled by peer ID (a member coming back online catches up this way).
 * Syncs with one peer for one circle never overlap; a request that arrives meanwhile reruns it.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { CIRCLE_PROTOCOL } from '../../protocol/circle/entry.js'
import { parseInvite } from '../../protocol/circle/invite.js'
import { scope } from '../engine/abort.js'
import { findProviders, provide } from '../engine/dht.js'
import { type Circle, type Circles } from './circles.js'
import { peerIdOfKey } from '../engine/peer-id.js'
import { handleCircleStream, joinWith, syncWith } from './sync.js'
import { KithError } from '../../protocol/errors.js'
import { InviterUnreachableError } from './errors.js'

export const SYNC_INTERVAL_MS = 30_000
const DIAL_TIMEOUT_MS = 10_000
const MAX_DIALS_PER_ROUND = 8
/** Circle streams per connection and direction: one sync per circle at a time, a few circles. */
const CIRCLE_MAX_STREAMS = 16

type Log = ((fmt: string, ...args: unknown[]) => void) & { error: (fmt: string, ...args: unknown[]) => void }

export class CircleNetwork {
  readonly #libp2p: Libp2p
  readonly #circles: Circles
  readonly #log: Log
  readonly #running = new Map<string, Promise<void>>()
  readonly #again = new Set<string>()
  readonly #controller = new AbortController()
  #timer: ReturnType<typeof setInterval> | undefined
  #announced = new Map<string, number>()

  constructor (libp2p: Libp2p, circles: Circles, log: Log) {
    this.#libp2p = libp2p
    this.#circles = circles
    this.#log = log
  }

  async start (): Promise<void> {
    await this.#libp2p.handle(CIRCLE_PROTOCOL, async (stream, connection) => {
      try {
        await handleCircleStream(stream, this.#libp2p.peerId, connection.remotePeer, this.#circles, this.#controller.signal)
      } catch (err) {
        this.#log('circle stream from a peer ended: %s', (err as Error).name)
      }
    }, { runOnLimitedConnection: true, maxInboundStreams: CIRCLE_MAX_STREAMS, maxOutboundStreams: CIRCLE_MAX_STREAMS })
    this.#circles.addEventListener('change', (evt) => {
      const c = this.#circles.byId(evt.detail.circle)
      if (c !== undefined) this.syncConnected(c)
    })
    this.#libp2p.addEventListener('peer:connect', (evt) => {
      const peer = evt.detail
      for (const c of this.#circles.all()) if (this.#isMemberPeer(c, peer)) this.#sync(c, peer)
    })
    this.#timer = setInterval(() => { void this.round() }, SYNC_INTERVAL_MS)
    void this.round()
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#controller.abort()
    await this.#libp2p.unhandle(CIRCLE_PROTOCOL).catch(() => {})
    await Promise.allSettled([...this.#running.values()])
  }

  #isMemberPeer (c: Circle, peer: PeerId): boolean {
    const raw = peer.publicKey?.raw
    return raw !== undefined && peer.type === 'Ed25519' && c.log.isMember(raw) && !peer.equals(this.#libp2p.peerId)
  }

  isOnline (peerId: string): boolean {
    try {
      return this.#libp2p.getConnections(peerIdFromString(peerId)).length > 0
    } catch {
      return false
    }
  }

  /** Syncs `c` with every connected member now. */
  syncConnected (c: Circle): void {
    for (const peer of this.#libp2p.getPeers()) if (this.#isMemberPeer(c, peer)) this.#sync(c, peer)
  }

  /** Waits for running syncs (tests and the CLI use it to let a change propagate). */
  async settle (): Promise<void> {
    for (let i = 0; i < 20 && this.#running.size > 0; i++) await Promise.allSettled([...this.#running.values()])
  }

  #sync (c: Circle, peer: PeerId): void {
    const key = `${c.id}/${peer.toString()}`
    if (this.#running.has(key)) { this.#again.add(key); return }
    const run = (async () => {
      for (let i = 0; i < 5; i++) {
        this.#again.delete(key)
        const guard = scope(DIAL_TIMEOUT_MS * 3, this.#controller.signal)
        try {
          const stream = await this.#libp2p.dialProtocol(peer, CIRCLE_PROTOCOL, { signal: guard.signal, runOnLimitedConnection: true })
          const gained = await syncWith(stream, c, this.#circles, this.#libp2p.peerId, peer, guard.signal)
          if (gained > 0) this.#log('circle %s: %d new entries from a member', c.id.slice(0, 8), gained)
        } catch (err) {
          this.#log('circle sync with a member failed: %s', (err as Error).name)
        } finally {
          guard.clear()
        }
        if (!this.#again.has(key) || this.#controller.signal.aborted) break
      }
    })().finally(() => { this.#running.delete(key) })
    this.#running.set(key, run)
  }

  /** Announce, find members (DHT and by peer ID), sync with those connected. */
  async round (): Promise<void> {
    if (this.#controller.signal.aborted) return
    for (const c of this.#circles.all()) {
      const epoch = c.log.knownEpochs().at(-1)
      if (epoch === undefined) continue
      const cid = discoveryCid(c.log.epochKeys(epoch).discovery)
      const last = this.#announced.get(cid.toString()) ?? 0
      if (Date.now() - last > 30 * 60_000) {
        const guard = scope(DIAL_TIMEOUT_MS * 2, this.#controller.signal)
        try {
          await provide(this.#libp2p as never, cid, { signal: guard.signal })
          this.#announced.set(cid.toString(), Date.now())
        } catch (err) {
          this.#log('circle announce failed: %s', (err as Error).name)
        } finally {
          guard.clear()
        }
      }
      await this.#findMembers(c, cid)
      this.syncConnected(c)
    }
  }

  async #findMembers (c: Circle, cid: CID): Promise<void> {
    const offline = c.log.members().map(m => peerIdFromString(peerIdOfKey(m.key))).filter(p => !p.equals(this.#libp2p.peerId) && this.#libp2p.getConnections(p).length === 0)
    if (offline.length === 0) return
    const guard = scope(DIAL_TIMEOUT_MS * 2, this.#controller.signal)
    try {
      for await (const p of findProviders(this.#libp2p as never, cid, { signal: guard.signal }) as AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }>) {
        if (p.multiaddrs.length > 0 && offline.some(o => o.equals(p.id))) await this.#libp2p.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
      }
    } catch {
      // No providers found, or no DHT peers yet: dial by peer ID below anyway.
    } finally {
      guard.clear()
    }
    await Promise.allSettled(offline.slice(0, MAX_DIALS_PER_ROUND).map(async p => {
      const g = scope(DIAL_TIMEOUT_MS, this.#controller.signal)
      try { await this.#libp2p.dial(p, { signal: g.signal }) } finally { g.clear() }
    }))
  }

  /** Joins with an invite code: dials the inviter (the code's hints, else by peer ID). */
  async join (code: string, myName: string, signal?: AbortSignal): Promise<Circle> {
    const invite = parseInvite(code)
    if (invite.expires * 1000 < Date.now()) throw new InviterUnreachableError()
    const inviter = peerIdFromString(peerIdOfKey(invite.inviter))
    const { multiaddr } = await import('@multiformats/multiaddr')
    const addrs = invite.hints.flatMap(h => { try { return [multiaddr(h)] } catch { return [] } })
    if (addrs.length > 0) await this.#libp2p.peerStore.merge(inviter, { multiaddrs: addrs }).catch(() => {})
    const guard = scope(DIAL_TIMEOUT_MS * 3, signal, this.#controller.signal)
    let stream
    try {
      stream = await this.#libp2p.dialProtocol(inviter, CIRCLE_PROTOCOL, { signal: guard.signal, runOnLimitedConnection: true })
    } catch (err) {
      guard.clear()
      if (err instanceof KithError) throw err
      throw new InviterUnreachableError()
    }
    try {
      const c = await joinWith(stream, invite, myName, this.#circles, this.#libp2p.peerId, inviter, guard.signal)
      void this.round()
      return c
    } finally {
      guard.clear()
    }
  }
}

export function discoveryCid (discovery: Uint8Array): CID {
  return CID.createV1(raw.code, createDigest(0x12, discovery))
}
