import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseJSONEnvelope, parseMsgpackEnvelope, toRawCiphertext } from './envelope.js';

interface DecryptVector {
  id: string;
  envelope: 'raw' | 'msgpack' | 'json';
  ciphertext: string;
  expect: 'plaintext' | 'error';
  failure?: string;
  envelope_fields?: { ciphertext_and_tag: string; iv: string; nonce: string; aead_name?: string; key_id?: string };
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/kes/ciphertexts.json', import.meta.url), 'utf8')) as { decrypt: DecryptVector[] };

const b64 = (s: string) => Buffer.from(s, 'base64');
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('structured envelopes in the vectors', () => {
  const structured = vectors.decrypt.filter((v) => v.envelope !== 'raw' && v.envelope_fields);
  it.each(structured.map((v) => [v.id, v] as const))('%s parses to its envelope_fields', (_id, v) => {
    const f = v.envelope_fields!;
    const ct = b64(v.ciphertext);
    const parts = v.envelope === 'msgpack' ? parseMsgpackEnvelope(ct) : parseJSONEnvelope(ct);
    if (f.aead_name === 'AES-256-GCM') {
      // The pre-v0.8 name (AES-PRP derivation) is no longer one current KES
      // accepts: the envelope is rejected and the input tried as raw.
      expect(v.expect).toBe('error');
      expect(parts).toBeUndefined();
      expect(toRawCiphertext(ct)).toBe(ct);
      return;
    }
    expect(parts).toBeDefined();
    expect(parts!.algorithm).toBe(f.aead_name);
    expect(parts!.keyId).toBe(f.key_id ?? '');
    expect(hexOf(parts!.iv)).toBe(hexOf(b64(f.iv)));
    expect(hexOf(parts!.nonce)).toBe(hexOf(b64(f.nonce)));
    expect(hexOf(parts!.sealed)).toBe(hexOf(b64(f.ciphertext_and_tag)));
    expect(hexOf(toRawCiphertext(ct))).toBe(hexOf(Buffer.concat([b64(f.ciphertext_and_tag), b64(f.iv), b64(f.nonce)])));
  });

  const rejected = vectors.decrypt.filter((v) => v.envelope === 'json' && v.failure !== undefined && v.failure !== 'ciphertext not authentic');
  it.each(rejected.map((v) => [v.id, v.failure, v] as const))('%s (%s) is not a valid JSON envelope', (_id, _f, v) => {
    const ct = b64(v.ciphertext);
    expect(parseJSONEnvelope(ct)).toBeUndefined();
    expect(toRawCiphertext(ct)).toBe(ct);
  });

  it('covers every kind of JSON rejection the vectors name', () => {
    expect(new Set(rejected.map((v) => v.failure))).toEqual(new Set(['Invalid algorithm', 'invalid IV length', 'invalid nonce length', 'invalid JSON']));
  });
});

describe('msgpack envelope', () => {
  const iv = Buffer.alloc(16, 1);
  const nonce = Buffer.alloc(12, 2);
  const sealed = Buffer.alloc(20, 3);
  const str = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
  const bin8 = (b: Buffer) => Buffer.concat([Buffer.from([0xc4, b.length]), b]);
  const build = (...items: Buffer[]) => Buffer.concat([Buffer.from([0x95]), ...items]);
  const good = () => [str('AES256-GCM_SHA256'), str('id'), bin8(iv), bin8(nonce), bin8(sealed)];

  it('parses the canonical form', () => {
    const p = parseMsgpackEnvelope(build(...good()));
    expect(p).toMatchObject({ algorithm: 'AES256-GCM_SHA256', keyId: 'id' });
    expect(hexOf(toRawCiphertext(build(...good())))).toBe(hexOf(Buffer.concat([sealed, iv, nonce])));
  });

  it('accepts every algorithm name the Go parser does, and wider headers', () => {
    for (const name of ['AES256', 'AES256-GCM_SHA256', 'ChaCha20', 'XCHACHA20-POLY1305']) {
      expect(parseMsgpackEnvelope(build(str(name), ...good().slice(1)))).toBeDefined();
    }
    const str8 = Buffer.concat([Buffer.from([0xd9, 8]), Buffer.from('ChaCha20')]);
    const bin16 = Buffer.concat([Buffer.from([0xc5, 0, 16]), iv]);
    const bin32 = Buffer.concat([Buffer.from([0xc6, 0, 0, 0, 20]), sealed]);
    expect(parseMsgpackEnvelope(build(str8, str(''), bin16, bin8(nonce), bin32))).toBeDefined();
  });

  it('rejects anything else', () => {
    const g = good();
    const cases: Buffer[] = [
      build(str(''), ...g.slice(1)), // empty algorithm
      build(str('AES-256-GCM-HMAC-SHA-256'), ...g.slice(1)), // a JSON-era name
      build(g[0]!, g[1]!, bin8(Buffer.alloc(15)), g[3]!, g[4]!),
      build(g[0]!, g[1]!, g[2]!, bin8(Buffer.alloc(16)), g[4]!),
      build(g[0]!, g[1]!, str('x'.repeat(16)), g[3]!, g[4]!), // iv as str
      build(bin8(Buffer.from('AES256')), ...g.slice(1)), // name as bin
      build(...g, Buffer.from([0xc0])), // trailing data
      build(...g).subarray(0, -1), // truncated
      build(...g.slice(0, 4)),
      Buffer.concat([Buffer.from([0x94]), ...g.slice(0, 4)]),
    ];
    for (const c of cases) {
      expect(parseMsgpackEnvelope(c)).toBeUndefined();
      expect(toRawCiphertext(c)).toBe(c);
    }
  });
});

describe('JSON envelope', () => {
  const fields = {
    aead: 'ChaCha20Poly1305',
    iv: Buffer.alloc(16, 1).toString('base64'),
    nonce: Buffer.alloc(12, 2).toString('base64'),
    bytes: Buffer.alloc(20, 3).toString('base64'),
  };
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o));

