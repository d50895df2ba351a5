/** Keys at rest (docs/THREAT-MODEL.md §2.10): the vault, and `kith init --passphrase` on real repos. */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PassphraseRequiredError, VaultFormatError, WrongPassphraseError } from '../../../node/repo/errors.js'
import { Vault } from '../../../node/repo/keystore.js'
import { Repo } from '../../../node/repo/repo.js'
import { cidOf } from '../../../protocol/cid.js'
import { nobleBackend } from '../../../protocol/crypto.js'
import { generateRootKey } from '../../../protocol/keys.js'
import { formatLink, parseLink } from '../../../protocol/link.js'
import { buildOnce, killAll, removeTree, Sandbox, tempDir } from '../fixtures/procs.js'

const FAST = { KITH_INSECURE_TEST_KDF: '1' }

describe('vault', () => {
  it('seals and opens under a label; a wrong label, a flipped byte or a wrong passphrase fail with a typed error', async () => {
    const v = await Vault.create('correct horse', FAST)
    expect(v.sealed).toBe(true)
    const secret = new Uint8Array(32).fill(9)
    const s = v.seal('circle/x/box', secret)
    expect(JSON.stringify(s)).not.toContain(Buffer.from(secret).toString('base64'))
    expect(Buffer.from(v.open('circle/x/box', s)).equals(Buffer.from(secret))).toBe(true)
    expect(() => v.open('identity', s)).toThrow(WrongPassphraseError)
    const flipped = { ...s, sealed: Buffer.from(Buffer.from((s as { sealed: string }).sealed, 'base64').map((b, i) => i === 3 ? b ^ 1 : b)).toString('base64') }
    expect(() => v.open('circle/x/box', flipped)).toThrow(WrongPassphraseError)
    const other = await Vault.unlock('wrong horse', v.params)
    expect(() => other.open('circle/x/box', s)).toThrow(WrongPassphraseError)
    const again = await Vault.unlock('correct horse', v.params)
    expect(Buffer.from(again.open('circle/x/box', s)).equals(Buffer.from(secret))).toBe(true)
    // A plain secret slipped into a sealed repo is refused; a sealed one without the vault asks for it.
    expect(() => v.open('x', Vault.plain().seal('x', secret))).toThrow(VaultFormatError)
    expect(() => Vault.plain().open('x', s)).toThrow(PassphraseRequiredError)
    expect(String(v)).toBe('[Vault]')
  })

  it('refuses hostile KDF parameters before doing any work', async () => {
    const v = await Vault.create('p', FAST)
    const t0 = Date.now()
    for (const bad of [{ ...v.params, N: 2 ** 30 }, { ...v.params, N: 3000 }, { ...v.params, r: 1000 }, { ...v.params, p: 64 }, { ...v.params, kdf: 'md5' }, { ...v.params, salt: 'AA==' }, null]) {
      await expect(Vault.unlock('p', bad)).rejects.toThrow(VaultFormatError)
    }
    expect(Date.now() - t0).toBeLessThan(2000)
  })
})

let box: Sandbox
beforeAll(async () => {
  await buildOnce()
  box = new Sandbox(await tempDir('kith-keystore-'))
}, 300_000)
afterAll(async () => {
  await killAll()
  await removeTree(box?.dir)
}, 60_000)

async function allFiles (dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter(e => e.isFile()).map(e => join(e.parentPath, e.name))
}

