/**
 * Kith protocol core: pure TypeScript, no I/O, no platform APIs. Runs unchanged in Node and in
 * the browser. node/ and web/ import from here; nothing here imports from them.
 */
export * from './constants.js'
export * from './errors.js'
export * from './crypto.js'
export * from './keys.js'
export * from './stream.js'
export * from './chunker.js'
export * from './cid.js'
export * from './paths.js'
export * from './manifest-tree.js'
export * from './manifest.js'
export * from './link.js'
export * from './bitfield.js'
export * from './admission.js'
export * from './messages.js'
export * from './dht-record.js'
export * from './amino-key.js'
