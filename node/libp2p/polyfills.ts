/**
 * Node 20 compatibility for js-libp2p v3.
 *
 * js-libp2p v3 targets Node 22 and uses two APIs Node 20 lacks: `Promise.withResolvers`
 * (ES2024) and a global `WebSocket` (the WHATWG client, global from Node 22). Kith supports
 * Node >= 20.10, so every node/ entry point imports this module first. It only fills a gap: on
 * Node 22+ both exist and nothing here runs. Decision recorded in docs/RUNTIME.md.
 */
import { WebSocket as WsWebSocket } from 'ws'

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
      return { promise, resolve, reject }
    }
  })
}

/**
 * `ws`'s client with the WHATWG error semantics. `ws` implements the same event-target API
 * (binaryType, send, close, onmessage), but it is an EventEmitter: an 'error' nobody listens to
 * is thrown, and @libp2p/websockets removes its listeners when a dial is aborted and then calls
 * close(), whose "closed before the connection was established" error (or the 503 of a peer that
 * is shutting down) then ended the process as an uncaught exception (`kith seed` exited 1 on
 * SIGTERM in the long crash run). In a browser and on Node 22 an error event never throws: here
 * one listener that does nothing makes it so; listeners added with addEventListener still run.
 */
export class NodeWebSocket extends WsWebSocket {
  constructor (...args: ConstructorParameters<typeof WsWebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

const G = globalThis as unknown as { WebSocket?: unknown }
if (typeof G.WebSocket !== 'function') G.WebSocket = NodeWebSocket
