/**
 * Certificates the agent has issued for its node (`certificates:` in agent.yml), as
 * opposed to bundles it fetches. For each one the agent makes a new private key here
 * (it never leaves the node: only a PKCS#10 CSR, src/pki/csr.ts, is sent), has it signed by
 * `PUT /v1/pki/sign/<role>`, and writes the key (0600) with the certificate and its
 * chain in one atomic switch (src/agent/writer.ts). It renews at two-thirds of the
 * lifetime (less up to `refresh.jitter` of it, so a fleet spreads), with a new key
 * each time; the web server is reloaded once per batch with the bundles.
 *
 * Failure rules, as for bundles: while the issuer cannot be reached or refuses, the
 * pair on disk stays and keeps being served; the request is retried with backoff.
 * Nothing reaches the disk unless the certificate holds the key just made.
 *
 * Restart: a pair on disk that still holds the configured names and key type is
 * adopted and renewed on its own schedule (so `--once` at boot, then the daemon, issue
 * once). On a clean stop, `revoke_on_exit` revokes every certificate of the entry this
 * process issued or adopted that has not expired yet, and notes the serials in
 * `<dir>/.keygate/<name>.revoked`: a pair revoked that way is never adopted again (the
 * next start issues a new one at once).
 */
import { X509Certificate, createPrivateKey, generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { forEachLimited } from '../concurrency.js';
import { privateKeyToPem } from '../pki/certificate.js';
import { ipAddressBytes } from '../pki/extensions.js';
import { createCsr } from '../pki/csr.js';
import type { KeyType } from '../pki/keys.js';
import type { CertificateSettings } from './config.js';
import { ServerError, UnreachableError, type Json } from './client.js';
import { Backoff, refreshDelay } from './scheduler.js';
import { BundleWriter } from './writer.js';
import type { AgentDeps } from './bundle-set.js';

const generate = promisify(generateKeyPairCb);

/**
 * A new private key of `type`, made off the event loop (an RSA-4096 key takes seconds,
 * during which the agent keeps answering its status endpoint and its timers).
 */
export async function newPrivateKey(type: KeyType): Promise<KeyObject> {
  switch (type) {
    case 'ed25519':
      return (await generate('ed25519')).privateKey;
    case 'ecdsa-p256':
      return (await generate('ec', { namedCurve: 'P-256' })).privateKey;
    case 'ecdsa-p384':
      return (await generate('ec', { namedCurve: 'P-384' })).privateKey;
    case 'rsa-2048':
      return (await generate('rsa', { modulusLength: 2048 })).privateKey;
    case 'rsa-3072':
      return (await generate('rsa', { modulusLength: 3072 })).privateKey;
    case 'rsa-4096':
      return (await generate('rsa', { modulusLength: 4096 })).privateKey;
  }
}

/** Share of the lifetime after which a certificate is renewed (before jitter). */
const RENEW_AT = 2 / 3;
/** Requests in flight at once. */
const CONCURRENCY = 4;

/** What `PUT /v1/pki/sign/<role>` answered, checked. */
export interface SignedCertificate {
  certificate: X509Certificate;
  /** Leaf first, then the chain the server sent (the leaf not repeated). */
  chainPem: string;
  serial: string;
  notAfter: Date;
}

interface Issued {
  serial: string;
  notAfter: Date;
}

interface Entry {
  spec: CertificateSettings;
  writer: BundleWriter;
  due: number;
  backoff: Backoff;
  /** Certificates this process issued for the entry and has not seen expire: revoked at exit when asked. */
  issued: Issued[];
}

export type CertificateSetDeps = AgentDeps;

/** One issuance that did not end with a pair on disk. */
export interface IssueFailure {
  name: string;
  error: Error;
}

export class CertificateSet {
  private readonly entries: Entry[];

  constructor(private readonly deps: CertificateSetDeps) {
    const { settings, random, board } = deps;
    const combined = settings.output.combined;
    this.entries = (settings.certificates ?? []).map((spec) => {
      board.certificate(spec.name, spec.role);
      return {
        spec,
        writer: new BundleWriter(spec.dir, combined),
        due: 0,
        backoff: new Backoff(settings.refresh.retryMinMs, settings.refresh.retryMaxMs, random),
        issued: [],
      };
    });
  }

  /** Readies the output directories and adopts the pairs already on disk that are still fit for use. */
  async init(): Promise<void> {
    const now = this.deps.clock.now();
    for (const e of this.entries) {
      await e.writer.init();
      if (e.issued.length > 0) continue; // issued by this process already (`once()`, then the loop): on schedule
      e.due = now;
      const found = await this.onDisk(e);
      if (!found) continue;
      if ((await this.revokedSerials(e)).includes(found.serial)) continue; // revoked at the last stop: never served again
      if (e.spec.revokeOnExit) e.issued.push({ serial: found.serial, notAfter: found.notAfter });
      const lifetime = found.notAfter.getTime() - found.notBefore.getTime();
      e.due = Math.max(now, found.notBefore.getTime() + Math.round(lifetime * RENEW_AT));
      Object.assign(this.deps.board.certificate(e.spec.name), { state: 'ok', serial: found.serial, notAfter: found.notAfter, nextRenewal: new Date(e.due) });
      this.deps.board.issuances.inc({ result: 'reused' });
      this.deps.logger.info(`agent: certificate '${e.spec.name}': using serial ${found.serial} from disk (not after ${found.notAfter.toISOString()})`);
    }
  }

  /** The earliest time a certificate is due (Infinity when there are none). */
  get nextDue(): number {
    return Math.min(...this.entries.map((e) => e.due));
  }

  /** Nothing can be issued without a credential: every due certificate backs off, the files stay. */
  credentialFailed(err: Error): void {
    const now = this.deps.clock.now();
    for (const e of this.entries.filter((x) => x.due <= now)) this.failed(e, err);
  }

  /** Issues the certificates due before `until` (all of them without it); returns those that failed. */
  async refresh(until = Infinity): Promise<IssueFailure[]> {
    const failures: IssueFailure[] = [];
    const due = this.entries.filter((e) => e.due <= until);
    await forEachLimited(
      due,
      async (e) => {
        try {
          await this.issue(e);
        } catch (err) {
          this.failed(e, err as Error);
          failures.push({ name: e.spec.name, error: err as Error });
        }
      },
      CONCURRENCY,
    );
    return failures;
  }

  /**
   * Revokes, for every entry with `revoke_on_exit`, each certificate this process issued
   * that has not expired. Failures are logged: the agent is stopping either way.
   */
  async revokeOnExit(): Promise<void> {
    const { client, auth, logger, board, clock } = this.deps;
    const serials = this.entries
      .filter((e) => e.spec.revokeOnExit)
      .flatMap((e) => e.issued.filter((i) => i.notAfter.getTime() > clock.now()).map((i) => ({ name: e.spec.name, serial: i.serial })));
    if (serials.length === 0) return;
    try {
      await auth.ensure();
    } catch (err) {
      logger.error(`agent: cannot revoke ${serials.length} certificate(s) on exit: ${(err as Error).message}`);
      board.issuances.inc({ result: 'revoke_failed' }, serials.length);
      return;
    }
    const revoked = new Map<string, string[]>();
    await forEachLimited(
      serials,
      async ({ name, serial }) => {
        try {
          await client.revokeCertificate(serial);
          revoked.set(name, [...(revoked.get(name) ?? []), normalSerial(serial)]);
          board.issuances.inc({ result: 'revoked' });
          logger.info(`agent: certificate '${name}': revoked serial ${serial} on exit`);
        } catch (err) {
          board.issuances.inc({ result: 'revoke_failed' });
          logger.error(`agent: certificate '${name}': cannot revoke serial ${serial} on exit: ${(err as Error).message}`);
        }
      },
      CONCURRENCY,
    );
    for (const e of this.entries) {
      if (!e.spec.revokeOnExit) continue;
      e.issued = [];
      const done = revoked.get(e.spec.name);
      // Losing this note costs one early renewal at the next start, never a revoked pair served on.
      if (done)
        await writeFile(this.revokedFile(e), done.join('\n') + '\n', { mode: 0o644 }).catch((err: Error) =>
          logger.error(`agent: certificate '${e.spec.name}': ${err.message}`),
        );
    }
  }

  /** Where the serials revoked at the last stop are noted (beside the writer's generations, never one of them). */
  private revokedFile(e: Entry): string {
    return join(e.spec.dir, '.keygate', `${e.spec.name}.revoked`);
  }

  private async revokedSerials(e: Entry): Promise<string[]> {
    const text = await readFile(this.revokedFile(e), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '');
  }

  /** A new key, a CSR, the signature, the files. @throws on any failure, with nothing written */
  private async issue(e: Entry): Promise<void> {
    const { spec } = e;
    const key = await newPrivateKey(spec.keyType);
    const csr = createCsr(key, { commonName: spec.commonName, dnsNames: [...spec.dnsNames], ipAddresses: [...spec.ipAddresses] });
    const signed = parseSigned(await this.sign(spec, csr), key, this.deps.clock.now());
    const written = await e.writer.write(spec.name, { chainPem: signed.chainPem, keyPem: privateKeyToPem(key) });
    const now = this.deps.clock.now();
    e.issued = [...e.issued.filter((i) => i.notAfter.getTime() > now), { serial: signed.serial, notAfter: signed.notAfter }];
    e.backoff.succeed();
    const lifetimeSeconds = (signed.notAfter.getTime() - now) / 1000;
    e.due = now + refreshDelay(lifetimeSeconds * RENEW_AT, this.deps.settings.refresh.jitter, this.deps.random);
    const { board } = this.deps;
    board.serverReachable = true;
    Object.assign(board.certificate(spec.name), {
      state: 'ok',
      serial: signed.serial,
      notAfter: signed.notAfter,
      lastIssued: new Date(now),
      nextRenewal: new Date(e.due),
      lastError: null,
    });
    board.issuances.inc({ result: 'issued' });
    if (written) this.deps.reloads.add(spec.name);
    this.deps.logger.info(
      `agent: certificate '${spec.name}': issued serial ${signed.serial} by role '${spec.role}' (not after ${signed.notAfter.toISOString()}), renewal at ${new Date(e.due).toISOString()}`,
    );
  }

  /** Signs, re-establishing the credential once when the server refuses it. */
  private async sign(spec: CertificateSettings, csr: string): Promise<Json> {
    try {
      return await this.deps.client.signCertificate(spec.role, csr, spec.ttl);
    } catch (err) {
      if (!(err instanceof ServerError && (err.status === 401 || err.status === 403)) || !(await this.deps.auth.recover())) throw err;
      return this.deps.client.signCertificate(spec.role, csr, spec.ttl);
    }
  }

  /** Keeps the files and schedules a retry with backoff. */
  private failed(e: Entry, err: Error): void {
    const { board, clock, logger } = this.deps;
    e.due = clock.now() + e.backoff.fail();
    board.serverReachable = !(err instanceof UnreachableError);
    Object.assign(board.certificate(e.spec.name), { state: 'error', lastError: err.message, nextRenewal: new Date(e.due) });
    board.issuances.inc({ result: 'failed' });
    logger.error(`agent: certificate '${e.spec.name}': cannot issue: ${err.message} (keeping the files on disk, retry ${e.backoff.attempts})`);
  }

  /** The pair on disk when it still fits the entry: the key matches, the key type and names are as configured, not expired. */
  private async onDisk(e: Entry): Promise<{ serial: string; notBefore: Date; notAfter: Date } | null> {
    const paths = e.writer.paths(e.spec.name);
    try {
      const [certPem, keyPem] = await Promise.all([readFile(paths.cert, 'utf8'), readFile(paths.key, 'utf8')]);
      const cert = new X509Certificate(certPem);
      const key = createPrivateKey(keyPem);
      const notAfter = new Date(cert.validTo);
      if (!cert.checkPrivateKey(key) || !isKeyType(key, e.spec.keyType) || notAfter.getTime() <= this.deps.clock.now()) return null;
      const names = (cert.subjectAltName ?? '').split(', ');
      const wanted = [...e.spec.dnsNames.map((n) => `DNS:${n}`), ...e.spec.ipAddresses.map((ip) => `IP Address:${sanIp(ip)}`)];
      if (!wanted.every((n) => names.includes(n))) return null;
      return { serial: normalSerial(cert.serialNumber), notBefore: new Date(cert.validFrom), notAfter };
    } catch {
      return null; // nothing there, or nothing usable: issue a new pair
    }
  }
}

/** An IP address as X509Certificate.subjectAltName prints it (IPv6: eight groups, upper case). */
function sanIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const bytes = ipAddressBytes(ip);
  return Array.from({ length: 8 }, (_, i) =>
    bytes
      .readUInt16BE(i * 2)
      .toString(16)
      .toUpperCase(),
  ).join(':');
}

