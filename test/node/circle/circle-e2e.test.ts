/**
 * Friend circles end to end with four real `kith daemon`s on loopback (B, C, D bootstrap to A):
 * A creates a circle and invites B, C and D; B posts a share; A and C see it and fetch it. A reused
 * invite is refused. D goes offline; while it is away B posts again and A removes C (new epoch).
 * C cannot read or sync the new post and holds no key of the new epoch; A and B fetch it; D
 * catches up when it restarts and fetches it too.
 */
import { readFile, readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOnce, killAll, removeTree, Sandbox, sha256File, tempDir, until, writeRandomFile, type DaemonInfo, type Proc } from '../fixtures/procs.js'

type Daemon = { proc: Proc, info: DaemonInfo, repo: string }
let box: Sandbox
const d: Record<'A' | 'B' | 'C' | 'D', Daemon | undefined> = { A: undefined, B: undefined, C: undefined, D: undefined }

function must (x: Daemon | undefined): Daemon {
  if (x === undefined) throw new Error('daemon not started')
  return x
}

async function kithJson<T> (args: string[], timeoutMs = 60_000): Promise<T> {
  const r = await box.kith([...args, '--json'], timeoutMs)
  expect(r.code, `kith ${args[0]} ${args[1] ?? ''}: ${r.stderr}`).toBe(0)
  return JSON.parse(r.stdout) as T
}

interface FeedItem { name: string, size: number, link: string, author: string, epoch: number }
const feed = async (x: Daemon): Promise<FeedItem[]> => (await kithJson<{ feed: FeedItem[] }>(['circle', 'feed', 'friends', '--repo', x.repo])).feed

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-circle-'))
}, 300_000)

