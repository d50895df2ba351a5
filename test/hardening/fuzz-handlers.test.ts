/**
 * Fuzz the protocol handlers, not only the decoders (standing suite item 8, docs/HARDENING.md):
 *
 *  - the swarm handler of a seeding node (admission, then the session): hostile peers open
 *    streams to a real `Swarm` service (in-memory stream pairs, test/engine/helpers/mem-swarm.ts)
 *    and send random frames, before admission and after it (they hold the link: a link holder is
 *    the threat), including frames with huge length prefixes. The seeder must never throw out of
 *    its handler (vitest fails on any unhandled rejection), must close every hostile session, and
 *    must still serve an honest peer the whole share at the end.
 *  - a downloading session facing a hostile seeder that passes admission and then answers with
 *    random frames: the session closes with a typed error, never anything else.
 *  - circle entries (decodeEntry), circle messages, invite codes, and validly signed but hostile
 *    entries applied to a member's CircleLog: typed errors only, the log stays usable (the admin
 *    can still remove the hostile member).
 *  - the DHT record validator (validateManifestRecord): typed errors only.
 *
 * Seeded xorshift, so a failure reproduces; a failing input is printed as hex.
 */
import { randomBytes } from '@noble/hashes/utils.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import type { Stream } from '@libp2p/interface'
import { encode as lpEncode } from 'it-length-prefixed'
import { afterEach, describe, expect, it } from 'vitest'
import { sha256 } from '@noble/hashes/sha2.js'
import { cidOf } from '../../protocol/cid.js'
import { encodeMessage, type SwarmMessage } from '../../protocol/messages.js'
import { KithError } from '../../protocol/errors.js'
import { nobleBackend as backend } from '../../protocol/crypto.js'
import { manifestRecordKey, validateManifestRecord } from '../../protocol/dht-record.js'
import { decodeEntry, signEntry, type Entry, type EntryBody } from '../../protocol/circle/entry.js'
import { CircleLog, addMemberEntry, createCircle, postEntry, removeMemberEntry } from '../../protocol/circle/log.js'
import { decodeCircleMessage, encodeCircleMessage } from '../../protocol/circle/messages.js'
import { formatInvite, inviteId, parseInvite } from '../../protocol/circle/invite.js'
import { generateBoxKeyPair, type BoxKeyPair, type CircleSigner } from '../../protocol/circle/keys.js'
import { initiateAdmission, respondAdmission } from '../../node/engine/swarm/handshake.js'
import { RateLimiter } from '../../node/engine/rate-limit.js'
import { Session } from '../../node/engine/swarm/session.js'
import { log, MemNet, memStreamPair, newPeer, shareFixture, until } from '../engine/helpers/mem-swarm.js'
import { sized } from './long.js'

/** Frames into the seeder's swarm handler; entries, messages, invites and records per decoder. */
const FRAMES = sized(20_000, 1_000_000)
const LEECH_FRAMES = sized(10_000, 1_000_000)
const DECODES = sized(100_000, 1_000_000)
/** Circle decoders check an Ed25519 signature on most inputs that parse: fewer in `npm test`. */
const CIRCLE_DECODES = sized(25_000, 1_000_000)
/** Hostile entries a member signs (signing is slow), and how many times they are applied to logs. */
const POOL = sized(300, 3_000)
const APPLIED = sized(100_000, 1_000_000)
const BOUND = sized(240_000, 3_600_000)

function prng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x }
}

const hexOf = (b: Uint8Array): string => Buffer.from(b.subarray(0, 80)).toString('hex') + (b.length > 80 ? `…(${b.length} B)` : '')

