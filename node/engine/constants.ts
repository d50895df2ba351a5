/**
 * Defaults for the Node runtime, each with its reason. Protocol constants live in
 * protocol/constants.ts; these are local policy and may change without a format version.
 */

/** Kith's own DHT protocol: never the public IPFS DHT (/ipfs/kad/1.0.0). */
export const KITH_DHT_PROTOCOL = '/kith/kad/1.0.0'

/**
 * Default listen addresses on all interfaces: TCP (node to node); WebSockets (browsers on plain
 * http pages, or behind a TLS proxy); WebRTC-Direct (browsers on https pages: no CA-signed
 * certificate needed, the peer is authenticated by the certhash in its address, then by Noise).
 */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws', '/ip4/0.0.0.0/udp/4003/webrtc-direct']

/** Local API and web UI: loopback only (Syncthing uses 8384; 5870 is unassigned by IANA). */
export const DEFAULT_API = '127.0.0.1:5870'

/** Connection manager (libp2p's Node default, made explicit): a DHT routing table (k=20 × a few buckets) plus swarms. */
export const MAX_CONNECTIONS = 300
/** Inbound handshakes in progress at once (libp2p default 10): bounds memory and CPU under a connection flood. */
export const MAX_INCOMING_PENDING = 20
/** Of those, how many one IP address may hold (node/libp2p/connection-cap.ts): sockets that never speak hold a slot for the upgrade timeout. */
export const MAX_INCOMING_PENDING_PER_HOST = 4
/**
 * New inbound connections per second from one IP before refusal (libp2p default 5): friends behind
 * one NAT reconnect at once, and a peer that shares its address with an attacker churning
 * identities must still get in (at 10/s such an attacker used up the address's budget and the
 * honest peer's dials were refused for 120 s: docs/HARDENING.md item 2). Handshakes in progress per
 * address stay bounded by MAX_INCOMING_PENDING_PER_HOST.
 */
export const INBOUND_CONNECTION_THRESHOLD = 50
/** Dials in flight at once (libp2p's Node default 100): a DHT walk dials in bursts; half bounds sockets and handshake CPU. */
export const MAX_PARALLEL_DIALS = 50
/** How long one dial may take, all addresses of the peer included (libp2p default). */
export const DIAL_TIMEOUT_MS = 10_000

/**
 * Yamux per-stream receive window. The default (256 KiB) caps one stream at window/RTT; a
 * 1 MiB chunk then needs several round trips of window updates. 16 MiB lets a pipelined
 * download keep the link full; memory is bounded by the swarm's request window anyway.
 */
export const YAMUX_MAX_STREAM_WINDOW = 16 * 1024 * 1024

/** Circuit relay v2 server: reservations for browser nodes, bounded. */
export const RELAY_MAX_RESERVATIONS = 128
/** How long a relay reservation or relayed connection waits for the asking peer's identify (node/libp2p/relay-gate.ts). */
export const RELAY_IDENTIFY_WAIT_MS = 5_000

/** Bootstrap dial attempts: enough to ride out a peer restarting, bounded so a dead one costs little. */
export const BOOTSTRAP_ATTEMPTS = 5
/** Back-off step between bootstrap attempts (linear: 2, 4, 6, 8 s; 20 s in all). */
export const BOOTSTRAP_RETRY_MS = 2_000
/** Peer-store tag on bootstrap peers: the connection manager prunes low-value connections first. */
export const BOOTSTRAP_TAG = 'kith-bootstrap'
/** Tag value (0-100): above untagged peers, below keep-alive; the same value @libp2p/bootstrap uses. */
export const BOOTSTRAP_TAG_VALUE = 50

/**
 * Concurrent ping streams per connection, each way. libp2p's default (1 out, 2 in) makes a second
 * concurrent ping to the same peer fail, and kad-dht evicts a routing-table contact whose ping
 * failed: a DHT refresh racing a liveness check would drop a live peer.
 */
export const PING_MAX_STREAMS = 4

/** Kademlia bucket size and replication factor k: 20 as in the Kademlia paper and every libp2p DHT. */
export const DHT_K = 20

/** Address hints a link carries by default: two keeps a link short enough for a QR code. */
export const LINK_HINTS = 2

/**
 * STUN/TURN servers for WebRTC: none. @libp2p/webrtc defaults to Google's, Twilio's, Cloudflare's
 * and Mozilla's public STUN servers, which would tell those operators every user's IP address and
 * when they share (docs/THREAT-MODEL.md §2.9: no operator, no logs). Without them WebRTC uses the addresses it
 * has (same LAN, or public ones); where that fails, data goes through a desktop node's relay.
 */
export const ICE_SERVERS: Array<{ urls: string[] }> = []