afterAll(async () => {
  await Promise.allSettled(Object.values(d).map(async x => { await x?.proc.stop('SIGTERM', 10_000) }))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

describe('a circle of four daemons', () => {
  let first: { sha: string, path: string }
  let second: { sha: string, path: string, link?: string }

  it('A creates a circle and invites B, C and D; each joins by code; a reused code is refused', async () => {
    d.A = await box.daemon(box.path('repo-a'))
    const boot = [d.A.info.addrs[0] as string]
    d.B = await box.daemon(box.path('repo-b'), boot)
    d.C = await box.daemon(box.path('repo-c'), boot)
    d.D = await box.daemon(box.path('repo-d'), boot)
    const created = await kithJson<{ name: string, epoch: number, admin: boolean }>(['circle', 'create', 'friends', '--name', 'alice', '--repo', d.A.repo])
    expect(created).toMatchObject({ name: 'friends', epoch: 0, admin: true })
    const codes: string[] = []
    for (let i = 0; i < 3; i++) {
      const inv = await kithJson<{ code: string, expires: string }>(['circle', 'invite', 'friends', '--ttl', '1h', '--repo', d.A.repo])
      expect(inv.code).toMatch(/^kith-invite:[a-z2-7]+$/)
      codes.push(inv.code)
    }
    for (const [x, name, code] of [[d.B, 'bob', codes[0]], [d.C, 'carol', codes[1]], [d.D, 'dave', codes[2]]] as const) {
      const j = await kithJson<{ name: string, members: number }>(['circle', 'join', code as string, '--name', name, '--repo', must(x).repo])
      expect(j.name).toBe('friends')
    }
    // Reused: B's code again, from a fresh user.
    const r = await box.kith(['circle', 'join', codes[0] as string, '--repo', box.path('repo-e'), '--bootstrap', boot[0] as string, '--json'], 60_000)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/invite was refused: invite unknown, used or expired/)
    const members = await until(async () => {
      const m = (await kithJson<{ members: Array<{ name: string, online: boolean }> }>(['circle', 'members', 'friends', '--repo', must(d.C).repo])).members
      return m.length === 4 ? m : undefined
    }, 30_000, 'C sees all four members')
    expect(members.map(m => m.name).sort()).toEqual(['alice', 'bob', 'carol', 'dave'])
  }, 240_000)

  it('B posts a share; A and C see it in the feed and fetch it', async () => {
    const b = must(d.B)
    first = { path: box.path('first.bin'), sha: '' }
    first.sha = await writeRandomFile(first.path, 3 * 1024 * 1024)
    await box.share(b.repo, first.path, ['--circle', 'friends'])
    for (const x of [must(d.A), must(d.C)]) {
      const items = await until(async () => { const f = await feed(x); return f.length === 1 ? f : undefined }, 30_000, 'post reaches the feed')
      expect(items[0]).toMatchObject({ name: basename(first.path), size: 3 * 1024 * 1024, epoch: 0, author: b.info.peerId })
      const out = box.path(`out-${x.repo.slice(-1)}`)
      const got = await kithJson<{ path: string, sha256: string }>(['get', (items[0] as FeedItem).link, '-o', out, '--repo', x.repo], 120_000)
      expect(got.sha256).toBe(first.sha)
      expect(await sha256File(got.path)).toBe(first.sha)
    }
  }, 240_000)

  it('with D offline, A removes C (new epoch) and B posts again: A and B fetch it, C cannot read or sync it', async () => {
    const [a, b, c] = [must(d.A), must(d.B), must(d.C)]
    await must(d.D).proc.stop('SIGTERM', 15_000)
    d.D = { ...must(d.D), proc: must(d.D).proc } // stopped; restarted below
    const removed = await kithJson<{ epoch: number }>(['circle', 'remove', 'friends', c.info.peerId, '--repo', a.repo])
    expect(removed.epoch).toBe(1)
    // A non-admin cannot remove anyone.
    const bad = await box.kith(['circle', 'remove', 'friends', a.info.peerId, '--repo', b.repo])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/only the circle's admin/)
    await until(async () => (await kithJson<{ circles: Array<{ epoch: number }> }>(['circle', 'ls', '--repo', b.repo])).circles[0]?.epoch === 1 || undefined, 30_000, 'B learns the new epoch')
    second = { path: box.path('second.bin'), sha: '' }
    second.sha = await writeRandomFile(second.path, 1024 * 1024 + 5)
    await box.share(b.repo, second.path, ['--circle', 'friends'])
    const items = await until(async () => { const f = await feed(a); return f.length === 2 ? f : undefined }, 30_000, 'A sees the new post')
    const post = items.find(i => i.name === basename(second.path)) as FeedItem
    expect(post.epoch).toBe(1)
    second.link = post.link
    const got = await kithJson<{ sha256: string }>(['get', post.link, '-o', box.path('out-a2'), '--repo', a.repo], 120_000)
    expect(got.sha256).toBe(second.sha)
    // C: give its daemon a sync round's worth of time; it still sees only the first post, is at
    // epoch 0, and nothing in its repo holds the new post's link.
    await new Promise(resolve => setTimeout(resolve, 3000))
    expect((await feed(c)).map(f => f.name)).toEqual([basename(first.path)])
    expect((await kithJson<{ circles: Array<{ epoch: number }> }>(['circle', 'ls', '--repo', c.repo])).circles[0]?.epoch).toBe(0)
    const secret = Buffer.from(post.link.slice(5, 60))
    for (const e of await readdir(c.repo, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) expect((await readFile(join(e.parentPath, e.name))).includes(secret)).toBe(false)
    }
  }, 240_000)

  it('D, offline during the post and the rotation, catches up after restart and fetches the new post', async () => {
    const dd = must(d.D)
    d.D = await box.daemon(dd.repo, [must(d.A).info.addrs[0] as string])
    const items = await until(async () => { const f = await feed(must(d.D)); return f.length === 2 ? f : undefined }, 60_000, 'D catches up')
    const post = items.find(i => i.name === basename(second.path)) as FeedItem
    expect(post.link).toBe(second.link)
    const got = await kithJson<{ sha256: string }>(['get', post.link, '-o', box.path('out-d'), '--repo', must(d.D).repo], 120_000)
    expect(got.sha256).toBe(second.sha)
  }, 240_000)
})
