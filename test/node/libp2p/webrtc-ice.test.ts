/**
 * The STUN server choice for WebRTC (node/libp2p/webrtc.ts's iceServers), on loopback UDP: the
 * first candidate in order that answers is handed to ICE, and a later candidate that never
 * answers (a bootstrap peer running no STUN responder, e.g. a Helia node) does not hold the
 * choice up until its probe times out. Timers are faked: the silent probe can only end when its
 * timeout fires, which never happens here, so the choice must come from the answering one alone.
 */
import { createSocket, type Socket } from 'node:dgram'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { StunResponder } from '../../../node/libp2p/stun.js'
import { iceServers } from '../../../node/libp2p/webrtc.js'

describe('iceServers: which STUN server ICE gets', () => {
  let responder: StunResponder
  let silent: Socket
  let silentPort = 0
  let silentRequests = 0
  beforeAll(async () => {
    responder = await StunResponder.listen(0, '127.0.0.1')
    silent = createSocket('udp4')
    silent.on('message', () => { silentRequests++ })
    await new Promise<void>(resolve => { silent.bind(0, '127.0.0.1', resolve) })
    silentPort = silent.address().port
  })
  afterAll(() => { responder.close(); silent.close() })
  afterEach(() => { vi.useRealTimers() })

  it('takes the first configured server that answers, without waiting for a silent one after it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const choose = iceServers({ stun: [`127.0.0.1:${responder.port}`, `127.0.0.1:${silentPort}`], bootstrap: [], node: () => undefined })
    const config = await choose()
    expect(config.iceServers).toEqual([{ urls: [`stun:127.0.0.1:${responder.port}`] }])
    expect(silentRequests).toBeGreaterThan(0) // it was asked too, and has not answered
  }, 10_000) // without the early choice this waits forever (the silent probe's timer never fires)

  it('passes over a silent server before an answering one (once the silent probe timed out)', async () => {
    const choose = iceServers({ stun: [`127.0.0.1:${silentPort}`, `127.0.0.1:${responder.port}`], bootstrap: [], node: () => undefined })
    const config = await choose()
    expect(config.iceServers).toEqual([{ urls: [`stun:127.0.0.1:${responder.port}`] }])
  })

  it('with no candidate at all, gives ICE no server (never a third party\'s)', async () => {
    expect((await iceServers({ stun: [], bootstrap: [], node: () => undefined })()).iceServers).toEqual([])
  })
})