describe('share records at rest', () => {
  it('sealing a repo seals its share records (link, name, path); they open with the passphrase and not without', async () => {
    const saved = process.env.KITH_INSECURE_TEST_KDF
    process.env.KITH_INSECURE_TEST_KDF = '1'
    const dir = join(box.dir, 'share-records')
    try {
      const link = formatLink({ kind: 'read', manifest: cidOf(nobleBackend, new Uint8Array([1, 2, 3])), key: generateRootKey(), hints: [] })
      const manifest = parseLink(link).manifest.toString()
      const rec = { version: 1 as const, link, name: 'holiday-secret-name.mp4', size: 10, chunks: 1, kind: 'file' as const, source: '/home/me/holiday-secret-name.mp4', role: 'publisher' as const, added: new Date().toISOString(), complete: true, have: null }
      const plain = await Repo.open(dir, { create: true })
      await plain.addShare(rec)
      const file = join(dir, 'shares', `${manifest}.json`)
      expect(await readFile(file, 'utf8')).toContain(link)
      await plain.seal('correct horse')
      // Written before and after sealing: neither the link, its key part, the name nor the path is on disk.
      await plain.updateShare(manifest, { complete: true })
      const onDisk = await readFile(file, 'utf8')
      for (const needle of [link, link.slice(5, 40), 'holiday-secret-name', '/home/me']) expect(onDisk).not.toContain(needle)
      expect(JSON.parse(onDisk)).toMatchObject({ version: 1, sealed: { v: 1 } })
      expect(await plain.getShare(manifest)).toEqual(rec)
      await plain.close()

      const reopened = await Repo.open(dir, { passphrase: async () => 'correct horse' })
      expect(await reopened.listShares()).toEqual([rec])
      await reopened.close()
      await expect(Repo.open(dir, { passphrase: async () => 'wrong horse' })).rejects.toBeInstanceOf(WrongPassphraseError)
      // A sealed record moved under another manifest's name does not open there.
      const other = cidOf(nobleBackend, new Uint8Array([4])).toString()
      await writeFile(join(dir, 'shares', `${other}.json`), onDisk)
      const again = await Repo.open(dir, { passphrase: async () => 'correct horse' })
      await expect(again.getShare(other)).rejects.toThrow(/does not open \(altered, or moved/)
      expect((await again.listShares()).map(r => r.link)).toEqual([link])
      await again.close()
    } finally {
      if (saved === undefined) delete process.env.KITH_INSECURE_TEST_KDF
      else process.env.KITH_INSECURE_TEST_KDF = saved
    }
  }, 60_000)
})

describe('kith init --passphrase', () => {
  it('seals an existing repo: no key bytes on disk, same peer ID, wrong or missing passphrase refused with a clear error', async () => {
    const repo = box.path('repo')
    const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...box.env(), ...FAST, ...extra })
    const plain = await box.kith(['init', '--repo', repo, '--json'])
    expect(plain.code, plain.stderr).toBe(0)
    const { peerId } = JSON.parse(plain.stdout) as { peerId: string }
    const identity = JSON.parse(await readFile(join(repo, 'identity.json'), 'utf8')) as { privateKey: string }
    const protobuf = Buffer.from(identity.privateKey, 'base64')
    const seed = protobuf.subarray(4, 36) // protobuf header (4 bytes), then the 32-byte Ed25519 seed
    // A circle too: its X25519 key must be sealed as well.
    expect((await box.kith(['circle', 'create', 'friends', '--repo', repo])).code).toBe(0)

    const sealed = await box.kithEnv(['init', '--passphrase', '--repo', repo, '--json'], env({ KITH_PASSPHRASE: 'correct horse battery' }))
    expect(sealed.code, sealed.stderr).toBe(0)
    expect(JSON.parse(sealed.stdout)).toMatchObject({ peerId, created: false, sealed: true })
    const needles = [seed, protobuf, Buffer.from(seed.toString('base64')), Buffer.from(seed.toString('hex')), Buffer.from(identity.privateKey)]
    for (const f of await allFiles(repo)) {
      const bytes = await readFile(f)
      for (const n of needles) expect(bytes.includes(n), `${f} holds key bytes`).toBe(false)
    }
    const local = JSON.parse(await readFile((await allFiles(repo)).find(f => f.endsWith('local.json')) as string, 'utf8')) as { box: Record<string, unknown> }
    expect(local.box.plain).toBeUndefined()
    expect(typeof local.box.sealed).toBe('string')

    const before = await Promise.all((await allFiles(repo)).map(async f => [f, await readFile(f)] as const))
    const wrong = await box.kithEnv(['ls', '--repo', repo], env({ KITH_PASSPHRASE: 'wrong horse' }))
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/^kith: wrong passphrase/m)
    const missing = await box.kithEnv(['circle', 'ls', '--repo', repo], env({}))
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/sealed with a passphrase: set KITH_PASSPHRASE/)
    for (const [f, bytes] of before) {
      if (f.includes('/datastore/')) continue // LevelDB may touch its own log files on open
      expect((await readFile(f)).equals(bytes), `${f} changed`).toBe(true)
    }

    const right = await box.kithEnv(['circle', 'ls', '--repo', repo, '--json'], env({ KITH_PASSPHRASE: 'correct horse battery' }))
    expect(right.code, right.stderr).toBe(0)
    expect((JSON.parse(right.stdout) as { circles: Array<{ name: string }> }).circles.map(c => c.name)).toEqual(['friends'])
    const daemon = box.startEnv(['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--json'], env({ KITH_PASSPHRASE: 'correct horse battery' }))
    const info = await daemon.firstJsonLine<{ peerId: string }>(60_000)
    expect(info.peerId).toBe(peerId)
    const st = await box.kith(['status', '--repo', repo, '--json'])
    expect(JSON.parse(st.stdout)).toMatchObject({ sealed: true })
    await daemon.stop('SIGTERM', 15_000)
  }, 120_000)

  it('a tampered sealed identity gives a clear error, not a crash', async () => {
    const repo = box.path('repo')
    const env = { ...box.env(), ...FAST, KITH_PASSPHRASE: 'pw' }
    expect((await box.kithEnv(['init', '--passphrase', '--repo', repo], env)).code).toBe(0)
    const path = join(repo, 'identity.json')
    const file = JSON.parse(await readFile(path, 'utf8')) as { vault: { N: number }, sealed: { sealed: string } }
    const ct = Buffer.from(file.sealed.sealed, 'base64')
    ct[5]! ^= 1
    await writeFile(path, JSON.stringify({ ...file, sealed: { ...file.sealed, sealed: ct.toString('base64') } }))
    const r1 = await box.kithEnv(['ls', '--repo', repo], env)
    expect(r1.code).toBe(1)
    expect(r1.stderr).toMatch(/wrong passphrase/)
    await writeFile(path, JSON.stringify({ ...file, vault: { ...file.vault, N: 2 ** 30 } }))
    const r2 = await box.kithEnv(['ls', '--repo', repo], env)
    expect(r2.code).toBe(1)
    expect(r2.stderr).toMatch(/scrypt N out of bounds/)
  }, 60_000)
})
