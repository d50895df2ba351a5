/**
 * The seeder's upload budget under hostile downloaders (docs/HARDENING.md, hostile downloaders;
 * test/hardening/hostile-downloaders.test.ts is the end-to-end version). Sessions run on real
 * yamux muxers over an in-memory connection pair, so a peer that pauses its stream really stops
 * sending window updates and the seeder's writes really back up, as over TCP.
 *
 * - Link holders that ask for chunks, never read and come back as new identities spend of the
 *   shared upload budget only what left the seeder's stream (at most a yamux window each), not
 *   every unread piece in full.
 * - A new session's first piece is paid before it is written, in its turn: a link holder that
 *   floods requests as soon as it is admitted is dropped before it is sent anything.
 * - A session whose sent piece stands unread while it keeps requests queued is dropped for
 *   misbehaviour (and banned), after `unreadTimeoutMs`.
 * - The limiter serves takes in turn: a take that arrives while another waits does not jump it.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { multiaddrConnectionPair } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocol/bitfield.js'
import { nobleBackend } from '../../protocol/crypto.js'
import { deriveShareKeys, generateRootKey } from '../../protocol/keys.js'
import { encodeMessage } from '../../protocol/messages.js'
import { RateLimiter } from '../../node/engine/rate-limit.js'
import { initiateAdmission, respondAdmission } from '../../node/engine/swarm/handshake.js'
import { MAX_SERVE_QUEUE, PeerMisbehaviourError, Session } from '../../node/engine/swarm/session.js'
import { ShareState } from '../../node/engine/share/share-state.js'
import { encodeShare, pseudoRandomBytes } from '../protocol/helpers/fixtures.js'
import { MemBlocks, newPeer, until } from './helpers/mem-swarm.js'

const log = defaultLogger().forComponent('test:upload-fairness')
const MiB = 1024 * 1024
/**
 * What a peer that never reads can be sent before the writes back up: yamux's stream window
 * (256 KiB at first; it doubles once when data flowed within a few round trips, as in admission).
 */
const WINDOW = 512 * 1024
const INITIAL_WINDOW = 256 * 1024

/** A stream pair on two real yamux muxers over an in-memory connection. */
async function yamuxPair (): Promise<[Stream, Stream]> {
  const [a, b] = multiaddrConnectionPair()
  const ma = yamux()().createStreamMuxer(a)
  const mb = yamux()().createStreamMuxer(b)
  const inbound = new Promise<Stream>(resolve => { mb.addEventListener('stream', evt => { resolve(evt.detail) }, { once: true }) })
  const out = await ma.createStream()
  return [out, await inbound]
}

/** A seeder holding a share of `chunks` chunks of 1 MiB. */
async function seederShare (chunks: number): Promise<ShareState> {
  const root = generateRootKey()
  const keys = deriveShareKeys(root)
  const share = await encodeShare([['f.bin', pseudoRandomBytes(chunks * MiB - 100)]], { root: root.bytes, chunkSize: MiB })
  const seeder = new ShareState({ keys, rootCid: share.root.cid, backend: nobleBackend, blocks: new MemBlocks() })
  const full = new Bitfield(share.index.chunks)
  for (let i = 0; i < full.size; i++) full.set(i)
  seeder.setManifest(share.root.bytes, share.index, share.digests, [...share.treeBlockDigests], full)
  const bytes = share.chunks.map(c => c.bytes)
  seeder.source = { read: async (i) => bytes[i] }
  return seeder
}

/** Counts what the seeder's upload limiter is paid, net of refunds (a take aborted while it waited pays nothing). */
class CountingLimiter extends RateLimiter {
  paid = 0
  override async take (bytes: number, signal?: AbortSignal): Promise<void> {
    await super.take(bytes, signal)
    this.paid += bytes
  }

  override refund (bytes: number): void {
    this.paid -= bytes
    super.refund(bytes)
  }
}

interface Served { session: Session, closed: Promise<Error | undefined>, peer: Stream }

/**
 * A session on the seeder's side for a new identity that asks for `asks` chunks. `read`: an
 * honest peer that reads everything; else a hostile one that pauses its stream (no window
 * update ever) before asking.
 */
