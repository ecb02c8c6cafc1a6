/**
 * The PKI secrets engine, as far as keygate uses it (Vault 1.4's API, JSON forms only):
 * `root/generate/internal`, `roles/<name>`, `sign/<role>`, `issue/<role>`, `revoke`,
 * `cert/ca`, `cert/ca_chain`, `cert/crl`, `tidy`. Certificates are made with keygate's
 * own X.509 code (src/pki), which the built-in issuer's tests check with openssl.
 * Roles enforce `allow_any_name`, `allowed_domains` + `allow_subdomains`/`allow_bare_domains`,
 * `allow_ip_sans`, `max_ttl` (capped with a warning, as Vault does), key type for `issue`,
 * `server_flag` and `client_flag`.
 */
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { createCertificate, privateKeyToPem } from '../../src/pki/certificate.js';
import { generateKeyPair, type KeyType } from '../../src/pki/keys.js';
import { createCrl, crlToPem } from '../../src/pki/crl.js';
import { CsrError, parseCsr } from '../../src/pki/csr.js';
import type { Backend, BackendFactory, Ctx } from './core.js';
import { badRequest, listResponse, none, ok, raw, type Reply } from './reply.js';
import { FieldError, fieldBool, fieldInt, fieldString, fieldStrings, parseDuration } from './util.js';

interface Role {
  allow_any_name: boolean;
  allowed_domains: string[];
  allow_subdomains: boolean;
  allow_bare_domains: boolean;
  allow_ip_sans: boolean;
  server_flag: boolean;
  client_flag: boolean;
  key_type: 'rsa' | 'ec' | 'ed25519' | 'any';
  key_bits: number;
  ttl: number;
  max_ttl: number;
}

interface Issued {
  pem: string;
  notAfter: number;
  revokedAt: number | null;
}

interface Engine {
  ca: { key: KeyObject; cert: X509Certificate; pem: string } | null;
  roles: Map<string, Role>;
  /** By colon-hex serial. */
  certs: Map<string, Issued>;
  crlNumber: number;
}

const colonHex = (hex: string): string => (hex.length % 2 ? `0${hex}` : hex).toLowerCase().replace(/(..)(?!$)/g, '$1:');

function keyTypeFor(type: string, bits: number): KeyType | null {
  if (type === 'ed25519') return 'ed25519';
  if (type === 'ec') return bits === 384 ? 'ecdsa-p384' : bits === 256 || bits === 0 ? 'ecdsa-p256' : null;
  if (type === 'rsa') return bits === 3072 ? 'rsa-3072' : bits === 4096 ? 'rsa-4096' : bits === 2048 || bits === 0 ? 'rsa-2048' : null;
  return null;
}

function nameAllowed(role: Role, name: string): boolean {
  if (role.allow_any_name) return true;
  return role.allowed_domains.some((d) => (role.allow_bare_domains && name === d) || (role.allow_subdomains && name.endsWith(`.${d}`)));
}

function roleFrom(d: Record<string, unknown>, mountMax: number): Role {
  const keyType = fieldString(d['key_type']) || 'rsa';
  if (keyType !== 'rsa' && keyType !== 'ec' && keyType !== 'ed25519' && keyType !== 'any') throw new FieldError(`unknown key type ${keyType}`);
  return {
    allow_any_name: fieldBool(d['allow_any_name'], false),
    allowed_domains: fieldStrings(d['allowed_domains']),
    allow_subdomains: fieldBool(d['allow_subdomains'], false),
    allow_bare_domains: fieldBool(d['allow_bare_domains'], false),
    allow_ip_sans: fieldBool(d['allow_ip_sans'], true),
    server_flag: fieldBool(d['server_flag'], true),
    client_flag: fieldBool(d['client_flag'], true),
    key_type: keyType,
    key_bits: fieldInt(d['key_bits'], keyType === 'ec' ? 256 : keyType === 'rsa' ? 2048 : 0),
    ttl: parseDuration(d['ttl']),
    max_ttl: parseDuration(d['max_ttl']) || mountMax,
  };
}

