/**
 * `tls.auth: on`: a client certificate that does not chain to `tls.ca`, is
 * expired or not yet valid, or is not for client authentication (a
 * serverAuth-only certificate), fails the TLS handshake — no HTTP request is
 * ever answered, on any route — and so does a client without a certificate.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki, type TestClient } from '../helpers/certs.js';
import { head, rawRequest, type Peer } from './raw.js';
import { recordFigure } from './figures.js';

const DAY = 86_400_000;
let s: TestServer;
const tally = { handshakes: 0, answered: [] as string[] };

beforeAll(async () => {
  const pki = new TestPki();
  s = await startTestServer({
    pki,
    config: { tls: { key: pki.serverKeyFile, cert: pki.serverCertFile, auth: 'on', ca: pki.caFile }, limits: { auth_failures: 0 } },
  });
});
afterAll(async () => {
  recordFigure('tls-auth', { handshakes: tally.handshakes, answered: tally.answered.length });
  await s.close();
});

const peer = (c: TestClient | null): Peer => ({ port: s.port, ca: s.pki.ca.certPem, ...(c ? { cert: c.certPem, key: c.keyPem } : {}) });

/** The HTTP status, or 0 when the connection failed before any answer (the handshake refused the certificate). */
async function statusOf(c: TestClient | null, path: string): Promise<number> {
  tally.handshakes++;
  try {
    return (await rawRequest(peer(c), head('GET', path))).status;
  } catch {
    return 0;
  }
}

it('refuses untrusted, expired, not-yet-valid and serverAuth-only certificates, and none at all, in the handshake', async () => {
  const now = Date.now();
  const other = new TestPki();
  const refused: Array<[string, TestClient | null]> = [
    ['self-signed', s.pki.client({ selfSigned: true })],
    ['another CA', other.client()],
    ['expired', s.pki.client({ notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) })],
    ['not yet valid', s.pki.client({ notBefore: new Date(now + DAY), notAfter: new Date(now + 30 * DAY) })],
    ['serverAuth only', s.pki.client({ extKeyUsage: ['serverAuth'] })],
    ['no certificate', null],
  ];
  for (const [what, client] of refused) {
    for (const path of ['/v1/identity/self/describe', '/v1/key/list/*', '/version', '/v1/cert/get/www.example.com']) {
      const status = await statusOf(client, path);
      if (status !== 0) tally.answered.push(`${what}: ${path} → ${status}`);
    }
  }
  expect(tally.answered).toEqual([]);
  // Not vacuous: a certificate from the CA, for client authentication, gets through.
  expect(await statusOf(s.pki.client(), '/v1/identity/self/describe')).toBeGreaterThan(0);
  // The raw client half-closes after its request: the answer must still come (listener.ts).
  expect(await statusOf(s.admin, '/v1/key/list/*')).toBe(200);
});
