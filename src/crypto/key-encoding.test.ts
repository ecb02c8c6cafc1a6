import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyEncodingError, SecretKey, decodeKey, encodeKey, type Algorithm, type StoredKey } from './index.js';
import { parseRFC3339 } from './key-encoding.js';
import { secretKeyMaterial } from './secret-key.js';

interface KeyVector {
  stored: string;
  expect: 'ok' | 'error';
  format?: string;
  algorithm?: Algorithm;
  key?: string;
  hmac_key?: string | null;
  created_at?: string | null;
  created_by?: string | null;
  failure?: string;
  verified: boolean;
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/kes/ciphertexts.json', import.meta.url), 'utf8')) as {
  key_encodings: { vectors: KeyVector[] };
};
const keyVectors = vectors.key_encodings.vectors;

const b64 = (s: string) => Buffer.from(s, 'base64');
const material = (k: SecretKey) => secretKeyMaterial(k);
const PROTO_VECTOR = keyVectors.find((v) => v.format?.startsWith('base64(protobuf'))!;

function expectEncodingError(f: () => unknown, notContaining: string[] = []): KeyEncodingError {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(KeyEncodingError);
  const message = (thrown as Error).message;
  expect(message).toMatch(/^(invalid stored key|cannot encode key)/);
  for (const s of notContaining) expect(message).not.toContain(s);
  return thrown as KeyEncodingError;
}

/** protobuf bytes → what the keystore holds. */
const stored = (proto: Buffer) => Buffer.from(proto.toString('base64'));

describe('KES key_encodings vectors', () => {
  it('has the expected vector set', () => {
    expect(keyVectors).toHaveLength(10);
    expect(keyVectors.every((v) => v.verified)).toBe(true);
  });

  it.each(keyVectors.map((v, i) => [i, v.expect, v.failure ?? v.format, v] as const))('#%i %s (%s)', (_i, _e, _f, v) => {
    const input = Buffer.from(v.stored, 'utf8');
    if (v.expect === 'error') {
      expectEncodingError(() => decodeKey(input));
      return;
    }
    const got = decodeKey(input);
    expect(got.key.algorithm).toBe(v.algorithm);
    const m = material(got.key);
    expect(m.key.toString('base64')).toBe(v.key);
    if (v.hmac_key === null) {
      expect(got.key.hasHMAC).toBe(false);
      expect(m.hmacKey).toBeUndefined();
    } else {
      expect(got.key.hasHMAC).toBe(true);
      expect(m.hmacKey!.toString('base64')).toBe(v.hmac_key);
    }
    if (v.created_at === null) expect(got.createdAt).toBeUndefined();
    // A Date holds milliseconds; the protobuf vector has microseconds.
    else expect(got.createdAt!.getTime()).toBe(Math.floor(Date.parse(v.created_at!)));
    if (v.created_by === null) expect(got.createdBy).toBeUndefined();
    else expect(got.createdBy).toBe(v.created_by);
  });

  it('the protobuf vector loses only sub-millisecond precision', () => {
    expect(decodeKey(Buffer.from(PROTO_VECTOR.stored)).createdAt!.toISOString()).toBe('2024-01-12T10:39:20.886Z');
  });
});