function signFor(
  ctx: Ctx,
  e: Engine,
  role: Role,
  publicKey: KeyObject,
  cn: string,
  dns: string[],
  ips: string[],
): { data: Record<string, unknown>; warnings: string[] } | Reply {
  const ca = e.ca;
  if (!ca) return badRequest('backend must be configured with a CA certificate/key');
  if (cn === '') return badRequest('the common_name field is required');
  if (!nameAllowed(role, cn)) return badRequest(`common name ${cn} not allowed by this role`);
  for (const n of dns) if (!nameAllowed(role, n)) return badRequest(`subject alternate name ${n} not allowed by this role`);
  if (ips.length > 0 && !role.allow_ip_sans) return badRequest(`IP Subject Alternative Names are not allowed in this role, but was provided ${ips.join(',')}`);
  const warnings: string[] = [];
  let ttl = parseDuration(ctx.data['ttl']) || role.ttl || ctx.core.mountTtls(ctx.mount).dflt;
  const max = role.max_ttl || ctx.core.mountTtls(ctx.mount).max;
  if (max > 0 && ttl > max) {
    warnings.push(`TTL "${ttl}s" is longer than permitted maxTTL "${max}s", so maxTTL is being used`);
    ttl = max;
  }
  const notAfter = new Date(Math.min(ctx.now + ttl * 1000, new Date(ca.cert.validTo).getTime()));
  const extKeyUsage = [...(role.server_flag ? (['serverAuth'] as const) : []), ...(role.client_flag ? (['clientAuth'] as const) : [])];
  const pem = createCertificate(
    publicKey,
    { commonName: cn, dnsNames: [...new Set([cn, ...dns])], ipAddresses: ips, notAfter, extKeyUsage },
    { privateKey: ca.key, certificate: ca.cert },
  );
  const cert = new X509Certificate(pem);
  const serial = colonHex(cert.serialNumber);
  e.certs.set(serial, { pem, notAfter: notAfter.getTime(), revokedAt: null });
  return { data: { certificate: pem.trim(), issuing_ca: ca.pem.trim(), serial_number: serial, expiration: Math.floor(notAfter.getTime() / 1000) }, warnings };
}

function crlPem(e: Engine, now: number): string {
  const ca = e.ca as NonNullable<Engine['ca']>;
  const revoked = [...e.certs.entries()]
    .filter(([, c]) => c.revokedAt !== null)
    .map(([serial, c]) => ({ serial: serial.replace(/:/g, ''), revokedAt: new Date(c.revokedAt as number) }));
  return crlToPem(
    createCrl({
      ca: { privateKey: ca.key, certificate: ca.cert },
      revoked,
      number: e.crlNumber,
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 72 * 3600_000),
    }),
  );
}

function guarded(handler: (ctx: Ctx, m: RegExpExecArray) => Reply): (ctx: Ctx, m: RegExpExecArray) => Reply {
  return (ctx, m) => {
    try {
      return handler(ctx, m);
    } catch (err) {
      if (err instanceof FieldError) return badRequest(err.message);
      throw err;
    }
  };
}

