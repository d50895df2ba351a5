/**
 * The `kith` command as users and scripts run it: real processes of `node bin/kith.js` (the built
 * code) on temp repos, loopback addresses and port-0 APIs. Every wait is bounded; every child is
 * killed in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cidFromDigest } from '../../../protocol/cid.js'
import { generateRootKey } from '../../../protocol/keys.js'
import { formatLink, parseLink } from '../../../protocol/link.js'
import { ensureBuilt, ROOT } from '../../global-setup.js'

const BIN = join(ROOT, 'bin', 'kith.js')
const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0']
const API = ['--api', '127.0.0.1:0']

const children = new Set<ChildProcess>()
let tmp: string
let counter = 0

interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

function env (): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, KITH_REPO: join(tmp, 'default-repo-must-not-be-used') }
  delete e.KITH_DEBUG
  delete e.DEBUG
  return e
}

/** A fresh (not yet existing) repo path. */
function repoPath (): string {
  return join(tmp, `repo-${++counter}`)
}

/** Runs `kith <args>` to completion (killed after `timeoutMs`). */
async function kith (args: string[], timeoutMs = 30_000): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(resolve => {
    child.on('close', (c, s) => { resolve([c, s]) })
  })
  clearTimeout(timer)
  children.delete(child)
  if (signal === 'SIGKILL') throw new Error(`kith ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`)
  return { code, signal, stdout, stderr }
}

/** A long-running `kith <args>` (daemon, foreground share). */
class Running {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<Result>

