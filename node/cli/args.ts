/**
 * The command line: every command, its options and positionals (and their help text), parsed
 * with node:util parseArgs (strict, positionals allowed). Global options may come before or after
 * the command name: the line is parsed once against every option any command knows, then each
 * option actually given is checked against the chosen command.
 */
import { parseArgs } from 'node:util'
import { checkChunkSize } from '../../protocol/chunker.js'
import { UsageError } from './errors.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Placeholder in help, e.g. "<dir>". */
  arg?: string
  help: string
}

export interface CommandSpec {
  name: string
  summary: string
  /** Positional arguments, in order. */
  args: Array<{ name: string, required: boolean }>
  options: Record<string, OptionSpec>
  /** Longer description for `kith help <command>`. */
  description: string[]
  examples: string[]
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  repo: { type: 'string', arg: '<dir>', help: 'repo directory (default $KITH_REPO or ~/.kith)' },
  json: { type: 'boolean', help: 'print exactly one JSON object on stdout (errors too)' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
  version: { type: 'boolean', help: 'print the version' }
}

const listen: OptionSpec = { type: 'string', multiple: true, arg: '<multiaddr>', help: 'listen on this address (repeatable; default from the repo config)' }
const announce: OptionSpec = { type: 'string', multiple: true, arg: '<multiaddr>', help: 'also announce this address to peers and in links, e.g. a router\'s public address with a forwarded port, /ip4/203.0.113.7/tcp/4001 (repeatable; default from the repo config\'s "announce")' }
const network: OptionSpec = { type: 'string', arg: '<local|amino>', help: 'which network to join: local (the LAN and friends\' nodes, the default) or amino (also the public IPFS Amino DHT, so friends anywhere find this node; docs/NETWORK.md). Default from the repo config\'s "network"' }
const stun: OptionSpec = { type: 'string', multiple: true, arg: '<host:port>', help: 'STUN server for WebRTC hole punching (repeatable; default from the repo config\'s "stun"; without one, friends\' public Kith nodes answer STUN, never a third party\'s server)' }
const upnp: OptionSpec = { type: 'boolean', help: 'ask the home router (UPnP or NAT-PMP) to forward this node\'s TCP port, so friends dial it directly; off by default because it tells the router, and through the announced address every peer, your home\'s public IP (docs/NETWORK.md, UPnP). Default from the repo config\'s "upnp"' }
const bootstrap: OptionSpec = { type: 'string', multiple: true, arg: '<multiaddr>', help: 'connect to this peer first, e.g. /ip4/1.2.3.4/tcp/4001/p2p/12D3… (repeatable; default from the repo config)' }

export const COMMANDS: CommandSpec[] = [
  {
    name: 'init',
    summary: 'create the repo and this node\'s identity (idempotent)',
    args: [],
    options: {
      passphrase: { type: 'boolean', help: 'seal the repo\'s keys with a passphrase (asked twice on a terminal, or $KITH_PASSPHRASE); also seals an existing repo' },
      network: { ...network, help: 'set the repo config\'s "network": local (the default) or amino (the public IPFS Amino DHT; docs/NETWORK.md)' },
      upnp: { ...upnp, help: 'set the repo config\'s "upnp" to true: ask the home router (UPnP or NAT-PMP) to forward the TCP port; it tells the router, and every peer, your home\'s public IP (docs/NETWORK.md; turn it off in Settings or config.json)' }
    },
    description: [
      'Creates the repo (default ~/.kith) with a new Ed25519 identity, an API token and the default',
      'config. Running it again changes nothing. `kith daemon`, `kith share`, `kith get`, `kith seed` and',
      '`kith circle create`/`join` create the repo themselves if it is missing, so this step is optional.',
      '`--network amino` puts the node on the public network from then on (also on an existing repo);',
      '`--upnp` has it ask the home router to forward its TCP port from then on.'
    ],
    examples: ['kith init', 'kith init --network amino', 'kith init --upnp', 'kith init --passphrase', 'KITH_PASSPHRASE=… kith init --passphrase --repo /srv/kith --json']
  },
  {
    name: 'daemon',
    summary: 'run a node until Ctrl-C; serves the local API',
    args: [],
    options: {
      listen,
      announce,
      bootstrap,
      network,
      stun,
      upnp,
      api: { type: 'string', arg: '<host:port>', help: 'local API address, loopback only (default from the repo config, 127.0.0.1:5870; port 0 picks a free port)' }
    },
    description: [
      'Runs this repo\'s node in the foreground until SIGINT or SIGTERM: it keeps seeding every share',
      'in the repo, and serves the local HTTP API (docs/API.md) on a loopback address. While it runs,',
      'the other commands work through it. Creates the repo if missing. Prints the peer ID, the',
      'addresses it announces, the API URL and the web UI URL (with --json: one line',
      '{"peerId","addrs","api","ui"}). A public address it listens on is announced at once; add others',
      '(a forwarded port on a home router, say) with --announce or "announce" in the repo config.',
      'With --upnp (or "upnp": true) it asks the home router to forward its TCP port (UPnP or NAT-PMP) and',
      'announces the router\'s public address: your home\'s public IP, to every peer. Off by default.'
    ],
    examples: [
      'kith daemon',
      'kith daemon --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /dns4/friend.example/tcp/4001/p2p/12D3…',
      'kith daemon --listen /ip4/0.0.0.0/tcp/4001 --announce /ip4/203.0.113.7/tcp/4001',
      'kith daemon --network amino',
      'kith daemon --upnp',
      'kith daemon --api 127.0.0.1:0 --json'
    ]
  },
  {
    name: 'share',
    summary: 'share a file or folder; prints its link',
    args: [{ name: 'path', required: true }],
    options: {
      'chunk-size': { type: 'string', arg: '<bytes>', help: 'chunk size: bytes or with a K/M suffix, a power of two from 64K to 8M (default 1M)' },
      circle: { type: 'string', arg: '<name>', help: 'also post the link into this circle\'s feed (encrypted under the circle key)' },
      listen,
      announce,
      bootstrap,
      network,
      stun,
      upnp
    },
    description: [
      'Chunks, encrypts and publishes the file or folder, and prints its link (and a QR code on a',
      'terminal). With a daemon running for the repo, the daemon takes the share over and keeps',
      'seeding it, and the command returns. Without one, this command runs a node itself and seeds in',
      'the foreground until Ctrl-C. Anyone with the link can download and decrypt the share.'
    ],
    examples: ['kith share ~/Videos/holiday.mp4', 'kith share ~/Videos/holiday.mp4 --network amino', 'kith share ./album --chunk-size 4M', 'kith share report.pdf --json', 'kith share ./photos --circle friends']
  },
  {
    name: 'get',
    summary: 'download a share by its link',
    args: [{ name: 'link', required: true }],
    options: {
      output: { type: 'string', short: 'o', arg: '<dir>', help: 'download into this folder (default: the current folder)' },
      timeout: { type: 'string', arg: '<seconds>', help: 'give up when no peer makes progress for this long (default 60)' },
      bootstrap,
      listen: { ...listen, help: 'listen address of the temporary node (default /ip4/127.0.0.1/tcp/0)' },
      announce,
      network,
      stun,
      upnp
    },
    description: [
      'Finds seeders, downloads from all of them at once, verifies every chunk, and writes',
      '<dir>/<name> once every byte checked out. Run it again after an interruption to resume.',
      'Uses the daemon when one runs for the repo (it then keeps seeding the download); otherwise',
      'runs a temporary node. Shows a progress bar on a terminal. Quote the link in your shell.'
    ],
    examples: ['kith get \'kith:aea2b…\'', 'kith get \'kith:aea2b…\' --network amino', 'kith get \'kith:aea2b…\' -o ~/Downloads --timeout 300', 'kith get \'kith:aea2b…\' --json']
  },
  {
    name: 'seed',
    summary: 'keep a share available without being able to read it (blind seeding)',
    args: [{ name: 'link', required: true }],
    options: {
      timeout: { type: 'string', arg: '<seconds>', help: 'give up when no peer makes progress for this long (default 60)' },
      bootstrap,
      listen: { ...listen, help: 'listen address when no daemon runs (default from the repo config)' },
      announce,
      network,
      stun,
      upnp
    },
    description: [
      'Fetches every encrypted chunk of a share into the repo, checking each against the manifest,',
      'and serves them to the share\'s other peers. Give it a seed-only link (`kith seed-link`): it',
      'holds no key that decrypts the files or their names. A read link is turned into its seed-only',
      'form first, and only that form is used and kept. With a daemon running for the repo, the',
      'daemon fetches and keeps seeding (also after a restart); without one, this command seeds in',
      'the foreground until Ctrl-C. `kith unshare` stops it and deletes the ciphertext.'
    ],
    examples: ['kith seed \'kith:aebk…\'', 'kith seed \'kith:aebk…\' --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3… --json']
  },
  {
    name: 'seed-link',
    summary: 'print the seed-only link of a share (to give to a blind seeder)',
    args: [{ name: 'link', required: true }],
    options: {},
    description: [
      'Prints the seed-only form of a read link: the same share and address hints, but a key that',
      'can only find, fetch, verify and serve its ciphertext. Give it to someone who keeps your share',
      'online (`kith seed`) without letting them read it. Works offline; needs no repo.'
    ],
    examples: ['kith seed-link \'kith:aea2b…\'', 'kith seed-link \'kith:aea2b…\' --json']
  },
  {
    name: 'ls',
    summary: 'list shares (name, size, role, peers, link)',
    args: [],
    options: {},
    description: [
      'Lists the repo\'s shares: published ones, completed downloads, and blind seeds (`kith seed`; shown as',
      '"(encrypted: blind seed)" with their size in ciphertext, since this node cannot read their names).',
      'Live peer counts need a daemon.'
    ],
    examples: ['kith ls', 'kith ls --json']
  },
  {
    name: 'unshare',
    summary: 'stop sharing a share and forget it (files stay on disk)',
    args: [{ name: 'link', required: true }],
    options: {},
    description: [
      'Stops serving the share and removes it from the repo. Takes the link (read or seed-only) or its manifest',
      'ID (from `kith ls --json`). Your files stay on disk; a blind seed\'s ciphertext is deleted.'
    ],
    examples: ['kith unshare \'kith:aea2b…\'']
  },
  {
    name: 'peers',
    summary: 'list connected peers and how they are connected (needs a daemon)',
    args: [],
    options: {},
    description: ['Lists the daemon\'s connections: peer ID, connection type (tcp, websocket, webrtc, webrtc-direct, relayed) and swarm sessions.'],
    examples: ['kith peers', 'kith peers --json']
  },
  {
    name: 'status',
    summary: 'show the daemon\'s peer ID, addresses, connections and shares (needs a daemon)',
    args: [],
    options: {},
    description: ['Shows the running daemon\'s peer ID, listen addresses, API URL and counts.'],
    examples: ['kith status', 'kith status --json']
  },
  {
    name: 'circle',
    summary: 'friend circles: create, invite, join, ls, members, feed, remove, auto-fetch',
    args: [{ name: 'subcommand', required: true }, { name: 'name|code', required: false }, { name: 'peerId|dir', required: false }],
    options: {
      ttl: { type: 'string', arg: '<duration>', help: 'invite: how long the code stays valid, e.g. 30m, 24h, 7d (default 24h, at most 30d)' },
      name: { type: 'string', arg: '<name>', help: 'create/join: the name other members see for you (default: your login name)' },
      bootstrap,
      listen: { ...listen, help: 'join without a daemon: listen address of the temporary node' }
    },
    description: [
      'A circle is a small group sharing among itself: members see each other\'s shares in the circle',
      'feed. Subcommands:',
      '  create <name>             a new circle (you are its admin)',
      '  invite <name> [--ttl 24h] a one-time invite code to send to one person out-of-band (admin)',
      '  join <code>               join with an invite code (its maker must be online)',
      '  ls                        the circles you are in',
      '  members <name>            peer IDs, names, online or not',
      '  feed <name>               shares posted in the circle (name, size, author, time, link)',
      '  remove <name> <peerId>    remove a member and rotate the circle key (admin)',
      '  auto-fetch <name> <dir|off>  download new posts into <dir> in the background (daemon)',
      'Post with `kith share <path> --circle <name>`; fetch a post with `kith get <link>`. Through the',
      'daemon when one runs (it keeps members in sync); without one, changes are kept in the repo and',
      'reach the other members when your daemon next runs.'
    ],
    examples: [
      'kith circle create friends',
      'kith circle invite friends --ttl 2h',
      'kith circle join kith-invite:aeb4…',
      'kith circle feed friends --json',
      'kith circle remove friends 12D3KooW…'
    ]
  },
  {
    name: 'help',
    summary: 'show help for a command',
    args: [{ name: 'command', required: false }],
    options: {},
    description: ['Shows help for a command; without one, the overview.'],
    examples: ['kith help get']
  }
]

export function commandSpec (name: string): CommandSpec | undefined {
  return COMMANDS.find(c => c.name === name)
}

/** Every option any command knows: one parse finds the command wherever the globals are. */
function allOptions (): Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }> {
  const all: Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }> = {}
  for (const [name, o] of [...Object.entries(GLOBAL_OPTIONS), ...COMMANDS.flatMap(c => Object.entries(c.options))]) {
    all[name] = { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), ...(o.multiple === true ? { multiple: true } : {}) }
  }
  return all
}

