// The only platform globals protocol/ may use. Both exist, with these semantics, in Node >= 11,
// every browser, Deno and workers (WHATWG Encoding Standard). Anything else (timers, crypto,
// fetch, fs, DOM) must come in as a parameter, so protocol/ stays pure and tests stay deterministic.
declare class TextEncoder {
  encode (input?: string): Uint8Array
}
declare class TextDecoder {
  constructor (label?: string, options?: { fatal?: boolean, ignoreBOM?: boolean })
  decode (input?: Uint8Array): string
}
