/**
 * (g) certificates signed per second, per key type: `PUT /v1/pki/sign/<role>` with a CSR of
 * that type, closed loop, by the built-in issuer (a CA of the same type in the keystore) and
 * by Vault's PKI engine behind keygate (`vault_pki`): the real Vault of ../shared/tools/vault
 * (or VAULT_BIN) when there is one, else the project's Vault test server. keygate only.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, type KeyType } from '../../src/pki/keys.js';
import { createCsr } from '../../src/pki/csr.js';
import type { BenchContext, Scenario } from '../context.js';
import { freePort, startVault } from '../servers.js';
import { stopChild, track } from '../procs.js';
import { keygate, load } from './common.js';

const TYPES: KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'];
/** Vault 1.4's PKI engine knows no Ed25519. */
const VAULT_ROLE: Partial<Record<KeyType, { key_type: string; key_bits: number }>> = {
  'ecdsa-p256': { key_type: 'ec', key_bits: 256 },
  'ecdsa-p384': { key_type: 'ec', key_bits: 384 },
  'rsa-2048': { key_type: 'rsa', key_bits: 2048 },
};
/**
 * Signing is CPU-bound: 64 connections keep the issuer busy, where 1000 would spend each run's first
 * seconds on handshakes and leave a queue of seconds behind it that the next run waits out.
 */
const signers = (ctx: BenchContext) => ctx.pki.clients.slice(0, 64);

/** Measured seconds per signing run: signatures are milliseconds each, so 4 s is thousands of them, and eight runs must fit the bench's time limit. */
const SIGN_MS = 4000;

export const ROOT = 'bench-root-token';

export interface VaultTarget {
  url: string;
  kind: string;
  stop(): Promise<void>;
}

/** The real Vault dev server when there is a binary, else the Vault test server. */
export async function startAnyVault(ctx: BenchContext): Promise<VaultTarget> {
  const bundled = join(ctx.settings.repo, '..', 'shared', 'tools', 'vault');
  const binary = process.env['VAULT_BIN'] || (existsSync(bundled) ? bundled : '');
  if (binary === '') {
    const v = ctx.use(await startVault(ctx.settings.repo, ROOT));
    return { url: v.url, kind: "the Vault test server (Node, keygate's own signing code)", stop: () => ctx.stop(v) };
  }
  const port = await freePort();
  const home = mkdtempSync(join(ctx.settings.tmp, 'vault-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env['VAULT_ADDR'];
  delete env['VAULT_TOKEN'];
  const child = track(
    spawn(binary, ['server', '-dev', `-dev-root-token-id=${ROOT}`, `-dev-listen-address=127.0.0.1:${port}`], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    }),
  );
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`vault dev server did not start: ${seen.slice(-500)}`)), 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (seen.includes('Vault server started!')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`vault dev server exited: ${seen.slice(-500)}`)));
  });
  return { url: `http://127.0.0.1:${port}`, kind: 'Vault 1.4.0 (dev server, in-memory storage)', stop: () => stopChild(child, 'SIGTERM', 5000, true) };
}

