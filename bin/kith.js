#!/usr/bin/env node
// The `kith` command: runs the built CLI (npm run build → dist/). See docs/CLI.md.
let cli
try {
  cli = await import('../dist/node/cli/main.js')
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/node/cli/main.js')) {
    process.stderr.write('kith: not built yet: run `npm run build` in the kith folder first\n')
    process.exit(1)
  }
  throw err
}
const code = await cli.run(process.argv.slice(2))
process.exit(code)
