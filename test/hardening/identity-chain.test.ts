/**
 * A caller is the key its handshake proves, and nothing else it presents.
 *
 * The TLS handshake proves possession of the private key of the FIRST certificate
 * a client sends; whatever certificates follow are unproven claims. These tests
 * send chains in every order that could confuse that — an attacker's own CA
 * followed by the admin's public certificate (KES's "skip CA certificates" rule
 * made that the admin), the admin's certificate followed by the attacker's own,
 * a CA:TRUE certificate as the leaf — with `tls.auth: off` and `on`, over real
 * TLS, and check who the server says the caller is and what it may do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, issueCertificate } from '../../src/pki/index.js';
import { identityOfCertificate } from '../../src/auth/identity.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { head, rawRequest } from './raw.js';

/** The answer to `path` when presenting `chain` (PEMs, in order) with `key`; status 0 if no answer came. */
async function ask(s: TestServer, chain: string[], key: string, path: string): Promise<{ status: number; body: string }> {
  try {
    const r = await rawRequest({ port: s.port, ca: s.pki.ca.certPem, cert: chain.join(''), key }, head('GET', path));
    return { status: r.status, body: r.body };
  } catch {
    return { status: 0, body: '' };
  }
}

for (const auth of ['off', 'on'] as const) {
  describe(`tls.auth: ${auth}`, () => {
    let s: TestServer;
    const pki = new TestPki();
    // The attacker: a CA of its own (untrusted), and a leaf from the trusted CA when auth is on.
    const evilCA = createCA('attacker CA');
    const own = auth === 'on' ? pki.client({ commonName: 'attacker' }) : pki.client({ commonName: 'attacker', selfSigned: true });
    const caLeaf = auth === 'on' ? issueCertificate(pki.ca, { commonName: 'intermediate', isCA: true }) : evilCA;

    beforeAll(async () => {
      const tls =
        auth === 'on' ? { key: pki.serverKeyFile, cert: pki.serverCertFile, auth: 'on', ca: pki.caFile } : { key: pki.serverKeyFile, cert: pki.serverCertFile };
      s = await startTestServer({ pki, config: { tls, limits: { auth_failures: 0 } } });
      await s.call(s.admin, '/v1/key/create/crown-jewel', { method: 'PUT' });
    });
    afterAll(() => s.close());

    it("[attacker's CA, admin's certificate] with the CA's key is never the admin", async () => {
      const r = await ask(s, [evilCA.certPem, s.admin.certPem], evilCA.keyPem, '/v1/key/list/*');
      expect(r.status).not.toBe(200);
      // Off: the request is answered and the CA leaf refused; on: the handshake itself fails (untrusted leaf).
      if (auth === 'off') {
        expect(r.status).toBe(400);
        expect(JSON.parse(r.body)).toEqual({ message: 'tls: client certificate is a CA certificate' });
      } else expect(r.status).toBe(0);
      const self = await ask(s, [evilCA.certPem, s.admin.certPem], evilCA.keyPem, '/v1/identity/self/describe');
      expect(self.body).not.toContain(s.admin.identity);
    });

    it("[admin's certificate, attacker's own] with the attacker's key gets no answer at all", async () => {
      // The key does not match the first certificate: the client cannot complete a handshake as it.
      const r = await ask(s, [s.admin.certPem, own.certPem], own.keyPem, '/v1/key/list/*');
      expect(r.status).toBe(0);
    });

    it("[attacker's own certificate, admin's certificate] is the attacker", async () => {
      const self = await ask(s, [own.certPem, s.admin.certPem], own.keyPem, '/v1/identity/self/describe');
      // The attacker has no policy: known as itself, nothing more.
      expect(self.status).toBe(404);
      expect((await ask(s, [own.certPem, s.admin.certPem], own.keyPem, '/v1/key/list/*')).status).toBe(403);
      expect(identityOfCertificate(own.certPem)).not.toBe(s.admin.identity);
    });

    it('a CA:TRUE certificate as the leaf is refused', async () => {
      const r = await ask(s, [caLeaf.certPem], caLeaf.keyPem, '/v1/identity/self/describe');
      // On: OpenSSL may refuse a CA certificate for client authentication in the handshake (0); off: a 400 that says why.
      expect([0, 400]).toContain(r.status);
      if (r.status === 400) expect(JSON.parse(r.body)).toEqual({ message: 'tls: client certificate is a CA certificate' });
    });

    it('the admin presenting its own certificate, with anything after it, is still the admin', async () => {
      const r = await ask(s, [s.admin.certPem, evilCA.certPem], s.admin.keyPem, '/v1/key/list/*');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).names).toContain('crown-jewel');
    });
  });
}