/** Whether `key` is of the configured type (a changed `key_type` is not served from an old pair). */
function isKeyType(key: KeyObject, type: KeyType): boolean {
  const d = key.asymmetricKeyDetails;
  switch (type) {
    case 'ed25519':
      return key.asymmetricKeyType === 'ed25519';
    case 'ecdsa-p256':
      return key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1';
    case 'ecdsa-p384':
      return key.asymmetricKeyType === 'ec' && d?.namedCurve === 'secp384r1';
    default:
      return key.asymmetricKeyType === 'rsa' && d?.modulusLength === Number(type.slice(4));
  }
}

/**
 * A serial in one spelling, as keygate's server keeps it: lower-case hex in whole bytes,
 * without separators (Vault writes `0a:1b:…`) or leading zero bytes.
 */
export function normalSerial(serial: string): string {
  let s = serial.replace(/[:\s-]/g, '').toLowerCase();
  if (s.length % 2 === 1) s = '0' + s;
  while (s.length > 2 && s.startsWith('00')) s = s.slice(2);
  return s;
}

const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;

/**
 * Checks the sign answer before anything is written: the fields of the wire shape, a
 * certificate for the key just made and still valid, a chain of certificates, and a
 * serial that is the certificate's. @throws Error naming what is wrong (never the key)
 */
