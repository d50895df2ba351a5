/**
 * Defaults for the Node runtime, each with its reason. Protocol constants live in
 * protocol/constants.ts; these are local policy and may change without a format version.
 */

/** Kith's own DHT protocol: never the public IPFS DHT (/ipfs/kad/1.0.0). */
export const KITH_DHT_PROTOCOL = '/kith/kad/1.0.0'

/** Default listen addresses: TCP and WebSockets (browsers dial the latter) on all interfaces. */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws']

/** Local API and web UI: loopback only (Syncthing uses 8384; 5870 is unassigned by IANA). */
export const DEFAULT_API = '127.0.0.1:5870'

/** Connection manager: enough for a DHT routing table (k=20 × a few buckets) plus swarms. */
export const MAX_CONNECTIONS = 300
/** Handshakes in progress at once from unknown peers: bounds memory under a connection flood. */
export const MAX_INCOMING_PENDING = 20
/** New inbound connections per second from one host before it is refused. */
export const INBOUND_CONNECTION_THRESHOLD = 10
/** Dials in flight at once. */
export const MAX_PARALLEL_DIALS = 50
/** How long one dial may take. */
export const DIAL_TIMEOUT_MS = 10_000

/**
 * Yamux per-stream receive window. The default (256 KiB) caps one stream at window/RTT; a
 * 1 MiB chunk then needs several round trips of window updates. 16 MiB lets a pipelined
 * download keep the link full; memory is bounded by the swarm's request window anyway.
 */
export const YAMUX_MAX_STREAM_WINDOW = 16 * 1024 * 1024

/** Circuit relay v2 server: reservations for browser nodes, bounded. */
export const RELAY_MAX_RESERVATIONS = 128

/** Bootstrap dial attempts and spacing. */
export const BOOTSTRAP_ATTEMPTS = 5
export const BOOTSTRAP_RETRY_MS = 2_000