function mutate (r: () => number, base: Uint8Array): Uint8Array {
  const op = r() % 5
  const b = Uint8Array.from(base)
  if (b.length === 0 || op === 4) return Uint8Array.from({ length: r() % 200 }, () => r() & 0xff)
  if (op === 0) { for (let k = 0; k < 1 + (r() % 3); k++) { const bit = r() % (b.length * 8); b[bit >> 3]! ^= 1 << (bit & 7) } return b }
  if (op === 1) return b.subarray(0, r() % b.length)
  if (op === 2) { const ext = new Uint8Array(b.length + 1 + (r() % 32)); ext.set(b); for (let i = b.length; i < ext.length; i++) ext[i] = r() & 0xff; return ext }
  for (let k = 0; k < 1 + (r() % 8); k++) b[r() % b.length] = r() & 0xff
  return b
}

/** Runs `fn`; any throw that is not a KithError fails the test with the input that caused it. */
function expectTyped (fn: () => unknown, input: Uint8Array | string, what: string): boolean {
  try { fn(); return false } catch (err) {
    if (err instanceof KithError) return true
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 200)) : hexOf(input)
    throw new Error(`${what}: untyped ${(err as Error)?.name}: ${(err as Error)?.message} for input ${shown}`)
  }
}

/** Hostile swarm frames: decodable messages with hostile values, mutated encodings, raw bytes. */
function hostileFrame (r: () => number, pieces: number): Uint8Array {
  const idx = [0, pieces - 1, pieces, pieces + 1, 0x7fffffff, 0xffffffff, r() % Math.max(1, pieces), r()][r() % 8]! >>> 0
  const kinds = ['chunk', 'block', 'root'] as const
  const kind = kinds[r() % 3]!
  const pick = r() % 10
  let m: SwarmMessage
  if (pick === 0) m = { type: 'have-map', pieces: [0, 1, pieces, pieces + 8, r() % 5000][r() % 5]!, bitfield: new Uint8Array(0) }
  else if (pick === 1) m = { type: 'have', index: idx }
  else if (pick === 2) m = { type: 'request', id: r(), kind, index: kind === 'root' ? 0 : idx }
  else if (pick === 3) m = { type: 'piece', id: r(), kind, index: kind === 'root' ? 0 : idx, data: randomBytes(r() % 2048) }
  else if (pick === 4) m = { type: 'cancel', id: r() }
  else if (pick === 5) m = { type: 'reject', id: r() % 4, reason: 'busy', message: 'x' }
  else if (pick === 6) m = { type: 'hello', version: 1, swarm: randomBytes(32), nonce: randomBytes(32) }
  else if (pick === 7) return Uint8Array.from({ length: r() % 100 }, () => r() & 0xff)
  else if (pick === 8) m = { type: 'proof', proof: randomBytes(32) }
  else m = { type: 'request', id: r(), kind: 'chunk', index: r() % Math.max(1, pieces) }
  if (m.type === 'have-map') {
    // A bitfield of the size the count implies (so it decodes), with random bits.
    m = { ...m, bitfield: Uint8Array.from({ length: Math.ceil(m.pieces / 8) }, () => r() & 0xff) }
    const spare = m.pieces % 8
    if (spare !== 0 && m.bitfield.length > 0) m.bitfield[m.bitfield.length - 1]! &= (0xff << (8 - spare)) & 0xff
  }
  let bytes: Uint8Array
  try { bytes = encodeMessage(m) } catch { bytes = randomBytes(1 + (r() % 40)) }
  return r() % 4 === 0 ? mutate(r, bytes) : bytes
}

/**
 * Writes raw bytes without waiting for the far side (bounded by the pair's buffer). False once the
 * far side has closed or reset the stream (a handler that dropped the hostile peer).
 */
async function send (stream: Stream, bytes: Uint8Array): Promise<boolean> {
  if (stream.status !== 'open' || stream.writeStatus !== 'writable') return false
  try {
    if (!stream.send(bytes)) await Promise.race([stream.onDrain({ signal: AbortSignal.timeout(500) }).catch(() => {}), new Promise(resolve => setTimeout(resolve, 500))])
    return true
  } catch { return false }
}

