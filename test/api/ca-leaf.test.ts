/** Issue 11 ("Also") over TLS: a CA certificate is refused as a bundle leaf unless the import says allow_ca_leaf. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { issueCertificate } from '../../src/pki/index.js';

const certs = new BundleCerts();
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

describe('PUT /v1/cert/import with a CA certificate as the leaf', () => {
  const ca = issueCertificate(certs.intermediate, { commonName: 'www.example.com', dnsNames: ['www.example.com'], isCA: true });
  const body = { certificate: ca.certPem + certs.intermediate.certPem, private_key: ca.keyPem, ttl: 3600 };

  it('is refused, and nothing is stored', async () => {
    const r = await s.call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      message:
        'certificate: the leaf certificate (the first of the chain) is a CA certificate (basicConstraints CA:TRUE): set allow_ca_leaf to import it anyway',
    });
    expect((await s.call(s.admin, '/v1/cert/describe/www.example.com')).status).toBe(404);
    const root = await s.call(s.admin, '/v1/cert/import/root', {
      method: 'PUT',
      body: { certificate: certs.root.certPem, private_key: certs.root.keyPem, ttl: 3600 },
    });
    expect(root.status).toBe(400);
  });

  it('is imported with allow_ca_leaf: true (a boolean only)', async () => {
    expect((await s.call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: { ...body, allow_ca_leaf: 'yes' } })).status).toBe(400);
    const r = await s.call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: { ...body, allow_ca_leaf: true } });
    expect(r.status, r.text).toBe(200);
  });
});
