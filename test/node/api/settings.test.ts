/**
 * GET/PUT /api/v1/settings on a real daemon (in process, loopback only): GET answers the repo's
 * config; PUT writes config.json and changes the running node's rate limiters and the chunk size
 * of new shares; bad values are refused with 400 and change nothing; no token, 401.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES, type SettingsResponse } from '../../../node/api/schema.js'
import { ApiClient } from '../../../node/api/client.js'
import { RemoteError } from '../../../node/api/errors.js'
import { Daemon } from '../../../node/daemon.js'
import { Repo } from '../../../node/repo/repo.js'
import { writeRandomFile } from '../fixtures/procs.js'
import { startNode, stopNode, type TestNode } from '../helpers/nodes.js'

let tmp: string
let repoDir: string
let daemon: Daemon
let client: ApiClient
let bootstrapPeer: string

const KiB = 1024
const MiB = 1024 * KiB

beforeAll(async () => {
  process.env.KITH_INSECURE_TEST_KDF = '1' // the sealed repo below: a fast KDF
  tmp = await mkdtemp(join(tmpdir(), 'kith-settings-'))
  repoDir = join(tmp, 'repo')
  // A sealed repo with a config of its own; the daemon then runs it.
  const repo = await Repo.open(repoDir, { create: true, createPassphrase: async () => 'correct horse', passphrase: async () => 'correct horse' })
  bootstrapPeer = `/ip4/127.0.0.1/tcp/9/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`
  repo.config.listen = ['/ip4/127.0.0.1/tcp/0']
  repo.config.bootstrap = [bootstrapPeer]
  repo.config.api = '127.0.0.1:0'
  repo.config.uploadRate = 250_000
  repo.config.downloadRate = 0
  repo.config.chunkSize = 256 * KiB
  await repo.saveConfig()
  await repo.close()
  // No bootstrap dialling: the configured peer does not exist.
  daemon = await Daemon.start({ repoDir, bootstrap: [], passphrase: async () => 'correct horse' })
  client = new ApiClient({ url: daemon.url, token: daemon.repo.apiToken })
}, 60_000)

afterAll(async () => {
  await daemon?.stop()
  await rm(tmp, { recursive: true, force: true })
}, 30_000)

const onDisk = async (): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(repoDir, 'config.json'), 'utf8'))
const limiters = (): { upload: number, download: number } => {
  const swarm = daemon.node.libp2p.services.swarm
  return { upload: swarm.upload.rate, download: swarm.download.rate }
}

describe('GET /api/v1/settings', () => {
  it('answers the config, the repo path and that its keys are sealed', async () => {
    const s = await client.settings()
    expect(s).toEqual({
      uploadRate: 250_000,
      downloadRate: 0,
      chunkSize: 256 * KiB,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      bootstrap: [bootstrapPeer],
      network: 'local',
      upnp: false,
      api: '127.0.0.1:0',
      repo: repoDir,
      sealed: true
    } satisfies SettingsResponse)
    expect(limiters()).toEqual({ upload: 250_000, download: 0 })
  })

  it('a plain repo: sealed false', async () => {
    let t: TestNode | undefined
    try {
      t = await startNode()
      expect(t.node.settings()).toMatchObject({ sealed: false, repo: t.repo.dir, uploadRate: 0, downloadRate: 0, chunkSize: MiB })
    } finally {
      await stopNode(t)
    }
  })
})

describe('PUT /api/v1/settings', () => {
  it('writes config.json and applies the rates to the running limiters at once', async () => {
    const before = await onDisk()
    const s = await client.updateSettings({ uploadRate: 5_000_000 })
    expect(s).toMatchObject({ uploadRate: 5_000_000, downloadRate: 0, chunkSize: 256 * KiB, sealed: true })
    expect(await onDisk()).toEqual({ ...before, uploadRate: 5_000_000 })
    expect(limiters()).toEqual({ upload: 5_000_000, download: 0 })
    expect(daemon.repo.config.uploadRate).toBe(5_000_000)

    await client.updateSettings({ downloadRate: 1_500_000, uploadRate: 0 })
    expect(await onDisk()).toEqual({ ...before, uploadRate: 0, downloadRate: 1_500_000 })
    expect(limiters()).toEqual({ upload: 0, download: 1_500_000 })
    expect(await client.settings()).toMatchObject({ uploadRate: 0, downloadRate: 1_500_000 })
  })

  it('a new chunk size is written and used by the next share', async () => {
    await client.updateSettings({ chunkSize: 2 * MiB })
    expect((await onDisk()).chunkSize).toBe(2 * MiB)
    const file = join(tmp, 'three-mib.bin')
    await writeRandomFile(file, 3 * MiB + 1)
    const share = await client.share({ path: file })
    expect(share.chunks).toBe(2) // 2 MiB chunks; at the old 256 KiB it would be 13
  })

  it('concurrent updates both land', async () => {
    await Promise.all([client.updateSettings({ uploadRate: 111_000 }), client.updateSettings({ downloadRate: 222_000 })])
    expect(await onDisk()).toMatchObject({ uploadRate: 111_000, downloadRate: 222_000 })
    expect(limiters()).toEqual({ upload: 111_000, download: 222_000 })
  })

  it('bad values: 400 with a clear message, and nothing changes (config.json, the limiters, GET)', async () => {
    const text = await readFile(join(repoDir, 'config.json'), 'utf8')
    const rates = limiters()
    const settings = await client.settings()
    const cases: Array<[unknown, RegExp]> = [
      [{ uploadRate: -1 }, /"uploadRate" must be a number of bytes per second ≥ 0/],
      [{ downloadRate: '100' }, /"downloadRate" must be a number of bytes per second ≥ 0/],
      [{ uploadRate: null }, /"uploadRate" must be/],
      [{ chunkSize: 100_000 }, /"chunkSize" must be a power of two from 65536 to 8388608 bytes/],
      [{ chunkSize: 1024 }, /"chunkSize" must be a power of two/],
      [{ chunkSize: 16 * MiB }, /"chunkSize" must be a power of two/],
      [{ chunkSize: 'big' }, /"chunkSize" must be a power of two/],
      [{ uploadRate: 1000, chunkSize: 3 }, /"chunkSize"/], // one bad field: the good one is not applied either
      [{ upnp: 'yes' }, /"upnp" must be true or false/],
      [{ listen: ['/ip4/127.0.0.1/tcp/1'] }, /unknown field "listen"/],
      [{}, /nothing to change/],
      [[1], /must be a JSON object/]
    ]
    for (const [body, message] of cases) {
      const err = await client.request('PUT', ROUTES.settings, body).then(() => undefined, (e: unknown) => e)
      expect(err, JSON.stringify(body)).toBeInstanceOf(RemoteError)
      expect((err as RemoteError).status, JSON.stringify(body)).toBe(400)
      expect((err as RemoteError).name).toBe('BadRequestError')
      expect((err as RemoteError).message).toMatch(message)
    }
    const notJson = await fetch(daemon.url + ROUTES.settings, { method: 'PUT', headers: { Authorization: `Bearer ${daemon.repo.apiToken}` }, body: '{"uploadRate":' })
    expect(notJson.status).toBe(400)
    expect(await readFile(join(repoDir, 'config.json'), 'utf8')).toBe(text)
    expect(limiters()).toEqual(rates)
    expect(await client.settings()).toEqual(settings)
  })

  it('no token: 401 for GET and PUT, and nothing changes; other methods: 405', async () => {
    const text = await readFile(join(repoDir, 'config.json'), 'utf8')
    const get = await fetch(daemon.url + ROUTES.settings)
    expect(get.status).toBe(401)
    expect(get.headers.get('www-authenticate')).toMatch(/^Bearer/)
    const put = await fetch(daemon.url + ROUTES.settings, { method: 'PUT', body: JSON.stringify({ uploadRate: 1 }) })
    expect(put.status).toBe(401)
    const wrong = await fetch(daemon.url + ROUTES.settings, { method: 'PUT', headers: { Authorization: `Bearer ${'0'.repeat(64)}` }, body: JSON.stringify({ uploadRate: 1 }) })
    expect(wrong.status).toBe(401)
    expect(await readFile(join(repoDir, 'config.json'), 'utf8')).toBe(text)
    const post = await fetch(daemon.url + ROUTES.settings, { method: 'POST', headers: { Authorization: `Bearer ${daemon.repo.apiToken}` }, body: '{}' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, PUT')
  })

  it('the written config.json opens again', async () => {
    // What PUT wrote is what the next start reads (the daemon holds the repo, so parse it as open would).
    const { parseConfig } = await import('../../../node/repo/format.js')
    expect(parseConfig(await readFile(join(repoDir, 'config.json'), 'utf8'))).toMatchObject({ uploadRate: 111_000, downloadRate: 222_000, chunkSize: 2 * MiB })
  })
})