  constructor (args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(this.child)
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => { this.stdout += d })
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => { this.stderr += d })
    this.exited = new Promise(resolve => {
      this.child.on('close', (code, signal) => {
        children.delete(this.child)
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })
      })
    })
  }

  /** The first complete stdout line, parsed as JSON. */
  async firstJsonLine<T> (timeoutMs = 30_000): Promise<T> {
    const end = Date.now() + timeoutMs
    while (!this.stdout.includes('\n')) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`exited early (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr}`)
      if (Date.now() > end) throw new Error(`no stdout line within ${timeoutMs} ms; stderr: ${this.stderr}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    return JSON.parse(this.stdout.slice(0, this.stdout.indexOf('\n'))) as T
  }

  /** Sends `signal` and waits (bounded) for the exit. */
  async stop (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<Result> {
    this.child.kill(signal)
    let timer: ReturnType<typeof setTimeout> | undefined
    const result = await Promise.race([
      this.exited,
      new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) })
    ])
    clearTimeout(timer)
    if (result === undefined) {
      this.child.kill('SIGKILL')
      throw new Error(`did not exit within ${timeoutMs} ms after ${signal}; stderr: ${this.stderr}`)
    }
    return result
  }
}

/** A raw HTTP request, so tests can set any Host and Authorization header. */
async function http (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, body: any }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, res => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => {
        let body: unknown
        try { body = JSON.parse(text) } catch { body = text }
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    req.setTimeout(10_000, () => { req.destroy(new Error('http request timed out')) })
    req.on('error', reject)
    req.end(opts.body)
  })
}

function expectOneJsonObject (stdout: string): any {
  const lines = stdout.split('\n').filter(l => l !== '')
  expect(lines).toHaveLength(1)
  const value = JSON.parse(lines[0] as string)
  expect(typeof value).toBe('object')
  return value
}

beforeAll(async () => {
  await ensureBuilt()
  tmp = await mkdtemp(join(tmpdir(), 'kith-cli-'))
}, 200_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  children.clear()
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
})

describe('kith: basics', () => {
  it('--version prints package.json\'s version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    const r = await kith(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
    const j = await kith(['--version', '--json'])
    expect(expectOneJsonObject(j.stdout)).toEqual({ version: pkg.version })
  })

  it('the bin/kith launcher starts Node with the heap flag, also through a symlink (npm link)', async () => {
    const { execFile } = await import('node:child_process')
    const { symlink } = await import('node:fs/promises')
    const run = async (file: string, args: string[]): Promise<string> => await new Promise((resolve, reject) => {
      execFile(file, args, { timeout: 30_000 }, (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) })
    })
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string, bin: { kith: string } }
    const launcher = join(ROOT, pkg.bin.kith)
    expect((await run(launcher, ['--version'])).trim()).toBe(pkg.version)
    const dir = await mkdtemp(join(tmpdir(), 'kith-bin-'))
    try {
      await symlink(launcher, join(dir, 'kith'))
      expect((await run(join(dir, 'kith'), ['--version'])).trim()).toBe(pkg.version)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    // The flag reaches Node: the launcher execs it (same process), as a running daemon's
    // command line shows.
    const repo = await mkdtemp(join(tmpdir(), 'kith-bin-repo-'))
    const d = spawn(launcher, ['--repo', repo, 'daemon', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KITH_INSECURE_TEST_KDF: '1' } })
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => { reject(new Error('daemon did not start')) }, 30_000)
        d.stdout?.once('data', () => { clearTimeout(t); resolve() })
        d.once('exit', code => { clearTimeout(t); reject(new Error(`daemon exited ${code}`)) })
      })
      const argv = (await readFile(`/proc/${d.pid as number}/cmdline`, 'utf8')).split('\0')
      expect(argv).toContain('--initial-old-space-size=96')
      expect(argv.some(a => a.endsWith('/bin/kith.js'))).toBe(true)
    } finally {
      const exited = new Promise(resolve => d.once('exit', resolve))
      d.kill('SIGTERM')
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 10_000))])
      d.kill('SIGKILL')
      await rm(repo, { recursive: true, force: true })
    }
  }, 60_000)

  it('--help mentions every command; command help works both ways', async () => {
    const r = await kith(['--help'])
    expect(r.code).toBe(0)
    for (const c of ['init', 'daemon', 'share', 'get', 'ls', 'unshare', 'peers', 'status']) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'))
    for (const g of ['--repo', '--json', '--help', '--version']) expect(r.stdout).toContain(g)
    const a = await kith(['help', 'share'])
    const b = await kith(['share', '--help'])
    expect(a.code).toBe(0)
    expect(b.code).toBe(0)
    expect(a.stdout).toBe(b.stdout)
    expect(a.stdout).toContain('Usage: kith share <path>')
    expect(a.stdout).toContain('--chunk-size')
    expect(a.stdout).toContain('Examples:')
    const g = await kith(['get', '-h'])
    expect(g.stdout).toContain('--timeout')
  })

  it('unknown command, unknown option, missing argument → exit 2 with a usage hint', async () => {
    const r = await kith(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/unknown command "frobnicate"/)
    expect(r.stderr).toMatch(/usage/)
    const o = await kith(['ls', '--bogus'])
    expect(o.code).toBe(2)
    expect(o.stderr).toMatch(/unknown option --bogus/)
    const wrongCommandOption = await kith(['share', 'x', '--timeout', '5'])
    expect(wrongCommandOption.code).toBe(2)
    const m = await kith(['get', '--json'])
    expect(m.code).toBe(2)
    expect(expectOneJsonObject(m.stdout)).toEqual({ error: 'missing <link>', code: 'UsageError' })
    const none = await kith([])
    expect(none.code).toBe(2)
  })

  it('init --json is idempotent; global options work before or after the command', async () => {
    const repo = repoPath()
    const first = await kith(['init', '--repo', repo, '--json'])
    expect(first.code).toBe(0)
    const a = expectOneJsonObject(first.stdout)
    expect(a).toMatchObject({ repo, created: true })
    expect(a.peerId).toMatch(/^12D3Koo/)
    const second = await kith(['--json', '--repo', repo, 'init'])
    expect(second.code).toBe(0)
    expect(expectOneJsonObject(second.stdout)).toEqual({ repo, peerId: a.peerId, created: false, sealed: false })
    const human = await kith(['init', '--repo', repo])
    expect(human.stdout).toContain(a.peerId)
  })

  it('init --upnp sets config.json\'s "upnp" (off by default), also on an existing repo', async () => {
    const repo = repoPath()
    expect((await kith(['init', '--repo', repo, '--json'])).code).toBe(0)
    expect(JSON.parse(await readFile(join(repo, 'config.json'), 'utf8'))).toMatchObject({ upnp: false })
    const on = await kith(['init', '--repo', repo, '--upnp', '--json'])
    expect(on.code).toBe(0)
    expect(expectOneJsonObject(on.stdout)).toMatchObject({ repo, created: false, upnp: true })
    expect(JSON.parse(await readFile(join(repo, 'config.json'), 'utf8'))).toMatchObject({ upnp: true })
    const human = await kith(['init', '--repo', repo, '--upnp'])
    expect(human.stdout).toMatch(/upnp: on .*public IP/)
  })

  it('get with a bad link → exit 3, one line on stderr, only the error object on stdout', async () => {
    const repo = repoPath()
    const valid = formatLinkFixture()
    const body = valid.slice('kith:'.length)
    const flipped = 'kith:' + body.slice(0, 20) + (body[20] === 'a' ? 'b' : 'a') + body.slice(21)
    const cases: Array<[string, string, RegExp]> = [
      ['https://example.com/not-a-link', 'NotAKithLinkError', /not a kith link/],
      ['kith:', 'TruncatedLinkError', /truncated/],
      [valid.slice(0, 60), 'TruncatedLinkError', /truncated/],
      [flipped, 'LinkChecksumError', /checksum/],
      ['kith:!!!!', 'MalformedLinkError', /malformed/]
    ]
    for (const [link, code, message] of cases) {
      const r = await kith(['get', link, '--repo', repo, '--json'])
      expect(r.code, link).toBe(3)
      const lines = r.stderr.split('\n').filter(l => l !== '')
      expect(lines, link).toHaveLength(1)
      expect(lines[0]).toMatch(message)
      expect(r.stderr).not.toContain(body.slice(10, 30)) // never echoes the link (it holds a key)
      expect(expectOneJsonObject(r.stdout)).toEqual({ error: lines[0]?.replace(/^kith: /, ''), code })
      const human = await kith(['get', link, '--repo', repo])
      expect(human.code).toBe(3)
      expect(human.stdout).toBe('')
    }
    // A bad link fails before anything touches the repo.
    expect(existsSync(repo)).toBe(false)
  })

  it('peers/status without a daemon → exit 1 saying so', async () => {
    const repo = repoPath()
    const r = await kith(['status', '--repo', repo])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`no daemon running for ${repo}`)
    const j = await kith(['peers', '--repo', repo, '--json'])
    expect(j.code).toBe(1)
    expect(expectOneJsonObject(j.stdout)).toMatchObject({ code: 'NoDaemonError' })
  })

  it('daemon refuses a non-loopback --api with a usage error', async () => {
    const r = await kith(['daemon', '--repo', repoPath(), '--api', '0.0.0.0:5870', ...LISTEN])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/loopback/)
  })

  it('get with no seeder → exit 5 after --timeout', async () => {
    const fixture = formatLinkFixture()
    const r = await kith(['get', fixture, '--repo', repoPath(), '--timeout', '2', '-o', join(tmp, 'nowhere'), '--json'], 40_000)
    expect(r.code).toBe(5)
    expect(expectOneJsonObject(r.stdout)).toMatchObject({ code: 'NoSeedersError' })
  })
})

describe('kith daemon and its API', () => {
  let daemon: Running
  let repo: string
  let info: { peerId: string, addrs: string[], api: string }
  let token: string

  beforeAll(async () => {
    repo = repoPath()
    daemon = new Running(['daemon', '--repo', repo, ...LISTEN, ...API, '--json'])
    info = await daemon.firstJsonLine(30_000)
    token = (await readFile(join(repo, 'api-token'), 'utf8')).trim()
  }, 60_000)

  afterAll(async () => {
    if (daemon?.child.exitCode === null) await daemon.stop('SIGKILL').catch(() => {})
  })

  it('prints one JSON line with its peer ID, full multiaddrs, API URL and web UI URL, and records daemon.json', async () => {
    expect(Object.keys(info).sort()).toEqual(['addrs', 'api', 'peerId', 'ui'])
    expect((info as unknown as { ui: string }).ui).toBe(`${info.api}/`)
    expect(info.peerId).toMatch(/^12D3Koo/)
    expect(info.addrs.length).toBeGreaterThan(0)
    for (const a of info.addrs) expect(a).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${info.peerId}$`))
    expect(info.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(info.api).not.toBe('http://127.0.0.1:0')
    const recorded = JSON.parse(await readFile(join(repo, 'daemon.json'), 'utf8'))
    expect(recorded).toEqual({ pid: daemon.child.pid, api: info.api })
  })

  it('status --json and peers --json go through the API', async () => {
    const s = await kith(['status', '--repo', repo, '--json'])
    expect(s.code).toBe(0)
    const status = expectOneJsonObject(s.stdout)
    expect(status).toMatchObject({ peerId: info.peerId, addrs: info.addrs, api: info.api, pid: daemon.child.pid, connections: 0, shares: 0, downloads: 0, seeds: 0 })
    const p = await kith(['peers', '--repo', repo, '--json'])
    expect(p.code).toBe(0)
    expect(expectOneJsonObject(p.stdout)).toEqual({ peers: [] })
    const i = await kith(['init', '--repo', repo, '--json'])
    expect(expectOneJsonObject(i.stdout)).toEqual({ repo, peerId: info.peerId, created: false, sealed: false })
  })

  it('API: no token or a wrong token → 401; a foreign Host → 403; the right token → 200', async () => {
    const none = await fetch(`${info.api}/api/v1/status`)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(await none.json()).toMatchObject({ error: { name: 'UnauthorizedError' } })
    const wrong = await fetch(`${info.api}/api/v1/status`, { headers: { Authorization: `Bearer ${'0'.repeat(64)}` } })
    expect(wrong.status).toBe(401)
    const short = await fetch(`${info.api}/api/v1/status`, { headers: { Authorization: 'Bearer x' } })
    expect(short.status).toBe(401)
    const ok = await fetch(`${info.api}/api/v1/status`, { headers: { Authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ peerId: info.peerId })
    const port = new URL(info.api).port
    const rebound = await http(`${info.api}/api/v1/status`, { headers: { Host: `evil.example:${port}`, Authorization: `Bearer ${token}` } })
    expect(rebound.status).toBe(403)
    expect(rebound.body).toMatchObject({ error: { name: 'ForbiddenError' } })
    const localhost = await http(`${info.api}/api/v1/status`, { headers: { Host: `localhost:${port}`, Authorization: `Bearer ${token}` } })
    expect(localhost.status).toBe(200)
  })

  it('API: bad requests get typed JSON errors', async () => {
    const auth = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }
    const badLink = await fetch(`${info.api}/api/v1/downloads`, { method: 'POST', headers: auth, body: JSON.stringify({ link: 'nope', outDir: tmp }) })
    expect(badLink.status).toBe(400)
    expect(await badLink.json()).toMatchObject({ error: { name: 'NotAKithLinkError' } })
    const relative = await fetch(`${info.api}/api/v1/shares`, { method: 'POST', headers: auth, body: JSON.stringify({ path: 'relative/file' }) })
    expect(relative.status).toBe(400)
    const tooBig = await fetch(`${info.api}/api/v1/shares`, { method: 'POST', headers: auth, body: JSON.stringify({ path: '/' + 'a'.repeat(70_000) }) })
    expect(tooBig.status).toBe(413)
    const notJson = await fetch(`${info.api}/api/v1/shares`, { method: 'POST', headers: auth, body: '{' })
    expect(notJson.status).toBe(400)
    const unknown = await fetch(`${info.api}/api/v1/nothing`, { headers: auth })
    expect(unknown.status).toBe(404)
    const method = await fetch(`${info.api}/api/v1/status`, { method: 'DELETE', headers: auth })
    expect(method.status).toBe(405)
    const noDownload = await fetch(`${info.api}/api/v1/downloads/0123456789abcdef`, { headers: auth })
    expect(noDownload.status).toBe(404)
    expect(await noDownload.json()).toMatchObject({ error: { name: 'DownloadNotFoundError' } })
  })

  it('share via the daemon, get with a temporary node, ls, get via a second daemon, unshare', async () => {
    const data = randomBytes(700_000)
    const src = join(tmp, 'report.bin')
    await writeFile(src, data)
    const shared = await kith(['share', src, '--repo', repo, '--chunk-size', '64K', '--json'])
    expect(shared.code, shared.stderr).toBe(0)
    const s = expectOneJsonObject(shared.stdout)
    expect(Object.keys(s).sort()).toEqual(['chunks', 'link', 'name', 'size'])
    expect(s).toMatchObject({ name: 'report.bin', size: data.length, chunks: 11 })
    expect(s.link).toMatch(/^kith:[a-z2-7]+$/)

    const listed = await kith(['ls', '--repo', repo, '--json'])
    expect(expectOneJsonObject(listed.stdout).shares).toMatchObject([{ link: s.link, name: 'report.bin', role: 'publisher', serving: true }])

    // A fresh user: no repo yet, a temporary node bootstrapping to the daemon.
    const out = join(tmp, 'downloads')
    const got = await kith(['get', s.link, '--repo', repoPath(), '--bootstrap', info.addrs[0] as string, '-o', out, '--timeout', '20', '--json'], 60_000)
    expect(got.code, got.stderr).toBe(0)
    const g = expectOneJsonObject(got.stdout)
    const sha256 = createHash('sha256').update(data).digest('hex')
    expect(g).toEqual({ path: join(out, 'report.bin'), name: 'report.bin', size: data.length, sha256, publisher: info.peerId, seeders: expect.any(Array), paths: [{ peer: info.peerId, path: 'direct', kind: 'tcp', limited: false, received: expect.any(Number) }] })
    expect((await readFile(join(out, 'report.bin'))).equals(data)).toBe(true)
    expect(got.stderr).toBe('') // not a terminal: no progress output

    // Through a second daemon (POST /downloads, polled).
    const repoB = repoPath()
    const b = new Running(['daemon', '--repo', repoB, ...LISTEN, ...API, '--bootstrap', info.addrs[0] as string, '--json'])
    await b.firstJsonLine(30_000)
    const outB = join(tmp, 'downloads-b')
    const viaDaemon = await kith(['get', s.link, '--repo', repoB, '-o', outB, '--timeout', '20'], 60_000)
    expect(viaDaemon.code, viaDaemon.stderr).toBe(0)
    expect(viaDaemon.stdout.trim()).toBe(`${join(outB, 'report.bin')}  684 KiB  sha256 ${sha256}`)
    expect((await readFile(join(outB, 'report.bin'))).equals(data)).toBe(true)
    const lsB = await kith(['ls', '--repo', repoB, '--json'])
    expect(expectOneJsonObject(lsB.stdout).shares).toMatchObject([{ name: 'report.bin', role: 'downloader' }])
    expect((await b.stop('SIGINT')).code).toBe(0)

    const un = await kith(['unshare', s.link, '--repo', repo, '--json'])
    expect(un.code, un.stderr).toBe(0)
    expect(expectOneJsonObject(un.stdout)).toEqual({ manifest: parseLink(s.link).manifest.toString(), removed: true })
    const again = await kith(['unshare', s.link, '--repo', repo])
    expect(again.code).toBe(1)
    const empty = await kith(['ls', '--repo', repo, '--json'])
    expect(expectOneJsonObject(empty.stdout)).toEqual({ shares: [] })
  })

  it('seed-link, then seed through a second daemon: the reader gets the share from the blind seeder alone', async () => {
    const data = randomBytes(400_000)
    const src = join(tmp, 'private-name-for-seed.bin')
    await writeFile(src, data)
    const shared = expectOneJsonObject((await kith(['share', src, '--repo', repo, '--chunk-size', '64K', '--json'])).stdout)
    const sl = await kith(['seed-link', shared.link, '--json'])
    expect(sl.code, sl.stderr).toBe(0)
    const { seedLink } = expectOneJsonObject(sl.stdout)
    expect(Object.keys(expectOneJsonObject(sl.stdout))).toEqual(['seedLink'])
    expect(parseLink(seedLink).kind).toBe('seed')
    expect(parseLink(seedLink).manifest.toString()).toBe(parseLink(shared.link).manifest.toString())
    // The seed-only link does not download.
    const refused = await kith(['get', seedLink, '--repo', repoPath(), '--json'])
    expect(refused.code).toBe(3)
    expect(expectOneJsonObject(refused.stdout)).toMatchObject({ code: 'SeedOnlyLinkError' })

    const repoB = repoPath()
    const b = new Running(['daemon', '--repo', repoB, ...LISTEN, ...API, '--bootstrap', info.addrs[0] as string, '--json'])
    const bInfo = await b.firstJsonLine<{ addrs: string[], api: string }>(30_000)
    try {
      const seeded = await kith(['seed', seedLink, '--repo', repoB, '--timeout', '20', '--json'], 60_000)
      expect(seeded.code, seeded.stderr).toBe(0)
      const r = expectOneJsonObject(seeded.stdout)
      expect(r).toEqual({ manifest: parseLink(seedLink).manifest.toString(), seedLink, chunks: 7, bytes: data.length + 7 * 16 })
      const lsB = expectOneJsonObject((await kith(['ls', '--repo', repoB, '--json'])).stdout)
      expect(lsB.shares).toMatchObject([{ role: 'seed', kind: 'sealed', name: '', link: seedLink, serving: true }])
      const api = await fetch(`${bInfo.api}/api/v1/seeds`, { headers: { Authorization: `Bearer ${(await readFile(join(repoB, 'api-token'), 'utf8')).trim()}` } })
      expect((await api.json()).seeds).toMatchObject([{ state: 'done', manifest: r.manifest, result: r }])

      // The publisher stops serving it; a new reader bootstrapped only to B gets it from B.
      expect((await kith(['unshare', shared.link, '--repo', repo])).code).toBe(0)
      const out = join(tmp, 'from-blind-seeder')
      const got = await kith(['get', shared.link, '--repo', repoPath(), '--bootstrap', bInfo.addrs[0] as string, '-o', out, '--timeout', '20', '--json'], 60_000)
      expect(got.code, got.stderr).toBe(0)
      expect((await readFile(join(out, 'private-name-for-seed.bin'))).equals(data)).toBe(true)

      const un = await kith(['unshare', seedLink, '--repo', repoB, '--json'])
      expect(un.code, un.stderr).toBe(0)
      expect(expectOneJsonObject((await kith(['ls', '--repo', repoB, '--json'])).stdout)).toEqual({ shares: [] })
    } finally {
      await b.stop('SIGINT')
    }
  }, 120_000)

  it('API: seed requests get typed JSON errors', async () => {
    const auth = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }
    const badLink = await fetch(`${info.api}/api/v1/seeds`, { method: 'POST', headers: auth, body: JSON.stringify({ link: 'nope' }) })
    expect(badLink.status).toBe(400)
    expect(await badLink.json()).toMatchObject({ error: { name: 'NotAKithLinkError' } })
    const extra = await fetch(`${info.api}/api/v1/seeds`, { method: 'POST', headers: auth, body: JSON.stringify({ link: 'kith:aa', outDir: '/tmp' }) })
    expect(extra.status).toBe(400)
    const none = await fetch(`${info.api}/api/v1/seeds/0123456789abcdef`, { headers: auth })
    expect(none.status).toBe(404)
    expect(await none.json()).toMatchObject({ error: { name: 'SeedNotFoundError' } })
    // A share nobody serves: the job keeps looking until its timeout; a second request → 409.
    const nobody = formatLink({ kind: 'seed', manifest: cidFromDigest(randomBytes(32)), key: generateRootKey(), hints: [] })
    const first = await fetch(`${info.api}/api/v1/seeds`, { method: 'POST', headers: auth, body: JSON.stringify({ link: nobody, timeoutSeconds: 2 }) })
    expect(first.status).toBe(201)
    const job = await first.json()
    const second = await fetch(`${info.api}/api/v1/seeds`, { method: 'POST', headers: auth, body: JSON.stringify({ link: nobody }) })
    expect(second.status).toBe(409)
    expect(await second.json()).toMatchObject({ error: { name: 'ConflictError' } })
    const cancelled = await fetch(`${info.api}/api/v1/seeds/${job.id as string}`, { method: 'DELETE', headers: auth })
    expect(await cancelled.json()).toMatchObject({ state: 'failed', error: { name: 'CancelledError' } })

    // A share the daemon publishes: refused before any job starts.
    const src = join(tmp, 'own.bin')
    await writeFile(src, randomBytes(10_000))
    const own = expectOneJsonObject((await kith(['share', src, '--repo', repo, '--json'])).stdout)
    const held = await fetch(`${info.api}/api/v1/seeds`, { method: 'POST', headers: auth, body: JSON.stringify({ link: own.link }) })
    expect(held.status).toBe(400)
    expect(await held.json()).toMatchObject({ error: { name: 'AlreadyHeldError' } })
    const cli = await kith(['seed', own.link, '--repo', repo, '--json'])
    expect(cli.code).toBe(1)
    expect(expectOneJsonObject(cli.stdout)).toMatchObject({ code: 'AlreadyHeldError' })
    expect((await kith(['unshare', own.link, '--repo', repo])).code).toBe(0)
  })

  it('a second daemon on the same repo is refused', async () => {
    const r = await kith(['daemon', '--repo', repo, ...LISTEN, ...API])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/already running/)
  })

  it('SIGTERM → exit 0 and daemon.json removed', async () => {
    const r = await daemon.stop('SIGTERM')
    expect(r.code).toBe(0)
    expect(r.signal).toBeNull()
    expect(existsSync(join(repo, 'daemon.json'))).toBe(false)
    expect(r.stdout.split('\n').filter(l => l !== '')).toHaveLength(1) // --json: just the start line
    // Without the daemon, ls and unshare use the repo directly.
    const ls = await kith(['ls', '--repo', repo, '--json'])
    expect(ls.code).toBe(0)
    expect(expectOneJsonObject(ls.stdout)).toEqual({ shares: [] })
  })
})

