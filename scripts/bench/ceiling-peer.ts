/**
 * One side of the raw libp2p stream ceiling measurement (scripts/bench-transfer.ts): the
 * project's own libp2p assembly (TCP + Noise + yamux), one stream, no Kith protocol on top.
 *   server: listens, prints {"addr"}, and on each stream sends KITH_BENCH_BYTES bytes, then
 *           prints {"cpu"}: CPU seconds (all threads) spent from the stream's start to its close.
 *   client <addr>: opens one stream, reads everything, prints {"bytes","seconds","cpu"}.
 */
import '../../node/libp2p/polyfills.js'
import { multiaddr } from '@multiformats/multiaddr'
import { createKithLibp2p } from '../../node/libp2p/assembly.js'

const PROTOCOL = '/kith/bench-ceiling/1.0.0'
const total = Number(process.env.KITH_BENCH_BYTES ?? 1024 * 1024 * 1024)
const mode = process.argv[2]

if (mode === 'server') {
  const node = await createKithLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'], relayServer: false })
  await node.handle(PROTOCOL, async (stream) => {
    const c0 = process.cpuUsage()
    const buf = new Uint8Array(1024 * 1024).fill(7)
    let sent = 0
    while (sent < total) {
      const n = Math.min(buf.length, total - sent)
      if (!stream.send(n === buf.length ? buf : buf.subarray(0, n))) await stream.onDrain()
      sent += n
    }
    await stream.close()
    const c = process.cpuUsage(c0)
    console.log(JSON.stringify({ cpu: (c.user + c.system) / 1e6 }))
  })
  console.log(JSON.stringify({ addr: node.getMultiaddrs()[0]?.toString() }))
  process.on('SIGTERM', () => { void Promise.resolve(node.stop()).then(() => process.exit(0)) })
} else if (mode === 'client') {
  const node = await createKithLibp2p({ listen: [], relayServer: false })
  const c0 = process.cpuUsage()
  const stream = await node.dialProtocol(multiaddr(process.argv[3] as string), PROTOCOL)
  const t0 = performance.now()
  let bytes = 0
  for await (const chunk of stream) bytes += chunk.byteLength
  const seconds = (performance.now() - t0) / 1000
  const c = process.cpuUsage(c0)
  console.log(JSON.stringify({ bytes, seconds, cpu: (c.user + c.system) / 1e6 }))
  await node.stop()
  process.exit(0)
} else {
  console.error('usage: ceiling-peer.ts server | client <multiaddr>')
  process.exit(2)
}
