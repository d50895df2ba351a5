/**
 * The circle protocol's wire messages (docs/PROTOCOL.md §9.4): canonical CBOR maps, bounded. Pure.
 */
import { Fields, decodeCanonicalMap, encodeCanonical } from '../_cbor.js'
import { MAX_MEMBERSHIP_ENTRY_BYTES, MAX_MEMBER_NAME_BYTES } from '../constants.js'
import { MalformedCircleMessageError } from './errors.js'

const enc = new TextEncoder()

/** Largest circle message: a batch of entries. */
export const MAX_CIRCLE_MESSAGE_BYTES = 1024 * 1024
export const MAX_IDS_PER_MESSAGE = 1024

export type CircleMessage =
  | { t: 'hello', circle: Uint8Array, epoch: number, nonce: Uint8Array }
  | { t: 'welcome', nonce: Uint8Array, proof: Uint8Array }
  | { t: 'proof', proof: Uint8Array }
  | { t: 'heads', ids: Uint8Array[] }
  | { t: 'want', ids: Uint8Array[] }
  | { t: 'entries', entries: Uint8Array[] }
  | { t: 'done' }
  | { t: 'join', invite: Uint8Array, nonce: Uint8Array }
  | { t: 'challenge', nonce: Uint8Array, proof: Uint8Array }
  | { t: 'join-proof', proof: Uint8Array, name: string, x: Uint8Array }
  | { t: 'error', reason: string }

export function encodeCircleMessage (m: CircleMessage): Uint8Array {
  const bytes = encodeCanonical(m)
  if (bytes.length > MAX_CIRCLE_MESSAGE_BYTES) throw new RangeError('circle message too large')
  return bytes
}

function ids (f: Fields, key: string): Uint8Array[] {
  return f.array(key, MAX_IDS_PER_MESSAGE).map(x => {
    if (!(x instanceof Uint8Array) || x.length !== 32) throw new MalformedCircleMessageError('ids must be 32 bytes')
    return x
  })
}

export function decodeCircleMessage (bytes: Uint8Array): CircleMessage {
  if (bytes.length > MAX_CIRCLE_MESSAGE_BYTES) throw new MalformedCircleMessageError('circle message too large')
  const f = new Fields(decodeCanonicalMap(bytes, MalformedCircleMessageError, 'circle message'), MalformedCircleMessageError, 'circle message')
  const t = f.string('t')
  switch (t) {
    case 'hello': f.only('t', 'circle', 'epoch', 'nonce'); return { t, circle: f.bytes('circle', { exact: 32 }), epoch: f.uint('epoch', 0xffffffff), nonce: f.bytes('nonce', { exact: 32 }) }
    case 'welcome': f.only('t', 'nonce', 'proof'); return { t, nonce: f.bytes('nonce', { exact: 32 }), proof: f.bytes('proof', { exact: 32 }) }
    case 'proof': f.only('t', 'proof'); return { t, proof: f.bytes('proof', { exact: 32 }) }
    case 'heads': f.only('t', 'ids'); return { t, ids: ids(f, 'ids') }
    case 'want': f.only('t', 'ids'); return { t, ids: ids(f, 'ids') }
    case 'entries': f.only('t', 'entries'); return {
      t,
      entries: f.array('entries', 4096).map(x => {
        if (!(x instanceof Uint8Array) || x.length > MAX_MEMBERSHIP_ENTRY_BYTES) throw new MalformedCircleMessageError('entries must be byte strings within the entry limit')
        return x
      })
    }
    case 'done': f.only('t'); return { t }
    case 'join': f.only('t', 'invite', 'nonce'); return { t, invite: f.bytes('invite', { exact: 32 }), nonce: f.bytes('nonce', { exact: 32 }) }
    case 'challenge': f.only('t', 'nonce', 'proof'); return { t, nonce: f.bytes('nonce', { exact: 32 }), proof: f.bytes('proof', { exact: 32 }) }
    case 'join-proof': {
      f.only('t', 'proof', 'name', 'x')
      const name = f.string('name')
      if (enc.encode(name).length > MAX_MEMBER_NAME_BYTES || /[\u0000-\u001f\u007f]/.test(name)) throw new MalformedCircleMessageError('member name too long or with control characters')
      return { t, proof: f.bytes('proof', { exact: 32 }), name, x: f.bytes('x', { exact: 32 }) }
    }
    case 'error': {
      f.only('t', 'reason')
      return { t, reason: f.string('reason').slice(0, 200) }
    }
    default: throw new MalformedCircleMessageError('unknown circle message type')
  }
}
