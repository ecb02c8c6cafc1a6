/**
 * The built-in issuer end to end: certificates signed over the API for CSRs that
 * openssl made, checked by `openssl verify -crl_check` (chain through an intermediate,
 * EKU, SANs), revocation appearing in the CRL, tidy pruning expired serials; issue for
 * every key type; role refusals naming their rule; nodes issuing only under the roles
 * their group is listed in; the audit lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import { EC256, EC384, ED25519, RSA2048, Scratch, getBytes, openssl, opensslVerify } from './support.js';

let s: TestServer;
let allowed: TestClient;
let stranger: TestClient;
const scratch = new Scratch();

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function call(who: TestClient | null, path: string, opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const r = await s.call(who, path, opts);
  expectResponseMatchesSpec(opts.method ?? 'GET', path, r);
  return r;
}

const sign = (who: TestClient | null, role: string, csr: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  call(who, `/v1/pki/sign/${role}`, { method: 'PUT', body: { csr, ...extra }, headers });

async function crlFile(issuer: string): Promise<string> {
  const r = await s.call(null, `/v1/pki/crl?issuer=${issuer}&format=pem`);
  expect(r.status).toBe(200);
  return scratch.file(r.text, 'crl');
}

async function caFile(issuer: string): Promise<string> {
  const r = await s.call(null, `/v1/pki/ca?issuer=${issuer}`);
  expect(r.status).toBe(200);
  return scratch.file(r.text);
}

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      allowed = pki.client({ commonName: 'issuer-app' });
      stranger = pki.client({ commonName: 'stranger' });
      return {
        policy: { certs: { allow: ['/v1/pki/sign/web', '/v1/pki/revoke'], identities: [allowed.identity] } },
        pki: {
          default_issuer: 'root',
          issuers: {
            root: { builtin: { common_name: 'Test Root CA', key_type: 'ecdsa-p384' } },
            inter: { builtin: { common_name: 'Test Intermediate CA', parent: 'root', key_type: 'ecdsa-p256' } },
            rsa: { builtin: { key_type: 'rsa-2048' } },
          },
          roles: {
            web: { issuer: 'inter', allowed_names: ['dev.test', '*.dev.test'], usage: ['server'], allow_ip_sans: true, max_ttl: '24h' },
            strict: { issuer: 'rsa', allowed_names: ['only.example'], key_types: ['ecdsa-p256'], ttl: '30m', max_ttl: '1h' },
            edge: { issuer: 'root', allowed_names: ['{{node_id}}.{{group}}.edge.example'], usage: ['server', 'client'], groups: ['edge'] },
            mine: { issuer: 'root', allowed_names: ['*.nodes.example'], usage: ['client'], groups: ['edge'], same_key: true },
            ids: { issuer: 'root', allowed_names: ['{{node_id}}.ids.example'], usage: ['client'], groups: ['edge'] },
          },
        },
      };
    },
  });
});
afterAll(() => s.close());

describe('the built-in issuer, checked by openssl', () => {
  it('signs a CSR through an intermediate: chain, EKU and SANs verify; revocation shows in the CRL; tidy prunes it', async () => {
    const { csr } = scratch.csr(EC256, 'www.dev.test', ['DNS:www.dev.test', 'DNS:api.dev.test', 'IP:10.1.2.3']);
    const r = await sign(s.admin, 'web', csr, { ttl: '2h' });
    expect(r.status, r.text).toBe(200);
    const { certificate, chain, serial, not_after } = r.json as { certificate: string; chain: string[]; serial: string; not_after: string };
    expect(serial).toMatch(/^[0-9a-f]{32}$/);
    expect(chain).toHaveLength(2);
    const cert = new X509Certificate(certificate);
    expect(cert.serialNumber.toLowerCase()).toBe(serial);
    expect(new Date(not_after).getTime()).toBe(new Date(cert.validTo).getTime());
    const lifetime = new Date(cert.validTo).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(7_100_000);
    expect(lifetime).toBeLessThanOrEqual(7_200_000);
    expect(cert.subjectAltName).toBe('DNS:www.dev.test, DNS:api.dev.test, IP Address:10.1.2.3');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);

    // GET /v1/pki/ca answers the issuing CA, then the root.
    const caText = (await s.call(null, '/v1/pki/ca?issuer=inter')).text;
    expect(caText).toBe(chain.join(''));
    const root = await caFile('root');
    const inter = scratch.file(chain[0] as string);
    const leaf = scratch.file(certificate);
    const verify = async (purpose: string) =>
      opensslVerify(['-CAfile', root, '-untrusted', inter, '-crl_check', '-CRLfile', await crlFile('inter'), '-purpose', purpose, leaf]);
    expect((await verify('sslserver')).output).toContain(': OK');
    expect((await verify('sslclient')).ok).toBe(false); // server usage only

    const listed = await call(s.admin, `/v1/pki/certs/${serial.slice(0, 6)}`);
    expect(listed.json.certificates).toEqual([
      { serial, issuer: 'inter', role: 'web', names: ['www.dev.test', 'api.dev.test', '10.1.2.3'], caller: s.admin.identity, not_after, revoked_at: null },
    ]);

    const rv = await call(s.admin, '/v1/pki/revoke', { method: 'PUT', body: { serial: serial.replace(/(..)(?!$)/g, '$1:').toUpperCase() } });
    expect(rv.status, rv.text).toBe(200);
    expect(rv.json.serial).toBe(serial);
    const after = await verify('sslserver');
    expect(after.ok).toBe(false);
    expect(after.output).toContain('certificate revoked');
    expect(openssl(['crl', '-in', await crlFile('inter'), '-noout', '-text'])).toContain(`Serial Number: ${serial.toUpperCase()}`);

    // The DER form is the same CRL.
    const der = await getBytes(`${s.url}/v1/pki/crl?issuer=inter`, s.pki.ca.certPem);
    expect(der.type).toBe('application/pkix-crl');
    expect(openssl(['crl', '-inform', 'DER', '-noout', '-text'], der.body)).toContain(`Serial Number: ${serial.toUpperCase()}`);

    // Once the certificate has expired, tidy drops it from the issued list and the CRL.
    const removed = await s.running.holder.current.pki.tidy(new Date(not_after).getTime() + 1000);
    expect(removed.certificates).toBeGreaterThanOrEqual(1);
    expect(removed.crlEntries).toBe(1);
    expect(openssl(['crl', '-in', await crlFile('inter'), '-noout', '-text'])).not.toContain(serial.toUpperCase());
    expect((await call(s.admin, `/v1/pki/certs/${serial}`)).json.certificates).toEqual([]);
    expect((await call(s.admin, '/v1/pki/revoke', { method: 'PUT', body: { serial } })).status).toBe(404);
  });

  it.each([
    ['ecdsa-p256', 'ec'],
    ['ecdsa-p384', 'ec'],
    ['ed25519', 'ed25519'],
    ['rsa-2048', 'rsa'],
    ['rsa-3072', 'rsa'],
  ])('issues %s keys with their certificate; the key is answered once, never listed', async (keyType, kind) => {
    const r = await call(s.admin, '/v1/pki/issue/web', {
      method: 'PUT',
      body: { common_name: `${keyType}.dev.test`, alt_names: ['dev.test'], key_type: keyType, ttl: '10m' },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const cert = new X509Certificate(r.json.certificate);
    expect(cert.publicKey.asymmetricKeyType).toBe(kind);
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(r.json.private_key))).toBe(true);
    expect(cert.subjectAltName).toBe(`DNS:${keyType}.dev.test, DNS:dev.test`);
    const ok = opensslVerify(['-CAfile', await caFile('root'), '-untrusted', scratch.file(r.json.chain[0]), scratch.file(r.json.certificate)]);
    expect(ok.output).toContain(': OK');
    const listed = await call(s.admin, `/v1/pki/certs/${r.json.serial}`);
    expect(JSON.stringify(listed.json)).not.toContain('PRIVATE KEY');
  });

  it('signs CSRs of every key type openssl makes, with an RSA CA too', async () => {
    for (const spec of [EC256, EC384, ED25519, RSA2048]) {
      const { csr } = scratch.csr(spec, 'a.dev.test');
      const r = await sign(s.admin, 'web', csr);
      expect(r.status, r.text).toBe(200);
    }
    const { csr } = scratch.csr(EC256, 'only.example');
    const r = await sign(s.admin, 'strict', csr);
    expect(r.status, r.text).toBe(200);
    expect(opensslVerify(['-CAfile', await caFile('rsa'), '-crl_check', '-CRLfile', await crlFile('rsa'), scratch.file(r.json.certificate)]).output).toContain(
      ': OK',
    );
    // The role's default TTL: 30 minutes.
    const lifetime = new Date(r.json.not_after).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(29 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(30 * 60_000);
  });
});

describe('role refusals name the rule', () => {
  it.each([
    [
      'a name outside allowed_names',
      () => scratch.csr(EC256, 'www.other.test').csr,
      'web',
      {},
      "role 'web': name 'www.other.test' is not allowed (allowed_names: dev.test, *.dev.test)",
    ],
    [
      'a SAN outside allowed_names',
      () => scratch.csr(EC256, 'a.dev.test', ['DNS:evil.example']).csr,
      'web',
      {},
      "role 'web': name 'evil.example' is not allowed (allowed_names: dev.test, *.dev.test)",
    ],
    [
      'a key type the role does not take',
      () => scratch.csr(ED25519, 'only.example').csr,
      'strict',
      {},
      "role 'strict': key type ed25519 is not allowed (key_types: ecdsa-p256)",
    ],
    ['a TTL over max_ttl', () => scratch.csr(EC256, 'only.example').csr, 'strict', { ttl: '2h' }, "role 'strict': ttl 2h exceeds max_ttl 1h"],
    [
      'IP SANs where the role has none',
      () => scratch.csr(EC256, 'only.example', ['IP:10.0.0.1']).csr,
      'strict',
      {},
      "role 'strict': IP SANs are not allowed (allow_ip_sans: false)",
    ],
    ['a bad TTL', () => scratch.csr(EC256, 'only.example').csr, 'strict', { ttl: 'soon' }, 'ttl must be a duration such as "1h" or "30m"'],
    ['a CSR that is not one', () => 'hello', 'web', {}, 'csr must be a PEM certificate request'],
  ])('%s', async (_what, make, role, extra, message) => {
    const r = await sign(s.admin, role, make(), extra);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ message });
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const { csr } = scratch.csr(EC256, 'a.dev.test');
    const der = Buffer.from(csr.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const r = await sign(s.admin, 'web', tampered);
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/^csr: (the signature does not verify with the key it carries|malformed DER)$/);
  });

  it('answers 404 for a role that does not exist, and nothing was recorded by any refusal', async () => {
    const before = (await call(s.admin, '/v1/pki/certs/')).json.certificates.length;
    const r = await sign(s.admin, 'nope', scratch.csr(EC256, 'a.dev.test').csr);
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ message: "role 'nope' does not exist" });
    await sign(s.admin, 'web', scratch.csr(EC256, 'x.other.test').csr);
    expect((await call(s.admin, '/v1/pki/certs/')).json.certificates.length).toBe(before);
  });

  it('lets identities sign only where their policy allows, and revoke only their own', async () => {
    const { csr } = scratch.csr(EC256, 'p.dev.test');
    expect((await sign(stranger, 'web', csr)).status).toBe(403);
    expect((await sign(allowed, 'strict', scratch.csr(EC256, 'only.example').csr)).status).toBe(403);
    const mine = await sign(allowed, 'web', csr);
    expect(mine.status, mine.text).toBe(200);
    const admins = await sign(s.admin, 'web', csr);
    const refused = await call(allowed, '/v1/pki/revoke', { method: 'PUT', body: { serial: admins.json.serial } });
    expect(refused.status).toBe(403);
    expect(refused.json.message).toBe("not authorized: only the certificate's requester or the admin may revoke it");
    expect((await call(allowed, '/v1/pki/revoke', { method: 'PUT', body: { serial: mine.json.serial } })).status).toBe(200);
    // Listing is policy-checked like every route.
    expect((await call(allowed, '/v1/pki/certs/')).status).toBe(403);
  });
});

describe('nodes issue under the roles their group is listed in', () => {
  let edgeToken = '';
  let otherToken = '';
  let enrolled: TestClient;

  beforeAll(async () => {
    for (const group of ['edge', 'other']) expect((await s.call(s.admin, `/v1/group/create/${group}`, { method: 'PUT', body: {} })).status).toBe(200);
    const gt = (await s.call(s.admin, '/v1/group/rotate/edge', { method: 'PUT' })).json.group_token as string;
    const reg = await s.call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'cdn-1' }, headers: bearer(gt) });
    expect(reg.status, reg.text).toBe(200);
    edgeToken = reg.json.node_token;
    enrolled = s.pki.client({ commonName: 'cdn-2' });
    const en = await s.call(enrolled, '/v1/node/enroll/edge', { method: 'PUT', body: { node_id: 'cdn-2' }, headers: bearer(gt) });
    expect(en.status, en.text).toBe(200);
    const ogt = (await s.call(s.admin, '/v1/group/rotate/other', { method: 'PUT' })).json.group_token as string;
    otherToken = (await s.call(null, '/v1/node/register/other', { method: 'PUT', body: { node_id: 'cdn-1' }, headers: bearer(ogt) })).json.node_token;
  });

  it('a node token gets its own name, not another node’s, and only under its group’s roles', async () => {
    const own = await sign(null, 'edge', scratch.csr(EC256, 'cdn-1.edge.edge.example').csr, { ttl: '1h' }, bearer(edgeToken));
    expect(own.status, own.text).toBe(200);
    const usage = new X509Certificate(own.json.certificate).keyUsage;
    expect(usage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const other = await sign(null, 'edge', scratch.csr(EC256, 'cdn-9.edge.edge.example').csr, {}, bearer(edgeToken));
    expect(other.status).toBe(400);
    expect(other.json.message).toBe("role 'edge': name 'cdn-9.edge.edge.example' is not allowed (allowed_names: {{node_id}}.{{group}}.edge.example)");
    // A role its group is not listed in, and a node of another group.
    expect((await sign(null, 'web', scratch.csr(EC256, 'a.dev.test').csr, {}, bearer(edgeToken))).status).toBe(403);
    expect((await sign(null, 'edge', scratch.csr(EC256, 'cdn-1.other.edge.example').csr, {}, bearer(otherToken))).status).toBe(403);
    // The admin has no node id: the template binds nothing for it.
    expect((await sign(s.admin, 'edge', scratch.csr(EC256, 'cdn-1.edge.edge.example').csr)).status).toBe(400);

    // The node revokes its own certificate, not the admin's; the CRL says so.
    const admins = await sign(s.admin, 'web', scratch.csr(EC256, 'z.dev.test').csr);
    expect((await call(null, '/v1/pki/revoke', { method: 'PUT', body: { serial: admins.json.serial }, headers: bearer(edgeToken) })).status).toBe(403);
    expect((await call(null, '/v1/pki/revoke', { method: 'PUT', body: { serial: own.json.serial }, headers: bearer(edgeToken) })).status).toBe(200);
    expect(openssl(['crl', '-in', await crlFile('root'), '-noout', '-text'])).toContain(own.json.serial.toUpperCase());
  });

  it('an enrolled node renews its identity certificate with the same key (same_key), and only with it', async () => {
    const { keyFile } = scratch.csr(EC256, 'unused');
    const sameKeyCsr = openssl(['req', '-new', '-key', enrolled.keyFile, '-subj', '/CN=cdn-2.nodes.example']);
    const renewed = await sign(enrolled, 'mine', sameKeyCsr);
    expect(renewed.status, renewed.text).toBe(200);
    const cert = new X509Certificate(renewed.json.certificate);
    expect(cert.publicKey.equals(enrolled.cert.publicKey)).toBe(true); // same key: same identity, still enrolled
    const otherKeyCsr = openssl(['req', '-new', '-key', keyFile, '-subj', '/CN=cdn-2.nodes.example']);
    const refused = await sign(enrolled, 'mine', otherKeyCsr);
    expect(refused.status).toBe(400);
    expect(refused.json.message).toBe("role 'mine': the CSR's key must be the key of the client certificate you call with (same_key)");
    expect((await call(enrolled, '/v1/pki/issue/mine', { method: 'PUT', body: { common_name: 'cdn-2.nodes.example' } })).status).toBe(400);
  });

  it('a node rotates its key through the group token: a certificate for the new key, enrolled; the old identity is out', async () => {
    const gt = (await s.call(s.admin, '/v1/group/rotate/edge', { method: 'PUT' })).json.group_token as string;
    const old = s.pki.client({ commonName: 'cdn-5' });
    expect((await s.call(old, '/v1/node/enroll/edge', { method: 'PUT', body: { node_id: 'cdn-5' }, headers: bearer(gt) })).status).toBe(200);
    const { csr, keyFile } = scratch.csr(EC256, 'cdn-5.ids.example');
    // The old certificate, still enrolled, has the new key's certificate signed (it is still node cdn-5).
    const issued = await sign(old, 'ids', csr);
    expect(issued.status, issued.text).toBe(200);
    // Only the certificate and key count for a call: the rest of a TestClient is never read.
    const fresh = { certPem: issued.json.certificate as string, keyPem: openssl(['pkey', '-in', keyFile]) } as unknown as TestClient;
    const moved = await s.call(fresh, '/v1/node/enroll/edge', { method: 'PUT', body: { node_id: 'cdn-5' }, headers: bearer(gt) });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.json.node_id).toBe('cdn-5');
    // The enrollment moved: the new identity issues as cdn-5, the old one is nobody now.
    expect((await sign(fresh, 'ids', scratch.csr(EC256, 'cdn-5.ids.example').csr)).status).toBe(200);
    expect((await sign(old, 'ids', scratch.csr(EC256, 'cdn-5.ids.example').csr)).status).toBe(403);
  });

  it('writes every issuance and revocation to the audit log with caller and serial, never a key', async () => {
    const r = await call(s.admin, '/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'audit.dev.test' } });
    expect(r.status).toBe(200);
    await call(s.admin, '/v1/pki/revoke', { method: 'PUT', body: { serial: r.json.serial } });
    await new Promise((resolve) => setImmediate(resolve)); // audit lines are written once per event-loop turn
    const events = s.logLines.filter((l) => l.includes('"event":"pki.')).map((l) => JSON.parse(l) as Record<string, string>);
    expect(events.find((e) => e['event'] === 'pki.issue' && e['serial'] === r.json.serial)).toMatchObject({
      caller: s.admin.identity,
      role: 'web',
      issuer: 'inter',
    });
    expect(events.find((e) => e['event'] === 'pki.revoke' && e['serial'] === r.json.serial)).toMatchObject({ caller: s.admin.identity });
    expect(events.some((e) => e['event'] === 'pki.sign' && e['caller'] === 'node:edge/cdn-1')).toBe(true);
    const key = (r.json.private_key as string).split('\n')[1] as string;
    expect(s.logLines.some((l) => l.includes(key))).toBe(false);
  });
});

describe('the CA and the CRL are public', () => {
  it('answers PEM for the CA and DER or PEM for the CRL without a certificate; refuses an unknown format or issuer', async () => {
    const ca = await getBytes(`${s.url}/v1/pki/ca`, s.pki.ca.certPem);
    expect(ca.status).toBe(200);
    expect(new X509Certificate(ca.body).subject).toBe('CN=Test Root CA');
    expect((await call(null, '/v1/pki/crl?format=txt')).status).toBe(400);
    expect((await call(null, '/v1/pki/ca?issuer=nope')).status).toBe(404);
  });
});
