import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecryptionError, HMACUnavailableError, SecretKey, type Algorithm } from './index.js';
import { parseMsgpackEnvelope } from './envelope.js';

interface DecryptVector {
  id: string;
  envelope: 'raw' | 'msgpack' | 'json';
  algorithm: Algorithm;
  master_key: string;
  ciphertext: string;
  ciphertext_text?: string;
  context: string | null;
  plaintext: string | null;
  expect: 'plaintext' | 'error';
  envelope_fields?: { ciphertext_and_tag: string; iv: string; nonce: string; aead_name?: string; key_id?: string };
  verified: boolean;
}
interface RoundTripVector {
  algorithm: Algorithm;
  master_key: string;
  plaintext: string;
  context: string | null;
  verified: boolean;
}
interface ShapeVector {
  plaintext: string;
  plaintext_len: number;
  context: string | null;
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/kes/ciphertexts.json', import.meta.url), 'utf8')) as {
  decrypt: DecryptVector[];
  encrypt_roundtrip: { vectors: RoundTripVector[] };
  wrap_roundtrip_shapes: { vectors: ShapeVector[] };
};

const b64 = (s: string) => Buffer.from(s, 'base64');
/** The vectors write an absent context as null; KES passes nil, i.e. empty AAD. */
const ctx = (s: string | null) => (s === null ? undefined : b64(s));
const ALGORITHMS: Algorithm[] = ['AES256', 'ChaCha20'];
const DECRYPT_MESSAGE = 'decryption failed: ciphertext is not authentic';

function expectDecryptionError(f: () => unknown): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DecryptionError);
  expect((thrown as Error).message).toBe(DECRYPT_MESSAGE);
}

describe('KES decrypt vectors', () => {
  it('has the expected vector set', () => {
    expect(vectors.decrypt).toHaveLength(23);
    expect(vectors.decrypt.every((v) => v.verified)).toBe(true);
  });

  it.each(vectors.decrypt.map((v) => [v.id, v] as const))('%s', (_id, v) => {
    const key = new SecretKey(v.algorithm, b64(v.master_key));
    const ciphertext = b64(v.ciphertext);
    // Sanity of the vector itself, so a mangled file cannot pass silently.
    if (v.ciphertext_text !== undefined) expect(ciphertext.toString('utf8')).toBe(v.ciphertext_text);
    if (v.envelope === 'raw' && v.envelope_fields) {
      const f = v.envelope_fields;
      expect(ciphertext.equals(Buffer.concat([b64(f.ciphertext_and_tag), b64(f.iv), b64(f.nonce)]))).toBe(true);
    }

    if (v.expect === 'plaintext') {
      const plaintext = key.decrypt(ciphertext, ctx(v.context));
      expect(plaintext.toString('hex')).toBe(b64(v.plaintext ?? '').toString('hex'));
    } else {
      expectDecryptionError(() => key.decrypt(ciphertext, ctx(v.context)));
    }
  });

  it('kes-decrypt-14: a legacy ChaCha20 JSON ciphertext does not open under a key read as AES256', () => {
    // Current KES reads a stored key without algorithm as AES256; the vector's
    // note says such a key can no longer open this ChaCha20 ciphertext.
    const v = vectors.decrypt.find((x) => x.id === 'kes-decrypt-14')!;
    expectDecryptionError(() => new SecretKey('AES256', b64(v.master_key)).decrypt(b64(v.ciphertext)));
  });

  it("msgpack: the envelope's algorithm name is ignored, the key's type decides", () => {
    const v = vectors.decrypt.find((x) => x.id === 'kes-decrypt-05')!; // XCHACHA20-POLY1305
    const parts = parseMsgpackEnvelope(b64(v.ciphertext))!;
    const relabelled = Buffer.concat([
      Buffer.from([0x95, 0xb1]),
      Buffer.from('AES256-GCM_SHA256'),
      Buffer.from([0xa0]), // empty key ID
      Buffer.from([0xc4, 16]),
      parts.iv,
      Buffer.from([0xc4, 12]),
      parts.nonce,
      Buffer.from([0xc4, parts.sealed.length]),
      parts.sealed,
    ]);
    const chacha = new SecretKey('ChaCha20', b64(v.master_key));
    expect(chacha.decrypt(relabelled).toString('hex')).toBe(b64(v.plaintext!).toString('hex'));
    expectDecryptionError(() => new SecretKey('AES256', b64(v.master_key)).decrypt(relabelled));
  });

  it('raw vectors: every single-byte change and every truncation fails', () => {
    for (const id of ['kes-decrypt-01', 'kes-decrypt-02', 'kes-decrypt-03']) {
      const v = vectors.decrypt.find((x) => x.id === id)!;
      const key = new SecretKey(v.algorithm, b64(v.master_key));
      const ct = b64(v.ciphertext);
      for (let i = 0; i < ct.length; i++) {
        const bad = Buffer.from(ct);
        bad[i]! ^= 0x01;
        expectDecryptionError(() => key.decrypt(bad, ctx(v.context)));
      }
      for (let n = 0; n < ct.length; n++) expectDecryptionError(() => key.decrypt(ct.subarray(0, n), ctx(v.context)));
      expectDecryptionError(() => key.decrypt(Buffer.concat([ct, Buffer.from([0])]), ctx(v.context)));
    }
  });
});

