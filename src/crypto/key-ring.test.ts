/** Key versions in the crypto layer: the ring, its stored form and the ciphertext version tag. */
import { describe, expect, it } from 'vitest';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { SecretKey, DecryptionError } from './secret-key.js';
import { decodeKey, encodeKey, KeyEncodingError, type StoredKey } from './key-encoding.js';
import { KeyRing, KeyRingError, RetiredVersionError, decodeKeyRing, encodeKeyRing, nextVersion } from './key-ring.js';
import { kesCiphertexts, openingVectors, type DecryptVector } from '../../test/helpers/kes-vectors.js';
import { VERSION_MAGIC, VERSION_TAG_SIZE, readCiphertextTag, tagCiphertext } from './versioned-ciphertext.js';

const decryptVectors = openingVectors;
const storedVectors = kesCiphertexts.key_encodings.vectors.filter((v) => v.expect === 'ok');

const fresh = (createdBy = ''): StoredKey => ({ key: SecretKey.generate('AES256'), createdAt: new Date(), ...(createdBy ? { createdBy } : {}) });
const rotate = (ring: KeyRing, times: number): KeyRing => {
  let r = ring;
  for (let i = 0; i < times; i++) r = r.rotated(nextVersion(r, new Date(), 'rotator'));
  return r;
};
const ctx = (v: DecryptVector) => (v.context === null ? undefined : Buffer.from(v.context, 'base64'));

/** KES's AES256 raw envelope, computed here independently, with a chosen IV and nonce. */
function kesRawAES(master: Buffer, plaintext: Buffer, iv: Buffer, nonce: Buffer): Buffer {
  const subkey = createHmac('sha256', master).update(iv).digest();
  const c = createCipheriv('aes-256-gcm', subkey, nonce, { authTagLength: 16 });
  c.setAAD(Buffer.alloc(0));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([body, c.getAuthTag(), iv, nonce]);
}

/**
 * A genuine KES raw ciphertext whose first bytes are the version tag's magic followed by
 * `version` (AES-GCM is a stream cipher: the plaintext is chosen so the ciphertext starts so).
 */
function kesCiphertextLookingTagged(master: Buffer, version: number): { ciphertext: Buffer; plaintext: Buffer } {
  const iv = randomBytes(16);
  const nonce = randomBytes(12);
  const keystream = kesRawAES(master, Buffer.alloc(VERSION_TAG_SIZE + 24), iv, nonce).subarray(0, VERSION_TAG_SIZE);
  const wanted = Buffer.concat([VERSION_MAGIC, Buffer.from([0, 0, 0, 0])]);
  wanted.writeUInt32BE(version, VERSION_MAGIC.length);
  const plaintext = Buffer.concat([Buffer.from(wanted.map((b, i) => b ^ keystream[i]!)), randomBytes(24)]);
  const ciphertext = kesRawAES(master, plaintext, iv, nonce);
  expect(ciphertext.subarray(0, VERSION_TAG_SIZE).equals(wanted)).toBe(true);
  return { ciphertext, plaintext };
}

describe('the version tag', () => {
  it('is written for versions 2 and up only, and read back', () => {
    const raw = randomBytes(60);
    expect(() => tagCiphertext(1, raw)).toThrow(RangeError);
    expect(() => tagCiphertext(0x1_0000_0000, raw)).toThrow(RangeError);
    const tagged = tagCiphertext(7, raw);
    expect(tagged).toHaveLength(raw.length + 8);
    expect(readCiphertextTag(tagged)).toEqual({ version: 7, body: raw });
    expect(readCiphertextTag(raw.fill(0))).toBeUndefined();
    expect(readCiphertextTag(Buffer.concat([VERSION_MAGIC, Buffer.alloc(4)]))).toBeUndefined(); // version 0
    expect(readCiphertextTag(VERSION_MAGIC)).toBeUndefined(); // too short
  });

  it('starts with a byte that none of KES’s structured envelopes starts with', () => {
    expect(VERSION_MAGIC[0]).not.toBe(0x95); // msgpack fixarray(5)
    expect(VERSION_MAGIC[0]).not.toBe(0x7b); // '{'
  });
});

