/**
 * The daemon's local HTTP API server: loopback only, bearer token (constant-time compare), Host
 * check against DNS rebinding, 64 KiB request bodies, JSON errors; routes per node/api/schema.ts (the
 * schema shared with the client). The web UI will be served from `/` by the same server
 * (`staticRoot`).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, resolve, sep } from 'node:path'
import { manifestIdOf, parseLink, seedOnlyLink } from '../../protocol/link.js'
import { API_PREFIX, MAX_BODY_BYTES, type DownloadStatus, type DownloadsResponse, type PeersResponse, type SeedStatus, type SeedsResponse, type SharesResponse, type StatusResponse, type UnshareResponse } from './schema.js'
import { BadRequestError, ConflictError, DownloadNotFoundError, ForbiddenError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, SeedNotFoundError, ShareNotFoundError, UnauthorizedError, errorBody, statusForError } from './errors.js'
import { applyGetProgress, applySeedProgress, initialProgress } from './progress.js'
import { parseDownloadRequest, parseSeedRequest, parseShareRequest, parseUnshareRequest } from './validate.js'
import { kithVersion } from '../version.js'
import { bootstrapAddrs, JobTable, jobId, timeoutOf, type JobStatus } from './jobs.js'
import { CancelledError } from './errors.js'
import { SeedOnlyLinkError } from '../engine/get.js'
import type { ApiBackend } from './backend.js'
import { routeCircles } from './routes/circles.js'
import { routeSettings } from './routes/settings.js'
import { ApiAddressError, ApiListenError } from './errors.js'

// --- API address ------------------------------------------------------------------------------------

export interface ApiAddress {
  /** Literal loopback IP to bind: 127.x.y.z or ::1. */
  host: string
  port: number
}

/** Parses `host:port` (`[::1]:port` for IPv6); the host must be loopback (`localhost` → 127.0.0.1). */
export function parseApiAddress (text: string): ApiAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim())
  if (m === null) throw new ApiAddressError(`bad API address "${text}": expected host:port, e.g. 127.0.0.1:5870`)
  const rawHost = (m[1] ?? m[2] ?? '').toLowerCase()
  const port = Number(m[3])
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ApiAddressError(`bad API port in "${text}": must be 0-65535`)
  let host: string
  if (rawHost === 'localhost') host = '127.0.0.1'
  else if (rawHost === '::1' || rawHost === '0:0:0:0:0:0:0:1') host = '::1'
  else if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(rawHost) && rawHost.split('.').every(o => Number(o) <= 255)) host = rawHost
  else throw new ApiAddressError(`refusing API address "${text}": the local API listens on loopback only (127.0.0.1, ::1 or localhost)`)
  return { host, port }
}

function hostPort (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

// --- server -----------------------------------------------------------------------------------------

/** What the API serves. KithNode implements it. */
export interface ApiServerOptions {
  backend: ApiBackend
  /** The repo's API token. */
  token: string
  /** host:port on loopback; port 0 picks a free port. */
  address: ApiAddress
  /**
   * Hook for the web UI: when set, GET requests outside /api/ are served as static files from
   * this folder (index.html for folders), without the token. Unset: they get 404.
   */
  staticRoot?: string
}

/** Longest `close()` waits for cancelled downloads to wind down. */
const CLOSE_WAIT_MS = 5_000

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8'
}

export class ApiServer {
  readonly #opts: ApiServerOptions
  readonly #server: Server
  readonly #tokenDigest: Buffer
  readonly #downloads = new JobTable<DownloadStatus>(() => new DownloadNotFoundError())
  readonly #seeds = new JobTable<SeedStatus>(() => new SeedNotFoundError())
  #allowedHosts = new Set<string>()
  #url = ''
  #closed = false

  private constructor (opts: ApiServerOptions) {
    if (opts.token.length < 16) throw new TypeError('the API token is too short')
    this.#opts = opts
    this.#tokenDigest = sha256(opts.token)
    this.#server = createServer((req, res) => { void this.#handle(req, res) })
    this.#server.headersTimeout = 10_000
    this.#server.requestTimeout = 30_000
  }

