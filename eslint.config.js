// Lint rules: typescript-eslint's recommended set, plus an import table that
// keeps the architecture's arrows pointing inward (see docs/internals.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  { files: ['bin/**/*.js', 'eslint.config.js'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Keystore adapters know nothing of the server, the API or the domain.
  { files: ['keystores/**/*.ts'], ignores: ['keystores/**/*.test.ts', 'keystores/contract.ts'], rules: restrict(['**/src/server/**', '**/src/api/**', '**/src/core/**', '**/src/cli/**', '**/src/config/**']) },
  // Pure modules: no I/O layers, no adapters.
  { files: ['src/policy/**/*.ts', 'src/crypto/**/*.ts', 'src/auth/identity.ts', 'src/core/names.ts'], rules: restrict(['**/keystores/**', '**/src/server/**', '**/src/api/**', '**/src/cli/**', '**/src/config/**']) },
  // Domain services see only the keystore interface, never an adapter or a handler.
  { files: ['src/core/**/*.ts'], rules: restrict(['**/keystores/memory*', '**/keystores/fs*', '**/keystores/vault/**', '**/src/server/**', '**/src/api/**', '**/src/cli/**']) },
  // Handlers call services; they never touch adapters or the listener.
  { files: ['src/api/**/*.ts'], rules: restrict(['**/keystores/memory*', '**/keystores/fs*', '**/keystores/vault/**', '**/src/cli/**']) },
);
