/**
 * Standing suite, item 7 (second half): no key or link in logs at any debug level.
 *
 * Two real `kith daemon` processes on loopback (B bootstrapped to A), every process started with
 * the widest debug setting there is: `DEBUG='*,*:trace'` (@libp2p/logger reads DEBUG; trace
 * lines are on only when a `:trace` pattern is given) and `KITH_DEBUG=1` (stack traces). A shares
 * a file (`kith share` through its daemon), B gets it by link through its daemon (`kith get
 * --repo B`), and a temporary node (`kith get` on a fresh repo, bootstrapped to A) gets it too.
 * Every byte each process wrote to stderr, every daemon's stdout and any log file under the
 * sandbox is then searched for:
 * - the read link's text, its base32 body, and the seed-only link's text and body;
 * - every secret key the link holds or yields (root, seed, index, access, encryption: protocol/keys.ts),
 *   as the raw bytes (as captured: utf8-decoded), hex, hex with spaces (Node's `<Buffer …>`),
 *   base32 (the logger's %t), base58btc (its %b), base64 and base64url;
 * - a unique marker string inside the file's content, and the file's name (/work/shared/SECURITY.md §9:
 *   no plaintext names in logs).
 * The stdout of the one-shot CLI commands (`share --json` prints the link and name, `get --json`
 * the name: that is their output, not a log) is not searched.
 * The captured logs must be large (> 100 KiB), so the debug level really was on.
 *
 * `sized`: the long run shares more files.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deriveShareKeys } from '../../protocol/keys.js'
import { formatLink, parseLink, seedOnlyLink } from '../../protocol/link.js'
import { API, buildOnce, killAll, LISTEN, removeTree, Sandbox, tempDir, type DaemonInfo, type Proc, type Result } from '../node/fixtures/procs.js'
import { walk } from '../node/helpers/nodes.js'
import { sized } from './long.js'

const FILES = sized(1, 4)
const MIN_LOG_BYTES = 100 * 1024

interface Form { what: string, text: string, caseless: boolean }

let box: Sandbox
const procs: Proc[] = []

function debugEnv (): NodeJS.ProcessEnv {
  const e = box.env()
  e.DEBUG = '*,*:trace'
  e.KITH_DEBUG = '1'
  delete e.DEBUG_HIDE_DATE
  return e
}

/** Every form a 32-byte key could take in a log line. */
function keyForms (name: string, bytes: Uint8Array): Form[] {
  const b = Buffer.from(bytes)
  const hex = b.toString('hex')
  return [
    { what: `${name} raw bytes`, text: b.toString('utf8'), caseless: false },
    { what: `${name} hex`, text: hex, caseless: true },
    { what: `${name} hex with spaces (first 8 bytes)`, text: (hex.slice(0, 16).match(/../g) as string[]).join(' '), caseless: true },
    { what: `${name} base32`, text: base32.baseEncode(bytes), caseless: true },
    { what: `${name} base58btc`, text: base58btc.baseEncode(bytes), caseless: false },
    { what: `${name} base64`, text: b.toString('base64').replace(/=+$/, ''), caseless: false },
    { what: `${name} base64url`, text: b.toString('base64url'), caseless: false }
  ]
}

function linkForms (what: string, link: string): Form[] {
  return [
    { what: `${what} text`, text: link, caseless: true },
    { what: `${what} base32 body`, text: link.slice('kith:'.length), caseless: true }
  ]
}

/** `what in who: line` for every form found in any log. */
function search (logs: Array<{ who: string, text: string }>, forms: Form[]): string[] {
  const found: string[] = []
  for (const log of logs) {
    const lower = log.text.toLowerCase()
    const lines = log.text.split('\n')
    for (const form of forms) {
      const hay = form.caseless ? lower : log.text
      const needle = form.caseless ? form.text.toLowerCase() : form.text
      if (!hay.includes(needle)) continue
      const line = lines.find(l => (form.caseless ? l.toLowerCase() : l).includes(needle)) ?? '(spans lines)'
      found.push(`${form.what} in ${log.who}: ${line.slice(0, 300)}`)
    }
  }
  return found
}

beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-logpriv-'))
}, 300_000)

