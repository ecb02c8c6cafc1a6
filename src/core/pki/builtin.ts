/**
 * The built-in CA: its private key and certificate live in the keystore
 * (`pki.ca.<issuer>`), created on first use — a self-signed root, or an
 * intermediate signed by another built-in issuer — or imported from PEM files once.
 * Its CRL lists the serials revoked and not yet expired (`pki.crl.<issuer>`), is
 * signed on demand and kept in memory until the list changes or half its validity has passed.
 */
import { X509Certificate, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { EntryExistsError, EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { coded } from '../../errors.js';
import { createCertificate, privateKeyToPem } from '../../pki/certificate.js';
import { generateKeyPair, type KeyType } from '../../pki/keys.js';
import { createCrl } from '../../pki/crl.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';
import type { Issuer, SignInput, Signed } from './issuer.js';

export interface BuiltinOptions {
  name: string;
  commonName: string;
  keyType: KeyType;
  ttlMs: number;
  /** The parent issuer, for an intermediate. */
  parent?: BuiltinIssuer;
  /** PEM of an existing CA to store on first use: its certificate (then its chain) and key. */
  imported?: { cert: string; key: string };
  crlTtlMs: number;
}

interface CA {
  key: KeyObject;
  cert: X509Certificate;
  /** This CA's certificate first, then its issuers' (PEM). */
  chain: string[];
}

interface RevokedList {
  number: number;
  revoked: Array<{ serial: string; revokedAt: number; notAfter: number }>;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const TEXTS: StoreErrorTexts = { exists: 'CA_EXISTS', notFound: 'CA_NOT_FOUND', failed: 'the certificate authority is not available' };

/** A random positive 16-byte serial whose first byte is never 0 (so its hex is always 32 digits). */
function newSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = 0x40 | ((serial[0] ?? 0) & 0x3f);
  return serial;
}

/** Checks an imported CA: PEM that parses, a CA certificate, and the key that goes with it. */
export function checkImportedCA(certPem: string, keyPem: string): { key: KeyObject; chain: string[] } {
  const blocks = certPem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error('the certificate file holds no PEM certificate');
  const cert = new X509Certificate(blocks[0] as string);
  if (!cert.ca) throw new Error('the certificate is not a CA (basicConstraints CA:TRUE)');
  const key = createPrivateKey(keyPem);
  if (!cert.checkPrivateKey(key)) throw new Error('the key does not match the certificate');
  return { key, chain: blocks.map((b) => new X509Certificate(b).toString()) };
}

export class BuiltinIssuer implements Issuer {
  readonly kind = 'builtin' as const;
  private loading: Promise<CA> | undefined;
  private crlCache: { version: string; der: Buffer; madeAt: number } | undefined;

  constructor(
    private readonly store: KeyStore,
    private readonly options: BuiltinOptions,
  ) {}

  private get caEntry(): string {
    return `pki.ca.${this.options.name}`;
  }

  private get crlEntry(): string {
    return `pki.crl.${this.options.name}`;
  }

  /** The CA, created or imported on first use; concurrent first uses (and workers) agree on one. */
  authority(): Promise<CA> {
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  private async load(): Promise<CA> {
    try {
      return decodeCA((await this.store.get(this.caEntry)).value);
    } catch (err) {
      if (!(err instanceof EntryNotFoundError)) throw translateStoreError(err, TEXTS);
    }
    const fresh = await this.create();
    try {
      await this.store.create(this.caEntry, encodeCA(fresh));
      return fresh;
    } catch (err) {
      // Another worker (or request) created it first: use theirs.
      if (!(err instanceof EntryExistsError)) throw translateStoreError(err, TEXTS);
      return decodeCA((await this.store.get(this.caEntry)).value);
    }
  }

  private async create(): Promise<CA> {
    const o = this.options;
    if (o.imported) {
      const { key, chain } = checkImportedCA(o.imported.cert, o.imported.key);
      return { key, cert: new X509Certificate(chain[0] as string), chain };
    }
    const { privateKey } = generateKeyPair(o.keyType);
    const notAfter = new Date(Date.now() + o.ttlMs);
    if (!o.parent) {
      const pem = createCertificate(privateKey, { commonName: o.commonName, isCA: true, notAfter, serialNumber: newSerial() });
      return { key: privateKey, cert: new X509Certificate(pem), chain: [pem] };
    }
    const parent = await o.parent.authority();
    const parentEnd = new Date(parent.cert.validTo);
    const pem = createCertificate(
      privateKey,
      { commonName: o.commonName, isCA: true, notAfter: notAfter < parentEnd ? notAfter : parentEnd, serialNumber: newSerial() },
      { privateKey: parent.key, certificate: parent.cert },
    );
    return { key: privateKey, cert: new X509Certificate(pem), chain: [pem, ...parent.chain] };
  }

  async sign(input: SignInput): Promise<Signed> {
    const ca = await this.authority();
    const caEnd = new Date(ca.cert.validTo).getTime();
    const notAfter = new Date(Math.min(Date.now() + input.ttlMs, caEnd));
    const pem = createCertificate(
      input.publicKey,
      {
        commonName: input.commonName,
        dnsNames: input.dnsNames,
        ipAddresses: input.ipAddresses,
        notAfter,
        extKeyUsage: input.usage.map((u) => (u === 'server' ? 'serverAuth' : 'clientAuth')),
        serialNumber: newSerial(),
      },
      { privateKey: ca.key, certificate: ca.cert },
    );
    const cert = new X509Certificate(pem);
    return { certificate: pem, chain: [...ca.chain], serial: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.validTo) };
  }

  async revoke(serial: string, notAfter: Date): Promise<void> {
    await this.updateList((list) => {
      if (list.revoked.some((r) => r.serial === serial)) return null;
      return { number: list.number + 1, revoked: [...list.revoked, { serial, revokedAt: Date.now(), notAfter: notAfter.getTime() }] };
    });
  }

  async tidy(now: number): Promise<number> {
    let removed = 0;
    await this.updateList((list) => {
      const kept = list.revoked.filter((r) => r.notAfter >= now);
      removed = list.revoked.length - kept.length;
      return removed === 0 ? null : { number: list.number + 1, revoked: kept };
    });
    return removed;
  }

  async ca(): Promise<string[]> {
    return [...(await this.authority()).chain];
  }

  async crl(): Promise<Buffer> {
    const ca = await this.authority();
    const { list, version } = await this.readList();
    const now = Date.now();
    const cached = this.crlCache;
    if (cached && cached.version === version && now - cached.madeAt < this.options.crlTtlMs / 2) return cached.der;
    const der = createCrl({
      ca: { privateKey: ca.key, certificate: ca.cert },
      revoked: list.revoked.filter((r) => r.notAfter >= now).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) })),
      number: list.number,
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + this.options.crlTtlMs),
    });
    this.crlCache = { version, der, madeAt: now };
    return der;
  }

  async close(): Promise<void> {}

  private async readList(): Promise<{ list: RevokedList; version: string }> {
    try {
      const entry = await this.store.get(this.crlEntry);
      return { list: JSON.parse(entry.value.toString('utf8')) as RevokedList, version: entry.version };
    } catch (err) {
      if (err instanceof EntryNotFoundError) return { list: { number: 1, revoked: [] }, version: '' };
      throw translateStoreError(err, TEXTS);
    }
  }

  /** A conditional update of the revoked list, retried on a lost race; `change` returns null for "nothing to do". */
  private async updateList(change: (list: RevokedList) => RevokedList | null): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const { list, version } = await this.readList();
      const next = change(list);
      if (next === null) return;
      const bytes = Buffer.from(JSON.stringify(next));
      try {
        if (version === '') await this.store.create(this.crlEntry, bytes);
        else await this.store.update(this.crlEntry, bytes, version);
        return;
      } catch (err) {
        if (err instanceof VersionMismatchError || err instanceof EntryExistsError) continue;
        throw translateStoreError(err, TEXTS);
      }
    }
    throw coded('CRL_BUSY');
  }
}

function encodeCA(ca: CA): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, key: privateKeyToPem(ca.key), chain: ca.chain }));
}

function decodeCA(value: Buffer): CA {
  const o = JSON.parse(value.toString('utf8')) as { v: number; key: string; chain: string[] };
  if (o.v !== 1 || !Array.isArray(o.chain) || o.chain.length === 0) throw coded('CA_MALFORMED');
  return { key: createPrivateKey(o.key), cert: new X509Certificate(o.chain[0] as string), chain: o.chain };
}
