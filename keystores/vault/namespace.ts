/**
 * Namespace safety (issue 14): Vault OSS ignores `X-Vault-Namespace` and serves
 * the root namespace, so a `namespace` there gives no isolation at all — two
 * tenants configured with different namespaces share every entry. Before serving,
 * the adapter proves that the server honours each namespace it was given, and
 * refuses to start when it does not.
 *
 * - The keystore's namespace: a probe entry (a name no entry can have, so no
 *   listing ever shows it) is written inside the namespace and read back without
 *   the header. A server that honours namespaces answers from another namespace
 *   (403, 404 or other content); one that ignores them hands back the probe's own
 *   random content. The probe is removed again either way.
 * - The auth namespace (approle/kubernetes `namespace`): `lookup-self` of the
 *   token logged in there must name that namespace (`namespace_path`); Vault OSS
 *   names none.
 *
 * When a probe cannot decide (the policy allows no write, or no lookup-self),
 * a warning says so and the adapter starts: readiness reports permission problems.
 */
import { randomBytes } from 'node:crypto';
import { StoreError } from '../keystore.js';
import { field, type VaultHTTP, type VaultRequest } from './http.js';
import type { KVStrategy } from './kv.js';
import type { VaultLogLevel } from './options.js';

/** Starts with '.', so no entry can have this name and listings skip it. */
const PROBE_STEM = '.keygate-namespace-probe-';

export const EDITIONS_WITH_NAMESPACES = 'Vault Enterprise, OpenBao 2.3+';

export interface NamespaceCheck {
  http: VaultHTTP;
  kv: KVStrategy;
  /** The token to probe with. */
  token: () => string;
  origin: string;
  log: (level: VaultLogLevel, message: string) => void;
}

function ignored(origin: string, what: string, namespace: string): StoreError {
  return new StoreError(
    `vault: ${origin} ignores namespaces (${what} '${namespace}' is not isolated; Vault OSS has none): ` +
      `separate tenants with 'prefix' and a policy each, or use a Vault with namespaces (${EDITIONS_WITH_NAMESPACES})`,
  );
}

/** Throws StoreError when the server demonstrably ignores `namespace` (the keystore's). */
export async function proveKVNamespace(check: NamespaceCheck, namespace: string): Promise<void> {
  const name = PROBE_STEM + randomBytes(8).toString('hex');
  const marker = randomBytes(16).toString('hex');
  const write = check.kv.writeRequest(name, Buffer.from(marker), check.kv.createCAS);
  const send = (req: VaultRequest, ns: string): ReturnType<VaultHTTP['send']> => check.http.send({ ...req, token: check.token(), namespace: ns });
  const written = await send(write, namespace);
  if (written.status !== 200 && written.status !== 204) {
    check.log('warn', `vault: cannot prove that ${check.origin} honours namespace '${namespace}' (probe write: ${written.status}); isolation unverified`);
    return;
  }
  try {
    const outside = await send({ method: 'GET', path: check.kv.entryPath(name) }, '');
    const seen = outside.status === 200 ? check.kv.decodeRead(name, outside) : undefined;
    if (seen?.kind === 'found' && seen.value.toString('utf8') === marker) throw ignored(check.origin, 'namespace', namespace);
  } finally {
    const removed = await send({ method: 'DELETE', path: check.kv.deletePath(name) }, namespace).catch(() => undefined);
    if (removed === undefined || (removed.status !== 200 && removed.status !== 204)) {
      check.log('warn', `vault: could not remove the namespace probe entry ${check.kv.entryPath(name)} in '${namespace}'`);
    }
  }
}

/** Throws StoreError when the token logged in "in" `namespace` demonstrably lives in another one. */
export async function proveAuthNamespace(check: NamespaceCheck, namespace: string): Promise<void> {
  const res = await check.http.send({ method: 'GET', path: 'auth/token/lookup-self', token: check.token(), namespace });
  if (res.status !== 200) {
    check.log('warn', `vault: cannot prove that ${check.origin} honours auth namespace '${namespace}' (lookup-self: ${res.status}); isolation unverified`);
    return;
  }
  const path = field(field(res.body, 'data'), 'namespace_path');
  if (typeof path !== 'string' || path.replace(/\/+$/, '') !== namespace) throw ignored(check.origin, 'auth namespace', namespace);
}
