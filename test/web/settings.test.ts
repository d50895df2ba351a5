/**
 * The settings page in real Chromium: opened with the daemon's management link, it shows the
 * node's limits, chunk size, UPnP (off) and (read-only) addresses; Save changes the upload limit and turns UPnP on through
 * PUT /api/v1/settings (checked with GET and on disk); the API's refusal of a bad value and a
 * non-number are shown on the page. Without the token there is no Settings link.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ApiClient } from '../../node/api/client.js'
import { ROOT } from '../global-setup.js'
import { API } from '../node/fixtures/procs.js'
import { webSuite } from './suite.js'

const SHOTS = join(ROOT, 'test-output', 'screenshots')
const suite = webSuite('kith-web-settings-')

describe('settings page', () => {
  it('shows the settings, saves an upload limit (GET and config.json reflect it), shows refusals', async () => {
    const repo = suite.box.path('repo')
    const p = suite.box.start(['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws', ...API, '--json'])
    suite.procs.push(p)
    const info = await p.firstJsonLine<{ ui: string, api: string }>(60_000)
    const token = (await readFile(join(repo, 'api-token'), 'utf8')).trim()
    const client = new ApiClient({ url: info.api, token })
    const ctx = await suite.browser.newContext()
    try {
      // Not managed (no token): no Settings link.
      const anon = await ctx.newPage()
      await anon.goto(info.ui)
      await anon.locator('#screen-open').waitFor({ state: 'visible', timeout: 30_000 })
      expect(await anon.locator('#nav-settings').isHidden()).toBe(true)
      await anon.close()

      const page = await ctx.newPage()
      await page.goto(`${info.ui}#token=${token}`)
      await page.locator('#screen-circles').waitFor({ state: 'visible', timeout: 30_000 })
      await page.locator('#nav-settings').click()
      await page.locator('#screen-settings').waitFor({ state: 'visible', timeout: 10_000 })
      await page.locator('#settings-info dd[data-sealed="false"]').waitFor({ state: 'visible', timeout: 10_000 })
      expect(await page.locator('#settings-upload').inputValue()).toBe('') // unlimited
      expect(await page.locator('#settings-chunk').inputValue()).toBe(String(1024 * 1024))
      expect(await page.locator('#settings-upnp').isChecked()).toBe(false) // UPnP: off by default
      const infoText = await page.locator('#settings-info').textContent() ?? ''
      expect(infoText).toContain(repo)
      expect(infoText).toContain('not sealed')
      expect(await page.locator('#screen-settings').textContent()).toMatch(/take effect when the daemon restarts/)

      await page.fill('#settings-upload', '2.5')
      await page.check('#settings-upnp')
      await page.getByRole('button', { name: 'Save' }).click()
      await page.waitForFunction(() => document.getElementById('settings-message')?.textContent === 'saved', undefined, { timeout: 10_000 })
      expect(await page.locator('#settings-upload').inputValue()).toBe('2.5')
      const s = await client.settings()
      expect(s).toMatchObject({ uploadRate: 2_500_000, downloadRate: 0, chunkSize: 1024 * 1024, upnp: true, repo, sealed: false })
      expect(JSON.parse(await readFile(join(repo, 'config.json'), 'utf8'))).toMatchObject({ uploadRate: 2_500_000, downloadRate: 0, upnp: true })
      expect(await page.locator('#settings-upnp').isChecked()).toBe(true)
      await page.screenshot({ path: join(SHOTS, 'settings.png'), fullPage: true })

      // The API's refusal, shown as it is; nothing changed.
      await page.fill('#settings-download', '-1')
      await page.getByRole('button', { name: 'Save' }).click()
      await page.waitForFunction(() => /"downloadRate" must be a number of bytes per second/.test(document.getElementById('settings-message')?.textContent ?? ''), undefined, { timeout: 10_000 })
      expect(await page.locator('#settings-message').getAttribute('class')).toContain('error')
      // Not a number: refused in the page.
      await page.fill('#settings-download', 'fast')
      await page.getByRole('button', { name: 'Save' }).click()
      await page.waitForFunction(() => /"fast" is not a number/.test(document.getElementById('settings-message')?.textContent ?? ''), undefined, { timeout: 10_000 })
      expect(await client.settings()).toEqual(s)

      // Reloaded from the API: the saved value is shown.
      await page.reload()
      await page.locator('#screen-settings').waitFor({ state: 'visible', timeout: 10_000 })
      await page.waitForFunction(() => (document.getElementById('settings-upload') as HTMLInputElement | null)?.value === '2.5', undefined, { timeout: 10_000 })
    } finally {
      await ctx.close()
    }
  }, 180_000)
})
