/**
 * Sharing from the browser: the picked files are chunked, encrypted and hashed in the page
 * (streamed from disk through File.stream(), never read whole), the manifest is signed with this
 * tab's identity key and announced, and the tab seeds by re-reading and re-sealing chunks from the
 * same File objects while it stays open (the same publishShare as the desktop node). Peers reach
 * the tab through the Kith node that served the page, as a circuit relay: the link's hints are the
 * tab's relayed addresses.
 */
import type { PrivateKey } from '@libp2p/interface'
import { parseLink } from '../../protocol/link.js'
import { putManifest, provide } from '../../node/engine/dht.js'
import type { NodeContext } from '../../node/engine/get.js'
import { publishShare, signerFor, type ShareProgressEvents, type ShareSource } from '../../node/engine/publish.js'
import type { BrowserNode } from './libp2p.js'

const READ_BYTES = 1024 * 1024

async function * fileChunks (file: File): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < file.size; at += READ_BYTES) yield new Uint8Array(await file.slice(at, at + READ_BYTES).arrayBuffer())
}

export function browserSource (files: File[]): ShareSource {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const one = sorted.length === 1
  return {
    name: one ? (sorted[0] as File).name : 'shared files',
    kind: one ? 'file' : 'dir',
    files: sorted.map(f => ({ path: f.name, size: f.size, mode: 0o644, read: () => fileChunks(f) })),
    reader: (chunkSize) => async (fileIndex, position, length) => {
      const f = sorted[fileIndex]
      if (f === undefined) return undefined
      const bytes = new Uint8Array(await f.slice(position * chunkSize, position * chunkSize + length).arrayBuffer())
      return bytes.length === length ? bytes : undefined
    },
    locations: sorted.map(f => f.name)
  }
}

/**
 * Relayed addresses of this tab, as link hints (binary multiaddrs): one plain circuit address
 * through the relay's WebSocket listener (desktop nodes and browsers can both dial it), and one
 * WebRTC address signalled through the relay (browsers connect to the tab directly).
 */
export function relayHints (node: BrowserNode): Uint8Array[] {
  const relayed = node.getMultiaddrs().map(a => a.toString()).filter(a => a.includes('/p2p-circuit'))
  const plain = relayed.filter(a => !a.includes('/webrtc'))
  const pick = [plain.find(a => a.includes('/ws/')) ?? plain[0], relayed.find(a => a.includes('/webrtc'))]
  return node.getMultiaddrs().filter(a => pick.includes(a.toString())).map(a => a.bytes)
}

export async function shareFiles (ctx: NodeContext, node: BrowserNode, key: PrivateKey, files: File[], onProgress: (evt: ShareProgressEvents) => void): Promise<{ link: string, name: string, size: number }> {
  const published = await publishShare(ctx, browserSource(files), signerFor(key), { hints: relayHints(node), onProgress })
  const link = parseLink(published.link)
  const signal = AbortSignal.timeout(30_000)
  await Promise.allSettled([
    putManifest(node, link.manifest, published.state.root as Uint8Array, { signal }),
    provide(node, published.state.keys.discoveryCid, { signal })
  ])
  return { link: published.link, name: published.name, size: published.size }
}
