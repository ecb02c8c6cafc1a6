/**
 * The key API's synchronous fast path (issue 19): with the key in memory (the memory
 * keystore, or a fresh read-cache slot) generate, encrypt, decrypt and describe are
 * answered from the decoded key without a keystore read; a store that cannot answer
 * from memory sends them the normal way. On the wire, a body that arrives in several
 * pieces (chunked) or not at all is handled as before, with the same errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../../keystores/memory.js';
import type { Entry, HeldEntry } from '../../keystores/keystore.js';
import { KeyService } from '../../src/core/keys/service.js';
import { BadRequestError } from '../../src/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { head, rawRequest, type Peer } from '../hardening/raw.js';

class CountingMemoryStore extends MemoryKeyStore {
  gets = 0;
  peeks = 0;
  override get(name: string): Promise<Entry> {
    this.gets++;
    return super.get(name);
  }
  override peek(name: string): HeldEntry | undefined {
    this.peeks++;
    return super.peek(name);
  }
}

/** A keystore that can answer nothing from memory (a cold cache, or a cache turned off). */
class NoPeekStore extends MemoryKeyStore {
  override peek(): HeldEntry | undefined {
    return undefined;
  }
}

describe('KeyService from memory', () => {
  it('answers generate, encrypt, decrypt and describe from the decoded key, reading nothing', async () => {
    const store = new CountingMemoryStore();
    const keys = new KeyService(store);
    await keys.create('k', 'me');
    const gets = store.gets;
    const ctx = Buffer.from('bucket=photos');
    const dek = keys.peekGenerate('k', ctx);
    expect(dek?.plaintext).toHaveLength(32);
    expect(keys.peekDecrypt('k', dek!.ciphertext, ctx)).toEqual(dek!.plaintext);
    const ct = keys.peekEncrypt('k', Buffer.from('secret'), undefined);
    expect(keys.peekDecrypt('k', ct!, undefined)?.toString()).toBe('secret');
    const d = keys.peekDescribe('k');
    expect(d).toMatchObject({ name: 'k', algorithm: 'AES256', latestVersion: 1, createdBy: 'me' });
    // The same description while the key is unchanged (the handler encodes it once).
    expect(keys.peekDescribe('k')).toBe(d);
    expect(store.gets).toBe(gets);
    expect(store.peeks).toBeGreaterThanOrEqual(6);
    // What the fast path made, the normal path opens, and the other way round.
    expect(await keys.decrypt('k', dek!.ciphertext, ctx)).toEqual(dek!.plaintext);
    const slow = await keys.generate('k', ctx);
    expect(keys.peekDecrypt('k', slow.ciphertext, ctx)).toEqual(slow.plaintext);
    // Fresh data keys, every time.
    expect(keys.peekGenerate('k', ctx)!.plaintext.equals(dek!.plaintext)).toBe(false);
  });

  it('refuses a bad ciphertext as decrypt does, and sees a rotation and a deletion at once', async () => {
    const keys = new KeyService(new MemoryKeyStore());
    await keys.create('k', 'me');
    const ct = keys.peekEncrypt('k', Buffer.from('x'), Buffer.from('a'))!;
    expect(() => keys.peekDecrypt('k', ct, Buffer.from('b'))).toThrow(BadRequestError);
    expect(() => keys.peekDecrypt('k', ct, Buffer.from('b'))).toThrow('decryption failed: ciphertext is not authentic');
    await keys.rotate('k', 'me');
    expect(keys.peekDescribe('k')?.latestVersion).toBe(2);
    expect(keys.peekDecrypt('k', ct, Buffer.from('a'))?.toString()).toBe('x');
    await keys.delete('k');
    expect(keys.peekGenerate('k', undefined)).toBeUndefined();
    expect(keys.peekDescribe('k')).toBeUndefined();
  });

  it('leaves a key it cannot read from memory to the normal path', async () => {
    const keys = new KeyService(new NoPeekStore());
    await keys.create('k', 'me');
    expect(keys.peekGenerate('k', undefined)).toBeUndefined();
    expect(keys.peekDecrypt('k', Buffer.alloc(60), undefined)).toBeUndefined();
    expect(keys.peekDescribe('k')).toBeUndefined();
    expect((await keys.generate('k', undefined)).plaintext).toHaveLength(32);
  });
});

describe('the fast path on the wire', () => {
  let server: TestServer;
  let peer: Peer;
  beforeAll(async () => {
    server = await startTestServer();
    peer = { port: server.port, ca: server.pki.ca.certPem, cert: server.admin.certPem, key: server.admin.keyPem };
    expect((await server.call(server.admin, '/v1/key/create/fast', { method: 'PUT' })).status).toBe(200);
  });
  afterAll(() => server?.close());

  const chunked = (...parts: string[]): Buffer => Buffer.from(parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n');

  it('takes a body in pieces (chunked) and one with a declared length, and answers the same', async () => {
    const context = Buffer.from('bucket=photos').toString('base64');
    const json = JSON.stringify({ context });
    const r = await rawRequest(peer, head('PUT', '/v1/key/generate/fast', { 'Transfer-Encoding': 'chunked' }), {
      body: chunked(json.slice(0, 7), json.slice(7)),
    });
    expect(r.status).toBe(200);
    const dek = JSON.parse(r.body) as { plaintext: string; ciphertext: string };
    expect(Object.keys(dek)).toEqual(['plaintext', 'ciphertext']);
    const body = JSON.stringify({ ciphertext: dek.ciphertext, context });
    const back = await rawRequest(peer, head('PUT', '/v1/key/decrypt/fast', { 'Content-Length': String(Buffer.byteLength(body)) }), {
      body: Buffer.from(body),
    });
    expect(back.status).toBe(200);
    expect(JSON.parse(back.body)).toEqual({ plaintext: dek.plaintext });
    // And through the ordinary client.
    const viaClient = await server.call(server.admin, '/v1/key/decrypt/fast', { method: 'PUT', body: { ciphertext: dek.ciphertext, context } });
    expect(viaClient.json).toEqual({ plaintext: dek.plaintext });
  });

  it('answers a missing body, bad JSON, a wrong context, an unknown key and an oversized chunked body as before', async () => {
    const noBody = await rawRequest(peer, head('PUT', '/v1/key/generate/fast'));
    expect(noBody.status).toBe(200);
    const bad = await rawRequest(peer, head('PUT', '/v1/key/decrypt/fast', { 'Transfer-Encoding': 'chunked' }), { body: chunked('{"ciphertext":', '') });
    expect(bad.status).toBe(400);
    const dek = (await server.call(server.admin, '/v1/key/generate/fast', { method: 'PUT', body: {} })).json as { ciphertext: string };
    const wrong = await server.call(server.admin, '/v1/key/decrypt/fast', { method: 'PUT', body: { ciphertext: dek.ciphertext, context: 'eA==' } });
    expect(wrong.status).toBe(400);
    expect(wrong.json).toEqual({ message: 'decryption failed: ciphertext is not authentic' });
    const unknown = await server.call(server.admin, '/v1/key/generate/nope', { method: 'PUT', body: {} });
    expect(unknown.status).toBe(404);
    const big = 'a'.repeat((1 << 20) + 10);
    const tooBig = await rawRequest(peer, head('PUT', '/v1/key/encrypt/fast', { 'Transfer-Encoding': 'chunked' }), {
      body: chunked(big.slice(0, 1 << 19), big.slice(1 << 19)),
    });
    expect(tooBig.status).toBe(413);
    // The server is fine afterwards.
    expect((await server.call(server.admin, '/v1/key/describe/fast')).status).toBe(200);
  });
});