/**
 * What a node stores for others in the DHT (node/engine/dht-put-gate.ts). A Kith DHT is small
 * (friends, circles, a few hundred nodes), so a node is among the k closest to a large share of
 * all keys: the caps bound disk, not a typical load. A root is a few KiB for any honest share
 * (docs/PROTOCOL.md §4.2), so 4,096 records hold thousands of friends' shares; 64 MiB is 1,024
 * roots of the 64 KiB maximum, which is what a flood of maximal hostile records hits first.
 * The node's own records (it publishes them itself) never count and are always stored.
 */
export const DHT_MAX_RECORDS = 4096
export const DHT_MAX_RECORD_BYTES = 64 * 1024 * 1024
/**
 * PUT_VALUEs one peer may make to this node: a burst of 64, then one a second. An honest seeder
 * re-puts each of its manifests once an hour, one after another (announcer.ts), so 64 covers a
 * node with many shares; a flooder gets 3,600 an hour at most and needs ~20 min to fill the byte
 * cap alone (the caps, not the rate, bound the disk; the rate keeps one peer from taking it all at once).
 */
export const DHT_PUT_BURST = 64
export const DHT_PUTS_PER_SECOND = 1
/** Peers whose put allowance is tracked at once; beyond it the fullest buckets are forgotten (bounded memory). */
export const DHT_PUT_TRACKED_PEERS = 1024
/** kad-dht serves a stored record for 48 h after it was received (its PROVIDERS_VALIDITY); older ones are dead weight and may be evicted. */
export const DHT_RECORD_TTL_MS = 48 * 60 * 60 * 1000

/**
 * A swarm session that exchanges no piece either way for this long is closed (politely, no ban):
 * admitted peers that advertise nothing and ask nothing would otherwise hold a share's session
 * slots for ever (docs/THREAT-MODEL.md §2.8). Two minutes is twice what the scheduler needs to drop a
 * staller (3 strikes × 20 s request timeout), so its verdict comes first, and four discovery
 * rounds (30 s apart), so a peer closed while it had nothing to offer is found again once it has.
 */
export const SESSION_IDLE_TIMEOUT_MS = 120_000

/**
 * When a share's session table is full, a newcomer takes the slot of the least useful session,
 * but only of one that has been open, and has delivered nothing, for this long: enough for an
 * honest peer to be admitted, exchange have-maps and have its first request answered (even over a
 * relay), short enough that throwaway identities cannot keep an honest newcomer out for long.
 */
export const SESSION_EVICT_GRACE_MS = 15_000

/**
 * The admission answer (hello-ack) must come this soon after our hello. An honest responder
 * answers at once (one lookup, one HMAC; a relayed round trip is well under a second); a fake
 * provider that accepts the stream and stays silent then costs a discovery dial slot 5 s, not
 * the whole 10 s handshake deadline.
 */
export const ADMISSION_ANSWER_TIMEOUT_MS = 5_000

/**
 * Discovery back-off for a provider whose dial or admission failed or timed out, remembered for
 * the fetch: 10 s, doubling per failure up to 2 min, so a Sybil set that never admits us stops
 * taking dial slots from providers not yet tried, and a real seeder that was briefly unreachable
 * is still retried within a couple of discovery rounds.
 */
export const DISCOVERY_BACKOFF_MS = 10_000
export const DISCOVERY_BACKOFF_MAX_MS = 120_000
/** Providers waiting for a dial slot, at most: a DHT lookup returns k = 20 per round; the rest of a flood is dropped. */
export const DISCOVERY_MAX_QUEUED = 256
/** Providers whose failures one fetch remembers, at most (oldest forgotten first): a Sybil flood cannot grow it without bound. */
export const DISCOVERY_MAX_REMEMBERED = 1024

/**
 * The networks a node can be on (`--network`, config.json's "network", docs/NETWORK.md):
 * 'local' (the default): the LAN, friends' nodes and whatever the user bootstraps by hand, through
 * Kith's own DHT; 'amino': that too, plus provider records on the public IPFS Amino DHT.
 */
export const NETWORKS = ['local', 'amino'] as const
export type NetworkMode = typeof NETWORKS[number]
export const DEFAULT_NETWORK: NetworkMode = 'local'
/**
 * An Amino provider record is re-provided this often within one epoch (records live 48 h on
 * Amino servers; Kubo re-provides every 22 h). At each epoch rollover the new key is provided at
 * once, whatever this says.
 */
export const AMINO_REPROVIDE_MS = 12 * 60 * 60 * 1000
/** How long after the epoch boundary (UTC midnight) the new epoch key is provided: spreads the load a little. */
export const AMINO_ROLLOVER_DELAY_MS = 60_000
