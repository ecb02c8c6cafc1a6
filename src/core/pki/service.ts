/**
 * Short-lived certificates: the PKI service checks a request against its role
 * (names, key type, TTL, IP SANs, same key) and the caller, has the role's issuer
 * sign it, records it (serial, names, caller, expiry — never a key), and writes an
 * audit line. Revocation, the issued list, CA, CRL and tidy go through here too.
 */
import { X509Certificate, hash, createPublicKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { BadRequestError, coded } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import { CsrError, createCsr, parseCsr } from '../../pki/csr.js';
import { generateKeyPair, keyTypes, type KeyType } from '../../pki/keys.js';
import { privateKeyToPem } from '../../pki/certificate.js';
import type { Logger } from '../../log/logger.js';
import type { KeyStore } from '../../../keystores/keystore.js';
import type { RoleConfig } from './config.js';
import type { Issuer, Signed } from './issuer.js';
import { CertRecords, type CertRecord } from './records.js';
import { canonicalName, isCertificateName, nameAllowed, type NameBinding } from './names.js';

/** Who asks, as the PKI service needs to know it. */
export interface PkiCaller {
  /** Audit name: identity, or `node:<group>/<node id>`. */
  principal: string;
  admin: boolean;
  /** Certificate identity, or ''. */
  identity: string;
  /** Set for nodes (node token or enrolled certificate). */
  nodeId?: string;
  group?: string;
}

export interface Role extends RoleConfig {
  name: string;
  ttlMs: number;
  maxTtlMs: number;
}

export interface IssuedView extends Signed {
  privateKey?: string;
}

export interface CertInfo {
  serial: string;
  issuer: string;
  role: string;
  names: string[];
  caller: string;
  notAfter: Date;
  revokedAt: Date | null;
}

export interface PkiSetup {
  issuers: ReadonlyMap<string, Issuer>;
  roles: ReadonlyMap<string, Role>;
  defaultIssuer: string | undefined;
}

export interface IssueRequest {
  commonName: string;
  altNames: string[];
  ttl?: string;
  keyType?: string;
}

const SERIAL = /^[0-9a-f]{1,40}$/;
/** What a requested name may hold before it is folded to its one spelling (canonicalName). */
const ASCII_NAME = /^[\x21-\x7e]{1,254}$/;
const MIN_TTL_MS = 10_000;

/** `node:<group>/<node id>` → its parts; undefined for any other principal. */
export function nodeOfPrincipal(principal: string): { group: string; nodeId: string } | undefined {
  if (!principal.startsWith('node:')) return undefined;
  const cut = principal.indexOf('/');
  if (cut < 0) return undefined;
  return { group: principal.slice(5, cut), nodeId: principal.slice(cut + 1) };
}

/** keygate's name for a public key's type and size, or null for one it does not issue for. */
export function keyTypeOf(key: KeyObject): KeyType | null {
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'ed25519';
    case 'ec':
      return d?.namedCurve === 'prime256v1' ? 'ecdsa-p256' : d?.namedCurve === 'secp384r1' ? 'ecdsa-p384' : null;
    case 'rsa':
      return d?.modulusLength === 2048 ? 'rsa-2048' : d?.modulusLength === 3072 ? 'rsa-3072' : d?.modulusLength === 4096 ? 'rsa-4096' : null;
    default:
      return null;
  }
}

/** Serials as keygate spells them: lowercase hex, no separators, no leading zero bytes. */
export function canonicalSerial(text: unknown): string {
  if (typeof text !== 'string') throw new BadRequestError('serial must be a hex string');
  let s = text.toLowerCase().replace(/[:-]/g, '');
  while (s.length > 2 && s.startsWith('00')) s = s.slice(2);
  if (!SERIAL.test(s)) throw new BadRequestError('serial must be a hex string of at most 20 bytes');
  return s;
}

export class PkiService {
  private readonly records: CertRecords;

  constructor(
    store: KeyStore,
    private readonly setup: PkiSetup,
    private readonly logger: Logger,
  ) {
    this.records = new CertRecords(store);
  }

  role(name: string): Role | undefined {
    return this.setup.roles.get(name);
  }

