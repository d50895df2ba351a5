/**
 * Share links, i.e. capabilities as text (docs/PROTOCOL.md §6).
 *
 *   kith:<base32(payload)>          base32 = RFC 4648 §6, lowercase, no padding
 *   payload = version(1) ‖ kind(1) ‖ manifest digest(32) ‖ key(32) ‖ hintCount(1) ‖
 *             hintCount × (len(1) ‖ hint) ‖ checksum(4)
 *   checksum = SHA-256(everything before it)[0..4]
 *
 * kind 0x01 = read capability: key is the share's root key (decrypts everything).
 * kind 0x02 = seed-only capability: key is the share's seed key (find, fetch, verify, serve).
 * The manifest ID is CIDv1(raw, sha2-256(digest)); hints are optional seeder multiaddrs (bytes).
 *
 * The same text works as a URL fragment, https://host/#kith:…, so the key never reaches a
 * server (fragments are not sent in HTTP requests). Base32 is case-insensitive, fits QR
 * alphanumeric mode once upper-cased, and has no characters a chat client mangles.
 * A one-line read link without hints is 119 characters.
 *
 * The parser bounds its input (MAX_LINK_CHARS) before doing any work and reports exactly one
 * typed error: NotAKithLinkError, MalformedLinkError, UnsupportedVersionError,
 * TruncatedLinkError or LinkChecksumError. Errors never echo the link (it holds a key).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { cidFromDigest, digestFromCid } from './cid.js'
import { DIGEST_BYTES, FORMAT_VERSION, KEY_BYTES, LABELS, LINK_CHECKSUM_BYTES, LINK_SCHEME, MAX_HINT_BYTES, MAX_LINK_CHARS, MAX_LINK_HINTS } from './constants.js'
import { LinkChecksumError, MalformedLinkError, NotAKithLinkError, TruncatedLinkError, UnsupportedVersionError } from './errors.js'
import { derive, SecretKey } from './keys.js'

export type LinkKind = 'read' | 'seed'

export interface ShareLink {
  readonly kind: LinkKind
  /** CID of the manifest root block. */
  readonly manifest: CID
  /** Root key (read) or seed key (seed). Never printed. */
  readonly key: SecretKey
  /** Seeder address hints: binary multiaddrs, at most MAX_LINK_HINTS of ≤ MAX_HINT_BYTES. */
  readonly hints: readonly Uint8Array[]
}

const KIND_BYTES: Record<LinkKind, number> = { read: 0x01, seed: 0x02 }
const HEADER = 2 + DIGEST_BYTES + KEY_BYTES
const MIN_PAYLOAD = HEADER + 1 + LINK_CHECKSUM_BYTES
const BASE32 = /^[a-z2-7]*$/

function checksum (bytes: Uint8Array): Uint8Array {
  return sha256(bytes).subarray(0, LINK_CHECKSUM_BYTES)
}

/** Formats a capability as a `kith:` link. */
export function formatLink (link: ShareLink): string {
  if (link.hints.length > MAX_LINK_HINTS) throw new RangeError(`a link carries at most ${MAX_LINK_HINTS} hints`)
  let hintBytes = 0
  for (const h of link.hints) {
    if (h.length === 0 || h.length > MAX_HINT_BYTES) throw new RangeError(`a hint must be 1..${MAX_HINT_BYTES} bytes`)
    hintBytes += 1 + h.length
  }
  const payload = new Uint8Array(HEADER + 1 + hintBytes + LINK_CHECKSUM_BYTES)
  payload[0] = FORMAT_VERSION
  payload[1] = KIND_BYTES[link.kind]
  payload.set(digestFromCid(link.manifest), 2)
  payload.set(link.key.bytes, 2 + DIGEST_BYTES)
  let at = HEADER
  payload[at++] = link.hints.length
  for (const h of link.hints) {
    payload[at++] = h.length
    payload.set(h, at)
    at += h.length
  }
  payload.set(checksum(payload.subarray(0, at)), at)
  return LINK_SCHEME + base32.baseEncode(payload)
}

/**
 * The seed-only capability for a share: the same manifest and hints, with the seed key in place of
 * the root key (docs/PROTOCOL.md §1). Whoever holds it can find, fetch, verify and serve the share's
 * ciphertext, but not decrypt it or read its names (HKDF is one-way). A seed-only link is returned
 * as it is.
 */
export function seedOnlyLink (link: ShareLink): ShareLink {
  if (link.kind === 'seed') return link
  const seed = derive(link.key.bytes, LABELS.seed)
  try {
    return { kind: 'seed', manifest: link.manifest, key: new SecretKey(seed), hints: link.hints }
  } finally {
    seed.fill(0)
  }
}

