/**
 * keygate's role decides what a certificate may carry; an issuer only signs what it is
 * handed. But an issuer has a configuration of its own — a Vault role's `server_flag` and
 * `client_flag` (both true by default), `ext_key_usage`, `use_csr_sans`, its TTLs — that can
 * add to what keygate asked for. So every issuer is wrapped: what it hands back is checked
 * against what the service asked for (names, IP addresses, extended key usage, CA flag,
 * lifetime, key), and a certificate that carries more is revoked at the issuer and never
 * answered (502, naming what was added and that the issuer's own role must not add it).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { UnavailableError } from '../../errors.js';
import type { Usage } from './config.js';
import { canonicalName } from './names.js';
import type { Issuer, SignInput, Signed } from './issuer.js';

const EKU: Record<Usage, string> = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' };
/** Issuers round a TTL to whole seconds (and backdate notBefore); clocks differ a little. */
const SLACK_MS = 60_000;

type Asked = Omit<SignInput, 'csr' | 'publicKey'> & { publicKey?: KeyObject };

/** One spelling of an IP address (IPv6 as the URL parser writes it). */
function ipForm(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/** What `certificate` carries beyond what was `asked` for, or null when nothing. */
export function beyondAsked(certificate: string, asked: Asked, startedAt: number): string | null {
  const cert = new X509Certificate(certificate);
  if (cert.ca) return 'it is a CA certificate';
  const ekus = cert.keyUsage;
  const allowed = new Set(asked.usage.map((u) => EKU[u]));
  if (ekus === undefined || ekus.length === 0) return `it has no extended key usage (any purpose; the role allows ${asked.usage.join(', ')})`;
  const extra = ekus.filter((oid) => !allowed.has(oid));
  if (extra.length > 0) return `it has the extended key usage ${extra.join(', ')} (the role allows ${asked.usage.join(', ')})`;
  // The issuer may have signed the CSR's own spelling (Vault's use_csr_sans): compared as names, not as text.
  const names = new Set(asked.dnsNames.map(canonicalName));
  const ips = new Set(asked.ipAddresses.map(ipForm));
  for (const entry of (cert.subjectAltName ?? '').split(', ').filter((e) => e !== '')) {
    if (entry.startsWith('DNS:')) {
      if (!names.has(canonicalName(entry.slice(4)))) return 'it has a DNS name that was not asked for';
    } else if (entry.startsWith('IP Address:')) {
      if (!ips.has(ipForm(entry.slice(11)))) return 'it has an IP address that was not asked for';
    } else return 'it has a subject alternative name of another kind';
  }
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=') && canonicalName(line.slice(3)) !== canonicalName(asked.commonName)) return 'its common name is not the one asked for';
  }
  if (Date.parse(cert.validTo) > startedAt + asked.ttlMs + SLACK_MS) return 'it lives longer than asked';
  if (asked.publicKey && !cert.publicKey.equals(asked.publicKey)) return 'it is for another key';
  return null;
}

/** `issuer`, whose certificates are checked against what was asked for (see above). */
export function withinRole(issuer: Issuer): Issuer {
  const checked = async <S extends Signed>(asked: Asked, sign: () => Promise<S>): Promise<S> => {
    const startedAt = Date.now();
    const signed = await sign();
    const beyond = beyondAsked(signed.certificate, asked, startedAt);
    if (beyond === null) return signed;
    await issuer.revoke(signed.serial, signed.notAfter).catch(() => undefined);
    throw new UnavailableError(
      `the issuer signed beyond role '${asked.role}' (the certificate was revoked): ${beyond}; the issuer's own role must not add to keygate's (for Vault: server_flag, client_flag, ext_key_usage)`,
      502,
    );
  };
  const { issue } = issuer;
  return {
    kind: issuer.kind,
    sign: (input) => checked(input, () => issuer.sign(input)),
    ...(issue ? { issue: (input: Asked) => checked(input, () => issue.call(issuer, input)) } : {}),
    revoke: (serial, notAfter) => issuer.revoke(serial, notAfter),
    ca: () => issuer.ca(),
    crl: () => issuer.crl(),
    tidy: (now) => issuer.tidy(now),
    close: () => issuer.close(),
  };
}
