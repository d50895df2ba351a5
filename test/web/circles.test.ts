/**
 * The circles page in real Chromium: B's browser (B's daemon, opened with its management link)
 * joins A's circle by code, sees A's post in the feed and downloads it with one click; the invite
 * button shows a code and a QR code; the page refuses a reused code with a clear message.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../global-setup.js'
import { API, sha256File, until, writeRandomFile } from '../node/fixtures/procs.js'
import { webSuite } from './suite.js'

const SHOTS = join(ROOT, 'test-output', 'screenshots')
const suite = webSuite('kith-web-circles-')

async function daemon (repo: string, bootstrap: string[] = []): Promise<{ ui: string, addrs: string[], repo: string }> {
  const p = suite.box.start(['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws', ...API, ...bootstrap.flatMap(b => ['--bootstrap', b]), '--json'])
  suite.procs.push(p)
  const info = await p.firstJsonLine<{ ui: string, addrs: string[] }>(60_000)
  return { ...info, repo }
}

describe('circles page', () => {
  it('joins by code, shows the feed, downloads a post with one click; invite shows a QR code; a reused code is refused', async () => {
    const a = await daemon(suite.box.path('repo-a'))
    const b = await daemon(suite.box.path('repo-b'), [a.addrs[0] as string])
    const kith = async (args: string[]): Promise<Record<string, unknown>> => {
      const r = await suite.box.kith([...args, '--json'], 60_000)
      expect(r.code, r.stderr).toBe(0)
      return JSON.parse(r.stdout) as Record<string, unknown>
    }
    await kith(['circle', 'create', 'friends', '--name', 'alice', '--repo', a.repo])
    const code = (await kith(['circle', 'invite', 'friends', '--repo', a.repo])).code as string

    const token = (await readFile(join(b.repo, 'api-token'), 'utf8')).trim()
    const ctx = await suite.browser.newContext({ acceptDownloads: true })
    const page = await ctx.newPage()
    await page.goto(`${b.ui}#token=${token}`)
    await page.locator('#screen-circles').waitFor({ state: 'visible' })
    expect(page.url()).not.toContain(token) // the token leaves the address bar at once
    await page.fill('#circle-join-code', code)
    await page.fill('#circle-join-name', 'bob')
    await page.getByRole('button', { name: 'Join' }).click()
    await page.locator('article[data-circle="friends"]').waitFor({ state: 'visible', timeout: 60_000 })
    expect(await page.locator('article[data-circle="friends"] .members').textContent()).toContain('bob (you)')
    expect(await page.locator('#circles-message').textContent()).toContain('joined "friends"')

    // A posts; the feed shows it; one click downloads it in this suite.browser.
    const src = join(suite.box.dir, 'holiday.bin')
    const sha = await writeRandomFile(src, 2 * 1024 * 1024 + 3)
    await kith(['share', src, '--circle', 'friends', '--repo', a.repo])
    await until(async () => {
      await page.getByRole('button', { name: 'Refresh' }).click()
      return await page.locator('article[data-circle="friends"] .feed li[data-name="holiday.bin"]').count() > 0
    }, 30_000, 'the post in the feed')
    await page.screenshot({ path: join(SHOTS, 'circles.png') })
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 120_000 }),
      page.locator('article[data-circle="friends"] .feed li[data-name="holiday.bin"] button').click()
    ])
    const saved = join(suite.box.dir, 'from-feed.bin')
    await download.saveAs(saved)
    expect(await sha256File(saved)).toBe(sha)

    // Reusing the code: a clear message in the page.
    await page.goto(`${b.ui}#circles`)
    await page.fill('#circle-join-code', code)
    await page.getByRole('button', { name: 'Join' }).click()
    await page.waitForFunction(() => /invite was refused|already/i.test(document.getElementById('circles-message')?.textContent ?? ''), undefined, { timeout: 60_000 })

    // A's own page: invite shows a code and a QR code; members can be removed by the admin.
    const tokenA = (await readFile(join(a.repo, 'api-token'), 'utf8')).trim()
    const pageA = await ctx.newPage()
    await pageA.goto(`${a.ui}#token=${tokenA}`)
    await pageA.locator('article[data-circle="friends"]').waitFor({ state: 'visible', timeout: 30_000 })
    await pageA.getByRole('button', { name: 'Invite someone' }).click()
    await pageA.locator('.invite-code').waitFor({ state: 'visible' })
    expect(await pageA.locator('.invite-code').inputValue()).toMatch(/^kith-invite:/)
    expect(await pageA.locator('.invite img.qr').count()).toBe(1)
    await pageA.screenshot({ path: join(SHOTS, 'circles-invite.png') })
    const bPeer = ((await kith(['status', '--repo', b.repo])).peerId) as string
    await pageA.locator(`li[data-peer="${bPeer}"] button`).click()
    await pageA.waitForFunction(() => /key was rotated \(epoch 1\)/.test(document.getElementById('circles-message')?.textContent ?? ''), undefined, { timeout: 30_000 })

    // The node page: add a share by path; shares with seeding figures; peers with connection type.
    const extra = join(suite.box.dir, 'notes.bin')
    await writeRandomFile(extra, 100_000)
    await pageA.goto(`${a.ui}#node`)
    await pageA.locator('#screen-node').waitFor({ state: 'visible' })
    await pageA.fill('#node-add-path', extra)
    await pageA.getByRole('button', { name: 'Add share' }).click()
    await pageA.locator('#node-shares li[data-name="notes.bin"]').waitFor({ state: 'visible', timeout: 30_000 })
    expect(await pageA.locator('#node-message').textContent()).toMatch(/sharing notes\.bin: kith:/)
    expect(await pageA.locator(`#node-peers li[data-peer="${bPeer}"]`).getAttribute('data-kind')).toBe('tcp')
    // The reachability report (docs/NETWORK.md): loopback only, so NAT unknown; no relay; UPnP off; B direct.
    expect(await pageA.locator('#node-nat').getAttribute('data-nat')).toBe('unknown')
    expect(await pageA.locator('#node-relays').textContent()).toBe('no relay reservations')
    expect(await pageA.locator('#node-upnp').textContent()).toBe('UPnP: off')
    const bConn = pageA.locator(`#node-connections li[data-peer="${bPeer}"][data-path="direct"]`).first()
    expect(await bConn.textContent()).toMatch(/ · direct · (tcp|ws) · \/ip4\/127\.0\.0\.1\//)
    await pageA.screenshot({ path: join(SHOTS, 'node.png') })

    // A shows notes.bin's seed-only link; B's page blind-seeds it with that link.
    await pageA.locator('#node-shares li[data-name="notes.bin"]').getByRole('button', { name: 'Seed-only link' }).click()
    await pageA.waitForFunction(() => /seed-only link of notes\.bin .*kith:aeb/.test(document.getElementById('node-message')?.textContent ?? ''), undefined, { timeout: 10_000 })
    const seedLink = /kith:[a-z2-7]+/.exec(await pageA.locator('#node-message').textContent() ?? '')?.[0] as string
    expect(seedLink.startsWith('kith:aeb')).toBe(true)
    await page.goto(`${b.ui}#node`)
    await page.locator('#screen-node').waitFor({ state: 'visible' })
    await page.fill('#node-seed-link', 'kith:not-a-link')
    await page.getByRole('button', { name: 'Seed' }).click()
    await page.waitForFunction(() => /malformed link/i.test(document.getElementById('node-message')?.textContent ?? ''), undefined, { timeout: 10_000 })
    await page.fill('#node-seed-link', seedLink)
    await page.getByRole('button', { name: 'Seed' }).click()
    await page.locator('#node-shares li[data-role="seed"]').waitFor({ state: 'visible', timeout: 60_000 })
    expect(await page.locator('#node-message').textContent()).toMatch(/^seeding bafk\w+: 1 chunk, .* all verified/)
    expect(await page.locator('#node-shares li[data-role="seed"]').textContent()).toContain('(encrypted: blind seed)')
    expect(await page.locator('#node-shares li[data-role="seed"] button').count()).toBe(0)
    await page.screenshot({ path: join(SHOTS, 'node-seed.png') })
    await ctx.close()
  }, 300_000)
})
