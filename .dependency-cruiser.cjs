/**
 * Kith's layer rules (docs/ARCHITECTURE.md), checked by `npm run lint:deps` as part of `npm test`.
 *
 *   protocol/         pure formats and crypto: imports nothing else of the repo
 *   node/engine/      the platform-neutral peer engine: protocol/ and itself only
 *   node/*            the Node host (repo, download target, API, libp2p assembly, CLI)
 *   web/              the browser host: protocol/, node/engine/, and types from node/api/schema.ts
 *
 * Type-only imports count (tsPreCompilationDeps): a cycle of types is still a cycle.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'protocol-is-pure',
      comment: 'protocol/ imports nothing else of the repo, no Node built-in and no libp2p (GUIDE: bytes in, bytes out).',
      severity: 'error',
      from: { path: '^protocol/' },
      to: {
        pathNot: '^protocol/',
        dependencyTypesNot: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown']
      }
    },
    {
      name: 'protocol-no-platform-packages',
      comment: 'protocol/ uses only its crypto and codec packages: no Node built-ins, no libp2p.',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(node:|@libp2p/|libp2p|@chainsafe/|ws$|blockstore-|datastore-)' }
    },
    {
      name: 'engine-imports-protocol-and-itself',
      comment: 'node/engine/ runs in Node and in the browser: it imports protocol/ and itself only.',
      severity: 'error',
      from: { path: '^node/engine/' },
      to: { path: '^(node|web|test|scripts|bin)/', pathNot: '^node/engine/' }
    },
    {
      name: 'engine-no-node-builtins',
      comment: 'No Node API in the engine (its tsconfig has no Node types either).',
      severity: 'error',
      from: { path: '^(node/engine|protocol)/' },
      to: { dependencyTypes: ['core'] }
    },
    {
      name: 'web-imports-protocol-engine-and-api-types',
      comment: 'web/ imports protocol/, node/engine/, and (types only) the API schema.',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^node/', pathNot: '^node/(engine/|api/schema\\.ts$)' }
    },
    {
      name: 'web-api-schema-types-only',
      comment: 'The page takes the API\'s wire types, never server code.',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^node/api/schema\\.ts$', dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'api-is-a-library',
      comment: 'node/api/ never imports the wiring (node.ts, daemon.ts) or the CLI.',
      severity: 'error',
      from: { path: '^node/api/' },
      to: { path: '^node/(node\\.ts|daemon\\.ts|cli/)' }
    },
    {
      name: 'routes-do-not-import-the-server',
      comment: 'Route modules get what they need passed in; the server imports them, not the reverse.',
      severity: 'error',
      from: { path: '^node/api/routes/' },
      to: { path: '^node/api/server\\.ts$' }
    },
    {
      name: 'nothing-imports-the-cli',
      comment: 'The CLI is the outermost edge: only the CLI itself (and its tests) import it.',
      severity: 'error',
      from: { path: '^(protocol|node|web|scripts)/', pathNot: '^node/cli/' },
      to: { path: '^node/cli/' }
    },
    {
      name: 'no-cycles',
      comment: 'No import cycles, type-only ones included.',
      severity: 'error',
      from: {},
      to: { circular: true }
    },
    {
      name: 'no-re-exports',
      comment: 'No module re-exports another module\'s symbols; protocol/index.ts is protocol/\'s one documented public entry.',
      severity: 'error',
      from: { pathNot: '^protocol/index\\.ts$' },
      to: { dependencyTypes: ['export'] }
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    skipAnalysisNotInRules: true
  }
}
