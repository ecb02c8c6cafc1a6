/**
 * A real Vault for tests (issue 14): the binary is `VAULT_BIN` when set, else the workplace's
 * Vault v1.4.0 beside the checkout (`../shared/tools/vault`, a tool, not test data) when it
 * exists; a fresh clone has neither, and tests that need one skip with one line.
 *
 * `startDevVault()` runs `vault server -dev` on a free loopback port, in its own process
 * group (killed after the test or file that started it, see processes.ts), with HOME in a
 * temporary folder so the dev server's token helper never writes into the user's home.
 *
 * The project 'real Vault' (vitest.config.ts) sets KEYGATE_TEST_VAULT=real: the Vault test
 * files then run against a dev server started here instead of the project's test server.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTracked, type Spawned } from './processes.js';
import { freePort } from './ports.js';

const repositoryRoot = new URL('../../', import.meta.url).pathname;
const bundled = join(repositoryRoot, '..', 'shared', 'tools', 'vault');

/** The Vault binary to run: VAULT_BIN, else ../shared/tools/vault when it exists; undefined when neither. */
export function realVaultBinary(): string | undefined {
  const given = process.env['VAULT_BIN'] ?? '';
  if (given !== '') return given;
  return existsSync(bundled) ? bundled : undefined;
}

/** True in the project that re-runs the Vault tests against a real Vault (KEYGATE_TEST_VAULT=real). */
export function realVaultMode(): boolean {
  return process.env['KEYGATE_TEST_VAULT'] === 'real';
}

export interface DevVault {
  /** `http://127.0.0.1:<port>` */
  readonly addr: string;
  readonly rootToken: string;
  /** The single unseal key the dev server prints (for `sys/unseal` after `sys/seal`). */
  readonly unsealKey: string;
  /** The server process (its output, to wait on log lines). */
  readonly process: Spawned;
  /** Kills the server (its data lives in memory and is gone). */
  stop(): Promise<void>;
}

/**
 * Starts `vault server -dev` with root token 'root' on a free loopback port and resolves once it
 * serves. Throws when no binary exists (callers skip before that, see realVaultBinary).
 */
export async function startDevVault(): Promise<DevVault> {
  const binary = realVaultBinary();
  if (binary === undefined) throw new Error('real-vault: no VAULT_BIN and no ../shared/tools/vault');
  const home = mkdtempSync(join(tmpdir(), 'keygate-vault-home-'));
  // Another process may take the free port before Vault binds it: try again on another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env['VAULT_ADDR'];
    delete env['VAULT_TOKEN'];
    const vault = spawnTracked(binary, ['server', '-dev', '-dev-root-token-id=root', `-dev-listen-address=127.0.0.1:${port}`], { env }, 'file');
    try {
      await vault.waitFor(/Vault server started!/, 'stdout');
      const unsealKey = (await vault.waitFor(/Unseal Key: (\S+)/, 'stdout'))[1] as string;
      return {
        addr: `http://127.0.0.1:${port}`,
        rootToken: 'root',
        unsealKey,
        process: vault,
        stop: async () => void (await vault.killGroup()),
      };
    } catch (err) {
      await vault.killGroup();
      if (attempt >= 3 || !/address already in use/.test(vault.stderr() + vault.stdout())) throw err;
    }
  }
}
