/**
 * Real `kith` processes (node bin/kith.js, the built code) inside the simulated internet's
 * namespaces. A daemon's local API listens on the loopback of its own namespace, so every command
 * that talks to it runs in that namespace too. Repos are made with test/node/fixtures/procs.ts's
 * Sandbox (no network needed); every wait is bounded; Simnet.destroy() kills whatever is left.
 */
import { join } from 'node:path'
import { BIN, writeRandomFile, type DaemonInfo, type Sandbox } from '../node/fixtures/procs.js'
import type { NsProc, Simnet } from './simnet.js'

export const KITH_PORT = 4001

export interface KithDaemon { proc: NsProc, info: DaemonInfo, repo: string, ns: string }

/** Starts `kith <args>` in namespace `ns` (`env`: extra environment, e.g. DEBUG). */
export function kithIn (net: Simnet, box: Sandbox, ns: string, args: string[], env: NodeJS.ProcessEnv = {}): NsProc {
  return net.spawn(ns, [process.execPath, BIN, ...args], { cwd: box.dir, env: { ...box.env(), ...env } })
}

/** Runs `kith <args>` in `ns` to completion (bounded); returns the process (exit code in `code`). */
export async function kithRun (net: Simnet, box: Sandbox, ns: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<NsProc> {
  const p = kithIn(net, box, ns, args, env)
  await p.wait(timeoutMs)
  return p
}

/** `kith daemon` in `ns`, once it printed its JSON line. */
export async function daemonIn (net: Simnet, box: Sandbox, ns: string, repo: string, args: string[], timeoutMs = 40_000, env: NodeJS.ProcessEnv = {}): Promise<KithDaemon> {
  const proc = kithIn(net, box, ns, ['daemon', '--repo', repo, '--api', '127.0.0.1:0', '--json', ...args], env)
  const info = await proc.jsonLine<DaemonInfo>(() => true, timeoutMs)
  return { proc, info, repo, ns }
}

/**
 * Writes `size` random bytes to `name` in the sandbox and shares that file with `kith share --json`
 * from daemon `d` (in its namespace, bounded): the share's link and the file's SHA-256.
 */
export async function shareRandomFile (net: Simnet, box: Sandbox, d: KithDaemon, name: string, size: number): Promise<{ link: string, sha256: string }> {
  const file = join(box.dir, name)
  const sha256 = await writeRandomFile(file, size)
  const r = await kithRun(net, box, d.ns, ['share', file, '--repo', d.repo, '--json'], 120_000)
  if (r.code !== 0) throw new Error(`kith share failed (${String(r.code)}): ${r.stderr}`)
  return { link: (JSON.parse(r.stdout) as { link: string }).link, sha256 }
}

/** The daemon's announced addresses, from `kith status --json` in its namespace ([] if that fails). */
export async function statusAddrs (net: Simnet, box: Sandbox, d: KithDaemon): Promise<string[]> {
  const st = await kithRun(net, box, d.ns, ['status', '--repo', d.repo, '--json'], 30_000)
  if (st.code !== 0) return []
  return (JSON.parse(st.stdout) as { addrs: string[] }).addrs
}

/** Polls `kith status` until `pred` holds on the daemon's addresses (at most `timeoutMs`); throws otherwise. */
export async function waitForAddrs (net: Simnet, box: Sandbox, d: KithDaemon, pred: (addrs: string[]) => boolean, timeoutMs: number): Promise<{ addrs: string[], ms: number }> {
  const t0 = Date.now()
  let addrs: string[] = []
  while (Date.now() - t0 < timeoutMs) {
    addrs = await statusAddrs(net, box, d)
    if (pred(addrs)) return { addrs, ms: Date.now() - t0 }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  throw new Error(`the daemon's addresses never matched within ${timeoutMs} ms: ${addrs.join(' ')}`)
}