async function serve (seeder: ShareState, upload: RateLimiter, seederId: PeerId, asks: number, read: boolean, unreadTimeoutMs?: number): Promise<Served> {
  const peerId = await newPeer()
  const [x, y] = await yamuxPair()
  const [lp, resp] = await Promise.all([
    initiateAdmission(x, seeder, peerId, seederId),
    respondAdmission(y, () => seeder, seederId, peerId)
  ])
  let closed!: (err: Error | undefined) => void
  const done = new Promise<Error | undefined>(resolve => { closed = resolve })
  const session = new Session({ stream: y, lp: resp.lp, remotePeer: peerId, share: seeder, upload, download: new RateLimiter(0), log, unreadTimeoutMs, onClose: (_s, err) => { closed(err) } })
  session.start()
  if (read) void (async () => { try { for (;;) await lp.read() } catch {} })()
  else x.pause()
  for (let i = 0; i < asks; i++) await lp.write(encodeMessage({ type: 'request', id: i + 1, kind: 'chunk', index: i % seeder.pieces }))
  return { session, closed: done, peer: x }
}

/** Waits (bounded) until a paused peer holds at least yamux's initial window unread and that stays put for 300 ms. */
async function windowFilled (h: Served): Promise<void> {
  const unread = (): number => (h.peer as unknown as { readBufferLength: number }).readBufferLength
  await until(() => h.session.sent > 0 && unread() >= INITIAL_WINDOW - 1024, 10_000, 'the first piece to fill the window')
  let last = -1
  for (let i = 0; i < 100 && unread() !== last; i++) {
    last = unread()
    await new Promise(resolve => setTimeout(resolve, 300))
  }
}

