/**
 * The stored form of a bundle (JSON text in entry `bundle.<name>`) and the
 * checks of its small fields (TTL, labels).
 */
import { BadRequestError } from '../../errors.js';
import type { KeyType } from './validate.js';

/** Who did something, and when (ISO 8601). */
export interface Stamp {
  at: string;
  by: string;
}

export interface BundleRecord {
  format: 1;
  /** Random generation id, new on every write: what SAN index pairs point at. */
  id: string;
  /** PEM chain, leaf first. */
  certificate: string;
  /** PEM private key. */
  private_key: string;
  ttl: number;
  labels: Record<string, string>;
  key_type: KeyType;
  key_size: number;
  /** The leaf's SANs: DNS names as written, IP addresses as hex bytes (what the index was built from). */
  sans: { dns: string[]; ip: string[] };
  not_after: string;
  created: Stamp;
  updated: Stamp;
}

export const TTL_RANGE = { min: 1, max: 31_536_000 } as const;
export const LABEL_LIMITS = { count: 32, keyLength: 63, valueLength: 256 } as const;

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// Printable characters of any script; no control characters (they would garble listings and logs).
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** @throws BadRequestError unless `ttl` is a whole number of seconds within TTL_RANGE. */
export function checkTTL(ttl: number): void {
  if (!Number.isSafeInteger(ttl) || ttl < TTL_RANGE.min || ttl > TTL_RANGE.max) {
    throw new BadRequestError(`ttl must be a whole number of seconds from ${TTL_RANGE.min} to ${TTL_RANGE.max}`);
  }
}

/** @throws BadRequestError for too many labels, a bad key, or a value that is not a short printable string. */
export function checkLabels(labels: Record<string, unknown>): asserts labels is Record<string, string> {
  const entries = Object.entries(labels);
  if (entries.length > LABEL_LIMITS.count) throw new BadRequestError(`labels: at most ${LABEL_LIMITS.count} labels`);
  for (const [key, value] of entries) {
    if (key.length > LABEL_LIMITS.keyLength || !LABEL_KEY.test(key)) {
      throw new BadRequestError(
        `labels: invalid key '${key.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')}': 1–${LABEL_LIMITS.keyLength} characters of [A-Za-z0-9_.-], starting with a letter or digit`,
      );
    }
    if (typeof value !== 'string' || value.length > LABEL_LIMITS.valueLength || CONTROL.test(value)) {
      throw new BadRequestError(`labels: the value of '${key}' must be a string of at most ${LABEL_LIMITS.valueLength} printable characters`);
    }
  }
}

export function encodeRecord(record: BundleRecord): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/** @throws Error for an entry that is not a bundle record (a corrupt keystore). */
export function decodeRecord(value: Buffer): BundleRecord {
  let record: BundleRecord;
  try {
    record = JSON.parse(value.toString('utf8')) as BundleRecord;
  } catch {
    // V8's JSON errors quote the input, which holds a private key: never let one reach a log.
    throw new Error('bundles: malformed bundle entry');
  }
  if (record?.format !== 1 || typeof record.certificate !== 'string' || typeof record.private_key !== 'string' || typeof record.id !== 'string') {
    throw new Error('bundles: malformed bundle entry');
  }
  return record;
}
