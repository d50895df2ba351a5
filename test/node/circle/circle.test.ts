/** Circles between real libp2p nodes on loopback TCP with on-disk repos, in one process. */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { formatInvite, parseInvite } from '../../../protocol/circle/invite.js'
import { startNode, stopNode, waitFor, type TestNode } from '../helpers/nodes.js'
import { pseudoRandomBytes } from '../../protocol/helpers/fixtures.js'

const nodes: TestNode[] = []
afterAll(async () => { await Promise.all(nodes.map(stopNode)) })

async function files (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name))
  return out
}

describe('circles over loopback', () => {
  it('invite, join, post, rotate on removal; invites are one-time; a removed member is refused', async () => {
    const a = await startNode(); nodes.push(a)
    const boot = [a.node.addrs()[0] as string]
    const b = await startNode({ bootstrap: boot }); nodes.push(b)
    const c = await startNode({ bootstrap: boot }); nodes.push(c)
    const d = await startNode({ bootstrap: boot }); nodes.push(d)

    const created = await a.node.circleCreate('friends', 'alice')
    expect(created).toMatchObject({ name: 'friends', epoch: 0, members: 1, admin: true })
    const invB = await a.node.circleInvite('friends', 60_000)
    const invC = await a.node.circleInvite('friends', 60_000)
    expect((await b.node.circleJoin(invB.code, 'bob')).members).toBe(2)
    expect((await c.node.circleJoin(invC.code, 'carol')).members).toBe(3)
    // One-time: the same code again (from another node) is refused; so is a tampered code.
    await expect(d.node.circleJoin(invB.code, 'dave')).rejects.toThrow(/refused/)
    const inv = parseInvite(invC.code)
    inv.secret[0]! ^= 1
    await expect(d.node.circleJoin(formatInvite(inv), 'dave')).rejects.toThrow(/refused/)
    // An expired invite.
    const short = await a.node.circleInvite('friends', 1000)
    await new Promise(resolve => setTimeout(resolve, 1200))
    await expect(d.node.circleJoin(short.code, 'dave')).rejects.toThrow()
    expect(d.node.circleList()).toEqual([])

    await waitFor(() => b.node.circleMembers('friends').length === 3, 15_000, 'B sees C join')
    const src = join(b.dir, 'song.bin')
    const data = pseudoRandomBytes(300_000)
    await writeFile(src, data)
    const shared = await b.node.shareToCircle(src, 'friends')
    await waitFor(() => a.node.circleFeed('friends').length === 1 && c.node.circleFeed('friends').length === 1, 15_000, 'post reaches A and C')
    const item = c.node.circleFeed('friends')[0]!
    expect(item).toMatchObject({ name: 'song.bin', size: 300_000, link: shared.link, author: b.node.peerId.toString(), authorName: 'bob', epoch: 0 })
    const out = join(c.dir, 'out')
    await mkdir(out)
    const got = await c.node.get(item.link, { outDir: out, timeoutMs: 20_000 })
    expect((await readFile(got.path)).equals(Buffer.from(data))).toBe(true)

    // A removes C: epoch 1; B posts; A and B see it, C cannot sync it and holds no epoch-1 key.
    expect(await a.node.circleRemove('friends', c.node.peerId.toString())).toEqual({ epoch: 1 })
    await waitFor(() => b.node.circleList()[0]?.epoch === 1, 15_000, 'B learns the rotation')
    await expect(b.node.circleRemove('friends', a.node.peerId.toString())).rejects.toThrow(/only the circle's admin/)
    const src2 = join(b.dir, 'after.txt')
    await writeFile(src2, 'after the removal')
    await b.node.shareToCircle(src2, 'friends')
    await waitFor(() => a.node.circleFeed('friends').length === 2, 15_000, 'A sees the new post')
    const cc = c.node.circles.find('friends')
    await c.node.circleNet.round()
    await new Promise(resolve => setTimeout(resolve, 500))
    await c.node.circleNet.settle()
    expect(cc.log.epoch).toBe(0)
    expect(cc.log.epochKey(1)).toBeUndefined()
    expect(c.node.circleFeed('friends').map(f => f.name)).toEqual(['song.bin'])
    // Nothing on C's disk holds the new post's link.
    const link2 = a.node.circleFeed('friends')[1]!.link
    for (const f of await files(c.dir)) expect((await readFile(f)).includes(Buffer.from(link2.slice(5, 40)))).toBe(false)
  })
})

describe('circle sync against a lying member', () => {
  it('a forged entry pushed over the wire is refused and changes nothing; auto-fetch downloads new posts', async () => {
    const { lpStream } = await import('@libp2p/utils')
    const { computeProof } = await import('../../../protocol/admission.js')
    const { postEntry } = await import('../../../protocol/circle/log.js')
    const { CIRCLE_PROTOCOL } = await import('../../../protocol/circle/entry.js')
    const { decodeCircleMessage, encodeCircleMessage } = await import('../../../protocol/circle/messages.js')
    const { signerFor } = await import('../../../node/engine/publish.js')
    const a = await startNode(); nodes.push(a)
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await a.node.circleCreate('club', 'alice')
    await b.node.circleJoin((await a.node.circleInvite('club', 60_000)).code, 'bob')
    const ca = a.node.circles.find('club')
    const before = ca.log.size

    // B (a real member, so admission succeeds) pushes an entry whose signature is broken.
    const cb = b.node.circles.find('club')
    const good = await postEntry(b.node.backend, cb.log, signerFor(b.repo.privateKey), { link: 'kith:x', name: 'x', size: 1 }, Date.now())
    const forged = Uint8Array.from(good.bytes)
    forged[forged.length - 3]! ^= 0xff
    const stream = await b.node.libp2p.dialProtocol(a.node.peerId, CIRCLE_PROTOCOL)
    const lp = lpStream(stream)
    const send = async (m: Parameters<typeof encodeCircleMessage>[0]): Promise<void> => { await lp.write(encodeCircleMessage(m)) }
    const recv = async (): Promise<ReturnType<typeof decodeCircleMessage>> => decodeCircleMessage((await lp.read()).subarray())
    const nonce = new Uint8Array(32).fill(7)
    await send({ t: 'hello', circle: ca.log.circle, epoch: 0, nonce })
    const welcome = await recv()
    if (welcome.t !== 'welcome') throw new Error(`expected welcome, got ${welcome.t}`)
    const t = { swarm: ca.log.circle, initiator: b.node.peerId.toMultihash().bytes, responder: a.node.peerId.toMultihash().bytes, initiatorNonce: nonce, responderNonce: welcome.nonce }
    await send({ t: 'proof', proof: computeProof(cb.log.epochKeys(0).access, 'initiator', t) })
    expect((await recv()).t).toBe('done') // admitted
    expect((await recv()).t).toBe('heads') // A pushes first: we want nothing
    await send({ t: 'done' })
    await send({ t: 'heads', ids: [good.id] }) // then A pulls from us
    const want = await recv()
    expect(want.t).toBe('want')
    await send({ t: 'entries', entries: [forged] })
    await expect(recv()).rejects.toThrow() // A resets the stream
    expect(ca.log.size).toBe(before)
    expect(ca.log.has(good.id)).toBe(false)

    // Auto-fetch: A downloads B's next post on its own.
    const dir = join(a.dir, 'auto')
    await mkdir(dir)
    await a.node.circleAutoFetch('club', dir)
    const src = join(b.dir, 'auto.bin')
    const data = pseudoRandomBytes(200_000)
    await writeFile(src, data)
    await b.node.shareToCircle(src, 'club')
    await waitFor(async () => (await readdir(dir)).includes('auto.bin'), 20_000, 'auto-fetch')
    expect((await readFile(join(dir, 'auto.bin'))).equals(Buffer.from(data))).toBe(true)
  })
})

describe('circle auto-fetch limits', () => {
  it('fetches a post up to the size cap, not executable; a larger one (claimed, or only in its manifest) stays in the feed unfetched', async () => {
    const { chmod, stat } = await import('node:fs/promises')
    const { AUTO_FETCH_MAX_BYTES } = await import('../../../node/circle/circles.js')
    expect(AUTO_FETCH_MAX_BYTES).toBe(1024 * 1024 * 1024) // the default, with its reason beside it
    const cap = 100_000
    const a = await startNode({ autoFetchMaxBytes: cap }); nodes.push(a)
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    await a.node.circleCreate('big', 'alice')
    await b.node.circleJoin((await a.node.circleInvite('big', 60_000)).code, 'bob')
    const dir = join(a.dir, 'auto-capped')
    await mkdir(dir)
    await a.node.circleAutoFetch('big', dir)
    const put = async (name: string, size: number): Promise<string> => {
      const src = join(b.dir, name)
      await writeFile(src, pseudoRandomBytes(size))
      await chmod(src, 0o755)
      return src
    }
    // Over the cap, as its post says.
    await b.node.shareToCircle(await put('large.bin', cap + 1), 'big')
    // Over the cap, while its post claims a small size: the manifest's size is what counts.
    const liar = await b.node.share(await put('liar.bin', cap * 2))
    await b.node.circles.post('big', { link: liar.link, name: 'liar.bin', size: 10 })
    // Within the cap, executable at its source.
    await b.node.shareToCircle(await put('small.bin', cap), 'big')
    await waitFor(async () => (await readdir(dir)).includes('small.bin'), 20_000, 'auto-fetch of the small post')
    await waitFor(() => a.node.circleFeed('big').length === 3, 10_000, 'the feed')
    await new Promise(resolve => setTimeout(resolve, 1500)) // any late fetch of the others would land now
    expect((await readdir(dir)).sort()).toEqual(['small.bin'])
    expect(a.node.circleFeed('big').map(p => p.name).sort()).toEqual(['large.bin', 'liar.bin', 'small.bin'])
    expect((await stat(join(dir, 'small.bin'))).mode & 0o777).toBe(0o644)
  })

  it('auto-fetches only shares the post\'s author published: a link to another node\'s share stays in the feed', async () => {
    const a = await startNode(); nodes.push(a)
    const b = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(b)
    const c = await startNode({ bootstrap: [a.node.addrs()[0] as string] }); nodes.push(c) // not in the circle
    await a.node.circleCreate('own', 'alice')
    await b.node.circleJoin((await a.node.circleInvite('own', 60_000)).code, 'bob')
    const dir = join(a.dir, 'auto-own')
    await mkdir(dir)
    await a.node.circleAutoFetch('own', dir)
    // Bob posts Carol's share under his name (her manifest is signed by her key, not his) …
    await writeFile(join(c.dir, 'carols.bin'), pseudoRandomBytes(5000))
    const carols = await c.node.share(join(c.dir, 'carols.bin'))
    await b.node.circles.post('own', { link: carols.link, name: 'carols.bin', size: 5000 })
    // … and one of his own.
    await writeFile(join(b.dir, 'bobs.bin'), pseudoRandomBytes(5000))
    await b.node.shareToCircle(join(b.dir, 'bobs.bin'), 'own')
    await waitFor(async () => (await readdir(dir)).includes('bobs.bin'), 20_000, 'auto-fetch of bob\'s own post')
    await waitFor(() => a.node.circleFeed('own').length === 2, 10_000, 'the feed')
    await new Promise(resolve => setTimeout(resolve, 1500)) // a late fetch of carols.bin would land now
    expect((await readdir(dir)).sort()).toEqual(['bobs.bin'])
    expect(a.node.circleFeed('own').map(p => p.name).sort()).toEqual(['bobs.bin', 'carols.bin'])
    // By hand, it downloads, and says whose it is.
    const out = join(a.dir, 'by-hand')
    await mkdir(out)
    const got = await a.node.get(carols.link, { outDir: out, timeoutMs: 20_000 })
    expect(got.publisher).toBe(c.node.libp2p.peerId.toString())
  })
})

describe('circles on disk', () => {
  it('a torn last record is cut off; a circle whose log does not verify is left out and the others load', async () => {
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { mkdtemp, appendFile, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { Circles } = await import('../../../node/circle/circles.js')
    const { signerFor } = await import('../../../node/engine/publish.js')
    const { nobleBackend } = await import('../../../protocol/crypto.js')
    const dir = await mkdtemp(join(tmpdir(), 'kith-circles-'))
    try {
      const signer = signerFor(await generateKeyPair('Ed25519'))
      const c1 = await Circles.open(dir, signer, nobleBackend)
      const good = await c1.create('good', 'me')
      const bad = await c1.create('bad', 'me')
      await c1.post('good', { link: 'kith:a', name: 'a', size: 1 })
      // good: a torn record at the end (a killed process); bad: a flipped byte inside its genesis.
      await appendFile(join(dir, 'circles', good.id, 'log'), Buffer.from([0, 0, 1, 0, 9, 9]))
      const badLog = join(dir, 'circles', bad.id, 'log')
      const bytes = await readFile(badLog)
      bytes[bytes.length - 10]! ^= 1
      await writeFile(badLog, bytes)
      const c2 = await Circles.open(dir, signer, nobleBackend)
      expect(c2.list().map(c => c.name)).toEqual(['good'])
      expect(c2.feed('good').map(f => f.name)).toEqual(['a'])
      expect(c2.broken.map(b => b.id)).toEqual([bad.id])
      // The torn tail is gone: appending again keeps the file well-formed.
      await c2.post('good', { link: 'kith:b', name: 'b', size: 1 })
      const c3 = await Circles.open(dir, signer, nobleBackend)
      expect(c3.feed('good').map(f => f.name)).toEqual(['a', 'b'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('circles on disk under a flood', () => {
  it('a member\'s flood is capped on disk and in memory; the admin still removes it; its posts leave the feed and the file on reload', async () => {
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { mkdtemp, rm, stat } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { Circles } = await import('../../../node/circle/circles.js')
    const { peerIdOfKey } = await import('../../../node/engine/peer-id.js')
    const { signerFor } = await import('../../../node/engine/publish.js')
    const { nobleBackend } = await import('../../../protocol/crypto.js')
    const { CircleLog, addMemberEntry } = await import('../../../protocol/circle/log.js')
    const { decodeEntry, sealPost, signEntry } = await import('../../../protocol/circle/entry.js')
    const { generateBoxKeyPair } = await import('../../../protocol/circle/keys.js')
    const { inviteId } = await import('../../../protocol/circle/invite.js')
    const dir = await mkdtemp(join(tmpdir(), 'kith-circles-'))
    try {
      const admin = signerFor(await generateKeyPair('Ed25519'))
      const spammer = signerFor(await generateKeyPair('Ed25519'))
      const spammerBox = generateBoxKeyPair()
      const limits = { postsPerAuthorEpoch: 20 }
      const circles = await Circles.open(dir, admin, nobleBackend, undefined, limits)
      const made = await circles.create('club', 'alice')
      const c = circles.find('club')
      const add = await addMemberEntry(nobleBackend, c.log, admin, { key: spammer.publicKey, name: 'spammer', x: spammerBox.publicKey }, inviteId(new Uint8Array(32).fill(1)), Date.now())
      await circles.receive(c, [add])
      await circles.post('club', { link: 'kith:mine', name: 'mine', size: 1 })
      // The spammer's replica of the log, to seal posts under the epoch key.
      const ls = new CircleLog(c.log.circle, nobleBackend, spammerBox, spammer.publicKey)
      ls.applyAll((await circles.entryBytes(c, c.log.entries().map(r => r.id))).map(decodeEntry))
      // 300 posts of ~8 KiB, all siblings naming only the membership head.
      const spam = []
      for (let i = 0; i < 300; i++) {
        spam.push(await signEntry(spammer, { circle: c.log.circle, epoch: 0, time: i, prev: [add.id], body: sealPost(nobleBackend, c.log.circle, spammer.publicKey, ls.epochKeys(0), { link: 'kith:spam', name: 'x'.repeat(8000) + i, size: 1 }) }))
      }
      for (let i = 0; i < spam.length; i += 50) await circles.receive(c, spam.slice(i, i + 50))
      const logPath = join(dir, 'circles', made.id, 'log')
      expect(c.log.size).toBe(3 + 20)
      expect(circles.feed('club').filter(f => f.authorName === 'spammer').length).toBe(20)
      // On disk: what the log holds, plus at most as much again (or 256 KiB) not compacted yet.
      const live = 23 * 8.5 * 1024
      expect((await stat(logPath)).size).toBeLessThan(2 * live + 256 * 1024)
      // The admin removes the spammer: its posts leave the feed; ours stays.
      expect(await circles.remove('club', peerIdOfKey(spammer.publicKey))).toEqual({ epoch: 1 })
      expect(circles.feed('club').map(f => f.name)).toEqual(['mine'])
      // Reloaded from disk: the same state.
      const again = await Circles.open(dir, admin, nobleBackend, undefined, limits)
      expect(again.feed('club').map(f => f.name)).toEqual(['mine'])
      expect(again.find('club').log.epoch).toBe(1)
      expect(again.broken).toEqual([])
      expect((await stat(logPath)).size).toBeLessThan(live + 64 * 1024)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
