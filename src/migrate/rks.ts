/**
 * `keygate migrate --from-rks`: imports a Remote Key Server deployment from its Vault
 * (reference/rks.md §3.2, KV v2 mounted at `rks/`):
 *
 * | RKS (KV v2 under the mount) | keygate |
 * | --- | --- |
 * | `<fqdn>`: `certificate`, `private_key`, `meta.ttl` | bundle `<fqdn>`, validated as every import; failures listed with the reason and skipped |
 * | `groups/<g>/config`: callbackURL, oauthURL, oauthClientID, oauthClientSecret | group `<g>` with those settings, OAuth sent the RKS way (`oauth_mode: rks`) |
 * | `groups/<g>/grouptoken`: `groupToken` | the group's token, stored as its hash: provisioned nodes keep registering with it |
 * | `groups/<g>/secret-list`: `secrets` | assignments of those bundles to `<g>` |
 * | `config` (RKS's own settings, admin password in clear) | only the "initialised" marker; nothing of it is read |
 *
 * Node tokens (Vault tokens, children of the group token) are not carried over: nodes
 * register again, as RKS clients do when their token expires. Running the import twice is
 * harmless: what already exists identically is counted as unchanged.
 *
 * Reports hold names, counts and validation reasons, never a certificate, key, token or secret.
 */
import { VaultHTTP, type VaultRequest, type VaultResponse } from '../../keystores/vault/http.js';
import { EntryExistsError, type KeyStore } from '../../keystores/keystore.js';
import { BundleService } from '../core/bundles/service.js';
import { createFleet, type FleetServices } from '../core/fleet/fleet.js';
import { hashToken } from '../core/fleet/tokens.js';
import { isValidGroupName } from '../core/fleet/groups.js';
import { isValidBundleName } from '../core/bundles/names.js';
import { TTL_RANGE } from '../core/bundles/record.js';
import { KeygateError } from '../errors.js';
import { INIT_ENTRY } from '../core/fleet/rks-init.js';

export interface RksSource {
  /** Vault's address, e.g. `https://vault.example.com:8200`. */
  endpoint: string;
  /** A Vault token that may list and read the RKS mount (RKS's admin policy does). */
  token: string;
  /** The RKS KV v2 mount; RKS always uses `rks`. */
  mount?: string;
  namespace?: string;
  tls?: { ca?: Buffer[]; insecure?: boolean };
  timeoutMs?: number;
}

export interface Failure {
  /** `secret <fqdn>`, `group <g>`, `assignment <g>/<fqdn>`. */
  what: string;
  reason: string;
}

export interface RksReport {
  bundles: { imported: number; unchanged: number };
  groups: { imported: number; unchanged: number };
  assignments: number;
  /** Everything skipped, with the reason. */
  failures: Failure[];
  initialized: boolean;
}

const WHO = 'migrate-from-rks';

class RksVault {
  private readonly http: VaultHTTP;
  private readonly mount: string;

  constructor(private readonly source: RksSource) {
    this.http = new VaultHTTP(new URL(source.endpoint), source.tls ?? {}, source.timeoutMs ?? 10_000);
    this.mount = (source.mount ?? 'rks').replace(/^\/+|\/+$/g, '');
  }

  private async send(req: Omit<VaultRequest, 'token' | 'namespace' | 'secrets'>): Promise<VaultResponse> {
    return this.http.send({ ...req, token: this.source.token, namespace: this.source.namespace ?? '', secrets: [this.source.token] });
  }

  private fail(what: string, res: VaultResponse): Error {
    return new Error(`vault: ${what}: ${res.status}${res.errors.length > 0 ? ' ' + res.errors.join('; ') : ''}`);
  }

  /** Keys of a KV v2 folder ('' = the mount's root); [] when it does not exist. */
  async list(folder: string): Promise<string[]> {
    const path = `${this.mount}/metadata/${folder.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`;
    const res = await this.send({ method: 'LIST', path: path.endsWith('/') ? path : path + '/' });
    if (res.status === 404) return [];
    if (res.status !== 200) throw this.fail(`list ${this.mount}/${folder}`, res);
    const keys = (res.body as { data?: { keys?: unknown } } | null)?.data?.keys;
    return Array.isArray(keys) ? keys.map(String) : [];
  }

  /** The data map of a secret's current version, or null when there is none. */
  async read(key: string): Promise<Record<string, unknown> | null> {
    const res = await this.send({ method: 'GET', path: `${this.mount}/data/${key.split('/').map(encodeURIComponent).join('/')}` });
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.fail(`read ${this.mount}/${key}`, res);
    const data = (res.body as { data?: { data?: unknown } } | null)?.data?.data;
    return data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : null;
  }

  close(): void {
    this.http.close();
  }
}

const str = (o: Record<string, unknown> | null, key: string): string => (typeof o?.[key] === 'string' ? (o[key] as string) : '');