describe('encodeKey', () => {
  it("writes KES's layout byte for byte", () => {
    // The protobuf vector with nanos 886816000 → 886000000 (computed outside
    // this code base), since a Date carries only milliseconds.
    const expected =
      'CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa9HgQARoMCNithK0GEICTvaYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy';
    const key = new SecretKey('AES256', b64(PROTO_VECTOR.key!), b64(PROTO_VECTOR.hmac_key!));
    const out = encodeKey({ key, createdAt: new Date('2024-01-12T10:39:20.886Z'), createdBy: PROTO_VECTOR.created_by! });
    expect(out.toString('latin1')).toBe(expected);
    // And what it writes reads back as the vector does.
    const back = decodeKey(out);
    expect(material(back.key).key.toString('base64')).toBe(PROTO_VECTOR.key);
    expect(material(back.key).hmacKey!.toString('base64')).toBe(PROTO_VECTOR.hmac_key);
    expect(back.createdBy).toBe(PROTO_VECTOR.created_by);
  });

  it('re-encodes the decoded protobuf vector to the same fields', () => {
    const d = decodeKey(Buffer.from(PROTO_VECTOR.stored));
    const again = decodeKey(encodeKey(d));
    expect(again.key.algorithm).toBe('AES256');
    expect(again.createdAt!.getTime()).toBe(d.createdAt!.getTime());
    expect(again.createdBy).toBe(d.createdBy);
  });

  it('writes a key without creation time with Go’s zero time, as KES does', () => {
    const key = new SecretKey('ChaCha20', Buffer.alloc(32, 1), Buffer.alloc(32, 2));
    const proto = b64(encodeKey({ key }).toString('latin1'));
    const expectedHex =
      '0a24' +
      '0a20' +
      '01'.repeat(32) +
      '1002' + // SecretKey, type 2
      '1224' +
      '0a20' +
      '02'.repeat(32) +
      '1001' + // HMACKey, SHA256
      '1a0b' +
      '08' +
      '8092b8c398feffffff01'; // seconds = -62135596800
    expect(proto.toString('hex')).toBe(expectedHex);
    const back = decodeKey(stored(proto));
    expect(back.createdAt).toBeUndefined();
    expect(back.createdBy).toBeUndefined();
    expect(back.key.algorithm).toBe('ChaCha20');
  });

  it('round-trips both algorithms with and without metadata', () => {
    const cases: StoredKey[] = [
      { key: SecretKey.generate('AES256') },
      { key: SecretKey.generate('ChaCha20'), createdAt: new Date('2025-03-01T12:00:00.123Z'), createdBy: 'admin' },
      { key: SecretKey.generate(), createdAt: new Date(0) },
      { key: SecretKey.generate(), createdAt: new Date('1969-12-31T23:59:59.500Z'), createdBy: 'ü-identity' },
      { key: SecretKey.generate(), createdAt: new Date('0001-01-01T00:00:00.001Z') },
      { key: SecretKey.generate(), createdAt: new Date(8.64e15) },
    ];
    for (const c of cases) {
      const enc = encodeKey(c);
      expect(enc.toString('latin1')).toMatch(/^[A-Za-z0-9+/]+=*$/);
      const back = decodeKey(enc);
      expect(back.key.algorithm).toBe(c.key.algorithm);
      expect(material(back.key).key.equals(material(c.key).key)).toBe(true);
      expect(material(back.key).hmacKey!.equals(material(c.key).hmacKey!)).toBe(true);
      expect(back.createdAt?.getTime()).toBe(c.createdAt?.getTime());
      expect(back.createdBy).toBe(c.createdBy);
      // The decoded key is the same key, not just the same bytes.
      const ct = c.key.encrypt(Buffer.from('x'));
      expect(back.key.decrypt(ct).toString()).toBe('x');
      expect(back.key.hmac(Buffer.from('m')).equals(c.key.hmac(Buffer.from('m')))).toBe(true);
    }
  });

  it('round-trips arbitrary metadata', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Algorithm>('AES256', 'ChaCha20'),
        fc.option(fc.integer({ min: -8.64e15, max: 8.64e15 }), { nil: undefined }),
        fc.option(fc.string({ minLength: 1, maxLength: 100, unit: 'grapheme' }), { nil: undefined }),
        (alg, ms, createdBy) => {
          const k: StoredKey = { key: SecretKey.generate(alg) };
          if (ms !== undefined && ms !== -62135596800000) k.createdAt = new Date(ms);
          if (createdBy !== undefined) k.createdBy = createdBy;
          const back = decodeKey(encodeKey(k));
          expect(back.createdAt?.getTime()).toBe(k.createdAt?.getTime());
          expect(back.createdBy).toBe(k.createdBy);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a key without an HMAC key (the KES format requires one)', () => {
    expectEncodingError(() => encodeKey({ key: new SecretKey('AES256', randomBytes(32)) }));
  });

  it('refuses an invalid Date', () => {
    expectEncodingError(() => encodeKey({ key: SecretKey.generate(), createdAt: new Date(NaN) }));
  });
});