describe('encrypt', () => {
  it.each(vectors.encrypt_roundtrip.vectors.map((v, i) => [i, v.algorithm, v] as const))('encrypt_roundtrip #%i (%s)', (_i, _alg, v) => {
    const key = new SecretKey(v.algorithm, b64(v.master_key));
    const plaintext = b64(v.plaintext);
    const ct = key.encrypt(plaintext, ctx(v.context));
    expect(ct.length).toBe(plaintext.length + 44);
    expect(key.decrypt(ct, ctx(v.context)).equals(plaintext)).toBe(true);
    expectDecryptionError(() => key.decrypt(ct, Buffer.concat([ctx(v.context) ?? Buffer.alloc(0), Buffer.from('x')])));
  });

  const shapes = vectors.wrap_roundtrip_shapes.vectors;
  it('has the expected shapes', () => {
    expect(shapes).toHaveLength(7);
    for (const s of shapes) expect(b64(s.plaintext).length).toBe(s.plaintext_len);
  });

  it.each(ALGORITHMS.flatMap((alg) => shapes.map((s) => [alg, s.plaintext_len, s] as const)))('wrap_roundtrip_shapes %s, %i-byte plaintext', (alg, _len, s) => {
    const key = SecretKey.generate(alg);
    const plaintext = b64(s.plaintext);
    const ct = key.encrypt(plaintext, ctx(s.context));
    expect(ct.length).toBe(plaintext.length + 44);
    expect(key.decrypt(ct, ctx(s.context)).equals(plaintext)).toBe(true);
    // null and "" are the same (empty) associated data.
    if (s.context === null || s.context === '') {
      expect(key.decrypt(ct, Buffer.alloc(0)).equals(plaintext)).toBe(true);
      expect(key.decrypt(ct).equals(plaintext)).toBe(true);
    } else {
      expectDecryptionError(() => key.decrypt(ct));
    }
  });

  it.each(ALGORITHMS)('%s: tampering any single byte of a raw ciphertext fails', (alg) => {
    const key = SecretKey.generate(alg);
    const context = Buffer.from('bucket=photos');
    const ct = key.encrypt(Buffer.from('0123456789abcdef'), context);
    for (let i = 0; i < ct.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = Buffer.from(ct);
        bad[i]! ^= mask;
        expectDecryptionError(() => key.decrypt(bad, context));
      }
    }
  });

  it.each(ALGORITHMS)('%s: a wrong context fails', (alg) => {
    const key = SecretKey.generate(alg);
    const ct = key.encrypt(Buffer.from('secret'), Buffer.from('a=1'));
    expectDecryptionError(() => key.decrypt(ct, Buffer.from('a=2')));
    expectDecryptionError(() => key.decrypt(ct, Buffer.from('a=1 ')));
    expectDecryptionError(() => key.decrypt(ct));
    expectDecryptionError(() => key.decrypt(ct, Buffer.alloc(0)));
    const noContext = key.encrypt(Buffer.from('secret'));
    expectDecryptionError(() => key.decrypt(noContext, Buffer.from([0])));
  });

  it.each(ALGORITHMS)('%s: another key, or the same bytes as the other cipher, fails', (alg) => {
    const raw = randomBytes(32);
    const key = new SecretKey(alg, raw);
    const ct = key.encrypt(Buffer.from('secret'));
    expectDecryptionError(() => SecretKey.generate(alg).decrypt(ct));
    expectDecryptionError(() => new SecretKey(alg === 'AES256' ? 'ChaCha20' : 'AES256', raw).decrypt(ct));
  });

  it.each(ALGORITHMS)('%s: uses a fresh IV and nonce every time', (alg) => {
    const key = SecretKey.generate(alg);
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) seen.add(key.encrypt(Buffer.alloc(16)).subarray(-28).toString('hex'));
    expect(seen.size).toBe(64);
  });

  it('round-trips and rejects tampering for arbitrary inputs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALGORITHMS),
        fc.uint8Array({ maxLength: 512 }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (alg, plaintext, context, at, mask) => {
          const key = SecretKey.generate(alg);
          const ct = key.encrypt(plaintext, context);
          expect(ct.length).toBe(plaintext.length + 44);
          expect(key.decrypt(ct, context).equals(Buffer.from(plaintext))).toBe(true);
          const bad = Buffer.from(ct);
          bad[at % bad.length]! ^= mask;
          expectDecryptionError(() => key.decrypt(bad, context));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('SecretKey', () => {
  it('generate defaults to AES256 with an HMAC key', () => {
    const k = SecretKey.generate();
    expect(k.algorithm).toBe('AES256');
    expect(k.hasHMAC).toBe(true);
    const c = SecretKey.generate('ChaCha20');
    expect(c.algorithm).toBe('ChaCha20');
    expect(c.hasHMAC).toBe(true);
  });

  it('generated keys differ', () => {
    const a = SecretKey.generate();
    const b = SecretKey.generate();
    expectDecryptionError(() => b.decrypt(a.encrypt(Buffer.from('x'))));
    expect(a.hmac(Buffer.from('m')).equals(b.hmac(Buffer.from('m')))).toBe(false);
  });

  it('validates its inputs without echoing them', () => {
    expect(() => new SecretKey('AES256', Buffer.alloc(31))).toThrow(RangeError);
    expect(() => new SecretKey('AES256', Buffer.alloc(33))).toThrow(RangeError);
    expect(() => new SecretKey('AES256', Buffer.alloc(32), Buffer.alloc(16))).toThrow(RangeError);
    expect(() => new SecretKey('AES-256' as Algorithm, Buffer.alloc(32))).toThrow(TypeError);
    const secret = Buffer.alloc(31, 0xab);
    let refused: unknown;
    try {
      new SecretKey('AES256', secret);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(RangeError);
    expect((refused as Error).message).not.toContain('ab');
    expect((refused as Error).message).not.toContain(secret.toString('base64'));
  });

  it('keeps its own copy of the key bytes', () => {
    const raw = randomBytes(32);
    const key = new SecretKey('ChaCha20', raw);
    const ct = key.encrypt(Buffer.from('data'));
    raw.fill(0);
    expect(key.decrypt(ct).toString()).toBe('data');
  });

  it('does not show key bytes when logged or serialised', () => {
    const raw = Buffer.alloc(32, 0x5a);
    const hmacKey = Buffer.alloc(32, 0xa5);
    const key = new SecretKey('AES256', raw, hmacKey);
    const texts = [inspect(key, { showHidden: true, depth: 5 }), JSON.stringify(key), JSON.stringify({ key })];
    for (const t of texts) {
      for (const b of [raw, hmacKey]) {
        expect(t).not.toContain(b.toString('hex').slice(0, 8));
        expect(t).not.toContain(b.toString('base64').slice(0, 8));
        expect(t).not.toContain('90, 90, 90');
        expect(t).not.toContain('165, 165, 165');
      }
    }
    expect(inspect(key)).toContain("algorithm: 'AES256'");
  });

  it('hmac is HMAC-SHA256 under the HMAC subkey, not the master key', () => {
    const raw = randomBytes(32);
    const hmacKey = randomBytes(32);
    const key = new SecretKey('AES256', raw, hmacKey);
    const msg = Buffer.from('message');
    const mac = key.hmac(msg);
    expect(mac).toHaveLength(32);
    expect(mac.equals(createHmac('sha256', hmacKey).update(msg).digest())).toBe(true);
    expect(mac.equals(createHmac('sha256', raw).update(msg).digest())).toBe(false);
    expect(key.hmac(new Uint8Array(0)).equals(createHmac('sha256', hmacKey).digest())).toBe(true);
  });

  it('hmac throws on a key without an HMAC subkey', () => {
    const key = new SecretKey('AES256', randomBytes(32));
    expect(key.hasHMAC).toBe(false);
    expect(() => key.hmac(Buffer.from('m'))).toThrow(HMACUnavailableError);
  });

  it('accepts plain Uint8Arrays and subarray views', () => {
    const backing = randomBytes(100);
    const key = new SecretKey('AES256', new Uint8Array(backing.buffer, backing.byteOffset + 5, 32));
    const pt = new Uint8Array(backing.buffer, backing.byteOffset + 50, 20);
    const context = backing.subarray(80, 90);
    const ct = key.encrypt(pt, context);
    const view = new Uint8Array(ct.length + 7);
    view.set(ct, 7);
    expect(key.decrypt(view.subarray(7), new Uint8Array(context)).equals(Buffer.from(pt))).toBe(true);
  });
});
