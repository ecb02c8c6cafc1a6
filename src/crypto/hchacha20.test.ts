import { createCipheriv, createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hchacha20 } from './hchacha20.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('hchacha20', () => {
  it('matches draft-irtf-cfrg-xchacha §2.2.1', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const nonce = hex('000000090000004a0000000031415927');
    expect(hchacha20(key, nonce).toString('hex')).toBe('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
  });

  // XChaCha20-Poly1305 is HChaCha20 plus node's ChaCha20-Poly1305 with the
  // nonce 0^4 || n[16:24]; KES uses the same subkey with its own 12-byte
  // nonce, so passing the draft's AEAD vector pins the whole construction.
  it('gives XChaCha20-Poly1305 of draft-irtf-cfrg-xchacha §A.3.1 with node ChaCha20-Poly1305', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce24 = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const expected = hex(`
      bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
      731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
      2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
      21f9664c97637da9768812f615c68b13b52e
      c0875924c1c7987947deafd8780acf49`);

    const subkey = hchacha20(key, nonce24.subarray(0, 16));
    const nonce12 = Buffer.concat([Buffer.alloc(4), nonce24.subarray(16)]);
    const c = createCipheriv('chacha20-poly1305', subkey, nonce12, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const sealed = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    expect(sealed.toString('hex')).toBe(expected.toString('hex'));

    const d = createDecipheriv('chacha20-poly1305', subkey, nonce12, { authTagLength: 16 });
    d.setAAD(aad, { plaintextLength: plaintext.length });
    d.setAuthTag(sealed.subarray(-16));
    expect(Buffer.concat([d.update(sealed.subarray(0, -16)), d.final()]).toString()).toBe(plaintext.toString());
  });

  it('reads key and nonce through views at any offset', () => {
    const backing = Buffer.alloc(64 + 3);
    const key = backing.subarray(3, 35);
    for (let i = 0; i < 32; i++) key[i] = i;
    const nonce = backing.subarray(35, 51);
    nonce.set(hex('000000090000004a0000000031415927'));
    expect(hchacha20(new Uint8Array(key.buffer, key.byteOffset, 32), nonce).toString('hex')).toBe(
      '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc',
    );
  });

  it('rejects wrong sizes', () => {
    expect(() => hchacha20(Buffer.alloc(31), Buffer.alloc(16))).toThrow(RangeError);
    expect(() => hchacha20(Buffer.alloc(32), Buffer.alloc(24))).toThrow(RangeError);
  });
});