describe('decodeKey: protobuf', () => {
  const secret = Buffer.alloc(32, 0x11);
  const hmac = Buffer.alloc(32, 0x22);
  const field = (n: number, body: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2, body.length]), body]);
  const secretMsg = (key = secret, type = 1) => Buffer.concat([field(1, key), Buffer.from([0x10, type])]);
  const hmacMsg = (key = hmac, hash = 1) => Buffer.concat([field(1, key), Buffer.from([0x10, hash])]);
  const base = () => [field(1, secretMsg()), field(2, hmacMsg())];

  it('reads a minimal key (no time, no creator)', () => {
    const k = decodeKey(stored(Buffer.concat(base())));
    expect(k.key.algorithm).toBe('AES256');
    expect(k.key.hasHMAC).toBe(true);
    expect(k.createdAt).toBeUndefined();
    expect(k.createdBy).toBeUndefined();
  });

  it('follows protobuf rules: any field order, unknown fields skipped, messages merged, last scalar wins', () => {
    const unknown = Buffer.from([0x78, 0x05, 0x81, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]); // 15 varint, 16 fixed64
    const fixed32 = Buffer.from([0x2d, 1, 2, 3, 4]); // field 5, fixed32
    const split = [field(1, field(1, secret)), field(1, Buffer.from([0x10, 0x02]))]; // key, then type in a second occurrence
    const proto = Buffer.concat([field(2, hmacMsg()), unknown, ...split, fixed32, field(4, Buffer.from('a')), field(4, Buffer.from('bob'))]);
    const k = decodeKey(stored(proto));
    expect(k.key.algorithm).toBe('ChaCha20');
    expect(material(k.key).key.equals(secret)).toBe(true);
    expect(k.createdBy).toBe('bob');
  });

  it('accepts a trailing newline, as Go’s base64 decoder ignores CR and LF', () => {
    const k = decodeKey(Buffer.from(`${Buffer.concat(base()).toString('base64')}\r\n`));
    expect(k.key.algorithm).toBe('AES256');
  });

  it('reads timestamps: epoch, negative, Go zero time', () => {
    const ts = (hex: string) => decodeKey(stored(Buffer.concat([...base(), field(3, Buffer.from(hex, 'hex'))]))).createdAt;
    expect(ts('')?.getTime()).toBe(0); // present but zero: the epoch
    expect(ts('08ffffffffffffffffff01' + '1080cab5ee01')?.toISOString()).toBe('1969-12-31T23:59:59.500Z');
    expect(ts('088092b8c398feffffff01')).toBeUndefined();
  });

  it.each([
    ['no secret key', () => [field(2, hmacMsg())]],
    ['a 31-byte secret key', () => [field(1, secretMsg(Buffer.alloc(31))), field(2, hmacMsg())]],
    ['secret key type 0', () => [field(1, field(1, secret)), field(2, hmacMsg())]],
    ['secret key type 3', () => [field(1, secretMsg(secret, 3)), field(2, hmacMsg())]],
    ['no HMAC key', () => [field(1, secretMsg())]],
    ['a 16-byte HMAC key', () => [field(1, secretMsg()), field(2, hmacMsg(Buffer.alloc(16)))]],
    ['HMAC hash 2', () => [field(1, secretMsg()), field(2, hmacMsg(hmac, 2))]],
    ['a truncated field', () => [...base(), Buffer.from([0x22, 0x05, 0x61])]],
    ['a truncated varint', () => [...base(), Buffer.from([0x18, 0x80])]],
    ['field number 0', () => [...base(), Buffer.from([0x02, 0x00])]],
    ['a group', () => [...base(), Buffer.from([0x2b, 0x2c])]],
    ['invalid UTF-8 in created_by', () => [...base(), field(4, Buffer.from([0xff, 0xfe]))]],
    ['a time out of range', () => [...base(), field(3, Buffer.from('08ffffffffffffff7f', 'hex'))]],
  ] as const)('rejects %s', (_name, parts) => {
    expectEncodingError(() => decodeKey(stored(Buffer.concat(parts()))), [secret.toString('base64'), '1111']);
  });

  it('rejects text that is neither JSON nor standard base64', () => {
    for (const s of ['not base64!', 'QUJD', 'QUJDRA', 'QUJD RA==', 'QUJDRA==QUJD', '-_-_']) {
      expectEncodingError(() => decodeKey(Buffer.from(s)));
    }
    expectEncodingError(() => decodeKey(Buffer.alloc(0)));
  });
});

