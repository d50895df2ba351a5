/**
 * Real `kith` processes (node bin/kith.js, the built code) inside the simulated internet's
 * namespaces. A daemon's local API listens on the loopback of its own namespace, so every command
 * that talks to it runs in that namespace too. Repos are made with test/node/fixtures/procs.ts's
 * Sandbox (no network needed); every wait is bounded; Simnet.destroy() kills whatever is left.
 */
import { BIN, type DaemonInfo, type Sandbox } from '../node/fixtures/procs.js'
import type { NsProc, Simnet } from './simnet.js'

export const KITH_PORT = 4001

export interface KithDaemon { proc: NsProc, info: DaemonInfo, repo: string, ns: string }

/** Starts `kith <args>` in namespace `ns`. */
export function kithIn (net: Simnet, box: Sandbox, ns: string, args: string[]): NsProc {
  return net.spawn(ns, [process.execPath, BIN, ...args], { cwd: box.dir, env: box.env() })
}

/** Runs `kith <args>` in `ns` to completion (bounded); returns the process (exit code in `code`). */
export async function kithRun (net: Simnet, box: Sandbox, ns: string, args: string[], timeoutMs: number): Promise<NsProc> {
  const p = kithIn(net, box, ns, args)
  await p.wait(timeoutMs)
  return p
}

/** `kith daemon` in `ns`, once it printed its JSON line. */
export async function daemonIn (net: Simnet, box: Sandbox, ns: string, repo: string, args: string[], timeoutMs = 40_000): Promise<KithDaemon> {
  const proc = kithIn(net, box, ns, ['daemon', '--repo', repo, '--api', '127.0.0.1:0', '--json', ...args])
  const info = await proc.jsonLine<DaemonInfo>(() => true, timeoutMs)
  return { proc, info, repo, ns }
}