  it('parses with and without a key ID, ignoring unknown keys', () => {
    expect(parseJSONEnvelope(enc(fields))).toMatchObject({ algorithm: 'ChaCha20Poly1305', keyId: '' });
    expect(parseJSONEnvelope(enc({ ...fields, id: 'abc', extra: [1] }))).toMatchObject({ keyId: 'abc' });
    expect(parseJSONEnvelope(enc({ ...fields, id: null }))).toMatchObject({ keyId: '' });
    expect(parseJSONEnvelope(Buffer.from(` ${JSON.stringify(fields)}`))).toBeUndefined(); // first byte must be '{'
  });

  it("matches keys case-insensitively, like Go's encoding/json", () => {
    const p = parseJSONEnvelope(enc({ AEAD: fields.aead, Iv: fields.iv, NONCE: fields.nonce, Bytes: fields.bytes }));
    expect(p).toBeDefined();
    expect(p!.sealed).toHaveLength(20);
  });

  it('rejects wrong types, bad base64 and unknown names', () => {
    const cases: unknown[] = [
      { ...fields, aead: 'AES256' },
      { ...fields, aead: '' },
      { ...fields, aead: 1 },
      { ...fields, id: 7 },
      { ...fields, iv: fields.iv.replace(/=+$/, '') }, // unpadded
      { ...fields, iv: `${fields.iv}!` },
      { ...fields, nonce: null },
      { ...fields, bytes: 5 },
      { ...fields, iv: undefined },
    ];
    for (const c of cases) expect(parseJSONEnvelope(enc(c)), JSON.stringify(c)).toBeUndefined();
  });

  it('leaves raw input alone', () => {
    const raw = Buffer.from([0x00, 0x95, 0x7b]);
    expect(toRawCiphertext(raw)).toBe(raw);
    expect(toRawCiphertext(Buffer.alloc(0))).toHaveLength(0);
  });
});