async function vault(url: string, method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`${url}/v1/${path}`, { method, headers: { 'X-Vault-Token': ROOT }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (res.status >= 300) throw new Error(`vault ${method} ${path}: ${res.status} ${await res.text()}`);
}

const csrOf = (type: KeyType): string => createCsr(generateKeyPair(type).privateKey, { commonName: 'www.bench.test', dnsNames: ['www.bench.test'] });

export const pkiSigning: Scenario = {
  id: 'g',
  title: 'certificates signed per second, per key type: built-in CA vs Vault PKI',
  async run(ctx, out) {
    const role = (issuer: string) => ({ issuer, allowed_names: ['*.bench.test'], max_ttl: '24h' });
    const builtin = await keygate(ctx, 'g-builtin', {
      pkiConfig: {
        issuers: Object.fromEntries(TYPES.map((t) => [t, { builtin: { key_type: t } }])),
        roles: Object.fromEntries(TYPES.map((t) => [`bench-${t}`, role(t)])),
      },
    });
    const rates: Record<string, number | null> = {};
    for (const t of TYPES) {
      const body = JSON.stringify({ csr: csrOf(t), ttl: '1h' });
      const r = await load(
        ctx,
        `g sign ${t}, built-in / keygate`,
        builtin,
        { method: 'PUT', path: `/v1/pki/sign/bench-${t}`, body, expectStatus: 200 },
        { kind: 'closed' },
        { durationMs: SIGN_MS, identities: signers(ctx) },
      );
      out.measure({ label: `g sign ${t}, built-in / keygate`, load: r });
      rates[`builtin ${t}`] = r.perSecond;
      out.figure({
        key: `g_sign_builtin_${t}`,
        title: `certificates signed, built-in CA, ${t}`,
        unit: 'certs/s',
        keygate: r.perSecond,
        node: null,
        nginx: null,
        higherIsBetter: true,
      });
    }
    await ctx.stop(builtin);

    const v = await startAnyVault(ctx);
    try {
      const vaultTypes = TYPES.filter((t) => VAULT_ROLE[t] !== undefined);
      for (const t of vaultTypes) {
        const { key_type, key_bits } = VAULT_ROLE[t] as { key_type: string; key_bits: number };
        await vault(v.url, 'POST', `sys/mounts/pki-${t}`, { type: 'pki', config: { max_lease_ttl: '87600h' } });
        await vault(v.url, 'POST', `pki-${t}/root/generate/internal`, { common_name: `bench ${t} root`, ttl: '8760h', key_type, key_bits });
        // client_flag off: Vault's roles add clientAuth by default, and keygate's role (usage: server) refuses, and revokes, a certificate that has it.
        await vault(v.url, 'POST', `pki-${t}/roles/bench-${t}`, { allow_any_name: true, max_ttl: '24h', key_type, key_bits, client_flag: false });
      }
      const viaVault = await keygate(ctx, 'g-vault', {
        pkiConfig: {
          issuers: Object.fromEntries(vaultTypes.map((t) => [t, { vault_pki: { mount: `pki-${t}`, endpoint: v.url, token: ROOT } }])),
          roles: Object.fromEntries(vaultTypes.map((t) => [`bench-${t}`, role(t)])),
        },
      });
      for (const t of TYPES) {
        if (!vaultTypes.includes(t)) {
          out.figure({
            key: `g_sign_vault_${t}`,
            title: `certificates signed, Vault PKI, ${t}`,
            unit: 'certs/s',
            keygate: null,
            node: null,
            nginx: null,
            higherIsBetter: true,
          });
          continue;
        }
        const body = JSON.stringify({ csr: csrOf(t), ttl: '1h' });
        const r = await load(
          ctx,
          `g sign ${t}, Vault PKI / keygate`,
          viaVault,
          { method: 'PUT', path: `/v1/pki/sign/bench-${t}`, body, expectStatus: 200 },
          { kind: 'closed' },
          { durationMs: SIGN_MS, identities: signers(ctx) },
        );
        out.measure({ label: `g sign ${t}, Vault PKI / keygate`, load: r });
        out.figure({
          key: `g_sign_vault_${t}`,
          title: `certificates signed, Vault PKI, ${t}`,
          unit: 'certs/s',
          keygate: r.perSecond,
          node: null,
          nginx: null,
          higherIsBetter: true,
        });
      }
      out.note(
        `PUT /v1/pki/sign/bench-<type> with one CSR of that type (the same for every request: each answer is a new certificate with a new serial, ` +
          `recorded in the memory keystore), closed loop over ${signers(ctx).length} keep-alive connections, 4 s per run. Built-in: a CA of the same key type, ` +
          `its key in the keystore. Vault PKI: ${v.kind} on plain HTTP over loopback, one mount and root CA per type, root token; it shares the cores ` +
          'with keygate and the load generator. Vault 1.4 has no Ed25519 (null).',
      );
    } finally {
      await v.stop();
    }
  },
};
