/**
 * Issued certificates as the keystore keeps them: `pki.cert.<serial>`, one JSON entry
 * each (serial, issuer, role, names, caller, expiry, revocation), never a key. The
 * issued list is a prefix listing; tidy deletes the entries of expired certificates.
 */
import { EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';

export interface CertRecord {
  serial: string;
  issuer: string;
  role: string;
  names: string[];
  /** The caller's audit name (identity or `node:<group>/<id>`). */
  caller: string;
  issuedAt: number;
  notAfter: number;
  revokedAt: number | null;
}

export const CERT_PREFIX = 'pki.cert.';
const TEXTS: StoreErrorTexts = { exists: 'CERTIFICATE_RECORDED', notFound: 'CERTIFICATE_NOT_FOUND', failed: 'failed to record the certificate' };

function encode(r: CertRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      serial: r.serial,
      issuer: r.issuer,
      role: r.role,
      names: r.names,
      caller: r.caller,
      issued_at: r.issuedAt,
      not_after: r.notAfter,
      revoked_at: r.revokedAt,
    }),
  );
}

function decode(value: Buffer): CertRecord {
  const o = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  if (o['v'] !== 1 || typeof o['serial'] !== 'string') throw new Error('pki: malformed certificate record');
  return {
    serial: o['serial'],
    issuer: String(o['issuer']),
    role: String(o['role']),
    names: Array.isArray(o['names']) ? o['names'].map(String) : [],
    caller: String(o['caller']),
    issuedAt: Number(o['issued_at']),
    notAfter: Number(o['not_after']),
    revokedAt: typeof o['revoked_at'] === 'number' ? o['revoked_at'] : null,
  };
}

export class CertRecords {
  constructor(private readonly store: KeyStore) {}

  async add(r: CertRecord): Promise<void> {
    try {
      await this.store.create(CERT_PREFIX + r.serial, encode(r));
    } catch (err) {
      throw translateStoreError(err, TEXTS);
    }
  }

  /** The record, or null when there is none (never issued here, or pruned). */
  async get(serial: string): Promise<CertRecord | null> {
    try {
      return decode((await this.store.get(CERT_PREFIX + serial)).value);
    } catch (err) {
      if (err instanceof EntryNotFoundError) return null;
      throw translateStoreError(err, TEXTS);
    }
  }

  /** Marks it revoked (once); returns the record as stored afterwards. */
  async markRevoked(serial: string, at: number): Promise<CertRecord | null> {
    for (;;) {
      try {
        const entry = await this.store.get(CERT_PREFIX + serial);
        const r = decode(entry.value);
        if (r.revokedAt !== null) return r;
        const next = { ...r, revokedAt: at };
        await this.store.update(CERT_PREFIX + serial, encode(next), entry.version);
        return next;
      } catch (err) {
        if (err instanceof VersionMismatchError) continue;
        if (err instanceof EntryNotFoundError) return null;
        throw translateStoreError(err, TEXTS);
      }
    }
  }

  /** Every record whose serial starts with `prefix`, in serial order. */
  async list(prefix: string): Promise<CertRecord[]> {
    const out: CertRecord[] = [];
    let next = '';
    try {
      do {
        const page = await this.store.list(CERT_PREFIX + prefix, next, 1000);
        for (const name of page.names) {
          try {
            out.push(decode((await this.store.get(name)).value));
          } catch (err) {
            if (!(err instanceof EntryNotFoundError)) throw err; // pruned meanwhile
          }
        }
        next = page.continueAt;
      } while (next !== '');
    } catch (err) {
      throw translateStoreError(err, TEXTS);
    }
    return out;
  }

  async remove(serial: string): Promise<void> {
    try {
      await this.store.delete(CERT_PREFIX + serial);
    } catch (err) {
      if (!(err instanceof EntryNotFoundError)) throw translateStoreError(err, TEXTS);
    }
  }
}
