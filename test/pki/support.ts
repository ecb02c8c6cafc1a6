/** Helpers of the PKI tests: openssl on files in a scratch folder, raw bytes over HTTPS, CSRs. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVaultTestServer } from '../vault-server/index.js';
import { realVaultBinary, startDevVault } from '../helpers/real-vault.js';

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'keygate-pki-'));
  private n = 0;

  file(content: string | Buffer, ext = 'pem'): string {
    const path = join(this.dir, `f${++this.n}.${ext}`);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  /** An openssl-made key and CSR: `-newkey` spec (e.g. `ec -pkeyopt ec_paramgen_curve:P-256`), subject CN, SANs. */
  csr(newkey: string[], cn: string, sans: string[] = []): { csr: string; keyFile: string } {
    const keyFile = join(this.dir, `k${++this.n}.key`);
    const csrFile = join(this.dir, `r${this.n}.csr`);
    const args = ['req', '-new', '-newkey', ...newkey, '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${cn}`];
    if (sans.length > 0) args.push('-addext', `subjectAltName=${sans.join(',')}`);
    execFileSync('openssl', args, { stdio: 'pipe' });
    return { csr: execFileSync('openssl', ['req', '-in', csrFile], { encoding: 'utf8' }), keyFile };
  }
}

export const EC256 = ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
export const EC384 = ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];
export const ED25519 = ['ed25519'];
export const RSA2048 = ['rsa:2048'];

/** `openssl verify …`: its exit status and what it printed. */
export function opensslVerify(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('openssl', ['verify', ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

export function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
}

/** GET without credentials, the body as bytes (a DER CRL is not UTF-8). */
export function getBytes(url: string, ca: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** A Vault whose PKI engine a test configures with its root token. */
export interface PkiVault {
  addr: string;
  rootToken: string;
  stop(): Promise<void>;
}

/** The Vaults the vault_pki tests run against: [label, available here, start]. Real Vault 1.4 needs VAULT_BIN or the tool beside the checkout. */
export const PKI_VAULTS: Array<[string, boolean, () => Promise<PkiVault>]> = [
  [
    'the Vault test server',
    true,
    async () => {
      const v = await startVaultTestServer({ rootToken: 'root' });
      return { addr: v.url, rootToken: v.rootToken as string, stop: () => v.close() };
    },
  ],
  [
    'real Vault 1.4',
    realVaultBinary() !== undefined,
    async () => {
      const v = await startDevVault();
      return { addr: v.addr, rootToken: v.rootToken, stop: () => v.stop() };
    },
  ],
];
