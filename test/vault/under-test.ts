/**
 * The Vault a Vault test file talks to (issue 14). In the project 'in process' it is the
 * project's own test server (fault injection, namespaces, newer-Vault fields, a recorded
 * request log); in the project 'real Vault' (KEYGATE_TEST_VAULT=real, see vitest.config.ts)
 * it is a real Vault dev server started from VAULT_BIN or ../shared/tools/vault. Either way a
 * small Kubernetes TokenReview API stands beside it for Kubernetes auth (both ask it at every
 * login), started on first use by `admin().kubernetes(…)`.
 *
 * Tests that need what only the test server offers are declared with `testServerOnly(reason)`:
 * against real Vault they are skipped, and their name says why.
 */
import { it, type TestFunction } from 'vitest';
import { realVaultMode, startDevVault, type DevVault } from '../helpers/real-vault.js';
import { startVaultTestServer, type VaultTestServer, type VaultTestServerOptions } from '../vault-server/index.js';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { startTokenReviewServer, type TokenReviewServer } from './token-review.js';

/** True when this file runs against a real Vault. */
export const REAL_VAULT = realVaultMode();

export interface VaultUnderTest {
  readonly url: string;
  readonly rootToken: string;
  readonly real: boolean;
  /** The project's test server; undefined against a real Vault. */
  readonly server: VaultTestServer | undefined;
  /** The real dev server; undefined against the test server. */
  readonly dev: DevVault | undefined;
  /** A root admin client that configures Kubernetes auth against this file's TokenReview API. */
  admin(): VaultAdmin;
  /** This file's TokenReview API (started on first use). */
  kubernetesAPI(): Promise<TokenReviewServer>;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the Vault for this file: a real dev server in the 'real Vault' project (root token
 * 'root'), else the project's test server with `options`.
 */
export async function startVault(options: VaultTestServerOptions = {}): Promise<VaultUnderTest> {
  let review: Promise<TokenReviewServer> | undefined;
  const kubernetesAPI = (): Promise<TokenReviewServer> => (review ??= startTokenReviewServer());
  const closeReview = async (): Promise<void> => void (await (await review)?.close());
  const adminOf = (url: string, token: string): VaultAdmin => {
    const admin = new VaultAdmin(url, token);
    admin.kubernetesAPI = kubernetesAPI;
    return admin;
  };
  if (!REAL_VAULT) {
    const server = await startVaultTestServer(options);
    return {
      url: server.url,
      rootToken: server.rootToken,
      real: false,
      server,
      dev: undefined,
      admin: () => adminOf(server.url, server.rootToken),
      kubernetesAPI,
      seal: async () => server.seal(),
      unseal: async () => server.unseal(),
      close: async () => {
        await server.close();
        await closeReview();
      },
    };
  }
  const dev = await startDevVault();
  const root = new VaultAdmin(dev.addr, dev.rootToken);
  return {
    url: dev.addr,
    rootToken: dev.rootToken,
    real: true,
    server: undefined,
    dev,
    admin: () => adminOf(dev.addr, dev.rootToken),
    kubernetesAPI,
    seal: async () => void (await root.ok('PUT', 'sys/seal')),
    unseal: async () => {
      const res = await root.ok('PUT', 'sys/unseal', { key: dev.unsealKey });
      if (res.sealed !== false) throw new Error('real Vault: still sealed after the unseal key');
    },
    close: async () => {
      await closeReview();
      await dev.stop();
    },
  };
}

/**
 * `it`, but only against the project's test server: against real Vault the test is skipped
 * and its name ends with the reason, e.g. testServerOnly('injects 500s')('turns a 500 into …', fn).
 */
export function testServerOnly(reason: string): (name: string, fn: TestFunction, timeout?: number) => void {
  return (name, fn, timeout) => it.skipIf(REAL_VAULT)(REAL_VAULT ? `${name} (test server only: ${reason})` : name, fn, timeout);
}

/** `it`, but only against a real Vault (what the test server cannot show, e.g. a real clock). */
export function realVaultOnly(reason: string): (name: string, fn: TestFunction, timeout?: number) => void {
  return (name, fn, timeout) => it.skipIf(!REAL_VAULT)(REAL_VAULT ? name : `${name} (real Vault only: ${reason})`, fn, timeout);
}