  /** Whether nodes of `group` may issue under `role`. */
  groupMayUse(roleName: string, group: string): boolean {
    return this.role(roleName)?.groups.includes(group) === true;
  }

  /** Signs a CSR under a role (`PUT /v1/pki/sign/<role>`). */
  async sign(roleName: string, caller: PkiCaller, csrPem: unknown, ttl: unknown): Promise<IssuedView> {
    const role = this.requireRole(roleName);
    if (typeof csrPem !== 'string') throw new BadRequestError('csr is required: a PEM certificate request');
    let csr;
    try {
      csr = parseCsr(csrPem);
    } catch (err) {
      if (err instanceof CsrError) throw new BadRequestError(err.message);
      throw err;
    }
    this.checkKey(role, csr.publicKey, caller);
    const { commonName, dnsNames, ipAddresses } = this.checkNames(role, caller, csr.commonName, csr.dnsNames, csr.ipAddresses);
    const ttlMs = this.ttl(role, ttl);
    const signed = await this.issuer(role).sign({
      csr: csrPem,
      publicKey: csr.publicKey,
      commonName,
      dnsNames,
      ipAddresses,
      ttlMs,
      usage: role.usage,
      role: role.name,
      vaultRole: this.vaultRole(role),
    });
    await this.record(role, caller, signed, [commonName, ...dnsNames, ...ipAddresses], 'sign');
    return signed;
  }

  /** Makes the key too (`PUT /v1/pki/issue/<role>`): returned once, never stored. */
  async issue(roleName: string, caller: PkiCaller, req: IssueRequest): Promise<IssuedView> {
    const role = this.requireRole(roleName);
    if (role.same_key) throw new BadRequestError(`role '${role.name}': certificates are only signed for the caller's own key (same_key): use sign with a CSR`);
    const keyType = req.keyType ?? role.key_types[0];
    if (!role.key_types.includes(keyType as KeyType)) {
      // Named only when it is one: a refusal never quotes what the caller pasted (it may be a key).
      const named = keyTypes.includes(keyType as KeyType) ? `key type ${keyType}` : 'key_type';
      throw new BadRequestError(`role '${role.name}': ${named} is not allowed (key_types: ${role.key_types.join(', ')})`);
    }
    const names = req.altNames.filter((n) => isIP(n) === 0);
    const ips = req.altNames.filter((n) => isIP(n) !== 0);
    const { commonName, dnsNames, ipAddresses } = this.checkNames(role, caller, req.commonName, names, ips);
    const ttlMs = this.ttl(role, req.ttl);
    const issuer = this.issuer(role);
    const input = { commonName, dnsNames, ipAddresses, ttlMs, usage: role.usage, role: role.name, vaultRole: this.vaultRole(role) };
    let issued: IssuedView;
    if (issuer.issue && req.keyType === undefined) {
      issued = await issuer.issue(input);
      // The issuer's own role chose the key: it must still be one this role allows.
      const made = keyTypeOf(new X509Certificate(issued.certificate).publicKey);
      if (made === null || !role.key_types.includes(made)) {
        await issuer.revoke(issued.serial, issued.notAfter).catch(() => undefined);
        throw new BadRequestError(
          `role '${role.name}': the issuer made a key of type ${made ?? 'unsupported'}, which key_types does not allow (${role.key_types.join(', ')}): ask for a key_type`,
        );
      }
    } else {
      const { privateKey } = generateKeyPair(keyType as KeyType);
      // A CSR as well: Vault signs only those; the built-in CA signs the key itself.
      const csr = issuer.kind === 'builtin' ? null : createCsr(privateKey, { commonName, dnsNames, ipAddresses });
      issued = { ...(await issuer.sign({ ...input, csr, publicKey: createPublicKey(privateKey) })), privateKey: privateKeyToPem(privateKey) };
    }
    await this.record(role, caller, issued, [commonName, ...dnsNames, ...ipAddresses], 'issue');
    return issued;
  }

