/**
 * The CLI as a user runs it: the compiled `bin/keygate.js`, a `--dev` server in
 * a child process, and the client commands against it.
 */
import { keygate, startDevServer, type DevServer } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

const dir = mkdtempSync(join(tmpdir(), 'keygate-cli-'));

let dev: DevServer | undefined;
let url = '';
let conn: string[] = [];
let banner = '';

beforeAll(async () => {
  dev = await startDevServer();
  banner = dev.banner;
  url = dev.url;
  const field = dev.field;
  conn = [
    '--server',
    url.replace('127.0.0.1', 'localhost'),
    '--ca',
    field('CA certificate'),
    '--cert',
    field('admin certificate'),
    '--key',
    field('admin key'),
  ];
}, 60_000);

// SIGTERM, so the dev server removes its temporary folder; its group goes with it.
afterAll(() => dev?.process.killGroup('SIGTERM'));

describe('keygate server --dev', () => {
  it('prints the address, the admin identity, the certificate paths and a curl example', () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(banner).toMatch(/admin identity: [0-9a-f]{64}/);
    expect(banner).toContain('curl --cacert');
    const key = conn[conn.indexOf('--key') + 1] as string;
    expect(statSync(key).mode & 0o777).toBe(0o600);
  });

  it('runs the curl example as printed', async () => {
    const line = banner.split('\n').find((l) => l.trim().startsWith('curl ')) as string;
    const args = line.trim().split(/\s+/).slice(1);
    const out = execFileSync('curl', ['-sS', '-w', '%{http_code}', ...args]).toString();
    expect(out).toBe('200');
  });
});

describe('keygate key', () => {
  it('creates a key, makes a data key, decrypts it, lists, describes and removes', async () => {
    expect((await keygate(['key', 'create', 'cli-key', ...conn])).code).toBe(0);
    const dek = await keygate(['key', 'dek', 'cli-key', '--json', ...conn]);
    expect(dek.code).toBe(0);
    const { plaintext, ciphertext } = JSON.parse(dek.stdout);
    const dec = await keygate(['key', 'decrypt', 'cli-key', ciphertext, ...conn]);
    expect(dec.stdout.trim()).toBe(plaintext);

    const enc = await keygate(['key', 'encrypt', 'cli-key', 'hello world', '--context', 'ctx', ...conn]);
    const back = await keygate(['key', 'decrypt', 'cli-key', enc.stdout.trim(), '--context', 'ctx', ...conn]);
    expect(Buffer.from(back.stdout.trim(), 'base64').toString()).toBe('hello world');

    const ls = await keygate(['key', 'ls', ...conn]);
    expect(ls.stdout.split('\n')).toContain('cli-key');
    const info = await keygate(['key', 'describe', 'cli-key', '--json', ...conn]);
    expect(JSON.parse(info.stdout)).toMatchObject({ name: 'cli-key', algorithm: 'AES256' });
    expect((await keygate(['key', 'rm', 'cli-key', ...conn])).code).toBe(0);

    const missing = await keygate(['key', 'describe', 'cli-key', ...conn]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe('keygate: key does not exist\n');
  });

  it("exits 3 with the server's message when the identity is not allowed", async () => {
    const key = join(dir, 'other.key');
    const cert = join(dir, 'other.crt');
    expect((await keygate(['identity', 'new', '--key', key, '--cert', cert, 'other'])).code).toBe(0);
    const r = await keygate(['key', 'create', 'x', ...conn.slice(0, 4), '--cert', cert, '--key', key]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('keygate: not authorized: insufficient permissions\n');
  });

  it('takes its connection settings from the environment', async () => {
    const env = {
      KEYGATE_SERVER: conn[1] as string,
      KEYGATE_CA: conn[3] as string,
      KEYGATE_CLIENT_CERT: conn[5] as string,
      KEYGATE_CLIENT_KEY: conn[7] as string,
    };
    expect((await keygate(['key', 'create', 'env-key'], env)).code).toBe(0);
    expect((await keygate(['key', 'ls', 'env-'], env)).stdout).toBe('env-key\n');
  });

  it('explains a missing certificate and an unreachable server', async () => {
    const noCert = await keygate(['key', 'ls', '--server', url]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/a client certificate is required/);
    const down = await keygate(['key', 'ls', ...conn.slice(2), '--server', 'https://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/connection refused/);
  });
});

describe('keygate identity', () => {
  it('makes a key and certificate, refuses to overwrite, and computes the same identity', async () => {
    const key = join(dir, 'id.key');
    const cert = join(dir, 'id.crt');
    const made = await keygate(['identity', 'new', '--key', key, '--cert', cert, '--dns', 'node1.example', '--ip', '10.0.0.1', 'node1']);
    expect(made.code).toBe(0);
    const id = /Identity:\s+([0-9a-f]{64})/.exec(made.stdout)?.[1];
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const of = await keygate(['identity', 'of', cert]);
    expect(of.stdout.trim()).toBe(id);
    const again = await keygate(['identity', 'new', '--key', key, '--cert', cert]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists: pass --force/);
    expect((await keygate(['identity', 'new', '--key', key, '--cert', cert, '--force'])).code).toBe(0);
    expect((await keygate(['identity', 'of', cert])).stdout.trim()).not.toBe(id);
  });

  it('prints an API key whose identity `identity of` reproduces', async () => {
    const r = await keygate(['identity', 'new']);
    const apiKey = /API key:\s+(\S+)/.exec(r.stdout)?.[1] as string;
    const id = /Identity:\s+(\S+)/.exec(r.stdout)?.[1];
    expect(apiKey).toMatch(/^kes:v1:/);
    expect((await keygate(['identity', 'of', apiKey])).stdout.trim()).toBe(id);
  });
});

describe('start-up failures print one line and exit non-zero', () => {
  it('for a bad config', async () => {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, 'admin:\n  identity: x\ntls:\n  key: k\n  cert: c\n  auth: sometimes\nkeystore:\n  memory: {}\n');
    const r = await keygate(['server', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`keygate: ${file}:6: tls.auth: must be one of "on", "off"\n`);
  });

  it('for a missing file, a missing certificate and a mismatched key', async () => {
    expect((await keygate(['server', '--config', join(dir, 'none.yml')])).stderr).toMatch(/cannot read configuration file \(ENOENT\)\n$/);
    const pem = readFileSync(conn[5] as string, 'utf8');
    writeFileSync(join(dir, 'c.pem'), pem);
    const mismatched = join(dir, 'mismatch.yml');
    writeFileSync(mismatched, `admin:\n  identity: x\ntls:\n  key: ${join(dir, 'id.key')}\n  cert: ${join(dir, 'c.pem')}\nkeystore:\n  memory: {}\n`);
    const r = await keygate(['server', '--config', mismatched]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^keygate: tls: private key '.*' does not match certificate '.*'\n$/);
    const noCert = join(dir, 'nocert.yml');
    writeFileSync(noCert, `admin:\n  identity: x\ntls:\n  key: k.pem\n  cert: /nonexistent.pem\nkeystore:\n  memory: {}\n`);
    expect((await keygate(['server', '--config', noCert])).stderr).toBe("keygate: tls: cannot read certificate '/nonexistent.pem' (ENOENT)\n");
  });

  it('for a port in use', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    const r = await keygate(['server', '--dev', '--addr', `127.0.0.1:${port}`]);
    blocker.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`keygate: server: address 127.0.0.1:${port} is already in use\n`);
  });
});
