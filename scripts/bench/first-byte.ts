/**
 * Time to first verified byte (scripts/bench-transfer.ts): a node that is already up and
 * bootstrapped calls get(); prints {"ms"} from the call to the first verified chunk.
 * Args: <link> <bootstrap multiaddr> <repo dir> <out dir>
 */
import '../../node/libp2p/polyfills.js'
import { mkdir } from 'node:fs/promises'
import { KithNode } from '../../node/node.js'
import { Repo } from '../../node/repo/repo.js'

const [link, bootstrap, repoDir, outDir] = process.argv.slice(2) as [string, string, string, string]
const repo = await Repo.open(repoDir, { create: true })
const node = await KithNode.start({ repo, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [bootstrap] })
for (let i = 0; i < 100 && node.libp2p.getConnections().length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
await mkdir(outDir, { recursive: true })
const controller = new AbortController()
const t0 = performance.now()
let first = -1
await node.get(link, {
  outDir,
  signal: controller.signal,
  onProgress: (e) => {
    if (e.type === 'kith:get:chunk' && first < 0) { first = performance.now() - t0; controller.abort() }
  }
}).catch(() => {})
console.log(JSON.stringify({ ms: first }))
await node.stop()
await repo.close()
process.exit(0)
