/**
 * Issue 15 with `issuer: vault_pki` against the real Vault 1.4 of `../shared/tools/vault`
 * (or VAULT_BIN): a node with only a group token gets a one-hour certificate for
 * `<node_id>.edge.example` through the agent, signed by Vault's PKI engine behind
 * keygate's role; the agent renews it at two-thirds of its lifetime; on a clean stop with
 * `revoke_on_exit` both serials appear in the CRL keygate serves for that issuer.
 * Skipped with one line when there is no Vault binary.
 *
 * The agent runs on a manual clock; keygate, Vault, TLS and the files are real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { realVaultBinary, startDevVault, type DevVault } from '../helpers/real-vault.js';
import { runToEnd } from '../helpers/processes.js';
import { admin, baseSettings, certificateEntry, tempDir, testAgent, type TestAgent } from './fixture.js';

const HOUR = 3_600_000;
const NAME = 'edge-1.edge.example';
const hasVault = realVaultBinary() !== undefined;
if (!hasVault) console.info('agent + vault_pki: no VAULT_BIN and no ../shared/tools/vault: skipped');

const pki = new TestPki();
const work = tempDir('keygate-pki-vault-');
const out = join(work, 'out');
let vault: DevVault | undefined;
let server: TestServer | undefined;
let agent: TestAgent | undefined;

afterAll(async () => {
  await agent?.close();
  await server?.close();
  await vault?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function vaultCall(path: string, body: unknown): Promise<void> {
  const v = vault as DevVault;
  const r = await fetch(`${v.addr}/v1/${path}`, { method: 'POST', headers: { 'X-Vault-Token': v.rootToken }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`vault ${path}: ${r.status} ${await r.text()}`);
}

const onDisk = () => new X509Certificate(readFileSync(join(out, 'edge.crt')));
/** A serial as openssl prints it in a CRL: upper-case hex, no separators. */
const crlSpelling = (serial: string) => serial.replace(/:/g, '').toUpperCase();

describe.skipIf(!hasVault)('agent + keygate + Vault PKI engine (real Vault 1.4)', () => {
  beforeAll(async () => {
    vault = await startDevVault();
    await vaultCall('sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
    await vaultCall('pki/root/generate/internal', { common_name: 'Vault Edge CA', ttl: '87600h', key_type: 'ec', key_bits: 256 });
    await vaultCall('pki/roles/edge', {
      allowed_domains: 'edge.example',
      allow_subdomains: true,
      max_ttl: '1h',
      key_type: 'any',
      server_flag: true,
      client_flag: false,
    });
    server = await startTestServer({
      pki,
      config: {
        pki: {
          issuers: { vault: { vault_pki: { mount: 'pki', endpoint: vault.addr, token: vault.rootToken } } },
          roles: {
            edge: {
              issuer: 'vault',
              vault_role: 'edge',
              allowed_names: ['{{node_id}}.edge.example'],
              usage: ['server'],
              groups: ['edge'],
              ttl: '1h',
              max_ttl: '1h',
            },
          },
        },
      },
    });
  }, 120_000);

  it('issues through Vault, renews at two-thirds, and revokes on a clean stop', async () => {
    const s = server as TestServer;
    const groupToken = (await admin(s, 'PUT', '/v1/group/create/edge', {})).group_token as string;
    agent = testAgent(
      baseSettings(s, out, {
        server: `https://localhost:${s.port}`,
        auth: { mode: 'register', group: 'edge', groupToken, nodeId: 'edge-1' },
        bundles: [],
        certificates: [certificateEntry({ commonName: NAME, dnsNames: [NAME], dir: out, revokeOnExit: true })],
        refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 8000, timeoutMs: 10_000, listIntervalMs: 60_000, watch: false },
      }),
    );
    await agent.started();
    const first = onDisk();
    expect(first.subjectAltName).toBe(`DNS:${NAME}`);
    expect(first.issuer).toBe('CN=Vault Edge CA');
    expect(new Date(first.validTo).getTime() - Date.now()).toBeLessThanOrEqual(HOUR);

    await agent.advance(38 * 60_000 + 1000);
    for (let i = 0; i < 10 && onDisk().serialNumber === first.serialNumber; i++) await agent.advance(Math.max(agent.clock.nextTimer - agent.clock.now(), 1));
    const second = onDisk();
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(agent.board.toJSON().certificates[0]).toMatchObject({ state: 'ok', last_error: null });

    await agent.close();
    agent = undefined;
    const crl = await s.call(null, '/v1/pki/crl?issuer=vault&format=pem');
    expect(crl.status, crl.text).toBe(200);
    const crlFile = join(work, 'vault.crl');
    writeFileSync(crlFile, crl.text);
    const text = await runToEnd('openssl', ['crl', '-in', crlFile, '-noout', '-text']);
    expect(text.code, text.stderr).toBe(0);
    for (const cert of [first, second]) expect(text.stdout).toContain(`Serial Number: ${crlSpelling(cert.serialNumber)}`);
  });
});
