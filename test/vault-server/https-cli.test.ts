// HTTPS mode and the out-of-process CLI (main.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer } from './index.js';
import { Client } from './testkit.js';
import { spawnTracked, type Spawned } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'vault-test-server-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');

beforeAll(() => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HTTPS', () => {
  it('serves the same API over TLS with the given certificate', async () => {
    const cert = readFileSync(certFile, 'utf8');
    const vault = await startVaultTestServer({ rootToken: 'root', tls: { cert, key: readFileSync(keyFile, 'utf8') } });
    try {
      expect(vault.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const c = new Client(vault.url, 'root', cert);
      expect((await c.post('/v1/secret/data/tls', { data: { a: 1 } })).status).toBe(200);
      expect((await c.list('/v1/secret/metadata')).json.data.keys).toEqual(['tls']);
      // An untrusting client fails the handshake; plain HTTP gets no answer.
      await expect(new Client(vault.url, 'root').get('/v1/sys/health')).rejects.toThrow();
      await expect(new Client(vault.url.replace('https:', 'http:'), 'root').get('/v1/sys/health')).rejects.toThrow();
    } finally {
      await vault.close();
    }
  });
});

describe('CLI', () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

  // Its own process group, gone with the test even when it fails (test/helpers/processes.ts):
  // the tsx wrapper runs the server in a second process that a kill of the wrapper alone can miss.
  async function start(args: string[]): Promise<{ child: Spawned; url: string }> {
    const child = spawnTracked(tsx, [main, ...args]);
    const m = await child.waitFor(/^vault-test-server listening on (\S+)\n/, 'stdout');
    return { child, url: m[1] as string };
  }

  async function stop(child: Spawned): Promise<number | null> {
    child.signal('SIGTERM');
    return (await child.exited).code;
  }

  it('prints its address, serves requests, and exits cleanly on SIGTERM', async () => {
    const { child, url } = await start(['--listen', '127.0.0.1:0', '--root-token', 'root']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const c = new Client(url, 'root');
    expect((await c.get('/v1/auth/token/lookup-self')).json.data.id).toBe('root');
    expect((await c.post('/__test/faults', { fail_next: 1 })).status).toBe(200);
    expect((await c.get('/v1/sys/health')).status).toBe(500);
    expect(await stop(child)).toBe(0);
  });

  it('serves HTTPS with --tls-cert/--tls-key', async () => {
    const { child, url } = await start(['--listen', '127.0.0.1:0', '--tls-cert', certFile, '--tls-key', keyFile, '--flavor', 'openbao']);
    expect(url).toMatch(/^https:/);
    const c = new Client(url, null, readFileSync(certFile, 'utf8'));
    expect((await c.get('/v1/sys/seal-status')).json.commit_date).toBeDefined();
    expect(await stop(child)).toBe(0);
  });
});
