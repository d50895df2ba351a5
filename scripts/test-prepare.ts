/**
 * What `npm test` needs from outside before it runs in its own network namespace
 * (scripts/netns.sh), where no real network is reachable: Debian's Chromium for the browser tests,
 * iproute2's `ip` to set the namespace up, and iptables for the home routers of the simulated
 * internet (test/internet/simnet.ts), and tcpdump for the wire-privacy capture
 * (test/hardening/wire-privacy.test.ts), and tc for the bad-network links (test/hardening/
 * bad-network.test.ts), and Debian's miniupnpd (a UPnP home router) with nftables' nft for its
 * chains (test/internet/upnp.test.ts) (apt-get, when missing and we are root). Without iptables,
 * tcpdump, tc, miniupnpd or nft those tests skip themselves and say why.
 */
import { spawnSync } from 'node:child_process'
import { aptInstall, ensureChromium } from '../test/global-setup.js'

await ensureChromium()
// Looked up as scripts/netns.sh looks it up: on the PATH.
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
// tc (iproute2 too) shapes the links of test/hardening/bad-network.test.ts.
const missing = [...(has('ip') && has('tc') ? [] : ['iproute2']), ...(has('iptables') ? [] : ['iptables']), ...(has('tcpdump') ? [] : ['tcpdump']), ...(has('miniupnpd') ? [] : ['miniupnpd']), ...(has('nft') ? [] : ['nftables'])]
if (missing.length > 0 && process.getuid?.() === 0) {
  console.warn(`installing ${missing.join(', ')} for the test network namespaces and the wire-privacy capture (apt-get)…`)
  try {
    await aptInstall(missing)
  } catch (err) {
    // `ip` was required before; tc only enables the bad-network test, iptables test/internet,
    // tcpdump the wire-privacy capture and miniupnpd/nft the UPnP test, which skip without them.
    if (!has('ip')) throw err
    console.warn(`cannot install ${missing.join(', ')}: test/internet (without iptables) and test/hardening/wire-privacy (without tcpdump) and test/internet/upnp (without miniupnpd or nft) will be skipped: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
}
