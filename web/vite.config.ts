/**
 * Builds the web app into dist/web. Reproducible: no timestamps, content-hashed file names, no
 * source maps; scripts/build-web.ts checks two builds give the same bytes and prints the SHA-256.
 */
import { defineConfig } from 'vite'

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: './',
  // The crypto worker (web/peer/crypto-worker.ts) is an ES module worker, like the app.
  worker: { format: 'es' },
  build: {
    outDir: new URL('../dist/web', import.meta.url).pathname,
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2048
  }
})
