/**
 * What `npm test` needs from outside before it runs in its own network namespace
 * (scripts/netns.sh), where no real network is reachable: Debian's Chromium for the browser tests,
 * iproute2's `ip` to set the namespace up, and iptables for the home routers of the simulated
 * internet (test/internet/simnet.ts), and tcpdump for the wire-privacy capture
 * (test/hardening/wire-privacy.test.ts) (apt-get, when missing and we are root). Without iptables
 * or tcpdump those tests skip themselves and say why.
 */
import { spawnSync } from 'node:child_process'
import { aptInstall, ensureChromium } from '../test/global-setup.js'

await ensureChromium()
// Looked up as scripts/netns.sh looks it up: on the PATH.
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
const missing = [...(has('ip') ? [] : ['iproute2']), ...(has('iptables') ? [] : ['iptables']), ...(has('tcpdump') ? [] : ['tcpdump'])]
if (missing.length > 0 && process.getuid?.() === 0) {
  console.warn(`installing ${missing.join(', ')} for the test network namespaces and the wire-privacy capture (apt-get)…`)
  try {
    await aptInstall(missing)
  } catch (err) {
    // iproute2 was required before; iptables only enables test/internet and tcpdump only the
    // wire-privacy capture, which skip without them.
    if (missing.includes('iproute2')) throw err
    console.warn(`cannot install ${missing.join(', ')}: test/internet (without iptables) and test/hardening/wire-privacy (without tcpdump) will be skipped: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
}
