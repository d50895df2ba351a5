/**
 * The browser side of the simulated internet: Debian's Chromium started inside a namespace (a
 * home's LAN host), and a plain static HTTP server on a public host serving the built web app.
 *
 * Chromium in a namespace: Playwright launches `executablePath` with the DevTools protocol on a
 * pipe (file descriptors 3 and 4); a wrapper script that `exec`s `ip netns exec <ns> chromium`
 * keeps those descriptors and the process ID, so Playwright drives it as usual and its close()
 * ends it. Inside, the only non-loopback interface with a default route is the home's eth0:
 * WebRTC gathers its candidates there (no mDNS names: CHROMIUM_LAUNCH turns them off).
 */
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { CHROMIUM, CHROMIUM_LAUNCH } from '../global-setup.js'
import type { NsProc, Simnet } from './simnet.js'

export const WEB_PORT = 8080

/**
 * A static file server, as any static host serves a folder: GET/HEAD of files under the folder,
 * a content type by extension, `index.html` for `/`, 404 for anything else. No Kith code and no
 * headers of Kith's own (no Content-Security-Policy, no node.json). Prints one JSON line when it
 * listens. Run with `node --input-type=module -e`.
 */
const STATIC_SERVER = `
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join, normalize, extname } from 'node:path'
const [dir, host, port] = process.argv.slice(1)
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.wasm': 'application/wasm' }
const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\\/+/, '') || 'index.html'
  if ((req.method !== 'GET' && req.method !== 'HEAD') || path.startsWith('..')) { res.writeHead(404).end(); return }
  try {
    const body = await readFile(join(dir, path))
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream', 'content-length': body.length })
    res.end(req.method === 'HEAD' ? undefined : body)
  } catch { res.writeHead(404).end() }
})
server.listen(Number(port), host, () => { console.log(JSON.stringify({ listening: server.address() })) })
`

/** Serves `dir` over plain HTTP on `host:port` inside namespace `ns`; resolves once it listens. */
export async function staticServer (net: Simnet, ns: string, dir: string, host: string, port = WEB_PORT): Promise<NsProc> {
  const p = net.spawn(ns, [process.execPath, '--input-type=module', '-e', STATIC_SERVER, dir, host, String(port)])
  await p.jsonLine(v => typeof v === 'object' && v !== null && 'listening' in v, 20_000)
  return p
}

/**
 * Launches Chromium inside namespace `ns` (wrapper script written to `tmp`). `secureOrigins` are
 * origins Chromium treats as secure although they are plain http: the stand-in for the HTTPS a
 * real static host serves (OPFS and WebCrypto exist only in a secure context), without a
 * certificate authority in the simulated internet.
 */
export async function chromiumIn (ns: string, tmp: string, secureOrigins: string[] = []): Promise<Browser> {
  const wrapper = join(tmp, `chromium-in-${ns}.sh`)
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec '${ns}' '${CHROMIUM}' "$@"\n`)
  await chmod(wrapper, 0o755)
  const args = [...CHROMIUM_LAUNCH.args]
  if (secureOrigins.length > 0) args.push(`--unsafely-treat-insecure-origin-as-secure=${secureOrigins.join(',')}`)
  return await chromium.launch({ ...CHROMIUM_LAUNCH, executablePath: wrapper, args, timeout: 60_000 })
}