export interface Flags {
  repo?: string
  json?: boolean
  help?: boolean
  version?: boolean
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  network?: string
  stun?: string[]
  upnp?: boolean
  api?: string
  'chunk-size'?: string
  output?: string
  timeout?: string
  circle?: string
  passphrase?: boolean
  ttl?: string
  name?: string
}

export interface CommandLine {
  /** Undefined when no command was given (then --help/--version may still be set). */
  command: CommandSpec | undefined
  args: string[]
  flags: Flags
}

/** True if `--json` appears before any `--`: lets a usage error be reported as JSON too. */
export function wantsJson (argv: string[]): boolean {
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}

export function parseCommandLine (argv: string[]): CommandLine {
  let parsed: ReturnType<typeof parseArgs<{ options: ReturnType<typeof allOptions>, allowPositionals: true, strict: true, tokens: true, args: string[] }>>
  try {
    parsed = parseArgs({ args: argv, options: allOptions(), allowPositionals: true, strict: true, tokens: true })
  } catch (err) {
    throw new UsageError(usageMessage(err))
  }
  const [name, ...args] = parsed.positionals
  const flags = parsed.values as Flags
  if (name === undefined) return { command: undefined, args: [], flags }
  const command = commandSpec(name)
  if (command === undefined) throw new UsageError(`unknown command "${name}"`)
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue
    if (GLOBAL_OPTIONS[t.name] === undefined && command.options[t.name] === undefined) {
      throw new UsageError(`\`kith ${command.name}\` has no option ${t.rawName}`, command.name)
    }
  }
  if (flags.help !== true && flags.version !== true) {
    const required = command.args.filter(a => a.required).length
    if (args.length < required) throw new UsageError(`missing <${command.args[args.length]?.name ?? 'argument'}>`, command.name)
    if (args.length > command.args.length) throw new UsageError(`unexpected argument "${truncate(args[command.args.length] ?? '')}"`, command.name)
  }
  return { command, args, flags }
}