  /** Revokes a certificate issued here: its requester's own, or any for the admin. */
  async revoke(serialText: unknown, caller: PkiCaller): Promise<{ serial: string; revokedAt: Date }> {
    const serial = canonicalSerial(serialText);
    const record = await this.records.get(serial);
    if (!record) throw coded('CERTIFICATE_NOT_ISSUED_HERE');
    if (!caller.admin && record.caller !== caller.principal) {
      throw coded('REVOKE_DENIED');
    }
    if (record.revokedAt !== null) return { serial, revokedAt: new Date(record.revokedAt) };
    const issuer = this.setup.issuers.get(record.issuer);
    if (!issuer) throw new BadRequestError(`the certificate's issuer '${record.issuer}' is no longer configured`);
    await issuer.revoke(serial, new Date(record.notAfter));
    const after = await this.records.markRevoked(serial, Date.now());
    const revokedAt = new Date(after?.revokedAt ?? Date.now());
    this.logger.auditEvent('pki.revoke', { caller: caller.principal, serial, issuer: record.issuer, role: record.role });
    return { serial, revokedAt };
  }

  /** The issuing CA's certificate, then its chain (PEM). */
  async ca(issuerName: string | null): Promise<string> {
    return (await this.namedIssuer(issuerName).ca()).join('');
  }

  /** The CRL, DER. */
  crl(issuerName: string | null): Promise<Buffer> {
    return this.namedIssuer(issuerName).crl();
  }

  /** Certificates issued here and not yet expired, whose serial starts with `prefix`. */
  async list(prefix: string, now = Date.now()): Promise<CertInfo[]> {
    const p = prefix.toLowerCase();
    if (!/^[0-9a-f]*$/.test(p) || p.length > 40) throw new BadRequestError('serial prefix must be hex');
    return (await this.records.list(p))
      .filter((r) => r.notAfter > now)
      .map((r) => ({
        serial: r.serial,
        issuer: r.issuer,
        role: r.role,
        names: r.names,
        caller: r.caller,
        notAfter: new Date(r.notAfter),
        revokedAt: r.revokedAt === null ? null : new Date(r.revokedAt),
      }));
  }

  /** Prunes expired certificates from the issued list and every CRL. */
  async tidy(now = Date.now()): Promise<{ certificates: number; crlEntries: number }> {
    let certificates = 0;
    for (const r of await this.records.list('')) {
      if (r.notAfter < now) {
        await this.records.remove(r.serial);
        certificates++;
      }
    }
    let crlEntries = 0;
    for (const issuer of this.setup.issuers.values()) crlEntries += await issuer.tidy(now);
    if (certificates + crlEntries > 0) this.logger.info(`pki: tidy removed ${certificates} expired certificates and ${crlEntries} CRL entries`);
    return { certificates, crlEntries };
  }

  async close(): Promise<void> {
    await Promise.all([...this.setup.issuers.values()].map((i) => i.close()));
  }

  private requireRole(name: string): Role {
    const role = this.role(name);
    if (!role) throw coded('ROLE_NOT_FOUND', [name]);
    return role;
  }

  private issuer(role: Role): Issuer {
    return this.setup.issuers.get(role.issuer) as Issuer;
  }

  private vaultRole(role: Role): string {
    return role.vault_role ?? role.name;
  }

  private namedIssuer(name: string | null): Issuer {
    const chosen = name ?? this.setup.defaultIssuer ?? (this.setup.issuers.size === 1 ? [...this.setup.issuers.keys()][0] : undefined);
    if (chosen === undefined) {
      throw new BadRequestError(
        this.setup.issuers.size === 0 ? 'no certificate issuer is configured (pki.issuers)' : 'several issuers are configured: name one with ?issuer=<name>',
      );
    }
    const issuer = this.setup.issuers.get(chosen);
    if (!issuer) throw coded('ISSUER_NOT_FOUND', [chosen]);
    return issuer;
  }

  private checkKey(role: Role, key: KeyObject, caller: PkiCaller): void {
    const type = keyTypeOf(key);
    if (type === null || !role.key_types.includes(type)) {
      throw new BadRequestError(`role '${role.name}': key type ${type ?? describeKey(key)} is not allowed (key_types: ${role.key_types.join(', ')})`);
    }
    if (role.same_key) {
      const identity = hash('sha256', key.export({ type: 'spki', format: 'der' }), 'hex');
      if (caller.identity === '' || identity !== caller.identity) {
        throw new BadRequestError(`role '${role.name}': the CSR's key must be the key of the client certificate you call with (same_key)`);
      }
    }
  }

