/** Circles between real libp2p nodes on loopback TCP with on-disk repos, in one process. */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { formatInvite, parseInvite } from '../../protocol/circle.js'
import { startNode, stopNode, waitFor, type TestNode } from './helpers/nodes.js'
import { pseudoRandomBytes } from '../protocol/helpers/fixtures.js'

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
