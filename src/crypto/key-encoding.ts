/**
 * How master keys sit in the keystore, byte-compatible with KES so either
 * server can read the other's keystore.
 *
 * Written: base64 (standard, padded) of the protobuf `miniohq.kms.KeyVersion`:
 *   1 SecretKey { 1 bytes key, 2 uint32 type (1 AES256, 2 ChaCha20) }
 *   2 HMACKey   { 1 bytes key, 2 uint32 hash (1 SHA256) }
 *   3 google.protobuf.Timestamp { 1 int64 seconds, 2 int32 nanos }
 *   4 string created_by
 * It is base64 because some keystores mangle binary values. The message is
 * four fields, so it is encoded by hand rather than with a protobuf library.
 *
 * Read: that, or (when the bytes are valid JSON, KES's test order) the legacy
 * JSON form {bytes, algorithm?, created_at?, created_by?}, which has no HMAC
 * key and treats a missing algorithm as AES256.
 */
import { SecretKey, secretKeyMaterial, type Algorithm } from './secret-key.js';
import { decodeStdBase64, goJSONBytes, goJSONField, goJSONString, isJSONObject } from './go-compat.js';

export interface StoredKey {
  key: SecretKey;
  createdAt?: Date;
  createdBy?: string;
}

/** A stored key that cannot be decoded or a key that cannot be encoded. */
export class KeyEncodingError extends Error {
  override get name(): string {
    return 'KeyEncodingError';
  }
}

const TYPE_BY_ALGORITHM: Record<Algorithm, number> = { AES256: 1, ChaCha20: 2 };
const HASH_SHA256 = 1;

/**
 * Every name KES's legacy JSON ever used for the two ciphers. A Map, so a
 * stored name like "constructor" cannot reach Object.prototype.
 */
