// Lint rules: typescript-eslint's recommended set, plus an import table that
// keeps the architecture's arrows pointing inward (see docs/architecture.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

// Import direction, for every folder of src/ and keystores/. A module belongs to the row with
// the longest key that contains it; it may import its own row's modules, rows nested in its
// own (a folder's pure files), the shared leaves, and what its row lists ('type:' = `import
// type` only). A module with no row is an error, so a new folder must be given its row here. Paths are resolved, so '../server/x.js' from
// src/core is caught however it is spelled. Tests (*.test.ts) are not checked.
const shared = [
  'src/errors.ts',
  'src/error-codes.ts',
  'src/version.ts',
  'src/files',
  'src/concurrency.ts',
  'src/config/duration.ts',
  'src/config/schema-parts.ts',
];
export const layers = {
  // Leaves: everyone may import them; they import nothing of ours but each other.
  ...Object.fromEntries(shared.map((leaf) => [leaf, []])),
  // Entry points and the composition root.
  'src/cli': [
    'src/compose',
    'src/cluster',
    'src/config',
    'src/server',
    'src/agent',
    'src/client',
    'src/migrate',
    'src/pki',
    'src/auth/identity.ts',
    'keystores/keystore.ts',
    'keystores/memory.ts',
  ],
  'src/compose': ['src/api', 'src/server', 'src/auth', 'src/core', 'src/config', 'src/log', 'src/pki', 'src/policy', 'keystores'],
  // server.workers: forks the workers and relays cache drops, throttle counts, log lines and metrics between them.
  'src/cluster': ['src/compose/tls.ts', 'type:keystores/cache.ts', 'type:src/server/throttle.ts', 'type:src/log/streams.ts'],
  'src/agent': ['src/config', 'src/log', 'src/pki', 'src/client', 'src/core/bundles/names.ts', 'type:src/core/bundles/service.ts'],
  // The HTTPS client of the server that the CLI and the agent share: node's https and the leaves only.
  'src/client': [],
  'src/migrate': ['src/core', 'keystores/keystore.ts', 'keystores/vault/http.ts'],
  // Handlers → the server's route types and error writer → services.
  'src/api': ['src/server', 'src/auth', 'src/core', 'src/policy', 'src/log', 'src/pki', 'type:src/config/schema.ts', 'keystores/keystore.ts'],
  'src/server': ['src/auth', 'src/policy', 'src/log', 'type:src/core', 'type:keystores/keystore.ts'],
  'src/auth': ['src/core/fleet/tokens.ts', 'src/policy', 'type:src/server'],
  'src/auth/identity.ts': [],
  'src/config': ['src/core/names.ts', 'src/core/pki/config.ts', 'src/policy'],
  // Domain services see the keystore interface, never an adapter, a handler or the server.
  'src/core': ['src/pki', 'src/crypto', 'src/auth/identity.ts', 'type:src/log', 'keystores/keystore.ts', 'keystores/listing.ts'],
  'src/core/names.ts': [],
  // Pure libraries.
  'src/log': [],
  'src/pki': [],
  'src/policy': [],
  'src/crypto': [],
  // The Vault PKI engine client: an issuer backend over the Vault adapter's HTTP client.
  'src/pki/vault-pki.ts': ['type:src/core/pki/issuer.ts', 'keystores/keystore.ts', 'keystores/vault'],
  // Keystore adapters import nothing from src/ but the leaves.
  keystores: [],
};

const within = (file, key) => file === key || file.startsWith(`${key}/`);
const rowOf = (file) =>
  Object.keys(layers)
    .filter((key) => within(file, key))
    .sort((a, b) => b.length - a.length)[0];

const importDirection = {
  meta: { type: 'problem', schema: [], docs: { description: 'imports flow one way (the layers table in eslint.config.js)' } },
  create(context) {
    const file = path.relative(root, context.filename);
    const row = rowOf(file);
    const check = (node, source, typeOnly) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = path.relative(root, path.resolve(path.dirname(context.filename), source)).replace(/\.js$/, '.ts');
      if (within(target, 'test') || within(target, 'bench')) {
        context.report({ node, message: `${file} must not import test or bench code (${target})` });
        return;
      }
      if (!within(target, 'src') && !within(target, 'keystores')) return;
      if (row === undefined) {
        context.report({ node, message: `${file} has no row in the import table (layers in eslint.config.js)` });
        return;
      }
      // Its own row, a row nested in it (a pure file of its folder), or a leaf.
      if (within(rowOf(target) ?? '', row) || shared.some((leaf) => within(target, leaf))) return;
      const allowed = layers[row].some((entry) => {
        const typeEntry = entry.startsWith('type:');
        return within(target, typeEntry ? entry.slice(5) : entry) && (typeOnly || !typeEntry);
      });
      if (!allowed) context.report({ node, message: `${row} may not import ${target}; see the layers in eslint.config.js` });
    };
    const typeOnly = (node) =>
      node.importKind === 'type' ||
      node.exportKind === 'type' ||
      (node.specifiers?.length > 0 && node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type'));
    return {
      ImportDeclaration: (node) => check(node, node.source.value, typeOnly(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, typeOnly(node)),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value, false),
    };
  },
};

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
  {
    files: ['src/**/*.ts', 'keystores/**/*.ts'],
    ignores: ['**/*.test.ts', 'keystores/contract.ts'],
    plugins: { keygate: { rules: { 'import-direction': importDirection } } },
    rules: {
      'keygate/import-direction': 'error',
      // A Hash object is a native object that only the garbage collector frees: one per request
      // or connection piles thousands of destructor calls into one scavenge's pause (issue 19).
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:crypto', importNames: ['createHash'], message: 'use crypto.hash(): a one-shot digest leaves no native object for the GC to destroy' },
          ],
        },
      ],
    },
  },
);