/** Reads and drops everything the far side sends, so it never blocks on us. */
function drain (stream: Stream): void {
  void (async () => { try { for await (const _ of stream) { /* dropped */ } } catch {} })()
}

let net: MemNet | undefined
afterEach(async () => { await net?.stop(); net = undefined })

describe('fuzz: swarm handlers', () => {
  it(`a seeder's swarm handler: ${FRAMES} hostile frames from link holders and strangers; every hostile session closed, an honest peer still served`, async () => {
    net = new MemNet()
    const f = await shareFixture(8 * 65536 + 321)
    const seeder = await net.swarm({ sessionIdleTimeoutMs: 2_000, sessionEvictGraceMs: 0 })
    seeder.swarm.addShare(f.seeder)
    const pieces = f.seeder.pieces
    const r = prng(0x5eed)
    const attackers = await Promise.all(Array.from({ length: 16 }, async () => await newPeer()))
    const t0 = Date.now()
    let sent = 0
    let streams = 0
    let admitted = 0
    let oversized = 0
    /** Streams the seeder closed or reset before we were done sending. */
    let dropped = 0
    while (sent < FRAMES) {
      // Bans are per share and forever: forget them, or every attacker is refused at hello and
      // the session code behind admission stops being exercised.
      f.seeder.banned.clear()
      const from = attackers[streams % attackers.length]!
      const x = await net.open(from, seeder.peerId)
      streams++
      drain(x)
      const mode = r() % 4
      if (mode !== 0) {
        // A link holder: passes admission, then sends garbage in the session.
        try {
          await initiateAdmission(x, f.leecher(), from, seeder.peerId, AbortSignal.timeout(5_000))
          admitted++
        } catch { x.abort(new Error('admission failed')); continue }
      }
      const n = 1 + (r() % 40)
      for (let k = 0; k < n && sent < FRAMES; k++, sent++) {
        if (r() % 500 === 0) {
          // A length prefix far past any limit (2^31), then a few bytes: the handler must refuse
          // it from the prefix alone.
          oversized++
          await send(x, Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x08, 1, 2, 3]))
          break
        }
        if (!await send(x, lpEncode.single(hostileFrame(r, pieces)).subarray())) { dropped++; break }
      }
      if (r() % 2 === 0) x.abort(new Error('gone')); else await x.close({ signal: AbortSignal.timeout(2_000) }).catch(() => { x.abort(new Error('gone')) })
    }
    const ms = Date.now() - t0
    // Every hostile session ends: misbehaving ones at once, quiet ones at the idle timeout.
    await until(() => seeder.swarm.sessions(f.seeder).every(s => s.closed), 15_000, 'every hostile session to close')
    f.seeder.banned.clear()
    const mine = f.leecher()
    await net.fetchFrom(seeder.peerId, mine, {}, 30_000)
    expect(mine.have!.isComplete()).toBe(true)
    console.log(`fuzz handlers: seeder swarm handler: ${sent} frames on ${streams} streams (${admitted} admitted, ${oversized} 2^31 prefixes, ${dropped} cut off by the seeder) in ${ms} ms; an honest peer then got all ${pieces} chunks`)
  }, BOUND)

  it(`a downloading session facing a hostile seeder: ${LEECH_FRAMES} hostile frames, typed errors only`, async () => {
    const f = await shareFixture(4 * 65536 + 7)
    const r = prng(0x1eec)
    const [me, them] = [await newPeer(), await newPeer()]
    let sent = 0
    let sessions = 0
    const reasons = new Map<string, number>()
    const t0 = Date.now()
    while (sent < LEECH_FRAMES) {
      const [x, y] = await memStreamPair()
      const mine = f.leecher()
      const [lp, resp] = await Promise.all([
        initiateAdmission(x, mine, me, them, AbortSignal.timeout(5_000)),
        respondAdmission(y, () => f.seeder, them, me, AbortSignal.timeout(5_000))
      ])
      sessions++
      const closed = new Promise<Error | undefined>(resolve => {
        const s = new Session({ stream: x, lp, remotePeer: them, share: mine, upload: new RateLimiter(0), download: new RateLimiter(0), log, idleTimeoutMs: 0, onClose: (_s, err) => { resolve(err) } })
        s.start()
        // Ask for something, so pieces and rejects have a request to (mis)match.
        for (let i = 0; i < 3; i++) s.request('chunk', r() % mine.pieces, 2_000).catch(() => {})
      })
      const w = resp.lp.unwrap()
      drain(w)
      const n = 1 + (r() % 60)
      for (let k = 0; k < n && sent < LEECH_FRAMES; k++, sent++) if (!await send(w, lpEncode.single(hostileFrame(r, mine.pieces)).subarray())) break
      w.abort(new Error('hostile seeder gone'))
      const err = await Promise.race([closed, new Promise<Error>(resolve => setTimeout(() => { resolve(new Error('session did not close')) }, 5_000))])
      if (err !== undefined && !(err instanceof KithError)) throw new Error(`session closed with an untyped ${err.name}: ${err.message}`)
      const name = err?.name ?? 'clean close'
      reasons.set(name, (reasons.get(name) ?? 0) + 1)
    }
    console.log(`fuzz handlers: downloading session: ${sent} hostile frames over ${sessions} sessions in ${Date.now() - t0} ms; closed by ${[...reasons].map(([k, v]) => `${k} ×${v}`).join(', ')}`)
    expect(sessions).toBeGreaterThan(0)
  }, BOUND)
})