export const pkiBackend: BackendFactory = (): Backend => {
  const e: Engine = { ca: null, roles: new Map(), certs: new Map(), crlNumber: 1 };
  const role = (m: RegExpExecArray): Role | undefined => e.roles.get(m[1] ?? '');
  return {
    paths: [
      {
        pattern: /^root\/generate\/(internal|exported)$/,
        ops: {
          update: guarded((ctx, m) => {
            if (e.ca) return badRequest('a root CA already exists at this mount; delete it first');
            const cn = fieldString(ctx.data['common_name']);
            if (cn === '') return badRequest('the common_name field is required');
            const type = keyTypeFor(fieldString(ctx.data['key_type']) || 'rsa', fieldInt(ctx.data['key_bits'], 0));
            if (!type) return badRequest('unsupported key type or size');
            const ttl = parseDuration(ctx.data['ttl']) || ctx.core.mountTtls(ctx.mount).max || 10 * 365 * 86400;
            const { privateKey } = generateKeyPair(type);
            const pem = createCertificate(privateKey, { commonName: cn, isCA: true, notAfter: new Date(ctx.now + ttl * 1000) });
            const cert = new X509Certificate(pem);
            e.ca = { key: privateKey, cert, pem };
            return ok({
              certificate: pem.trim(),
              issuing_ca: pem.trim(),
              serial_number: colonHex(cert.serialNumber),
              expiration: Math.floor(new Date(cert.validTo).getTime() / 1000),
              ...(m[1] === 'exported' ? { private_key: privateKeyToPem(privateKey).trim() } : {}),
            });
          }),
        },
      },
      {
        pattern: /^roles\/?$/,
        ops: { list: () => listResponse([...e.roles.keys()].sort()) },
      },
      {
        pattern: /^roles\/([^/]+)$/,
        exists: (_ctx, m) => e.roles.has(m[1] ?? ''),
        ops: {
          read: (_ctx, m) => {
            const r = role(m);
            return r ? ok({ ...r }) : none();
          },
          create: guarded((ctx, m) => {
            e.roles.set(m[1] ?? '', roleFrom(ctx.data, ctx.core.mountTtls(ctx.mount).max));
            return none();
          }),
          update: guarded((ctx, m) => {
            e.roles.set(m[1] ?? '', roleFrom({ ...(role(m) ?? {}), ...ctx.data }, ctx.core.mountTtls(ctx.mount).max));
            return none();
          }),
          delete: (_ctx, m) => {
            e.roles.delete(m[1] ?? '');
            return none();
          },
        },
      },
      {
        pattern: /^sign\/([^/]+)$/,
        ops: {
          update: guarded((ctx, m) => {
            const r = role(m);
            if (!r) return badRequest(`unknown role: ${m[1] ?? ''}`);
            let csr;
            try {
              csr = parseCsr(fieldString(ctx.data['csr']));
            } catch (err) {
              if (err instanceof CsrError) return badRequest(`certificate request could not be parsed: ${err.message}`);
              throw err;
            }
            // Vault checks the CSR's key against the role's key_type ('any' takes every kind).
            const kind = csr.publicKey.asymmetricKeyType === 'ec' ? 'ec' : csr.publicKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ed25519';
            if (r.key_type !== 'any' && r.key_type !== kind) return badRequest(`role requires keys of type ${r.key_type}`);
            // use_csr_common_name and use_csr_sans default to true on sign.
            const dns = csr.dnsNames.length > 0 ? csr.dnsNames : fieldStrings(ctx.data['alt_names']);
            const ips = csr.ipAddresses.length > 0 ? csr.ipAddresses : fieldStrings(ctx.data['ip_sans']);
            const out = signFor(ctx, e, r, csr.publicKey, csr.commonName || fieldString(ctx.data['common_name']), dns, ips);
            if ('kind' in out) return out;
            return ok(out.data, out.warnings.length ? { warnings: out.warnings } : {});
          }),
        },
      },
      {
        pattern: /^issue\/([^/]+)$/,
        ops: {
          update: guarded((ctx, m) => {
            const r = role(m);
            if (!r) return badRequest(`unknown role: ${m[1] ?? ''}`);
            const type = keyTypeFor(r.key_type, r.key_bits);
            if (!type) return badRequest('unsupported key type or size');
            const { privateKey } = generateKeyPair(type);
            const out = signFor(
              ctx,
              e,
              r,
              createPublicKey(privateKey),
              fieldString(ctx.data['common_name']),
              fieldStrings(ctx.data['alt_names']),
              fieldStrings(ctx.data['ip_sans']),
            );
            if ('kind' in out) return out;
            const pkcs8 = fieldString(ctx.data['private_key_format']) === 'pkcs8';
            const keyPem = pkcs8
              ? privateKeyToPem(privateKey)
              : (privateKey.export({ type: r.key_type === 'rsa' ? 'pkcs1' : 'sec1', format: 'pem' }) as string);
            return ok({ ...out.data, private_key: keyPem.trim(), private_key_type: r.key_type }, out.warnings.length ? { warnings: out.warnings } : {});
          }),
        },
      },
      {
        pattern: /^revoke$/,
        ops: {
          update: (ctx) => {
            const serial = colonHex(fieldString(ctx.data['serial_number']).replace(/[:-]/g, ''));
            const c = e.certs.get(serial);
            if (!c) return badRequest(`certificate with serial ${serial} not found`);
            if (c.revokedAt === null) {
              c.revokedAt = ctx.now;
              e.crlNumber++;
            }
            return ok({ revocation_time: Math.floor(c.revokedAt / 1000) });
          },
        },
      },
      {
        pattern: /^cert\/(ca|ca_chain|crl)$/,
        ops: {
          read: (ctx, m) => {
            if (!e.ca) return badRequest('no CA certificate configured');
            if (m[1] === 'crl') return ok({ certificate: crlPem(e, ctx.now).trim(), revocation_time: 0 });
            // A root generated here has no chain beyond itself.
            return ok({ certificate: m[1] === 'ca' ? e.ca.pem.trim() : '', revocation_time: 0 });
          },
        },
      },
      {
        pattern: /^tidy$/,
        ops: {
          update: guarded((ctx) => {
            const buffer = (parseDuration(ctx.data['safety_buffer']) || 72 * 3600) * 1000;
            const certStore = fieldBool(ctx.data['tidy_cert_store'], false);
            const revoked = fieldBool(ctx.data['tidy_revoked_certs'], false);
            for (const [serial, c] of e.certs) {
              if (c.notAfter + buffer >= ctx.now) continue;
              if ((c.revokedAt === null && certStore) || (c.revokedAt !== null && revoked)) {
                e.certs.delete(serial);
                if (c.revokedAt !== null) e.crlNumber++;
              }
            }
            return raw(202, null, ["Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs."]);
          }),
        },
      },
    ],
  };
};
