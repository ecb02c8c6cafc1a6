/**
 * A Vault/OpenBao-compatible HTTP server for tests, in memory, behaving as
 * Vault's HTTP API does (test/vault-server/README.md lists what it models). Start one per test file:
 *
 *   const vault = await startVaultTestServer();
 *   // vault.url, vault.rootToken, vault.faults.failNext(1), vault.advanceClock(60_000) ...
 *   await vault.close();
 */
import { approleBackend } from './auth-approle.js';
import { kubernetesBackend } from './auth-kubernetes.js';
import { tokenBackend } from './auth-token.js';
import { Core, FLAVORS, type BackendFactory, type FlavorName } from './core.js';
import { FaultControls } from './faults.js';
import { cubbyholeBackend, emptyBackend, kvV1Backend } from './kv.js';
import { kvV2Backend } from './kv-v2.js';
import { VaultHttpServer, type RecordedRequest } from './server.js';
import { systemBackend } from './sys.js';
import { pkiBackend } from './pki.js';

export type { FaultCommand, FaultState, NodeRole } from './faults.js';
export type { FlavorName } from './core.js';
export type { RecordedRequest } from './server.js';
export { FaultControls } from './faults.js';

export interface VaultTestServerOptions {
  /** Root token id (Vault dev mode's -dev-root-token-id); random `hvs.` token when absent. */
  rootToken?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** PEM certificate and key: serve HTTPS instead of HTTP. */
  tls?: { cert: string; key: string };
  /** Milliseconds since the epoch; drives token/secret-id expiry, KV timestamps, JWT checks. */
  clock?: () => number;
  /** `vault` (Enterprise-like, default), `vault-ce` (no namespaces) or `openbao`. */
  flavor?: FlavorName;
  /** Mount `secret/` as KV v2 like `vault server -dev` does (default true). */
  devSecretMount?: boolean;
}

export interface VaultTestServer {
  /** `http://127.0.0.1:PORT` (or https). */
  readonly url: string;
  readonly rootToken: string;
  /** Hex unseal keys of the current seal configuration (one key in dev mode). */
  readonly unsealKeys: string[];
  readonly faults: FaultControls;
  /** Requests seen under /v1 (method, path, namespace header, status). */
  readonly requests: RecordedRequest[];
  seal(): void;
  unseal(): void;
  /** Moves the server clock forward (tokens expire, deletion times pass). */
  advanceClock(ms: number): void;
  /** The server clock in ms. */
  now(): number;
  close(): Promise<void>;
}

const factories: Record<string, BackendFactory> = {
  system: systemBackend,
  cubbyhole: cubbyholeBackend,
  identity: emptyBackend,
  token: tokenBackend,
  approle: approleBackend,
  kubernetes: kubernetesBackend,
  kv: (core, mount, ns) => (mount.options?.['version'] === '2' ? kvV2Backend() : kvV1Backend())(core, mount, ns),
  pki: pkiBackend,
};

export async function startVaultTestServer(opts: VaultTestServerOptions = {}): Promise<VaultTestServer> {
  const core = new Core({
    flavor: FLAVORS[opts.flavor ?? 'vault'],
    clock: opts.clock ?? Date.now,
    rootToken: opts.rootToken,
    factories,
    devSecretMount: opts.devSecretMount ?? true,
  });
  const faults = new FaultControls(core);
  const server = new VaultHttpServer(core, faults, opts.tls);
  const host = opts.host ?? '127.0.0.1';
  const port = await server.listen(host, opts.port ?? 0);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    get rootToken() {
      return core.rootToken;
    },
    get unsealKeys() {
      return core.seal.keys.map((k) => k.toString('hex'));
    },
    faults,
    requests: server.requests,
    seal: () => faults.seal(),
    unseal: () => faults.unseal(),
    advanceClock: (ms) => faults.advanceClock(ms),
    now: () => core.now(),
    close: () => server.close(),
  };
}
