/**
 * Builds the PKI service from `pki:` in the configuration: built-in issuers (parents
 * first), Vault PKI issuers (their own Vault connection, or the keystore's), and roles.
 */
import { ConfigError } from '../errors.js';
import type { Config, VaultConfig } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import type { KeyStore } from '../../keystores/keystore.js';
import type { Logger } from '../log/logger.js';
import type { VaultAuth } from '../../keystores/vault/options.js';
import { BuiltinIssuer, checkImportedCA } from '../core/pki/builtin.js';
import { PkiService, rolesFrom } from '../core/pki/service.js';
import type { Issuer } from '../core/pki/issuer.js';
import { withinRole } from '../core/pki/within-role.js';
import type { PkiConfig, VaultPkiConfig } from '../core/pki/config.js';
import { VaultPkiIssuer } from '../pki/vault-pki.js';
import { readCAs } from './tls.js';
import { vaultAuth, vaultTls } from './registry.js';
import { readFileOr } from '../files/read.js';

function readPem(key: string, path: string): string {
  return readFileOr(path, (code) => new ConfigError(`${key}: cannot read '${path}' (${code})`)).toString('utf8');
}

export function buildPki(config: Config, store: KeyStore, logger: Logger): PkiService {
  const pki: PkiConfig = config.pki ?? { issuers: {}, roles: {}, tidy_interval: '1h', crl_ttl: '72h' };
  const crlTtlMs = parseDuration(pki.crl_ttl);
  const issuers = new Map<string, Issuer>();
  const builtin = (name: string): BuiltinIssuer => {
    const existing = issuers.get(name);
    if (existing) return existing as BuiltinIssuer;
    const b = pki.issuers[name]?.builtin;
    if (!b) throw new ConfigError(`pki.issuers.${name}: not a builtin issuer`);
    let imported: { cert: string; key: string } | undefined;
    if (b.import) {
      imported = {
        cert: readPem(`pki.issuers.${name}.builtin.import.cert`, b.import.cert),
        key: readPem(`pki.issuers.${name}.builtin.import.key`, b.import.key),
      };
      try {
        checkImportedCA(imported.cert, imported.key);
      } catch (err) {
        throw new ConfigError(`pki.issuers.${name}.builtin.import: ${(err as Error).message}`);
      }
    }
    const issuer = new BuiltinIssuer(store, {
      name,
      commonName: b.common_name ?? `keygate ${name} CA`,
      keyType: b.key_type,
      ttlMs: parseDuration(b.ttl),
      ...(b.parent !== undefined ? { parent: builtin(b.parent) } : {}),
      ...(imported ? { imported } : {}),
      crlTtlMs,
    });
    issuers.set(name, issuer);
    return issuer;
  };
  for (const [name, issuer] of Object.entries(pki.issuers)) {
    if (issuer.builtin) builtin(name);
    else if (issuer.vault_pki) issuers.set(name, vaultIssuer(name, issuer.vault_pki, config.keystore.vault, logger));
  }
  // Whatever an issuer's own configuration adds, the service answers only what its role allows.
  const checked = new Map([...issuers].map(([name, issuer]): [string, Issuer] => [name, withinRole(issuer)]));
  return new PkiService(store, { issuers: checked, roles: rolesFrom(pki.roles), defaultIssuer: pki.default_issuer }, logger);
}

function vaultIssuer(name: string, v: VaultPkiConfig, keystoreVault: VaultConfig | undefined, logger: Logger): VaultPkiIssuer {
  const log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => logger.log(level, `pki.issuers.${name}: ${message}`);
  const timeoutMs = parseDuration(v.timeout);
  if (v.endpoint !== undefined) {
    const auth: VaultAuth = v.approle
      ? {
          kind: 'approle',
          engine: v.approle.engine,
          roleId: v.approle.id,
          secretId: v.approle.secret,
          ...(v.approle.namespace !== undefined ? { namespace: v.approle.namespace } : {}),
        }
      : { kind: 'token', token: v.token as string };
    const tls = { ...(v.tls?.ca !== undefined ? { ca: readCAs(v.tls.ca) } : {}), ...(v.tls?.insecure ? { insecure: true } : {}) };
    return new VaultPkiIssuer({ endpoint: v.endpoint, mount: v.mount, namespace: v.namespace ?? '', auth, tls, timeoutMs, log });
  }
  // No endpoint of its own: the keystore's Vault, its login and its TLS.
  const k = keystoreVault as VaultConfig;
  const auth = vaultAuth(k);
  const tls = k.tls ? vaultTls(k.tls) : {};
  return new VaultPkiIssuer({ endpoint: k.endpoint, mount: v.mount, namespace: v.namespace ?? k.namespace ?? '', auth, tls, timeoutMs, log });
}