function truncate (s: string): string {
  // Never echo a whole link back (it holds a key).
  return s.toLowerCase().includes('kith:') ? 'kith:…' : s.length > 40 ? s.slice(0, 40) + '…' : s
}

/** parseArgs' messages, shortened to one line without its advice about "--". */
function usageMessage (err: unknown): string {
  const e = err as { code?: string, message?: string }
  const message = (e.message ?? String(err)).split('\n')[0] ?? ''
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(message)
    return `unknown option ${m?.[1] ?? ''}`.trim()
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '(?:-\w, )?(--[\w-]+)/.exec(message)
    if (message.includes('argument missing')) return `option ${m?.[1] ?? ''} needs a value`
    if (message.includes('does not take an argument')) return `option ${m?.[1] ?? ''} takes no value`
    if (message.includes('ambiguous')) return `option ${m?.[1] ?? ''} needs a value (values starting with "-" must be written --option=value)`
  }
  return message.replace(/\. To specify.*$/, '').replace(/^./, c => c.toLowerCase())
}

// --- argument values --------------------------------------------------------------------------------

/** `--chunk-size`: bytes, or with a K/M suffix (binary). */
export function parseSize (text: string, option: string, command: string): number {
  const m = /^(\d+)\s*([kKmM](?:i?[bB])?)?$/.exec(text.trim())
  if (m === null) throw new UsageError(`--${option} must be a number of bytes, e.g. 1048576 or 1M`, command)
  const unit = (m[2] ?? '').toLowerCase()
  const n = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1)
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${option} must be a positive size`, command)
  return n
}

/** `--chunk-size`: a size the protocol accepts (a power of two, 64 KiB..8 MiB). */
export function parseChunkSize (text: string, command: string): number {
  const n = parseSize(text, 'chunk-size', command)
  try {
    checkChunkSize(n)
  } catch (err) {
    throw new UsageError(`--chunk-size: ${(err as Error).message}`, command)
  }
  return n
}

/** `--timeout`: positive seconds (fractions allowed). */
export function parseSeconds (text: string, option: string, command: string): number {
  const n = Number(text.trim())
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 7 * 24 * 3600) throw new UsageError(`--${option} must be a positive number of seconds`, command)
  return n
}

/** `--ttl`: a duration like 90s, 30m, 24h or 7d (a bare number is seconds). */
export function parseDuration (text: string, option: string, command: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(text.trim())
  if (m === null) throw new UsageError(`--${option} must be a duration such as 30m, 24h or 7d`, command)
  const n = Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']) * 1000
  if (!Number.isFinite(n) || n < 1000) throw new UsageError(`--${option} must be at least one second`, command)
  return n
}
