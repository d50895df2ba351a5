/**
 * The STUN Binding responder and client (node/libp2p/stun.ts) on loopback UDP: a Binding request
 * gets the sender's own address back (what ICE uses as its server-reflexive candidate), anything
 * else gets no answer, and one source is answered at most its burst at once.
 */
import { createSocket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bindingResponse, parseBindingRequest, parseBindingResponse, STUN_PER_SOURCE_BURST, StunResponder, stunBinding } from '../../../node/libp2p/stun.js'

describe('STUN responder', () => {
  let responder: StunResponder
  beforeAll(async () => { responder = await StunResponder.listen(0, '127.0.0.1') })
  afterAll(() => { responder.close() })

  it('answers a Binding request with the address it came from', async () => {
    const mapped = await stunBinding('127.0.0.1', responder.port, 2_000)
    expect(mapped?.address).toBe('127.0.0.1')
    expect(mapped?.port).toBeGreaterThan(0)
  })

  it('round-trips XOR-MAPPED-ADDRESS and refuses malformed requests', () => {
    const tx = new Uint8Array(12).fill(7)
    const res = bindingResponse(tx, '11.0.0.10', 4001)
    expect(parseBindingResponse(res, tx)).toEqual({ address: '11.0.0.10', port: 4001 })
    expect(parseBindingResponse(res, new Uint8Array(12))).toBeUndefined()
    const req = new Uint8Array(20)
    new DataView(req.buffer).setUint16(0, 1)
    new DataView(req.buffer).setUint32(4, 0x2112a442)
    expect(parseBindingRequest(req)).toBeDefined()
    expect(parseBindingRequest(req.subarray(0, 19))).toBeUndefined()
    const badCookie = req.slice(); badCookie[4] = 0
    expect(parseBindingRequest(badCookie)).toBeUndefined()
    const badLength = req.slice(); new DataView(badLength.buffer).setUint16(2, 4)
    expect(parseBindingRequest(badLength)).toBeUndefined()
    expect(parseBindingRequest(new Uint8Array(600))).toBeUndefined()
  })

  it('sends nothing back for garbage, and at most its burst to one source at once', async () => {
    const socket = createSocket('udp4')
    let answers = 0
    socket.on('message', () => { answers++ })
    await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', resolve) })
    const garbage = new Uint8Array(64).fill(0xff)
    for (let i = 0; i < 10; i++) socket.send(garbage, responder.port, '127.0.0.1')
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(answers).toBe(0)
    const req = new Uint8Array(20)
    new DataView(req.buffer).setUint16(0, 1)
    new DataView(req.buffer).setUint32(4, 0x2112a442)
    for (let i = 0; i < STUN_PER_SOURCE_BURST * 3; i++) socket.send(req, responder.port, '127.0.0.1')
    await new Promise(resolve => setTimeout(resolve, 500))
    socket.close()
    expect(answers).toBeGreaterThan(0)
    // The burst, plus what refilled while the requests were arriving (20/s).
    expect(answers).toBeLessThanOrEqual(STUN_PER_SOURCE_BURST + 20)
  })
})