describe('upload budget under hostile downloaders', () => {
  it('link holders that ask, never read and come back as new identities are charged only what left the stream', async () => {
    const seeder = await seederShare(8)
    const seederId = await newPeer()
    const upload = new CountingLimiter(0)
    const CYCLES = 6
    let hostileSent = 0
    for (let i = 0; i < CYCLES; i++) {
      const h = await serve(seeder, upload, seederId, 8, false)
      // The first piece is written; its stream window fills and the write backs up: the unread
      // bytes reach at least the initial window and then stop growing (whether yamux doubled the
      // window first depends on timing).
      await windowFilled(h)
      // The attacker leaves (and would come back as someone else).
      h.peer.abort(new Error('gone'))
      await h.closed
      hostileSent += h.session.sent
    }
    await new Promise(resolve => setTimeout(resolve, 200)) // the serve loops pay as they end
    const paid = upload.paid
    console.log(`upload fairness: ${CYCLES} never-reading sessions: ${(paid / MiB).toFixed(2)} MiB charged to the upload budget, ${(hostileSent / MiB).toFixed(2)} MiB counted as sent (each was written a 1 MiB piece; yamux window ${WINDOW / 1024} KiB)`)
    // Without the fix each unread 1 MiB piece was paid in full when its session ended: 6 MiB.
    // The budget pays for what left, no more, and that is at most a window each.
    expect(paid).toBeGreaterThan(0)
    expect(paid).toBeLessThanOrEqual(hostileSent)
    expect(hostileSent).toBeLessThanOrEqual(CYCLES * (WINDOW + 4096))
    expect(seeder.uploaded).toBe(hostileSent)

    // An honest peer is served in full, and charged in full.
    const before = upload.paid
    const honest = await serve(seeder, upload, seederId, 8, true)
    await until(() => honest.session.sent >= 8 * MiB - 100, 20_000, 'the honest peer to be served')
    await until(() => upload.paid - before >= 8 * MiB - 100, 5_000, 'the honest pieces to be paid')
    honest.session.close()
  }, 60_000)

  it('a link holder that floods requests as soon as it is admitted, while the budget is spent, is dropped before it is sent a byte', async () => {
    const seeder = await seederShare(4)
    const seederId = await newPeer()
    const upload = new CountingLimiter(MiB)
    // The bucket is empty (another peer just took it): a new session's first piece waits its turn.
    await upload.take(MiB)
    const spent = upload.paid
    const h = await serve(seeder, upload, seederId, 0, false)
    const lp = (await import('@libp2p/utils')).lpStream(h.peer)
    try {
      for (let i = 0; i < MAX_SERVE_QUEUE + 10; i++) await lp.write(encodeMessage({ type: 'request', id: i + 1, kind: 'chunk', index: i % seeder.pieces }))
    } catch {} // the seeder resets the stream once the queue overflows
    const err = await Promise.race([h.closed, new Promise<'open'>(resolve => setTimeout(() => { resolve('open') }, 10_000))])
    console.log(`upload fairness: a flood past the queue limit from a new session: ${err instanceof Error ? err.message : String(err)}; ${h.session.sent} bytes sent, ${upload.paid - spent} charged`)
    expect(err).toBeInstanceOf(PeerMisbehaviourError)
    // Without the advance payment its first piece was written at once: a stream window for free.
    expect(h.session.sent).toBe(0)
    expect(upload.paid - spent).toBe(0)
  }, 30_000)

  it('a peer whose window stands still while it keeps requests queued is dropped for misbehaviour', async () => {
    const seeder = await seederShare(4)
    const seederId = await newPeer()
    const upload = new RateLimiter(0)
    const h = await serve(seeder, upload, seederId, 8, false, 600)
    const t0 = Date.now()
    const err = await Promise.race([h.closed, new Promise<'open'>(resolve => setTimeout(() => { resolve('open') }, 10_000))])
    console.log(`upload fairness: a never-reading session was dropped after ${Date.now() - t0} ms (unread timeout 600 ms): ${err instanceof Error ? err.message : String(err)}`)
    expect(err).toBeInstanceOf(PeerMisbehaviourError)
    expect(h.session.closed).toBe(true)
    // Only the window's worth left; nothing more was written after the first piece.
    expect(h.session.sent).toBeLessThanOrEqual(WINDOW + 4096)
  }, 30_000)

  it('a peer that reads, however slowly, is not dropped by the unread check', async () => {
    const seeder = await seederShare(3)
    const seederId = await newPeer()
    const upload = new RateLimiter(0)
    const h = await serve(seeder, upload, seederId, 0, false, 600)
    // A slow reader: paused, resumed for a moment every 300 ms (its window moves a little each time).
    const lp = (await import('@libp2p/utils')).lpStream(h.peer)
    for (let i = 0; i < 3; i++) await lp.write(encodeMessage({ type: 'request', id: i + 1, kind: 'chunk', index: i }))
    const state: { gone: Error | undefined | 'no' } = { gone: 'no' }
    void h.closed.then(e => { state.gone = e })
    const end = Date.now() + 20_000
    while (h.session.sent < 3 * MiB - 100 && Date.now() < end && state.gone === 'no') {
      await new Promise(resolve => setTimeout(resolve, 300))
      h.peer.resume()
      await new Promise(resolve => setTimeout(resolve, 5))
      h.peer.pause()
    }
    expect(state.gone).toBe('no')
    expect(h.session.sent).toBeGreaterThanOrEqual(3 * MiB - 100)
    h.session.close()
  }, 30_000)
})

describe('rate limiter order', () => {
  it('a take that arrives while another waits does not jump the queue, even when the bucket could pay for it', async () => {
    let now = 0
    const limiter = new RateLimiter(1000, () => now)
    await limiter.take(1000) // the one-second burst: empty
    const order: string[] = []
    const a = limiter.take(900).then(() => { order.push('a') })
    now = 700 // 700 tokens: enough for b (100), not for a (900)
    const b = limiter.take(100).then(() => { order.push('b') })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(order).toEqual([])
    now = 1000
    await Promise.all([a, b])
    expect(order).toEqual(['a', 'b'])
  })

  it('a waiting take that is aborted leaves the queue and lets the next one through', async () => {
    let now = 0
    const limiter = new RateLimiter(1000, () => now)
    await limiter.take(1000)
    const ac = new AbortController()
    const a = limiter.take(900, ac.signal)
    now = 200
    const b = limiter.take(100)
    ac.abort(new Error('stop'))
    await expect(a).rejects.toThrow('stop')
    await b
    expect(limiter.waiting).toBe(0)
  })
})