describe('decodeKey: legacy JSON', () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));

  it('maps every algorithm name KES wrote, and none to AES256', () => {
    const names: [string | null | undefined, Algorithm][] = [
      [undefined, 'AES256'],
      [null, 'AES256'],
      ['', 'AES256'],
      ['AES256', 'AES256'],
      ['AES256-GCM_SHA256', 'AES256'],
      ['ChaCha20', 'ChaCha20'],
      ['XCHACHA20-POLY1305', 'ChaCha20'],
    ];
    for (const [algorithm, want] of names) {
      const k = decodeKey(json({ bytes: key, algorithm }));
      expect(k.key.algorithm).toBe(want);
      expect(k.key.hasHMAC).toBe(false);
    }
  });

  it('reads created_at as Go does, and the v0.22 "version" field is ignored', () => {
    const k = decodeKey(json({ bytes: key, created_at: '2009-11-10T23:00:00+01:30', created_by: 'x', version: 'v1' }));
    expect(k.createdAt!.toISOString()).toBe('2009-11-10T21:30:00.000Z');
    expect(decodeKey(json({ bytes: key, created_at: null })).createdAt).toBeUndefined();
    expect(decodeKey(json({ bytes: key, created_at: '0001-01-01T00:00:00Z' })).createdAt).toBeUndefined();
  });

  it('matches field names case-insensitively, like Go', () => {
    const k = decodeKey(json({ Bytes: key, ALGORITHM: 'ChaCha20' }));
    expect(k.key.algorithm).toBe('ChaCha20');
  });

  it.each([
    ['null', 'null'],
    ['an array', '[]'],
    ['a number', '12'],
    ['a string', '"abc"'],
    ['no bytes', '{}'],
    ['a short key', JSON.stringify({ bytes: Buffer.alloc(31, 9).toString('base64') })],
    ['a long key', JSON.stringify({ bytes: Buffer.alloc(33, 9).toString('base64') })],
    ['bytes not a string', JSON.stringify({ bytes: [1, 2] })],
    ['bytes unpadded', JSON.stringify({ bytes: key.replace(/=+$/, '') })],
    ['an unknown algorithm', JSON.stringify({ bytes: key, algorithm: 'AES-256-GCM' })],
    ['an Object.prototype name as algorithm', JSON.stringify({ bytes: key, algorithm: 'constructor' })],
    ['algorithm not a string', JSON.stringify({ bytes: key, algorithm: 1 })],
    ['created_at not RFC 3339', JSON.stringify({ bytes: key, created_at: '2009-11-10 23:00:00' })],
    ['created_at not a string', JSON.stringify({ bytes: key, created_at: 0 })],
    ['created_by not a string', JSON.stringify({ bytes: key, created_by: {} })],
  ])('rejects %s', (_name, text) => {
    expectEncodingError(() => decodeKey(Buffer.from(text)), [Buffer.alloc(31, 9).toString('base64'), key]);
  });
});

describe('parseRFC3339', () => {
  it.each([
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['2009-11-10T23:00:00.123456789Z', '2009-11-10T23:00:00.123Z'],
    ['2009-11-10T23:00:00,5Z', '2009-11-10T23:00:00.500Z'],
    ['2009-11-10T23:00:00-00:30', '2009-11-10T23:30:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0099-06-01T00:00:00Z', '0099-06-01T00:00:00.000Z'],
  ])('%s', (text, iso) => {
    expect(parseRFC3339(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2009-04-31T00:00:00Z',
    '2009-13-01T00:00:00Z',
    '2009-11-10T24:00:00Z',
    '2009-11-10T23:60:00Z',
    '2009-11-10T23:00:60Z',
    '2009-11-10t23:00:00Z',
    '2009-11-10T23:00:00z',
    '2009-11-10T23:00:00',
    '2009-11-10T23:00:00+24:00',
    '2009-11-10T23:00:00.Z',
    '2009-11-10',
  ])('rejects %s', (text) => {
    expect(parseRFC3339(text)).toBeUndefined();
  });
});