/** Imports an RKS deployment's Vault data into `target` (see above). */
export async function importFromRks(source: RksSource, target: KeyStore, onItem: (what: string) => void = () => {}): Promise<RksReport> {
  const vault = new RksVault(source);
  const fleet: FleetServices = createFleet(target, { exists: (b) => bundles.exists(b) });
  const bundles = new BundleService(target, fleet.access);
  const report: RksReport = { bundles: { imported: 0, unchanged: 0 }, groups: { imported: 0, unchanged: 0 }, assignments: 0, failures: [], initialized: false };
  const failed = (what: string, err: unknown) => report.failures.push({ what, reason: reasonOf(err) });
  try {
    const top = await vault.list('');
    report.initialized = top.includes('config');
    if (report.initialized)
      await target.create(INIT_ENTRY, Buffer.from(JSON.stringify({ initialized_at: new Date().toISOString(), imported_from: 'rks' }))).catch((err: unknown) => {
        if (!(err instanceof EntryExistsError)) throw err;
      });

    // Secrets: every key at the root but RKS's own config and the groups folder.
    for (const fqdn of top.filter((k) => !k.endsWith('/') && k !== 'config').sort()) {
      onItem(`secret ${fqdn}`);
      try {
        await importSecret(vault, bundles, fqdn, report);
      } catch (err) {
        failed(`secret ${fqdn}`, err);
      }
    }

    const groups = top.includes('groups/')
      ? (await vault.list('groups'))
          .filter((k) => k.endsWith('/'))
          .map((k) => k.slice(0, -1))
          .sort()
      : [];
    for (const g of groups) {
      onItem(`group ${g}`);
      let ok = false;
      try {
        ok = await importGroup(vault, fleet, g, report);
      } catch (err) {
        failed(`group ${g}`, err);
      }
      if (!ok) continue;
      const list = await vault.read(`groups/${g}/secret-list`);
      const secrets = Array.isArray(list?.['secrets']) ? (list['secrets'] as unknown[]).map(String) : [];
      for (const fqdn of secrets) {
        try {
          if (await fleet.groups.assign(g, fqdn)) report.assignments++;
        } catch (err) {
          failed(`assignment ${g}/${fqdn}`, err);
        }
      }
    }
  } finally {
    vault.close();
  }
  return report;
}

async function importSecret(vault: RksVault, bundles: BundleService, fqdn: string, report: RksReport): Promise<void> {
  if (!isValidBundleName(fqdn)) throw new Error('not a valid bundle name (a host name, or *.host name)');
  const data = await vault.read(fqdn);
  if (data === null) throw new Error('no current version (deleted)');
  const meta = (data['meta'] ?? {}) as Record<string, unknown>;
  const ttl = typeof meta['ttl'] === 'number' ? meta['ttl'] : 0;
  if (!Number.isInteger(ttl) || ttl < TTL_RANGE.min || ttl > TTL_RANGE.max)
    throw new Error(`meta.ttl must be a whole number of seconds from ${TTL_RANGE.min} to ${TTL_RANGE.max}`);
  const input = { chainPem: str(data, 'certificate'), keyPem: str(data, 'private_key'), ttl };
  if (input.chainPem === '') throw new Error('certificate is missing');
  if (input.keyPem === '') throw new Error('private_key is missing');
  const exists = await bundles.import(fqdn, input, WHO).then(
    () => false,
    (err: unknown) => {
      if (err instanceof KeygateError && err.status === 409) return true;
      throw err;
    },
  );
  if (!exists) report.bundles.imported++;
  else {
    const have = await bundles.get(fqdn);
    if (have.chainPem.trim() !== input.chainPem.trim() || have.keyPem.trim() !== input.keyPem.trim() || have.ttl !== ttl)
      throw new Error('a different bundle of that name already exists in the target');
    report.bundles.unchanged++;
  }
}

/** Imports one group; false when it was skipped (its failure is in the report). */
async function importGroup(vault: RksVault, fleet: FleetServices, g: string, report: RksReport): Promise<boolean> {
  if (!isValidGroupName(g)) throw new Error('not a valid group name (1–80 characters of [0-9A-Za-z_-])');
  const config = await vault.read(`groups/${g}/config`);
  if (config === null) throw new Error('no config (a group RKS did not finish creating, or deleted)');
  const token = str(await vault.read(`groups/${g}/grouptoken`), 'groupToken');
  if (token === '') throw new Error('no group token stored');
  const settings = {
    callbackUrl: str(config, 'callbackURL'),
    oauthUrl: str(config, 'oauthURL'),
    oauthClientId: str(config, 'oauthClientID'),
    oauthClientSecret: str(config, 'oauthClientSecret'),
    oauthMode: 'rks' as const,
  };
  const existing = await fleet.groups.find(g);
  if (existing !== null) {
    if (existing.groupToken !== hashToken(token)) throw new Error('a group of that name with another group token already exists in the target');
    report.groups.unchanged++;
    return true;
  }
  await fleet.groups.adopt(g, settings, WHO, token);
  report.groups.imported++;
  return true;
}

/** A failure's reason without anything secret: validation messages name fields, never values. */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/-----BEGIN[\s\S]*?-----END[^-]*-----/g, '[PEM]').slice(0, 300);
}