describe('KeyRing', () => {
  it('decrypts every KES vector as version 1, before and after rotations', () => {
    expect(decryptVectors.length).toBeGreaterThan(5);
    for (const v of decryptVectors) {
      const ring = KeyRing.of({ key: new SecretKey(v.algorithm, Buffer.from(v.master_key, 'base64')) });
      const ct = Buffer.from(v.ciphertext, 'base64');
      for (const r of [ring, rotate(ring, 1), rotate(ring, 3)]) {
        const out = r.decrypt(ct, ctx(v));
        expect(out.plaintext.toString('base64'), v.id).toBe(v.plaintext);
        expect(out.version, v.id).toBe(1);
      }
    }
  });

  it('encrypts untagged (KES’s raw envelope) until rotated, then tagged with the latest version', () => {
    const one = KeyRing.of(fresh());
    const pt = Buffer.from('data key');
    const c1 = one.encrypt(pt);
    expect(c1).toHaveLength(pt.length + 44);
    // A KES server holding the same key decrypts it: the one version's SecretKey alone opens it.
    expect(one.latest.key.decrypt(c1).equals(pt)).toBe(true);

    const three = rotate(one, 2);
    expect(three.latestVersion).toBe(3);
    const c3 = three.encrypt(pt, Buffer.from('ctx'));
    expect(c3).toHaveLength(pt.length + 44 + 8);
    expect(readCiphertextTag(c3)?.version).toBe(3);
    expect(three.decrypt(c3, Buffer.from('ctx'))).toEqual({ plaintext: pt, version: 3 });
    expect(three.decrypt(c1)).toEqual({ plaintext: pt, version: 1 });
    expect(() => three.decrypt(c3, Buffer.from('other'))).toThrow(DecryptionError);
    // Moving the tag to another version, or stripping it, never opens the ciphertext.
    const moved = Buffer.from(c3);
    moved.writeUInt32BE(2, 4);
    expect(() => three.decrypt(moved, Buffer.from('ctx'))).toThrow(DecryptionError);
    expect(() => three.decrypt(c3.subarray(8), Buffer.from('ctx'))).toThrow(DecryptionError);
    // A version the ring does not have yet.
    const ahead = Buffer.from(c3);
    ahead.writeUInt32BE(9, 4);
    expect(() => three.decrypt(ahead, Buffer.from('ctx'))).toThrow(DecryptionError);
  });

  it('keeps decrypting a KES raw ciphertext that happens to start like a tag', () => {
    const master = randomBytes(32);
    const ring = rotate(KeyRing.of({ key: new SecretKey('AES256', master, randomBytes(32)) }), 2);
    for (const version of [2, 3, 1, 77]) {
      const { ciphertext, plaintext } = kesCiphertextLookingTagged(master, version);
      expect(readCiphertextTag(ciphertext)?.version).toBe(version);
      expect(ring.decrypt(ciphertext)).toEqual({ plaintext, version: 1 });
    }
  });

  it('refuses versions below min_decryption_version, and only those', () => {
    const one = KeyRing.of(fresh());
    const c1 = one.encrypt(Buffer.from('a'));
    let ring = rotate(one, 1);
    const c2 = ring.encrypt(Buffer.from('b'));
    ring = rotate(ring, 1).withMinDecryptionVersion(2);
    expect(() => ring.decrypt(c1)).toThrow(RetiredVersionError);
    expect(ring.decrypt(c2).plaintext.toString()).toBe('b');
    ring = ring.withMinDecryptionVersion(3);
    expect(() => ring.decrypt(c2)).toThrow(RetiredVersionError);
    expect(() => ring.decrypt(Buffer.alloc(10))).toThrow(RetiredVersionError); // untagged: version 1
    // Lowering it brings the old versions back (they are kept, as in Vault).
    expect(ring.withMinDecryptionVersion(1).decrypt(c1).plaintext.toString()).toBe('a');
    for (const bad of [0, 4, 1.5, -1, Number.NaN]) expect(() => ring.withMinDecryptionVersion(bad), String(bad)).toThrow(KeyRingError);
  });

  it('rotates with the latest version’s cipher', () => {
    const chacha = KeyRing.of({ key: SecretKey.generate('ChaCha20') });
    expect(rotate(chacha, 1).latest.key.algorithm).toBe('ChaCha20');
  });
});

