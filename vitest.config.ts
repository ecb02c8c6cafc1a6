import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Issue 14: the Vault tests run a second time against a real Vault (test/helpers/real-vault.ts):
// VAULT_BIN, else the workplace's Vault beside the checkout. A fresh clone has neither.
const realVault = (process.env['VAULT_BIN'] ?? '') !== '' || existsSync(new URL('../shared/tools/vault', import.meta.url));
if (!realVault) console.info("vitest: no VAULT_BIN and no ../shared/tools/vault: the project 'real Vault' is left out");

export default defineConfig({
  test: {
    // Every test process: reads beside the repository fail (a fresh clone has no sibling folders),
    // spawned process groups are killed after each file, property tests run on a fixed seed.
    setupFiles: ['test/setup-fs-guard.ts', 'test/setup-processes.ts', 'test/setup-fast-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores on CI machines: more forks only add contention.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'in process',
          include: ['src/**/*.test.ts', 'keystores/**/*.test.ts', 'test/**/*.test.ts'],
        },
      },
      {
        // Issue 6: `server.workers: N` must behave like one worker, so the HTTP integration
        // tests run a second time against `keygate server` with two workers and an fs keystore
        // (test/helpers/server.ts spawns it when KEYGATE_TEST_WORKERS is set). Tests that look
        // into the in-process server, or check a limit or counter that is kept per worker,
        // are marked `skipIf(workerMode)` with their reason.
        extends: true,
        test: {
          name: 'integration, 2 workers',
          env: { KEYGATE_TEST_WORKERS: '2' },
          include: [
            'test/api/*.test.ts',
            'test/kes-sdk/*.test.ts',
            'test/rks/*.test.ts',
            'test/hardening/tls-auth.test.ts',
            // The dashboard's session on the wire: a cookie from one worker works on the other.
            'test/ui/session-wire.test.ts',
            'test/hardening/vault-faults.test.ts',
          ],
          exclude: [
            // Runs its own two-worker cluster in both projects already.
            'test/api/workers.test.ts',
            // Left out of this project (see each file):
            // - auth-matrix: expires and revokes tokens on a clock injected into the in-process server;
            // - bad-input, bad-certs: compare the keystore's whole content before and after each attack,
            //   read through the in-process server's store;
            // - slow-clients: its cut-off figures are measured against one process (the shared
            //   auth-failure throttle itself runs here in limits and rks/admin);
            // - config, fs-crash, server-crash, secret-hygiene: start no test server (their own
            //   processes, or none).
          ],
        },
      },
      ...(realVault
        ? [
            {
              // Issue 14: the Vault test files again, against a real Vault dev server started per
              // file (test/vault/under-test.ts). What only the project's test server can do (fault
              // injection, namespaces, newer-Vault fields, its request log) is skipped there, by
              // name and with its reason.
              extends: true as const,
              test: {
                name: 'real Vault',
                env: { KEYGATE_TEST_VAULT: 'real' },
                include: [
                  'keystores/vault/contract.test.ts',
                  'keystores/vault/vault.test.ts',
                  'keystores/vault/resilience.test.ts',
                  'test/vault/keygate-on-vault.test.ts',
                  'test/vault/namespaces.test.ts',
                  'test/vault/differential.test.ts',
                ],
              },
            },
          ]
        : []),
    ],
  },
});