afterAll(async () => {
  await Promise.allSettled(procs.map(async p => { await p.stop('SIGTERM', 10_000) }))
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

describe('log privacy: no key, link, content or name in debug logs', () => {
  it('with DEBUG=*,*:trace and KITH_DEBUG=1 on every process, a share, a daemon get and a temporary-node get log none of them', async () => {
    const env = debugEnv()
    const logs: Array<{ who: string, text: string }> = []
    const oneShot = async (who: string, args: string[], timeoutMs: number): Promise<Result> => {
      const r = await box.kithEnv(args, env, timeoutMs)
      logs.push({ who, text: r.stderr })
      return r
    }

    const repoA = await box.repo()
    const repoB = await box.repo()
    const a = box.startEnv(['daemon', '--repo', repoA, ...LISTEN, ...API, '--json'], env)
    procs.push(a)
    const infoA = await a.firstJsonLine<DaemonInfo>(60_000)
    const b = box.startEnv(['daemon', '--repo', repoB, ...LISTEN, ...API, '--bootstrap', infoA.addrs[0] as string, '--json'], env)
    procs.push(b)
    const infoB = await b.firstJsonLine<DaemonInfo>(60_000)

    const forms: Form[] = []
    for (let f = 0; f < FILES; f++) {
      const marker = `kith-log-privacy-marker-${randomBytes(12).toString('hex')}`
      const name = `secret-name-${randomBytes(8).toString('hex')}.txt`
      const src = join(box.dir, name)
      // Text around the marker, several chunks long, the marker repeated in every piece.
      const piece = `${marker}\n${randomBytes(3000).toString('base64')}\n`
      const content = piece.repeat(Math.ceil(600_000 / piece.length))
      await writeFile(src, content)

      const sh = await oneShot(`share ${f}`, ['share', src, '--repo', repoA, '--json'], 120_000)
      expect(sh.code, sh.stderr.slice(-2000)).toBe(0)
      const link = (JSON.parse(sh.stdout.trim()) as { link: string }).link
      const parsed = parseLink(link)
      const seed = formatLink(seedOnlyLink(parsed))
      const keys = deriveShareKeys(parsed.key)
      forms.push(
        ...linkForms(`read link ${f}`, link),
        ...linkForms(`seed-only link ${f}`, seed),
        ...(['root', 'seed', 'index', 'access', 'encryption'] as const).flatMap(k => keyForms(`file ${f} ${k} key`, keys[k].bytes)),
        { what: `file ${f} content marker`, text: marker, caseless: false },
        { what: `file ${f} name`, text: name.replace(/\.txt$/, ''), caseless: false }
      )

      const outB = box.path('out-b')
      const gb = await oneShot(`get ${f} via daemon B`, ['get', link, '--repo', repoB, '-o', outB, '--json', '--timeout', '60'], 180_000)
      expect(gb.code, gb.stderr.slice(-2000)).toBe(0)
      expect(await readFile(join(outB, name), 'utf8')).toBe(content)

      const outT = box.path('out-temp')
      const gt = await oneShot(`get ${f} temporary node`, ['get', link, '--repo', box.path('repo-temp'), ...LISTEN, '--bootstrap', infoA.addrs[0] as string, '-o', outT, '--json', '--timeout', '60'], 180_000)
      expect(gt.code, gt.stderr.slice(-2000)).toBe(0)
      expect(await readFile(join(outT, name), 'utf8')).toBe(content)
    }

    for (const [who, p] of [['daemon A', a], ['daemon B', b]] as const) {
      const r = await p.stop('SIGTERM', 20_000)
      expect(r.code, r.stderr.slice(-2000)).toBe(0)
      logs.push({ who: `${who} stderr`, text: r.stderr }, { who: `${who} stdout`, text: r.stdout })
    }
    // Kith writes no log file (docs/THREAT-MODEL.md §2.9); should one ever appear, it is searched too.
    for (const file of await walk(box.dir)) {
      if (/\.log$|(^|\/)logs?\//i.test(file.slice(box.dir.length))) logs.push({ who: file.slice(box.dir.length), text: await readFile(file, 'utf8') })
    }

    const bytes = logs.reduce((n, l) => n + Buffer.byteLength(l.text), 0)
    const found = search(logs, forms)
    // Control: the same search does find what debug logs are meant to show (A's peer ID, B's too).
    const control = search(logs, [{ what: 'peer ID of A', text: infoA.peerId, caseless: false }, { what: 'peer ID of B', text: infoB.peerId, caseless: false }])
    expect(control.length, 'the search finds the peer IDs the logs do name').toBeGreaterThanOrEqual(2)
    const processes = FILES * 3 + 2
    console.log(`log privacy: ${bytes} of debug logs from ${processes} processes, ${forms.length} forms searched, ${found.length} found`)
    expect(bytes, 'debug logging was really on').toBeGreaterThan(MIN_LOG_BYTES)
    // The trace level was on too (libp2p's :trace namespaces print only when asked for).
    expect(logs.some(l => /:trace /.test(l.text))).toBe(true)
    expect(found).toEqual([])
  }, sized(300_000, 900_000))
})