/** Takes the `kith:` part of a link, of a URL whose fragment holds one, or throws. */
function extractLinkText (input: string): string {
  const text = input.trim()
  const hash = text.indexOf('#')
  const candidate = hash >= 0 && /^https?:\/\//i.test(text) ? text.slice(hash + 1) : text
  if (candidate.slice(0, LINK_SCHEME.length).toLowerCase() !== LINK_SCHEME) throw new NotAKithLinkError()
  return candidate.slice(LINK_SCHEME.length)
}

/**
 * The manifest ID (CID string) named by a `kith:` link or given as is, as `kith unshare` and the
 * API take either. A link gets parseLink's typed errors; anything that is neither a link nor a
 * CID is a NotAKithLinkError. Never echoes its input (a link holds a key).
 *
 * @example manifestIdOf('kith:aeaq…') === manifestIdOf('bafkrei…')
 */
export function manifestIdOf (linkOrManifest: string): string {
  const text = linkOrManifest.trim()
  if (text.length > MAX_LINK_CHARS) throw new NotAKithLinkError('not a kith link or manifest ID')
  if (text.toLowerCase().includes(LINK_SCHEME)) return parseLink(text).manifest.toString()
  try {
    return CID.parse(text).toString()
  } catch {
    throw new NotAKithLinkError('not a kith link or manifest ID')
  }
}

/** Parses a `kith:` link (or `http(s)://…/#kith:…`). Throws one typed error saying what is wrong. */
export function parseLink (input: string): ShareLink {
  if (typeof input !== 'string') throw new NotAKithLinkError('not a kith link: not text')
  if (input.length > MAX_LINK_CHARS) throw new MalformedLinkError(`malformed link: longer than ${MAX_LINK_CHARS} characters`)
  const body = extractLinkText(input).toLowerCase()
  if (body.length === 0) throw new TruncatedLinkError()
  if (!BASE32.test(body)) throw new MalformedLinkError('malformed link: it contains characters that are not in a kith link (a–z, 2–7)')
  let payload: Uint8Array
  try {
    payload = base32.baseDecode(body)
  } catch (err) {
    // Every character is in the alphabet, so the only failure left is a cut-off final group.
    throw new TruncatedLinkError(undefined, { cause: err })
  }
  if (payload.length < 1) throw new TruncatedLinkError()
  const version = payload[0] as number
  if (version !== FORMAT_VERSION) throw new UnsupportedVersionError(version, 'link')
  if (payload.length < MIN_PAYLOAD) throw new TruncatedLinkError()

  // Walk the hint list to learn the expected length before checking the checksum, so a cut
  // link says "truncated" rather than "bad checksum".
  const hintCount = payload[HEADER] as number
  let at = HEADER + 1
  const spans: Array<[number, number]> = []
  for (let i = 0; i < hintCount && i <= MAX_LINK_HINTS; i++) {
    if (at >= payload.length - LINK_CHECKSUM_BYTES) throw new TruncatedLinkError()
    const len = payload[at] as number
    spans.push([at + 1, at + 1 + len])
    at += 1 + len
  }
  if (at + LINK_CHECKSUM_BYTES > payload.length) throw new TruncatedLinkError()
  if (at + LINK_CHECKSUM_BYTES < payload.length) {
    // Extra bytes: either damage (checksum says so) or a malformed hint list.
    if (!checksumMatches(payload)) throw new LinkChecksumError()
    throw new MalformedLinkError('malformed link: unexpected bytes after the hints')
  }
  if (!checksumMatches(payload)) throw new LinkChecksumError()

  const kindByte = payload[1]
  const kind = kindByte === 0x01 ? 'read' : kindByte === 0x02 ? 'seed' : undefined
  if (kind === undefined) throw new MalformedLinkError('malformed link: unknown capability kind')
  if (hintCount > MAX_LINK_HINTS) throw new MalformedLinkError(`malformed link: more than ${MAX_LINK_HINTS} hints`)
  const hints = spans.map(([from, to]) => {
    if (to - from === 0 || to - from > MAX_HINT_BYTES) throw new MalformedLinkError('malformed link: bad hint length')
    return payload.slice(from, to)
  })
  return {
    kind,
    manifest: cidFromDigest(payload.subarray(2, 2 + DIGEST_BYTES)),
    key: new SecretKey(payload.subarray(2 + DIGEST_BYTES, HEADER)),
    hints
  }
}

function checksumMatches (payload: Uint8Array): boolean {
  const end = payload.length - LINK_CHECKSUM_BYTES
  const want = checksum(payload.subarray(0, end))
  for (let i = 0; i < LINK_CHECKSUM_BYTES; i++) if (want[i] !== payload[end + i]) return false
  return true
}