describe('kith share in the foreground', () => {
  it('prints the link as one JSON line as soon as it is published, seeds, and exits 0 on SIGINT', async () => {
    const src = join(tmp, 'note.txt')
    await writeFile(src, 'hello from the foreground\n')
    const repo = repoPath()
    const share = new Running(['share', src, '--repo', repo, ...LISTEN, '--json'])
    const s = await share.firstJsonLine<{ link: string, name: string, size: number, chunks: number }>(30_000)
    expect(s).toMatchObject({ name: 'note.txt', size: 26, chunks: 1 })
    const ls = await kith(['ls', '--repo', repo])
    expect(ls.code).toBe(1) // the foreground node holds the repo
    expect(ls.stderr).toMatch(/in use/)
    const r = await share.stop('SIGINT')
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n').filter(l => l !== '')).toHaveLength(1)
    // Without a daemon, ls and unshare read and edit the registry directly.
    const listed = await kith(['ls', '--repo', repo, '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    expect(expectOneJsonObject(listed.stdout).shares).toMatchObject([{ link: s.link, name: 'note.txt', role: 'publisher', peers: 0, serving: false }])
    const un = await kith(['unshare', parseLink(s.link).manifest.toString(), '--repo', repo])
    expect(un.code, un.stderr).toBe(0)
    expect(expectOneJsonObject((await kith(['ls', '--repo', repo, '--json'])).stdout)).toEqual({ shares: [] })
  })
})

/** A well-formed read link to a share nobody serves. */
function formatLinkFixture (): string {
  fixtureLink ??= formatLink({ kind: 'read', manifest: cidFromDigest(createHash('sha256').update('kith cli test').digest()), key: generateRootKey(), hints: [] })
  return fixtureLink
}
let fixtureLink: string | undefined