  private checkNames(
    role: Role,
    caller: PkiCaller,
    cn: string,
    dns: string[],
    ips: string[],
  ): { commonName: string; dnsNames: string[]; ipAddresses: string[] } {
    const binding: NameBinding = caller.nodeId !== undefined ? { nodeId: caller.nodeId, ...(caller.group !== undefined ? { group: caller.group } : {}) } : {};
    const requested = [cn, ...dns].filter((n) => n !== '');
    // A name that is not one is refused by its place, never quoted (what was pasted there may be a key or a token).
    const notAName = (name: string) => {
      const place = name === cn ? 'the common name' : `DNS name ${dns.indexOf(name) + 1} of ${dns.length}`;
      return new BadRequestError(`${place} is not a DNS name a certificate may carry (letters, digits and '-' in dot-separated labels; '*' only as the first)`);
    };
    // Only ASCII is folded (case, a trailing dot): a character that lowercases into ASCII (U+212A
    // KELVIN SIGN → 'k') would pass as an allowed name while an issuer given the raw request signs it as it is.
    for (const name of requested) if (!ASCII_NAME.test(name) || !isCertificateName(canonicalName(name))) throw notAName(name);
    const names = [...new Set(requested.map(canonicalName))];
    if (names.length === 0) throw new BadRequestError('a common name or a DNS name is required');
    for (const name of names) {
      if (!nameAllowed(name, role.allowed_names, binding)) {
        throw new BadRequestError(`role '${role.name}': name '${name}' is not allowed (allowed_names: ${role.allowed_names.join(', ')})`);
      }
    }
    const ipAddresses = [...new Set(ips)];
    if (ipAddresses.length > 0 && !role.allow_ip_sans) throw new BadRequestError(`role '${role.name}': IP SANs are not allowed (allow_ip_sans: false)`);
    for (const ip of ipAddresses) if (isIP(ip) === 0) throw new BadRequestError('an IP SAN is not an IP address');
    const commonName = cn === '' ? (names[0] as string) : canonicalName(cn);
    return { commonName, dnsNames: names, ipAddresses };
  }

  private ttl(role: Role, ttl: unknown): number {
    if (ttl === undefined || ttl === '') return role.ttlMs;
    if (typeof ttl !== 'string') throw new BadRequestError('ttl must be a duration such as "1h" or "30m"');
    let ms: number;
    try {
      ms = parseDuration(ttl);
    } catch {
      throw new BadRequestError('ttl must be a duration such as "1h" or "30m"');
    }
    if (ms < MIN_TTL_MS) throw new BadRequestError('ttl must be at least 10s');
    if (ms > role.maxTtlMs) throw new BadRequestError(`role '${role.name}': ttl ${ttl} exceeds max_ttl ${role.max_ttl}`);
    return ms;
  }

  private async record(role: Role, caller: PkiCaller, signed: Signed, names: string[], how: 'sign' | 'issue'): Promise<void> {
    const record: CertRecord = {
      serial: signed.serial,
      issuer: role.issuer,
      role: role.name,
      names: [...new Set(names)],
      caller: caller.principal,
      issuedAt: Date.now(),
      notAfter: signed.notAfter.getTime(),
      revokedAt: null,
    };
    await this.records.add(record);
    this.logger.auditEvent(`pki.${how}`, {
      caller: caller.principal,
      serial: signed.serial,
      issuer: role.issuer,
      role: role.name,
      not_after: signed.notAfter.toISOString(),
    });
  }
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return `${key.asymmetricKeyType ?? 'unknown'}${d?.modulusLength ? `-${d.modulusLength}` : d?.namedCurve ? ` ${d.namedCurve}` : ''}`;
}

/** Builds the service's roles from the configuration. */
export function rolesFrom(config: Record<string, RoleConfig>): Map<string, Role> {
  return new Map(Object.entries(config).map(([name, r]) => [name, { ...r, name, ttlMs: parseDuration(r.ttl), maxTtlMs: parseDuration(r.max_ttl) }]));
}
