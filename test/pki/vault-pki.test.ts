/**
 * The `vault_pki` issuer against the project's Vault test server and against a real
 * Vault 1.4 dev server (`../shared/tools/vault` or VAULT_BIN; skipped with one line when
 * there is none): keygate's role checks first, Vault's PKI engine signs (sign, issue),
 * revokes, publishes its CA and CRL and tidies; openssl verifies chain and revocation.
 * keygate reaches Vault with its own endpoint and a scoped token (only the PKI paths it uses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { realVaultBinary } from '../helpers/real-vault.js';
import { EC256, ED25519, PKI_VAULTS, Scratch, getBytes, opensslVerify, type PkiVault } from './support.js';

const hasRealVault = realVaultBinary() !== undefined;
if (!hasRealVault) console.info('pki vault_pki: no VAULT_BIN and no ../shared/tools/vault: the real-Vault half is skipped');

async function vault(t: PkiVault, method: string, path: string, body?: unknown, token = t.rootToken): Promise<Record<string, unknown>> {
  const res = await fetch(`${t.addr}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`vault ${method} ${path}: ${res.status} ${text}`);
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

const POLICY = `
path "pki/sign/*" { capabilities = ["update"] }
path "pki/issue/*" { capabilities = ["update"] }
path "pki/revoke" { capabilities = ["update"] }
path "pki/tidy" { capabilities = ["update"] }
path "pki/cert/*" { capabilities = ["read"] }
`;

for (const [label, available, start] of PKI_VAULTS) {
  (available ? describe : describe.skip)(`vault_pki against ${label}`, { timeout: 60_000 }, () => {
    let t: PkiVault;
    let s: TestServer;
    const scratch = new Scratch();
    const sign = (csr: string, extra: Record<string, unknown> = {}) => s.call(s.admin, '/v1/pki/sign/edge', { method: 'PUT', body: { csr, ...extra } });

    beforeAll(async () => {
      t = await start();
      await vault(t, 'POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
      await vault(t, 'POST', 'pki/root/generate/internal', { common_name: 'Vault Test Root', ttl: '8760h', key_type: 'ec', key_bits: 256 });
      await vault(t, 'POST', 'pki/roles/edge', { allow_any_name: true, max_ttl: '24h', key_type: 'ec', key_bits: 256, server_flag: true, client_flag: false });
      await vault(t, 'PUT', 'sys/policies/acl/keygate-pki', { policy: POLICY });
      const scoped = (await vault(t, 'POST', 'auth/token/create', { policies: ['keygate-pki'], ttl: '1h' }))['auth'] as { client_token: string };
      s = await startTestServer({
        config: {
          pki: {
            issuers: { vault: { vault_pki: { mount: 'pki', endpoint: t.addr, token: scoped.client_token } } },
            roles: {
              edge: { issuer: 'vault', allowed_names: ['*.vault.test'], max_ttl: '12h', key_types: ['ecdsa-p256', 'ed25519'] },
              p384: { issuer: 'vault', allowed_names: ['*.vault.test'], key_types: ['ecdsa-p384'], vault_role: 'edge' },
            },
          },
        },
      });
    }, 60_000);
    afterAll(async () => {
      await s?.close();
      await t?.stop();
    });

    it('signs a CSR through Vault; openssl verifies it against the CA keygate serves; revocation reaches Vault’s CRL', async () => {
      const { csr } = scratch.csr(EC256, 'www.vault.test', ['DNS:www.vault.test', 'DNS:api.vault.test']);
      const r = await sign(csr, { ttl: '1h' });
      expect(r.status, r.text).toBe(200);
      const cert = new X509Certificate(r.json.certificate);
      expect(cert.issuer).toBe('CN=Vault Test Root');
      expect(cert.serialNumber.toLowerCase().replace(/^(00)+/, '')).toBe(r.json.serial);
      expect(cert.subjectAltName).toContain('DNS:api.vault.test');
      const lifetime = new Date(r.json.not_after).getTime() - Date.now();
      expect(lifetime).toBeGreaterThan(3_500_000);
      expect(lifetime).toBeLessThanOrEqual(3_600_000);

      const ca = await s.call(null, '/v1/pki/ca');
      expect(ca.status).toBe(200);
      const caFile = scratch.file(ca.text);
      const leaf = scratch.file(r.json.certificate);
      expect(opensslVerify(['-CAfile', caFile, '-purpose', 'sslserver', leaf]).output).toContain(': OK');

      const rv = await s.call(s.admin, '/v1/pki/revoke', { method: 'PUT', body: { serial: r.json.serial } });
      expect(rv.status, rv.text).toBe(200);
      const crl = await s.call(null, '/v1/pki/crl?format=pem');
      expect(crl.status).toBe(200);
      const revoked = opensslVerify(['-CAfile', caFile, '-crl_check', '-CRLfile', scratch.file(crl.text, 'crl'), leaf]);
      expect(revoked.output).toContain('certificate revoked');
      const der = await getBytes(`${s.url}/v1/pki/crl`, s.pki.ca.certPem);
      expect(der.body.subarray(0, 1)).toEqual(Buffer.from([0x30]));
    });

    it('issues with Vault’s key (issue) or keygate’s (key_type: signed from a CSR keygate made); Vault’s role still decides the key kind', async () => {
      const byVault = await s.call(s.admin, '/v1/pki/issue/edge', { method: 'PUT', body: { common_name: 'a.vault.test', ttl: '30m' } });
      expect(byVault.status, byVault.text).toBe(200);
      const cert = new X509Certificate(byVault.json.certificate);
      expect(cert.checkPrivateKey(createPrivateKey(byVault.json.private_key))).toBe(true);
      const byKeygate = await s.call(s.admin, '/v1/pki/issue/edge', { method: 'PUT', body: { common_name: 'b.vault.test', key_type: 'ecdsa-p256' } });
      expect(byKeygate.status, byKeygate.text).toBe(200);
      const other = new X509Certificate(byKeygate.json.certificate);
      expect(other.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(other.checkPrivateKey(createPrivateKey(byKeygate.json.private_key))).toBe(true);
      const listed = await s.call(s.admin, '/v1/pki/certs/');
      expect(listed.json.certificates.map((c: { serial: string }) => c.serial)).toEqual(expect.arrayContaining([byVault.json.serial, byKeygate.json.serial]));
      // Vault's role makes P-256 keys: a keygate role without them refuses what Vault made (and revokes it).
      const p384only = await s.call(s.admin, '/v1/pki/issue/p384', { method: 'PUT', body: { common_name: 'd.vault.test' } });
      expect(p384only.status).toBe(400);
      expect(p384only.json.message).toBe(
        "role 'p384': the issuer made a key of type ecdsa-p256, which key_types does not allow (ecdsa-p384): ask for a key_type",
      );
      // An Ed25519 key passes keygate's role but not the Vault role (key_type ec): Vault's refusal is passed on.
      const refused = await s.call(s.admin, '/v1/pki/issue/edge', { method: 'PUT', body: { common_name: 'c.vault.test', key_type: 'ed25519' } });
      expect(refused.status).toBe(400);
      expect(refused.json.message).toMatch(/^vault PKI refused: /);
    });

    it('refuses by keygate’s role before Vault is asked', async () => {
      const name = await sign(scratch.csr(EC256, 'www.example.com').csr);
      expect(name.status).toBe(400);
      expect(name.json.message).toBe("role 'edge': name 'www.example.com' is not allowed (allowed_names: *.vault.test)");
      const ttl = await sign(scratch.csr(ED25519, 'x.vault.test').csr, { ttl: '13h' });
      expect(ttl.json.message).toBe("role 'edge': ttl 13h exceeds max_ttl 12h");
    });

    it('runs Vault’s tidy on the schedule’s call', async () => {
      const result = await s.running.holder.current.pki.tidy();
      expect(result.crlEntries).toBe(0);
    });
  });
}