describe('stored form', () => {
  it('reads every KES key encoding as a one-version ring', () => {
    for (const v of storedVectors) {
      const ring = decodeKeyRing(Buffer.from(v.stored));
      expect(ring.latestVersion, v.stored).toBe(1);
      expect(ring.minDecryptionVersion).toBe(1);
    }
  });

  it('writes a one-version ring as KES writes the key', () => {
    const k = fresh('someone');
    expect(encodeKeyRing(KeyRing.of(k)).equals(encodeKey(k))).toBe(true);
  });

  it('round-trips a rotated ring, with a legacy (pre-HMAC) first version, and KES refuses to read it', () => {
    const legacy = storedVectors.find((v) => v.stored.includes('created_by'))!.stored;
    let ring = rotate(decodeKeyRing(Buffer.from(legacy)), 2);
    const old = ring.versions()[0]!;
    expect(old.key.hasHMAC).toBe(false);
    const c1 = KeyRing.of(old).encrypt(Buffer.from('v1 data'));
    const c3 = ring.encrypt(Buffer.from('v3 data'));
    ring = ring.withMinDecryptionVersion(1);
    const stored = encodeKeyRing(ring);
    expect(stored.toString('utf8').startsWith('keygate-key-ring:v1\n')).toBe(true);
    // KES reads a keystore value as JSON, else base64: this is neither, so KES refuses it cleanly.
    expect(() => decodeKey(stored)).toThrow(KeyEncodingError);

    const back = decodeKeyRing(stored);
    expect(back.latestVersion).toBe(3);
    expect(back.versions().map((v) => [v.version, v.createdAt?.toISOString(), v.createdBy])).toEqual(
      ring.versions().map((v) => [v.version, v.createdAt?.toISOString(), v.createdBy]),
    );
    expect(back.decrypt(c1).plaintext.toString()).toBe('v1 data');
    expect(back.decrypt(c3).plaintext.toString()).toBe('v3 data');
    expect(decodeKeyRing(encodeKeyRing(back.withMinDecryptionVersion(3))).minDecryptionVersion).toBe(3);
  });

  it('refuses a malformed ring without quoting key material', () => {
    const good = JSON.parse(
      encodeKeyRing(rotate(KeyRing.of(fresh()), 1))
        .toString('utf8')
        .split('\n')[1]!,
    );
    const secret = good.versions[0] as string;
    const cases: unknown[] = [
      'not json',
      [],
      { ...good, versions: [] },
      { ...good, versions: 'x' },
      { ...good, versions: [secret, 5] },
      { ...good, versions: [secret, 'AAAA'] },
      { ...good, min_decryption_version: 3 },
      { ...good, min_decryption_version: 0 },
      { ...good, min_decryption_version: '1' },
    ];
    for (const c of cases) {
      const text = 'keygate-key-ring:v1\n' + (typeof c === 'string' ? c : JSON.stringify(c));
      let caught: unknown;
      try {
        decodeKeyRing(Buffer.from(text));
      } catch (err) {
        caught = err;
      }
      expect(caught, text.slice(0, 60)).toBeInstanceOf(KeyEncodingError);
      expect((caught as Error).message).not.toContain(secret.slice(0, 20));
    }
  });
});