interface Person { signer: CircleSigner, box: BoxKeyPair, name: string }
function person (name: string): Person {
  const sk = randomBytes(32)
  return { name, box: generateBoxKeyPair(), signer: { publicKey: ed25519.getPublicKey(sk), sign: (m: Uint8Array) => ed25519.sign(m, sk) } }
}
const T = 1_700_000_000_000

describe('fuzz: circles and DHT records', () => {
  it(`circle entries, messages and invites: ${CIRCLE_DECODES} inputs each, typed errors only`, async () => {
    const a = person('alice')
    const b = person('bob')
    const genesis = await createCircle(backend, a.signer, a.box, 'friends', a.name, T)
    const la = new CircleLog(genesis.circle, backend, a.box, a.signer.publicKey)
    la.apply(genesis)
    const add = await addMemberEntry(backend, la, a.signer, { key: b.signer.publicKey, name: b.name, x: b.box.publicKey }, inviteId(randomBytes(32)), T + 1)
    la.apply(add)
    const post = await postEntry(backend, la, a.signer, { link: 'kith:abc', name: 'x.txt', size: 3 }, T + 2)
    const rm = await removeMemberEntry(backend, la, a.signer, b.signer.publicKey, T + 3)
    const entries = [genesis, add, post, rm].map(e => e.bytes)
    const messages = [
      encodeCircleMessage({ t: 'hello', circle: genesis.circle, epoch: 0, nonce: randomBytes(32) }),
      encodeCircleMessage({ t: 'heads', ids: [randomBytes(32), randomBytes(32)] }),
      encodeCircleMessage({ t: 'entries', entries }),
      encodeCircleMessage({ t: 'join-proof', proof: randomBytes(32), name: 'bob', x: randomBytes(32) }),
      encodeCircleMessage({ t: 'error', reason: 'nope' })
    ]
    const invite = formatInvite({ circle: genesis.circle, inviter: a.signer.publicKey, secret: randomBytes(32), expires: T + 1e9, hints: [new Uint8Array([4, 127, 0, 0, 1])] })
    const r = prng(0xc1c1e)
    let refused = 0
    for (let i = 0; i < CIRCLE_DECODES; i++) {
      const e = mutate(r, entries[i % entries.length]!)
      if (expectTyped(() => decodeEntry(e), e, 'decodeEntry')) refused++
      const m = mutate(r, messages[i % messages.length]!)
      expectTyped(() => decodeCircleMessage(m), m, 'decodeCircleMessage')
      const p = invite.split('')
      p[r() % p.length] = 'abcdefghijklmnopqrstuvwxyz234567:!'[r() % 34]!
      const s = r() % 3 === 0 ? p.slice(0, r() % p.length).join('') : p.join('')
      expectTyped(() => parseInvite(s), s, 'parseInvite')
    }
    console.log(`fuzz handlers: circles: ${CIRCLE_DECODES} entries (${refused} refused), ${CIRCLE_DECODES} circle messages, ${CIRCLE_DECODES} invite codes: typed errors only`)
    expect(refused).toBeGreaterThan(CIRCLE_DECODES / 2)
  }, BOUND)

  it(`${APPLIED} applications of validly signed hostile circle entries to members' logs: typed errors only, the admin can still remove the author`, async () => {
    const a = person('alice')
    const m = person('mallory')
    const genesis = await createCircle(backend, a.signer, a.box, 'friends', a.name, T)
    const base = (): CircleLog => {
      const l = new CircleLog(genesis.circle, backend, a.box, a.signer.publicKey)
      l.applyAll([genesis, add])
      return l
    }
    const l0 = new CircleLog(genesis.circle, backend, a.box, a.signer.publicKey)
    l0.apply(genesis)
    const add = await addMemberEntry(backend, l0, a.signer, { key: m.signer.publicKey, name: m.name, x: m.box.publicKey }, inviteId(randomBytes(32)), T + 1)
    const lm = new CircleLog(genesis.circle, backend, m.box, m.signer.publicKey)
    lm.applyAll([decodeEntry(genesis.bytes), decodeEntry(add.bytes)])
    // A pool of entries a hostile member signs (signing is the slow part), each naming random
    // earlier ones as parents, so applying them in random orders builds every kind of DAG:
    // missing parents, forks, replays, posts racing her own "membership" entries.
    const r = prng(0xbad)
    const ids = [genesis.id, add.id]
    const pool: Entry[] = []
    let unsigned = 0
    const t0 = Date.now()
    for (let i = 0; i < POOL; i++) {
      const pick = r() % 5
      let body: EntryBody
      if (pick === 0) body = { kind: 'post', nonce: randomBytes(24), sealed: randomBytes(r() % 2000) }
      else if (pick === 1) body = { kind: 'add', m: randomBytes(32), member: randomBytes(32), memberName: 'eve', x: randomBytes(32), invite: randomBytes(32), box: { member: randomBytes(32), eph: randomBytes(32), nonce: randomBytes(24), sealed: randomBytes(48) } }
      else if (pick === 2) body = { kind: 'remove', m: randomBytes(32), member: r() % 2 === 0 ? a.signer.publicKey : randomBytes(32), boxes: [] }
      else if (pick === 3) body = { kind: 'genesis', name: 'mine now', memberName: 'mallory', x: randomBytes(32), box: { member: m.signer.publicKey, eph: randomBytes(32), nonce: randomBytes(24), sealed: randomBytes(48) } }
      else body = (await postEntry(backend, lm, m.signer, { link: 'kith:' + 'a'.repeat(r() % 100), name: `f${i}`, size: r() }, T + 10 + i)).body
      const prev = r() % 4 === 0 ? [] : [ids[r() % ids.length]!]
      if (r() % 3 === 0) prev.push(ids[r() % ids.length]!)
      if (r() % 8 === 0) prev.push(randomBytes(32))
      const distinct = [...new Map(prev.map(p => [Buffer.from(p).toString('hex'), p])).values()].sort((x, y) => Buffer.compare(x, y))
      try {
        const e = await signEntry(m.signer, { circle: r() % 30 === 0 ? randomBytes(32) : genesis.circle, epoch: [0, 0, 0, 1, 0xffffffff][r() % 5]!, time: [T + 5 + i, 0, Number.MAX_SAFE_INTEGER][r() % 3]!, prev: distinct, body })
        pool.push(e)
        ids.push(e.id)
      } catch (err) {
        // The encoder refusing what the decoder would refuse is fine; anything untyped is not.
        if (!(err instanceof KithError) && !(err instanceof RangeError) && !(err instanceof TypeError)) throw err
        unsigned++
      }
    }
    const signMs = Date.now() - t0
    const outcome = { applied: 0, hidden: 0, kept: 0, rejected: 0, pending: 0 }
    let applications = 0
    let logs = 0
    const t1 = Date.now()
    while (applications < APPLIED) {
      // A fresh member's log gets a random batch in a random order, in one or several syncs.
      const la = base()
      logs++
      const batch = Array.from({ length: 1 + (r() % 200) }, () => pool[r() % pool.length]!)
      for (let off = 0; off < batch.length && applications < APPLIED;) {
        const n = 1 + (r() % 50)
        const part = batch.slice(off, off + n)
        off += n
        applications += part.length
        let res: ReturnType<CircleLog['applyAll']>
        // Entries as decodeEntry returned them when signed (decoding is fuzzed above): the log's rules
        // are what is under test here, at volume.
        try { res = la.applyAll(part) } catch (err) {
          if (err instanceof KithError) { outcome.rejected += part.length; continue }
          throw new Error(`applyAll: untyped ${(err as Error).name}: ${(err as Error).message} for entries ${part.map(e => hexOf(e.bytes)).join(' ')}`)
        }
        outcome.applied += res.applied.length
        outcome.hidden += res.hidden.length
        outcome.kept += res.kept.length
        outcome.rejected += res.rejected.length
        outcome.pending += res.pending.length
      }
      if (logs % 50 === 1) {
        // Whatever she planted, the admin's removal of her still applies, and she is out.
        la.feed()
        const rm = await removeMemberEntry(backend, la, a.signer, m.signer.publicKey, T + POOL + 100)
        expect(la.apply(rm)).toBe(true)
        expect(la.members().map(x => x.name)).toEqual(['alice'])
        expect(la.isMember(m.signer.publicKey)).toBe(false)
      }
    }
    console.log(`fuzz handlers: circle log: ${pool.length} signed hostile entries (${unsigned} refused by the encoder) in ${signMs} ms; ${applications} applications to ${logs} fresh logs in ${Date.now() - t1} ms: ${JSON.stringify(outcome)}; the admin's removal applied in every log checked`)
    expect(outcome.rejected).toBeGreaterThan(0)
  }, BOUND)

  it(`DHT manifest-record validator: ${DECODES} hostile key/value pairs, typed errors only`, () => {
    const value = randomBytes(500)
    const key = manifestRecordKey(cidOf(backend, value))
    const r = prng(0xd47)
    let accepted = 0
    for (let i = 0; i < DECODES; i++) {
      const k = r() % 3 === 0 ? key : mutate(r, key)
      const v = r() % 3 === 0 ? value : mutate(r, value)
      let ok = true
      try { validateManifestRecord(k, v) } catch (err) {
        ok = false
        if (!(err instanceof KithError)) throw new Error(`validateManifestRecord: untyped ${(err as Error).name}: ${(err as Error).message} for key ${hexOf(k)} value ${hexOf(v)}`)
      }
      if (ok) {
        accepted++
        // Anything accepted is self-certifying: the value hashes to the key's digest.
        expect(Buffer.from(k).includes(Buffer.from(sha256(v)))).toBe(true)
      }
    }
    console.log(`fuzz handlers: DHT record validator: ${DECODES} pairs, ${accepted} accepted (all self-certifying), the rest typed errors`)
    expect(accepted).toBeGreaterThan(0)
  }, BOUND)
})