const LEGACY_ALGORITHMS = new Map<string, Algorithm>([
  ['AES256', 'AES256'],
  ['AES256-GCM_SHA256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
]);

/**
 * Go's zero time.Time (0001-01-01T00:00:00Z), which KES writes when a key has
 * no creation time; we map it to and from "no createdAt".
 */
const GO_ZERO_TIME_SECONDS = -62135596800n;
/** The range of a JS Date, in milliseconds either side of the epoch. */
const MAX_DATE_MS = 8.64e15;

/**
 * The base64 text KES stores. Throws KeyEncodingError for a key without an
 * HMAC subkey: KES's format requires one (legacy keys are only ever read).
 */
export function encodeKey(k: StoredKey): Buffer {
  const { key, hmacKey } = secretKeyMaterial(k.key);
  if (!hmacKey) throw new KeyEncodingError('cannot encode key: the KES key format requires an HMAC key');

  const w = new ProtoWriter();
  w.message(1, (m) => m.bytes(1, key).uint(2, TYPE_BY_ALGORITHM[k.key.algorithm]));
  w.message(2, (m) => m.bytes(1, hmacKey).uint(2, HASH_SHA256));
  w.message(3, (m) => {
    const { seconds, nanos } = toTimestamp(k.createdAt);
    m.int(1, seconds).int(2, BigInt(nanos));
  });
  if (k.createdBy) w.bytes(4, Buffer.from(k.createdBy, 'utf8'));
  const proto = w.finish();
  try {
    return Buffer.from(proto.toString('base64'), 'latin1');
  } finally {
    proto.fill(0);
  }
}

/**
 * A key in whichever KES form can hold it: the protobuf form when it has an HMAC
 * subkey (encodeKey), else KES's legacy JSON form {bytes, algorithm, created_at?,
 * created_by?}, the only one a key without an HMAC subkey (read from a pre-2024 KES
 * keystore) was ever stored in. decodeKey reads both back.
 */
export function encodeKeyAnyForm(k: StoredKey): Buffer {
  if (k.key.hasHMAC) return encodeKey(k);
  const { key } = secretKeyMaterial(k.key);
  const doc: Record<string, string> = {
    bytes: key.toString('base64'),
    algorithm: k.key.algorithm === 'AES256' ? 'AES256-GCM_SHA256' : 'XCHACHA20-POLY1305',
  };
  if (k.createdAt) doc['created_at'] = k.createdAt.toISOString();
  if (k.createdBy) doc['created_by'] = k.createdBy;
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/** Reads either stored form; KeyEncodingError (never with key bytes) otherwise. */
export function decodeKey(stored: Uint8Array): StoredKey {
  const text = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8');
  let json: unknown;
  let isJSON = true;
  try {
    json = JSON.parse(text);
  } catch {
    isJSON = false;
  }
  if (isJSON) return decodeLegacyJSON(json);

  const raw = decodeStdBase64(text);
  if (!raw) throw new KeyEncodingError('invalid stored key: neither JSON nor base64-encoded protobuf');
  try {
    return decodeProtobuf(raw);
  } finally {
    raw.fill(0);
  }
}

function decodeLegacyJSON(doc: unknown): StoredKey {
  const fail = (why: string) => new KeyEncodingError(`invalid stored key (legacy JSON): ${why}`);
  // Go unmarshals null into a struct as a no-op, which then fails on the key
  // length; anything else that is not an object is a type error.
  if (doc === null) throw fail('missing key bytes');
  if (!isJSONObject(doc)) throw fail('not a JSON object');

  const bytes = goJSONBytes(goJSONField(doc, 'bytes'));
  if (!bytes) throw fail("'bytes' is not a base64 string");
  try {
    return legacyKey(doc, bytes, fail);
  } finally {
    bytes.fill(0);
  }
}

function legacyKey(doc: Record<string, unknown>, bytes: Buffer, fail: (why: string) => KeyEncodingError): StoredKey {
  const algorithmName = goJSONString(goJSONField(doc, 'algorithm'));
  if (algorithmName === undefined) throw fail("'algorithm' is not a string");
  const createdAtText = goJSONField(doc, 'created_at');
  const createdBy = goJSONString(goJSONField(doc, 'created_by'));
  if (createdBy === undefined) throw fail("'created_by' is not a string");

  let createdAt: Date | undefined;
  if (createdAtText !== undefined && createdAtText !== null) {
    if (typeof createdAtText !== 'string') throw fail("'created_at' is not a string");
    createdAt = parseRFC3339(createdAtText);
    if (!createdAt) throw fail("'created_at' is not an RFC 3339 time");
    if (createdAt.getTime() === Number(GO_ZERO_TIME_SECONDS) * 1000) createdAt = undefined;
  }

  const algorithm = algorithmName === '' ? 'AES256' : LEGACY_ALGORITHMS.get(algorithmName);
  if (!algorithm) throw fail(`unsupported algorithm '${algorithmName.slice(0, 40)}'`);
  if (bytes.length !== 32) throw fail(`key is ${bytes.length} bytes, must be 32`);

  const out: StoredKey = { key: new SecretKey(algorithm, bytes) };
  if (createdAt) out.createdAt = createdAt;
  if (createdBy) out.createdBy = createdBy;
  return out;
}

function decodeProtobuf(raw: Buffer): StoredKey {
  const fail = (why: string) => new KeyEncodingError(`invalid stored key (protobuf): ${why}`);
  // Repeated occurrences of a message field merge; concatenating their bytes
  // and parsing once is exactly protobuf's merge rule.
  const keyParts: Buffer[] = [];
  const hmacParts: Buffer[] = [];
  const timeParts: Buffer[] = [];
  let createdByBytes: Buffer | undefined;
  // Merged copies hold key bytes; wiped on the way out (the views into raw
  // are wiped by the caller).
  const copies: Buffer[] = [];
  const merge = (parts: Buffer[]): Buffer => {
    if (parts.length <= 1) return parts[0] ?? EMPTY;
    const b = Buffer.concat(parts);
    copies.push(b);
    return b;
  };
  try {
    readMessage(raw, (field, value) => {
      if (!(value instanceof Buffer)) return; // wrong wire type: an unknown field to protobuf
      if (field === 1) keyParts.push(value);
      else if (field === 2) hmacParts.push(value);
      else if (field === 3) timeParts.push(value);
      else if (field === 4) createdByBytes = value;
    });

    let key: Buffer = EMPTY;
    let type = 0;
    readMessage(merge(keyParts), (field, value) => {
      if (field === 1 && value instanceof Buffer) key = value;
      else if (field === 2 && typeof value === 'bigint') type = Number(BigInt.asUintN(32, value));
    });
    let hmacKey: Buffer = EMPTY;
    let hash = 0;
    readMessage(merge(hmacParts), (field, value) => {
      if (field === 1 && value instanceof Buffer) hmacKey = value;
      else if (field === 2 && typeof value === 'bigint') hash = Number(BigInt.asUintN(32, value));
    });
    let seconds = 0n;
    let nanos = 0n;
    readMessage(merge(timeParts), (field, value) => {
      if (field === 1 && typeof value === 'bigint') seconds = BigInt.asIntN(64, value);
      else if (field === 2 && typeof value === 'bigint') nanos = BigInt.asIntN(32, value);
    });

    // Same checks, same order, as KES's KeyVersion.UnmarshalPB.
    if (key.length !== 32) throw fail(`secret key is ${key.length} bytes, must be 32`);
    const algorithm = type === 1 ? 'AES256' : type === 2 ? 'ChaCha20' : undefined;
    if (!algorithm) throw fail(`unknown secret key type ${type}`);
    if (hmacKey.length !== 32) throw fail(`HMAC key is ${hmacKey.length} bytes, must be 32`);
    if (hash !== HASH_SHA256) throw fail(`unknown HMAC hash ${hash}`);

    let createdBy = '';
    if (createdByBytes) {
      try {
        createdBy = UTF8.decode(createdByBytes);
      } catch {
        throw fail('created_by is not valid UTF-8');
      }
    }

    const out: StoredKey = { key: new SecretKey(algorithm, key, hmacKey) };
    const createdAt = fromTimestamp(seconds, nanos, timeParts.length > 0);
    if (createdAt === null) throw fail('created_at is out of range');
    if (createdAt) out.createdAt = createdAt;
    if (createdBy) out.createdBy = createdBy;
    return out;
  } catch (err) {
    if (err instanceof ProtoError) throw fail(err.message);
    throw err;
  } finally {
    for (const c of copies) c.fill(0);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const EMPTY = Buffer.alloc(0);

// --- time -------------------------------------------------------------------

function toTimestamp(d: Date | undefined): { seconds: bigint; nanos: number } {
  if (d === undefined) return { seconds: GO_ZERO_TIME_SECONDS, nanos: 0 };
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new KeyEncodingError('cannot encode key: createdAt is an invalid Date');
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/**
 * undefined: no creation time (field absent, or Go's zero time); null: out of
 * a Date's range. Sub-millisecond precision is dropped (Date has none).
 */
function fromTimestamp(seconds: bigint, nanos: bigint, present: boolean): Date | undefined | null {
  // An absent timestamp reads as the Unix epoch in KES (a nil *Timestamp's
  // AsTime); it only ever means "unknown", so say so.
  if (!present) return undefined;
  if (seconds === GO_ZERO_TIME_SECONDS && nanos === 0n) return undefined;
  // Floor division, so a negative nanos (which Go's time.Unix normalises)
  // lands on the right millisecond.
  const ms = seconds * 1000n + (nanos >= 0n ? nanos / 1_000_000n : -((-nanos + 999_999n) / 1_000_000n));
  if (ms > BigInt(MAX_DATE_MS) || ms < -BigInt(MAX_DATE_MS)) return null;
  return new Date(Number(ms));
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Go's time.Time JSON decoding (RFC 3339, uppercase T and Z, optional fraction
 * of any length, ranges checked). Date.parse would accept far more.
 */
export function parseRFC3339(s: string): Date | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = m[7] ?? '';
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
  if (day < 1 || day > daysInMonth) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: the latter maps years 0-99 to 1900-1999.
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  return new Date(d.getTime() - offsetMinutes * 60_000);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

// --- protobuf wire format -----------------------------------------------------

class ProtoError extends Error {}

/**
 * Calls visit for each field: a bigint for varints, a Buffer (a view into b)
 * for length-delimited fields. Fixed-width fields are skipped (none of ours
 * use them); groups are long deprecated and rejected.
 */
function readMessage(b: Buffer, visit: (field: number, value: bigint | Buffer) => void): void {
  let pos = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = b[pos++];
      if (byte === undefined) throw new ProtoError('truncated varint');
      // The tenth byte may only carry bit 63.
      if (i === 9 && byte > 1) throw new ProtoError('varint overflows 64 bits');
      v |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) return v;
    }
    throw new ProtoError('varint overflows 64 bits');
  };
  while (pos < b.length) {
    const tag = varint();
    const field = tag >> 3n;
    const wireType = Number(tag & 7n);
    if (field < 1n || field > 0x1fffffffn) throw new ProtoError('invalid field number');
    switch (wireType) {
      case 0:
        visit(Number(field), varint());
        break;
      case 1:
        if (pos + 8 > b.length) throw new ProtoError('truncated fixed64');
        pos += 8;
        break;
      case 2: {
        const len = varint();
        if (len > BigInt(b.length - pos)) throw new ProtoError('truncated length-delimited field');
        const value = b.subarray(pos, pos + Number(len));
        pos += Number(len);
        visit(Number(field), value);
        break;
      }
      case 5:
        if (pos + 4 > b.length) throw new ProtoError('truncated fixed32');
        pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wireType}`);
    }
  }
}

/** Writes fields in ascending order and omits zero values, as Go's proto.Marshal does. */
class ProtoWriter {
  private readonly chunks: Buffer[] = [];

  bytes(field: number, value: Uint8Array): this {
    if (value.length === 0) return this;
    this.tag(field, 2).varint(BigInt(value.length));
    this.chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  uint(field: number, value: number): this {
    return value === 0 ? this : this.tag(field, 0).varint(BigInt(value));
  }

  /** int32/int64: negative values are sign-extended to ten bytes. */
  int(field: number, value: bigint): this {
    return value === 0n ? this : this.tag(field, 0).varint(BigInt.asUintN(64, value));
  }

  /** A sub-message; written even when empty, as Go writes a non-nil message. */
  message(field: number, build: (m: ProtoWriter) => void): this {
    const m = new ProtoWriter();
    build(m);
    // Splice the chunks in rather than concatenating them, so key bytes are
    // copied once, into the buffer finish() returns (which the caller wipes).
    this.tag(field, 2).varint(BigInt(m.length()));
    this.chunks.push(...m.chunks);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private length(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  private tag(field: number, wireType: number): this {
    return this.varint((BigInt(field) << 3n) | BigInt(wireType));
  }

  private varint(v: bigint): this {
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.chunks.push(Buffer.from(out));
    return this;
  }
}