export function parseSigned(r: Json, key: KeyObject, now: number): SignedCertificate {
  const bad = (what: string) => new Error(what);
  const { certificate, chain, serial } = r;
  if (typeof certificate !== 'string' || typeof serial !== 'string' || !Array.isArray(chain) || !chain.every((c) => typeof c === 'string')) {
    throw bad('unexpected answer from the server');
  }
  let leaf: X509Certificate;
  let issuers: X509Certificate[];
  try {
    leaf = new X509Certificate(certificate);
    issuers = (chain as string[]).map((pem) => new X509Certificate(pem));
  } catch {
    throw bad('the server sent something that is not a certificate');
  }
  if (!PEM_CERTIFICATE.test(certificate.trim() + '\n') || !(chain as string[]).every((c) => PEM_CERTIFICATE.test(c.trim() + '\n'))) {
    throw bad('the server sent certificates that are not single PEM blocks');
  }
  if (!leaf.checkPrivateKey(key)) throw bad('the server sent a certificate for another key');
  if (normalSerial(serial) !== normalSerial(leaf.serialNumber)) throw bad(`the serial ${serial.slice(0, 80)} is not the certificate's`);
  const notAfter = new Date(leaf.validTo);
  if (!(notAfter.getTime() > now)) throw bad(`the server sent a certificate that expired at ${notAfter.toISOString()}`);
  const rest = issuers.filter((c) => !c.raw.equals(leaf.raw)).map((c) => c.toString().trim());
  const chainPem = [leaf.toString().trim(), ...rest].join('\n') + '\n';
  return { certificate: leaf, chainPem, serial, notAfter };
}