  /** Starts listening; resolves once the port is bound. */
  static async listen (opts: ApiServerOptions): Promise<ApiServer> {
    const s = new ApiServer(opts)
    await s.#listen()
    return s
  }

  async #listen (): Promise<void> {
    const { host, port } = this.#opts.address
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.#server.off('listening', onListening)
        const why = err.code === 'EADDRINUSE'
          ? 'address already in use (another kith daemon? pick another with --api 127.0.0.1:<port>)'
          : err.code === 'EADDRNOTAVAIL' ? 'address not available on this machine' : err.message
        reject(new ApiListenError(`cannot listen on ${hostPort(host, port)}: ${why}`, { cause: err }))
      }
      const onListening = (): void => { this.#server.off('error', onError); resolve() }
      this.#server.once('error', onError)
      this.#server.once('listening', onListening)
      this.#server.listen(port, host)
    })
    const bound = (this.#server.address() as AddressInfo).port
    this.#allowedHosts = new Set([hostPort(host, bound), `localhost:${bound}`, `127.0.0.1:${bound}`, `[::1]:${bound}`])
    this.#url = `http://${hostPort(host, bound)}`
  }

  /** `http://127.0.0.1:PORT` with the real port. */
  get url (): string { return this.#url }
  get port (): number { return (this.#server.address() as AddressInfo | null)?.port ?? 0 }

  /** Cancels running downloads and closes the server and every connection. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const stopping = new CancelledError('daemon stopping')
    const cancelled = Promise.all([this.#downloads.cancelAll(stopping), this.#seeds.cancelAll(stopping)])
    await new Promise<void>(resolve => {
      this.#server.close(() => { resolve() })
      this.#server.closeAllConnections()
    })
    // Cancelled downloads close their files; wait for that, but not forever.
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      cancelled.then(() => {}),
      new Promise<void>(resolve => { timer = setTimeout(resolve, CLOSE_WAIT_MS) })
    ])
    clearTimeout(timer)
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const host = (req.headers.host ?? '').toLowerCase()
      if (!this.#allowedHosts.has(host)) throw new ForbiddenError()
      const url = new URL(req.url ?? '/', 'http://localhost')
      const path = url.pathname
      if (path === '/api' || path.startsWith('/api/')) {
        if (!this.#authorised(req.headers.authorization)) throw new UnauthorizedError()
        if (!path.startsWith(API_PREFIX + '/')) throw new NotFoundError(`unknown API version: use ${API_PREFIX}`)
        const body = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : undefined
        const [status, value] = await this.#route(req.method ?? 'GET', path.slice(API_PREFIX.length), body)
        send(res, status, value)
        return
      }
      if (path === '/node.json' && this.#opts.staticRoot !== undefined) {
        // For the web app this node serves: where to reach this node (and relay through it).
        // Public information (the listen addresses the daemon prints), no token needed.
        if (req.method !== 'GET') throw new MethodNotAllowedError('use GET', 'GET')
        const st = this.#opts.backend.status()
        send(res, 200, { peerId: st.peerId, addrs: st.addrs })
        return
      }
      await this.#static(req, res, path)
    } catch (err) {
      const status = statusForError(err)
      const headers: Record<string, string> = {}
      if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="kith"'
      if (err instanceof MethodNotAllowedError && err.allow !== undefined) headers.Allow = err.allow
      if (status === 413) headers.Connection = 'close'
      send(res, status, errorBody(err), headers)
    }
  }

  #authorised (header: string | undefined): boolean {
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header ?? '')
    if (m === null) return false
    // Hash both sides so the comparison is constant-time whatever the lengths.
    return timingSafeEqual(sha256(m[1] ?? ''), this.#tokenDigest)
  }

  async #route (method: string, path: string, body: unknown): Promise<[number, unknown]> {
    const parts = path.split('/').filter(p => p !== '').map(decodePart)
    const allow = (methods: string): never => { throw new MethodNotAllowedError(`use ${methods}`, methods) }
    const [a, b, c] = parts
    if (parts.length === 1 && a === 'status') {
      if (method !== 'GET') allow('GET')
      return [200, await this.#status()]
    }
    if (parts.length === 1 && a === 'peers') {
      if (method !== 'GET') allow('GET')
      return [200, { peers: this.#opts.backend.peers() } satisfies PeersResponse]
    }
    if (a === 'shares' && parts.length === 1) {
      if (method === 'GET') return [200, { shares: await this.#opts.backend.listShares() } satisfies SharesResponse]
      if (method === 'POST') {
        const req = parseShareRequest(body)
        const opts = req.chunkSize !== undefined ? { chunkSize: req.chunkSize } : {}
        if (req.circle !== undefined) return [201, await this.#opts.backend.shareToCircle(req.path, req.circle, opts)]
        return [201, await this.#opts.backend.share(req.path, opts)]
      }
      allow('GET, POST')
    }
    if (a === 'shares' && parts.length === 2 && b === 'unshare') {
      if (method !== 'POST') allow('POST')
      return [200, await this.#unshare(parseUnshareRequest(body).link)]
    }
    if (a === 'shares' && parts.length === 2 && b !== undefined) {
      if (method !== 'DELETE') allow('DELETE')
      return [200, await this.#unshare(b)]
    }
    if (a === 'downloads' && parts.length === 1) {
      if (method === 'GET') return [200, { downloads: this.#downloads.list() } satisfies DownloadsResponse]
      if (method === 'POST') return [201, await this.#startDownload(body)]
      allow('GET, POST')
    }
    if (a === 'downloads' && parts.length === 2 && b !== undefined && c === undefined) {
      return await this.#downloads.route(b, method, allow)
    }
    if (a === 'seeds' && parts.length === 1) {
      if (method === 'GET') return [200, { seeds: this.#seeds.list() } satisfies SeedsResponse]
      if (method === 'POST') return [201, await this.#startSeed(body)]
      allow('GET, POST')
    }
    if (a === 'seeds' && parts.length === 2 && b !== undefined) {
      return await this.#seeds.route(b, method, allow)
    }
    if (a === 'circles') return await routeCircles(this.#opts.backend, method, parts.slice(1), body, allow)
    if (a === 'settings') return await routeSettings(this.#opts.backend, method, parts.slice(1), body, allow)
    throw new NotFoundError()
  }

  async #status (): Promise<StatusResponse> {
    const s = this.#opts.backend.status()
    const reachability = await this.#opts.backend.reachability()
    return {
      version: kithVersion(),
      pid: process.pid,
      peerId: s.peerId,
      addrs: s.addrs,
      api: this.#url,
      connections: s.connections,
      shares: s.shares,
      sessions: s.sessions,
      sealed: s.sealed,
      network: s.network,
      downloads: this.#downloads.running,
      seeds: this.#seeds.running,
      reachability
    }
  }

  async #unshare (linkOrManifest: string): Promise<UnshareResponse> {
    const manifest = manifestIdOf(linkOrManifest)
    if (!(await this.#opts.backend.unshare(manifest))) throw new ShareNotFoundError()
    return { manifest, removed: true }
  }

  async #startDownload (body: unknown): Promise<DownloadStatus> {
    const req = parseDownloadRequest(body)
    const link = parseLink(req.link)
    if (link.kind !== 'read') throw new SeedOnlyLinkError()
    const manifest = link.manifest.toString()
    this.#checkNotBusy(manifest)
    const bootstrap = bootstrapAddrs(req.bootstrap)
    await mkdir(req.outDir, { recursive: true })
    const status: DownloadStatus = { id: jobId(), manifest, state: 'running', outDir: req.outDir, started: new Date().toISOString(), ...initialProgress() }
    return this.#start(this.#downloads, status, bootstrap, async signal => {
      const result = await this.#opts.backend.get(req.link, {
        outDir: req.outDir,
        timeoutMs: timeoutOf(req.timeoutSeconds),
        signal,
        onProgress: evt => { applyGetProgress(status, evt) }
      })
      status.bytes = result.size
      status.total = result.size
      status.chunks = status.totalChunks
      status.name = result.name
      status.result = { path: result.path, name: result.name, size: result.size, sha256: result.sha256, manifest: result.manifest, publisher: result.publisher, seeders: result.seeders }
    })
  }

  async #startSeed (body: unknown): Promise<SeedStatus> {
    const req = parseSeedRequest(body)
    // Only the seed-only form is kept, even if a read link was sent.
    const link = seedOnlyLink(parseLink(req.link))
    const manifest = link.manifest.toString()
    this.#checkNotBusy(manifest)
    await this.#opts.backend.checkSeedable(link)
    const bootstrap = bootstrapAddrs(req.bootstrap)
    const status: SeedStatus = { id: jobId(), manifest, state: 'running', started: new Date().toISOString(), ...initialProgress() }
    return this.#start(this.#seeds, status, bootstrap, async signal => {
      const result = await this.#opts.backend.seed(link, {
        timeoutMs: timeoutOf(req.timeoutSeconds),
        signal,
        onProgress: evt => { applySeedProgress(status, evt) }
      })
      status.bytes = result.bytes
      status.total = result.bytes
      status.chunks = result.chunks
      status.totalChunks = result.chunks
      status.result = { ...result }
    })
  }

  /** One download or seed of a share at a time: by this API, or by the node itself (auto-fetch). */
  #checkNotBusy (manifest: string): void {
    const job = this.#downloads.runningFor(manifest) ?? this.#seeds.runningFor(manifest)
    if (job !== undefined) throw new ConflictError(`this share is already being fetched (${'outDir' in job ? 'download' : 'seed'} ${job.id})`)
    if (this.#opts.backend.fetching(manifest)) throw new ConflictError('this node is already fetching this share (a circle\'s auto-fetch)')
  }

  /** Starts a job; its bootstrap peers are dialled alongside, best effort (they join the DHT and the swarm). */
  #start<S extends JobStatus> (jobs: JobTable<S>, status: S, bootstrap: string[], work: (signal: AbortSignal) => Promise<void>): S {
    return jobs.start(status, async signal => {
      for (const a of bootstrap) void this.#opts.backend.dial(a, signal).catch(() => {})
      await work(signal)
    })
  }

  async #static (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const root = this.#opts.staticRoot
    if (root === undefined) throw new NotFoundError('no web UI here: the API is under ' + API_PREFIX)
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowedError('use GET', 'GET, HEAD')
    const base = resolve(root)
    let file = resolve(base, '.' + decodePart(path))
    if (file !== base && !file.startsWith(base + sep)) throw new NotFoundError('not found')
    let st = await stat(file).catch(() => undefined)
    if (st?.isDirectory() === true) {
      file = resolve(file, 'index.html')
      st = await stat(file).catch(() => undefined)
    }
    if (st === undefined || !st.isFile()) throw new NotFoundError('not found')
    res.writeHead(200, {
      'Content-Type': STATIC_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(st.size),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
      ...WEB_SECURITY_HEADERS
    })
    if (req.method === 'HEAD') { res.end(); return }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file)
      stream.on('error', () => { res.destroy(); resolve() })
      res.on('close', () => { stream.destroy(); resolve() })
      stream.pipe(res)
    })
  }
}

/**
 * The web UI's headers (docs/THREAT-MODEL.md §2.11): scripts and styles from this origin only (no inline
 * script, no eval), connections only to this origin and to peers over WebSockets/WebRTC, no
 * framing, no referrer (the fragment never leaves the page anyway).
 */
export const WEB_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin'
})

function decodePart (part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new BadRequestError('malformed URL')
  }
}

function sha256 (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

function send (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.destroy(); return }
  const body = JSON.stringify(value) + '\n'
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers
  })
  res.end(body)
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw new PayloadTooLargeError()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError()
    chunks.push(chunk)
  }
  if (size === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new BadRequestError('the body is not valid JSON')
  }
}

// --- daemon -----------------------------------------------------------------------------------------
