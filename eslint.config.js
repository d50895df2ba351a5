// ESLint (`npm run lint`, part of `npm test`): neostandard's style and rules for TypeScript, the
// type-aware rules of typescript-eslint that catch real bugs in async code, and Kith's own rules.
// The layer rules (which folder may import which) are dependency-cruiser's: .dependency-cruiser.cjs.
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'
import tseslint from 'typescript-eslint'

export default [
  ...neostandard({ ts: true, noJsx: true, ignores: [...resolveIgnoresFromGitignore(), 'dist/**', 'test/vectors/**'] }),
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: { allowDefaultProject: ['web/vite.config.ts'] }, tsconfigRootDir: import.meta.dirname }
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // `void promise` marks a deliberate fire-and-forget (no-floating-promises below).
      'no-void': ['error', { allowAsStatement: true }],
      // A promise nobody awaits loses its error; `void p` says it is deliberate.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', ignoreRestSiblings: true, caughtErrors: 'none', varsIgnorePattern: '^_' }],
      // Names and paths are checked for control characters on purpose (protocol/paths.ts).
      'no-control-regex': 'off',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // One public entry per folder at most (protocol/index.ts): no module re-exports another's symbols.
      'no-restricted-syntax': ['error',
        { selector: 'ExportNamedDeclaration[source]', message: 'No re-exports: import the symbol from the module that defines it (docs/ARCHITECTURE.md).' },
        { selector: 'ExportAllDeclaration', message: 'No re-exports: import the symbol from the module that defines it (docs/ARCHITECTURE.md).' }
      ]
    }
  },
  {
    // Library code logs through libp2p's logger, never the console (GUIDE: logging).
    files: ['protocol/**/*.ts', 'node/engine/**/*.ts', 'node/api/**/*.ts', 'node/repo/**/*.ts', 'node/download/**/*.ts', 'node/libp2p/**/*.ts', 'node/circle/**/*.ts', 'node/share/**/*.ts'],
    rules: { 'no-console': 'error' }
  },
  {
    files: ['protocol/index.ts'],
    rules: { 'no-restricted-syntax': 'off' }
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked
  }
]
