/**
 * What `npm test` needs from outside before it runs in its own network namespace
 * (scripts/netns.sh), where no real network is reachable: Debian's Chromium for the browser tests,
 * and iproute2's `ip` to set the namespace up (apt-get, when missing and we are root).
 */
import { spawnSync } from 'node:child_process'
import { aptInstall, ensureChromium } from '../test/global-setup.js'

await ensureChromium()
// Looked up as scripts/netns.sh looks it up: on the PATH.
const hasIp = spawnSync('sh', ['-c', 'command -v ip'], { stdio: 'ignore' }).status === 0
if (!hasIp && process.getuid?.() === 0) {
  console.warn('installing iproute2 for the test network namespace (apt-get)…')
  await aptInstall(['iproute2'])
}
