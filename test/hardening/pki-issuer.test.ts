/**
 * keygate's role decides what a certificate may carry; the issuer only signs. But an issuer
 * has a configuration of its own — a Vault role's `server_flag`/`client_flag` (both true by
 * default), `ext_key_usage`, `use_csr_sans` — which adds to what keygate asked for. Whatever
 * the issuer hands back is checked against what the role allowed: a certificate for another
 * purpose than the role's `usage` (or for any purpose: no extended key usage at all) is
 * revoked at the issuer and never answered; one within the role is answered as before.
 * Against the project's Vault test server and a real Vault 1.4 dev server (`../shared/tools/vault`
 * or VAULT_BIN; that half is skipped with one line when there is none).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { realVaultBinary } from '../helpers/real-vault.js';
import { createCsr } from '../../src/pki/csr.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { PKI_VAULTS, openssl, type PkiVault } from '../pki/support.js';

const hasRealVault = realVaultBinary() !== undefined;
if (!hasRealVault) console.info('pki-issuer: no VAULT_BIN and no ../shared/tools/vault: the real-Vault half is skipped');

function csr(cn: string): string {
  return createCsr(generateKeyPair('ecdsa-p256').privateKey, { commonName: cn, dnsNames: [cn] });
}

for (const [label, available, start] of PKI_VAULTS) {
  (available ? describe : describe.skip)(`an issuer's certificate beyond keygate's role is revoked, never answered: ${label}`, { timeout: 60_000 }, () => {
    let vault: PkiVault;
    let s: TestServer;

    async function v(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
      const res = await fetch(`${vault.addr}/v1/${path}`, {
        method,
        headers: { 'X-Vault-Token': vault.rootToken, 'Content-Type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`vault ${method} ${path}: ${res.status} ${text}`);
      return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    }

    beforeAll(async () => {
      vault = await start();
      await v('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
      await v('POST', 'pki/root/generate/internal', { common_name: 'Issuer Output Root', ttl: '8760h', key_type: 'ec', key_bits: 256 });
      // Vault's defaults: server_flag and client_flag both true.
      await v('POST', 'pki/roles/both', { allow_any_name: true, max_ttl: '24h', key_type: 'ec', key_bits: 256 });
      await v('POST', 'pki/roles/server', { allow_any_name: true, max_ttl: '24h', key_type: 'ec', key_bits: 256, client_flag: false });
      await v('POST', 'pki/roles/none', { allow_any_name: true, max_ttl: '24h', key_type: 'ec', key_bits: 256, client_flag: false, server_flag: false });
      s = await startTestServer({
        config: {
          pki: {
            issuers: { vault: { vault_pki: { mount: 'pki', endpoint: vault.addr, token: vault.rootToken } } },
            roles: {
              // keygate's default usage is server only: Vault's default role adds client.
              'server-on-default-vault-role': { issuer: 'vault', allowed_names: ['*.out.test'], key_types: ['ecdsa-p256'], vault_role: 'both' },
              'client-on-server-vault-role': {
                issuer: 'vault',
                allowed_names: ['*.out.test'],
                key_types: ['ecdsa-p256'],
                usage: ['client'],
                vault_role: 'server',
              },
              'server-on-any-purpose-vault-role': { issuer: 'vault', allowed_names: ['*.out.test'], key_types: ['ecdsa-p256'], vault_role: 'none' },
              'both-on-default-vault-role': {
                issuer: 'vault',
                allowed_names: ['*.out.test'],
                key_types: ['ecdsa-p256'],
                usage: ['server', 'client'],
                vault_role: 'both',
              },
              'server-on-server-vault-role': { issuer: 'vault', allowed_names: ['*.out.test'], key_types: ['ecdsa-p256'], vault_role: 'server' },
            },
          },
        },
      });
    }, 60_000);
    afterAll(async () => {
      await s?.close();
      await vault?.stop();
    });

    /** Serials on the issuer's CRL, as keygate serves it. */
    async function revokedSerials(): Promise<string[]> {
      const crl = await s.call(null, '/v1/pki/crl?format=pem');
      expect(crl.status).toBe(200);
      return [...openssl(['crl', '-noout', '-text'], crl.text).matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => (m[1] as string).toLowerCase());
    }

    const ways = [
      ['sign', (role: string, cn: string) => s.call(s.admin, `/v1/pki/sign/${role}`, { method: 'PUT', body: { csr: csr(cn) } })],
      ['issue (Vault makes the key)', (role: string, cn: string) => s.call(s.admin, `/v1/pki/issue/${role}`, { method: 'PUT', body: { common_name: cn } })],
      [
        'issue (keygate makes the key)',
        (role: string, cn: string) => s.call(s.admin, `/v1/pki/issue/${role}`, { method: 'PUT', body: { common_name: cn, key_type: 'ecdsa-p256' } }),
      ],
    ] as const;

    for (const [how, ask] of ways) {
      it(`${how}: another purpose, or any purpose, is refused and revoked`, async () => {
        for (const role of ['server-on-default-vault-role', 'client-on-server-vault-role', 'server-on-any-purpose-vault-role']) {
          const before = await revokedSerials();
          const listed = (await s.call(s.admin, '/v1/pki/certs/')).json.certificates.length as number;
          const r = await ask(role, 'a.out.test');
          expect(r.status, `${role}: ${r.text}`).toBe(502);
          expect(r.json.message).toMatch(/beyond role .*extended key usage/);
          expect(r.text).not.toMatch(/BEGIN (CERTIFICATE|PRIVATE KEY)/);
          const after = await revokedSerials();
          expect(after.length, `${role}: revoked at the issuer`).toBe(before.length + 1);
          expect((await s.call(s.admin, '/v1/pki/certs/')).json.certificates.length, `${role}: not recorded as issued`).toBe(listed);
        }
      });

      it(`${how}: within the role, answered as before`, async () => {
        for (const [role, ekus] of [
          ['both-on-default-vault-role', ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']],
          ['server-on-server-vault-role', ['1.3.6.1.5.5.7.3.1']],
        ] as const) {
          const r = await ask(role, 'b.out.test');
          expect(r.status, `${role}: ${r.text}`).toBe(200);
          expect([...(new X509Certificate(r.json.certificate).keyUsage ?? [])].sort()).toEqual([...ekus]);
        }
      });
    }
  });
}
