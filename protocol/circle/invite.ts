/**
 * Circle invite codes and invite proofs (docs/PROTOCOL.md §9.3). Pure.
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { base32 } from 'multiformats/bases/base32'
import { concatBytes, constantTimeEqual } from '../bytes.js'
import { KEY_BYTES } from '../constants.js'
import { derive } from '../keys.js'
import { InviteCodeError } from './errors.js'

export const INVITE_SCHEME = 'kith-invite:'
export const MAX_INVITE_CHARS = 1024
const INVITE_VERSION = 1
const enc = new TextEncoder()

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const LABELS = Object.freeze({ inviteAccess: 'kith/v1/circle/invite-access', inviteId: 'kith/v1/circle/invite-id' })

/**
 * An invite code (text): `kith-invite:` + base32(payload), payload =
 *   version(1) ‖ circle(32) ‖ inviter Ed25519 key(32) ‖ secret(32) ‖ expires (u32, s since 1970) ‖
 *   hintCount(1) ‖ hintCount × (len(1) ‖ multiaddr bytes) ‖ checksum(4) = SHA-256(before)[0..4]
 * The inviter keeps only `inviteId(secret)` and the expiry it chose; the code's expiry is a
 * courtesy to the joiner, the inviter's own record is what counts.
 */
export interface Invite { circle: Uint8Array, inviter: Uint8Array, secret: Uint8Array, expires: number, hints: Uint8Array[] }

export function inviteId (secret: Uint8Array): Uint8Array { return derive(secret, LABELS.inviteId) }
export function inviteAccessKey (secret: Uint8Array): Uint8Array { return derive(secret, LABELS.inviteAccess) }

export function formatInvite (inv: Invite): string {
  const hints = inv.hints.slice(0, 4).filter(h => h.length > 0 && h.length <= 200)
  const parts: Uint8Array[] = [new Uint8Array([INVITE_VERSION]), inv.circle, inv.inviter, inv.secret, u32(inv.expires), new Uint8Array([hints.length])]
  for (const h of hints) parts.push(new Uint8Array([h.length]), h)
  const body = concatBytes(...parts)
  return INVITE_SCHEME + base32.baseEncode(concatBytes(body, sha256(body).subarray(0, 4)))
}

export function parseInvite (input: string): Invite {
  if (typeof input !== 'string' || input.length > MAX_INVITE_CHARS) throw new InviteCodeError()
  const text = input.trim()
  const at = text.toLowerCase().indexOf(INVITE_SCHEME)
  if (at < 0) throw new InviteCodeError('not a kith invite code (it starts with kith-invite:)')
  let bytes: Uint8Array
  try {
    bytes = base32.baseDecode(text.slice(at + INVITE_SCHEME.length).toLowerCase())
  } catch (err) {
    throw new InviteCodeError('the invite code is mistyped (not base32)', { cause: err })
  }
  if (bytes.length < 1 + 96 + 4 + 1 + 4) throw new InviteCodeError('the invite code is cut short')
  const body = bytes.subarray(0, bytes.length - 4)
  if (!constantTimeEqual(sha256(body).subarray(0, 4), bytes.subarray(bytes.length - 4))) throw new InviteCodeError('the invite code is mistyped or tampered with (checksum mismatch)')
  if (body[0] !== INVITE_VERSION) throw new InviteCodeError('unsupported invite version')
  const circle = body.slice(1, 33)
  const inviter = body.slice(33, 65)
  const secret = body.slice(65, 97)
  const expires = new DataView(body.buffer, body.byteOffset + 97, 4).getUint32(0)
  const count = body[101] as number
  const hints: Uint8Array[] = []
  let p = 102
  for (let i = 0; i < count; i++) {
    const len = body[p]
    if (len === undefined || len === 0 || p + 1 + len > body.length) throw new InviteCodeError('the invite code is malformed')
    hints.push(body.slice(p + 1, p + 1 + len))
    p += 1 + len
  }
  if (count > 4 || p !== body.length) throw new InviteCodeError('the invite code is malformed')
  return { circle, inviter, secret, expires, hints }
}

/**
 * A joiner's (or inviter's) proof of an invite, bound to both peers and both nonces: HMAC under
 * the invite's access key (`inviteAccessKey(secret)`; the inviter stores only that key).
 */
export function inviteProof (access: Uint8Array, role: 'joiner' | 'inviter', joiner: Uint8Array, inviter: Uint8Array, nonceJ: Uint8Array, nonceI: Uint8Array): Uint8Array {
  if (access.length !== KEY_BYTES) throw new RangeError('invite access key must be 32 bytes')
  return hmac(sha256, access, concatBytes(enc.encode(`kith/v1/circle/invite/${role}`), new Uint8Array([0]), joiner, inviter, nonceJ, nonceI))
}
