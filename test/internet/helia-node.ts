/**
 * A stock, unmodified Helia node as a peer of the simulated internet's public network (Amino DHT
 * server, circuit-relay server). Run inside one of the harness's namespaces, with the project's
 * polyfills preloaded (js-libp2p v3 on Node 20):
 *
 *   ip netns exec <ns> node --import tsx --import ./node/polyfills.ts test/internet/helia-node.ts \
 *     --ip 11.0.0.10 [--port 4001] [--bootstrap /ip4/…/tcp/4001/p2p/12D3…]…
 *
 * Configuration: Helia's own `libp2pDefaults()`, minus what would reach the real internet or is no
 * use here: autoTLS (libp2p.direct and Let's Encrypt), the delegated routing clients
 * (delegated-ipfs.dev), mDNS and the public bootstrap list (only --bootstrap addresses, from the
 * harness), no HTTP delegated routers or recursive gateways. And, as measured on the simulated
 * internet (six nodes on one segment stayed DHT clients with no address announced, and AutoNAT's
 * dial-backs dropped their connections): the listen addresses announced as they are, AutoNAT
 * removed (and with it UPnP, which requires it: there is no UPnP gateway on a public host
 * anyway), the DHT a server from the start. Circuit-relay server as in the defaults.
 * Everything else (transports, encrypters, muxers, identify, ping, dcutr, upnp, …) is Helia's.
 *
 * Prints JSON lines on stdout: {"event":"ready","peerId","addrs"} once started, then every
 * second {"event":"status","rt":<routing table size>,"mode":"server"|"client","connections",
 * "peers","addrs","offSim"}; `offSim` counts dials refused because they pointed outside the
 * simulated internet (there should be none). Stops on SIGTERM/SIGINT.
 *
 * A line `dial <multiaddr>` on stdin dials that peer (the harness introduces nodes started at the
 * same time, which could not bootstrap from each other); it prints {"event":"dialled"|"dial-error"}.
 * A line `dump` on stdin prints {"event":"datastore","entries":[{"key","value"(base64)}],
 * "blocks":[CID]}: everything in the node's datastore (libp2p's: DHT records, provider records,
 * the peer store) and its blockstore, for tests that check what a public node learnt.
 */
import { parseArgs } from 'node:util'
import { kadDHT } from '@libp2p/kad-dht'
import { bootstrap } from '@libp2p/bootstrap'
import { libp2pDefaults } from '@helia/libp2p'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createHelia } from 'helia'
import { LAN_PREFIX, PUBLIC_OCTETS } from './simnet.js'

const { values } = parseArgs({
  options: {
    ip: { type: 'string' },
    port: { type: 'string', default: '4001' },
    bootstrap: { type: 'string', multiple: true, default: [] }
  },
  strict: true
})
if (values.ip === undefined) throw new Error('--ip is required')
const ip = values.ip
const port = Number(values.port)

/**
 * True for an address on the simulated internet, a home LAN of it, or loopback: the only ones this
 * node may dial (the namespaces route nothing else anyway; this makes an attempt visible).
 */
function onSim (ma: Multiaddr): boolean {
  const first = ma.getComponents()[0]
  const v = first?.value ?? ''
  if (first?.name === 'ip4') return v.startsWith('127.') || v.startsWith(`${LAN_PREFIX}.`) || PUBLIC_OCTETS.some(o => v.startsWith(`${o}.`))
  if (first?.name === 'ip6') return v === '::1'
  // A bare /p2p/<id> or /p2p-circuit address: dialled through addresses checked on their own.
  return first?.name === 'p2p' || first?.name === 'p2p-circuit'
}

let offSim = 0
const defaults = libp2pDefaults()
const services: Record<string, unknown> = { ...defaults.services }
for (const name of ['autoTLS', 'delegatedPeerRouting', 'delegatedContentRouting', 'autoNAT', 'upnp']) delete services[name]
const listen = [`/ip4/0.0.0.0/tcp/${port}`, `/ip4/0.0.0.0/tcp/${port + 1}/ws`]
const libp2p = {
  ...defaults,
  addresses: {
    listen: [...listen, '/p2p-circuit'],
    announce: [`/ip4/${ip}/tcp/${port}`, `/ip4/${ip}/tcp/${port + 1}/ws`]
  },
  peerDiscovery: values.bootstrap.length > 0 ? [bootstrap({ list: values.bootstrap })] : [],
  connectionGater: {
    denyDialMultiaddr: (ma: Multiaddr) => {
      if (onSim(ma)) return false
      offSim++
      return true
    }
  },
  services: { ...services, dht: kadDHT({ clientMode: false }) }
}

const helia = createHelia({
  libp2p: libp2p as unknown as typeof defaults,
  http: { delegatedRouters: [], recursiveGateways: [] }
})
await helia.start()
const node = helia.libp2p
const dht = (node.services as unknown as { dht: { routingTable: { size: number }, getMode: () => string } }).dht

const print = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }
print({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) })
const timer = setInterval(() => {
  print({
    event: 'status',
    rt: dht.routingTable.size,
    mode: dht.getMode(),
    connections: node.getConnections().length,
    peers: node.getPeers().length,
    addrs: node.getMultiaddrs().map(a => a.toString()),
    offSim
  })
}, 1000)

// Test hook: dump the stores on request (read-only; nothing here changes the node).
let input = ''
process.stdin.setEncoding('utf8').on('data', (d: string) => {
  input += d
  for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
    const cmd = input.slice(0, nl).trim()
    input = input.slice(nl + 1)
    if (cmd.startsWith('dial ')) {
      // A peer the harness introduces once it is up, as a bootstrap list given late.
      const addr = cmd.slice('dial '.length)
      void node.dial(multiaddr(addr)).then(() => { print({ event: 'dialled', addr }) }, (err: Error) => { print({ event: 'dial-error', addr, error: err.message }) })
      continue
    }
    if (cmd !== 'dump') continue
    void (async () => {
      const entries: Array<{ key: string, value: string }> = []
      for await (const e of helia.datastore.query({})) entries.push({ key: e.key.toString(), value: Buffer.from(e.value).toString('base64') })
      const blocks: string[] = []
      for await (const b of helia.blockstore.getAll()) blocks.push(b.cid.toString())
      print({ event: 'datastore', entries, blocks })
    })().catch((err: Error) => { print({ event: 'datastore-error', error: err.message }) })
  }
})

let stopping = false
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return
    stopping = true
    clearInterval(timer)
    const hard = setTimeout(() => { process.exit(0) }, 5000)
    hard.unref()
    void helia.stop().finally(() => { process.exit(0) })
  })
}
