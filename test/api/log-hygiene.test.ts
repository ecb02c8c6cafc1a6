/** No key material or plaintext ever reaches a log line, however verbose. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

function forms(secret: Buffer): string[] {
  const b64 = secret.toString('base64');
  return [secret.toString('hex'), b64, b64.replace(/=+$/, ''), secret.toString('base64url'), secret.toString('latin1')];
}

it('keeps imported keys, data keys, plaintexts and ciphertexts out of the audit and error logs', async () => {
  const master = randomBytes(32);
  const plaintext = Buffer.from('top secret plaintext ' + randomBytes(8).toString('hex'));
  const secrets: Buffer[] = [master, plaintext];

  expect((await s.call(s.admin, '/v1/key/import/hygiene', { method: 'PUT', body: { key: master.toString('base64'), cipher: 'AES256' } })).status).toBe(200);
  const g = await s.call(s.admin, '/v1/key/generate/hygiene', { method: 'PUT', body: { context: plaintext.toString('base64') } });
  secrets.push(Buffer.from(g.json.plaintext, 'base64'), Buffer.from(g.json.ciphertext, 'base64'));
  const e = await s.call(s.admin, '/v1/key/encrypt/hygiene', { method: 'PUT', body: { plaintext: plaintext.toString('base64') } });
  secrets.push(Buffer.from(e.json.ciphertext, 'base64'));
  await s.call(s.admin, '/v1/key/decrypt/hygiene', { method: 'PUT', body: { ciphertext: e.json.ciphertext } });
  // Failures log too: a tampered ciphertext, an import with a bad key, and malformed bodies.
  const tampered = Buffer.from(e.json.ciphertext, 'base64');
  tampered[0] = (tampered[0] as number) ^ 1;
  await s.call(s.admin, '/v1/key/decrypt/hygiene', { method: 'PUT', body: { ciphertext: tampered.toString('base64') } });
  await s.call(s.admin, '/v1/key/import/hygiene2', { method: 'PUT', body: { key: master.subarray(0, 31).toString('base64') } });
  await s.call(s.admin, '/v1/key/encrypt/hygiene', { method: 'PUT', raw: `{"plaintext":"${plaintext.toString('base64')}` });

  expect(s.logLines.length).toBeGreaterThanOrEqual(7);
  for (const line of s.logLines) {
    for (const secret of secrets) {
      for (const form of forms(secret)) {
        expect(line.includes(form), `log line leaks a secret: ${line}`).toBe(false);
      }
    }
  }
  // The audit log does record each request's metadata.
  const audit = s.logLines.map((l) => JSON.parse(l)).filter((l) => l.path?.startsWith('/v1/key/'));
  expect(audit.length).toBeGreaterThanOrEqual(7);
  expect(audit[0]).toMatchObject({ identity: s.admin.identity, method: 'PUT', path: '/v1/key/import/hygiene', status: 200 });
  expect(typeof audit[0].latency_ms).toBe('number');
});
