import { describe, expect, it } from 'vitest'
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { cidFromDigest } from '../../protocol/cid.js'
import { MAX_ROOT_BYTES } from '../../protocol/constants.js'
import {
  MANIFEST_RECORD_PREFIX, manifestRecordKey, parseManifestRecordKey, selectManifestRecord, validateManifestRecord
} from '../../protocol/dht-record.js'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const value = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff)
const cid = cidFromDigest(sha256(value))
const key = manifestRecordKey(cid)

function keyFor (c: CID): Uint8Array {
  const prefix = utf8(MANIFEST_RECORD_PREFIX)
  const out = new Uint8Array(prefix.length + c.bytes.length)
  out.set(prefix)
  out.set(c.bytes, prefix.length)
  return out
}

function integrityError (fn: () => unknown): void {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  expect(caught).toBeInstanceOf(Error)
  expect((caught as Error).name).toBe('IntegrityError')
}

describe('manifest DHT records', () => {
  it('keys are the prefix followed by the CID bytes, and parse back', () => {
    expect(MANIFEST_RECORD_PREFIX).toBe('/kith-manifest/')
    expect(key).toEqual(keyFor(cid))
    expect(parseManifestRecordKey(key).equals(cid)).toBe(true)
  })

  it('accepts a value that hashes to its key', () => {
    expect(() => { validateManifestRecord(key, value) }).not.toThrow()
    expect(() => { validateManifestRecord(key, new Uint8Array(0)) }).toThrow()
    const empty = new Uint8Array(0)
    expect(() => { validateManifestRecord(manifestRecordKey(cidFromDigest(sha256(empty))), empty) }).not.toThrow()
  })

  it('refuses a value with any single bit flipped', () => {
    for (const i of [0, 1, 499, 999]) {
      for (const bit of [0, 7]) {
        const forged = value.slice()
        forged[i]! ^= 1 << bit
        integrityError(() => { validateManifestRecord(key, forged) })
      }
    }
    integrityError(() => { validateManifestRecord(key, value.subarray(0, 999)) })
  })

  it('refuses a key with another codec or hash function', () => {
    const digest = sha256(value)
    const dagCbor = CID.createV1(0x71, createDigest(0x12, digest))
    const blake = CID.createV1(raw.code, createDigest(0x1e, digest))
    const v0 = CID.createV0(createDigest(0x12, digest))
    for (const c of [dagCbor, blake, v0]) {
      integrityError(() => parseManifestRecordKey(keyFor(c)))
      integrityError(() => { validateManifestRecord(keyFor(c), value) })
      integrityError(() => manifestRecordKey(c))
    }
  })

  it('refuses an oversize value even if it hashes to its key', () => {
    const big = new Uint8Array(MAX_ROOT_BYTES + 1)
    integrityError(() => { validateManifestRecord(manifestRecordKey(cidFromDigest(sha256(big))), big) })
    const max = new Uint8Array(MAX_ROOT_BYTES)
    expect(() => { validateManifestRecord(manifestRecordKey(cidFromDigest(sha256(max))), max) }).not.toThrow()
  })

  it('refuses garbage keys', () => {
    const garbage: Uint8Array[] = [
      new Uint8Array(0),
      utf8(MANIFEST_RECORD_PREFIX),
      utf8('/pk/'),
      concat(utf8('/kith-manifesT/'), cid.bytes),
      concat(utf8('/ipns/'), cid.bytes),
      concat(utf8(MANIFEST_RECORD_PREFIX), cid.bytes.subarray(0, cid.bytes.length - 1)),
      concat(utf8(MANIFEST_RECORD_PREFIX), cid.bytes, Uint8Array.of(0)),
      concat(utf8(MANIFEST_RECORD_PREFIX), Uint8Array.from({ length: 36 }, () => 0xff)),
      concat(utf8(MANIFEST_RECORD_PREFIX.slice(1)), cid.bytes)
    ]
    for (const k of garbage) {
      integrityError(() => parseManifestRecordKey(k))
      integrityError(() => { validateManifestRecord(k, value) })
    }
  })

  it('selects the first record (all valid records are identical)', () => {
    expect(selectManifestRecord(key, [value, value])).toBe(0)
  })
})

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
