/**
 * `keygate cert …` as a user runs it: the compiled `bin/keygate.js` against a
 * `--dev` server in a child process.
 */
import { keygate, startDevServer, type DevServer } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import { progressLine } from '../../src/cli/cert-import.js';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/keygate.js');
const dir = mkdtempSync(join(tmpdir(), 'keygate-cert-cli-'));
const certs = new BundleCerts();

/** Writes a bundle's chain and key as `<base>.<certExt>` and `<base>.key` in `into`. */
function files(b: TestBundle, base: string, into = dir, certExt = 'crt'): [string, string] {
  const cert = join(into, `${base}.${certExt}`);
  const key = join(into, `${base}.key`);
  writeFileSync(cert, b.chainPem);
  writeFileSync(key, b.keyPem, { mode: 0o600 });
  return [cert, key];
}

let dev: DevServer | undefined;
let conn: string[] = [];
let env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  dev = await startDevServer();
  const url = dev.url.replace('127.0.0.1', 'localhost');
  const field = dev.field;
  conn = ['--server', url, '--ca', field('CA certificate'), '--cert', field('admin certificate'), '--key', field('admin key')];
  env = { KEYGATE_SERVER: url, KEYGATE_CA: field('CA certificate'), KEYGATE_CLIENT_CERT: field('admin certificate'), KEYGATE_CLIENT_KEY: field('admin key') };
}, 60_000);

// SIGTERM, so the dev server removes its temporary folder; its group goes with it.
afterAll(() => dev?.process.killGroup('SIGTERM'));

describe('keygate cert', () => {
  it('imports one bundle, describes, gets, lists, looks up and removes it', async () => {
    const b = certs.bundle({ dnsNames: ['shop.example.com'] });
    const [cert, key] = files(b, 'shop');
    const imp = await keygate(['cert', 'import', 'shop', '--cert', cert, '--key', key, '--ttl', '3600', '--label', 'env=prod', '--label', 'team=web'], env);
    expect(imp).toMatchObject({ code: 0, stderr: '' });
    expect(imp.stdout).toMatch(/^imported shop \(version \S+\)\n$/);

    const info = await keygate(['cert', 'describe', 'shop', ...conn]);
    expect(info.stdout).toContain('DNS names    shop.example.com\n');
    expect(info.stdout).toContain('Labels       env=prod, team=web\n');
    expect(info.stdout).not.toContain('PRIVATE KEY');
    const json = JSON.parse((await keygate(['cert', 'describe', 'shop', '--json', ...conn])).stdout);
    expect(json).toMatchObject({ name: 'shop', ttl: 3600, key_type: 'ECDSA', fingerprint_sha256: b.leaf.cert.fingerprint256 });

    const got = await keygate(['cert', 'get', 'shop', ...conn]);
    expect(got.stdout).toBe(b.chainPem + b.keyPem);
    expect(JSON.parse((await keygate(['cert', 'get', 'shop', '--json', ...conn])).stdout).private_key).toBe(b.keyPem);

    expect((await keygate(['cert', 'ls', 'sh', ...conn])).stdout).toBe('shop\n');
    expect(JSON.parse((await keygate(['cert', 'ls', '--json', ...conn])).stdout).names).toContain('shop');
    expect((await keygate(['cert', 'lookup', 'shop.example.com', ...conn])).stdout).toMatch(/^shop\texact\tECDSA\t\d{4}-\S+Z\n$/);

    expect((await keygate(['cert', 'rm', 'shop', ...conn])).code).toBe(0);
    const missing = await keygate(['cert', 'describe', 'shop', ...conn]);
    expect(missing).toMatchObject({ code: 4, stderr: 'keygate: bundle does not exist\n' });
  });

  it('refuses a CA certificate as the leaf unless --allow-ca-leaf says so', async () => {
    const cert = join(dir, 'ca-leaf.crt');
    const key = join(dir, 'ca-leaf.key');
    writeFileSync(cert, certs.root.certPem);
    writeFileSync(key, certs.root.keyPem, { mode: 0o600 });
    const refused = await keygate(['cert', 'import', 'ca-leaf', '--cert', cert, '--key', key, '--ttl', '60'], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/CA/);
    expect((await keygate(['cert', 'import', 'ca-leaf', '--cert', cert, '--key', key, '--ttl', '60', '--allow-ca-leaf'], env)).code).toBe(0);
  });

  it('replaces with --replace (creating when missing) and refuses a duplicate without it', async () => {
    const [cert, key] = files(certs.bundle({ dnsNames: ['r.example.com'] }), 'r');
    expect((await keygate(['cert', 'import', 'r', '--cert', cert, '--key', key, '--ttl', '60', '--replace'], env)).code).toBe(0);
    const dup = await keygate(['cert', 'import', 'r', '--cert', cert, '--key', key, '--ttl', '60'], env);
    expect(dup).toMatchObject({ code: 1, stderr: 'keygate: bundle already exists\n' });
    const [cert2, key2] = files(certs.bundle({ dnsNames: ['r.example.com'] }), 'r2');
    const rep = await keygate(['cert', 'import', 'r', '--cert', cert2, '--key', key2, '--ttl', '120', '--replace', '--json'], env);
    expect(rep.code).toBe(0);
    expect(JSON.parse(rep.stdout)).toEqual({ name: 'r', version: expect.any(String) });
    expect(JSON.parse((await keygate(['cert', 'describe', 'r', '--json', ...conn])).stdout).ttl).toBe(120);
  });

  it('imports a directory pair by pair and summarises what failed and why', async () => {
    const d = join(dir, 'many');
    mkdirSync(d);
    files(certs.bundle({ dnsNames: ['a.example.com'] }), 'a', d);
    files(certs.bundle({ dnsNames: ['b.example.com'] }), 'b', d, 'pem');
    const mismatched = certs.bundle();
    writeFileSync(join(d, 'c.crt'), mismatched.chainPem);
    writeFileSync(join(d, 'c.key'), certs.bundle().keyPem);
    writeFileSync(join(d, 'lonely.key'), mismatched.keyPem);
    writeFileSync(join(d, 'notes.txt'), 'ignored');
    const r = await keygate(['cert', 'import', d, '--ttl', '300'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      'imported 2 of 4 bundles; 2 failed:\n' +
        '  c: private_key: does not match the leaf certificate (the first of the chain)\n' +
        '  lonely: no certificate (lonely.crt or lonely.pem) for lonely.key\n',
    );
    expect(r.stderr.split('\n')).toEqual([
      'imported a',
      'imported b',
      'failed   c: private_key: does not match the leaf certificate (the first of the chain)',
      'failed   lonely: no certificate (lonely.crt or lonely.pem) for lonely.key',
      'keygate: 2 of 4 bundles failed to import',
      '',
    ]);
    expect((await keygate(['cert', 'ls', ...conn])).stdout.split('\n')).toEqual(expect.arrayContaining(['a', 'b']));
    const again = await keygate(['cert', 'import', d, '--ttl', '300', '--replace', '--json'], env);
    const summary = JSON.parse(again.stdout);
    expect(summary.imported.map((i: { name: string }) => i.name)).toEqual(['a', 'b']);
    expect(summary.failed.map((f: { name: string }) => f.name)).toEqual(['c', 'lonely']);
    expect(again.code).toBe(1);
  });

  it('draws a progress bar on a terminal', async () => {
    const d = join(dir, 'tty');
    mkdirSync(d);
    files(certs.bundle({ dnsNames: ['t.example.com'] }), 't', d);
    let hasScript = true;
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' });
    } catch {
      hasScript = false;
    }
    expect(progressLine(1, 4, 'x', 80)).toBe(`[${'#'.repeat(10)}${'.'.repeat(30)}] 1/4 x`);
    if (!hasScript) return;
    const command = [process.execPath, bin, 'cert', 'import', d, '--ttl', '60'].map((a) => `'${a}'`).join(' ');
    const out = execFileSync('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env, COLUMNS: '80' } }).toString();
    expect(out).toContain('] 0/1 t');
    expect(out).toContain('] 1/1 done');
    expect(out).toContain('imported 1 of 1 bundles');
  });

  it('exits 2 for usage mistakes, 3 when not authorized, 1 without a client certificate', async () => {
    const [cert, key] = files(certs.bundle(), 'u');
    const noTTL = await keygate(['cert', 'import', 'u', '--cert', cert, '--key', key], env);
    expect(noTTL).toMatchObject({ code: 2, stderr: "error: required option '--ttl <seconds>' not specified\n" });
    expect((await keygate(['cert', 'import', 'u', '--cert', cert, '--key', key, '--ttl', '1h'], env)).code).toBe(2);
    expect((await keygate(['cert', 'import', 'u', '--cert', cert, '--key', key, '--ttl', '60', '--label', 'novalue'], env)).code).toBe(2);
    const notDir = await keygate(['cert', 'import', 'u', '--ttl', '60'], env);
    expect(notDir).toMatchObject({ code: 2, stderr: "error: 'u' is not a directory: pass --cert and --key\n" });
    expect((await keygate(['cert', 'describe'], env)).code).toBe(2);

    const otherKey = join(dir, 'other.key');
    const otherCert = join(dir, 'other.crt');
    expect((await keygate(['identity', 'new', '--key', otherKey, '--cert', otherCert, 'other'])).code).toBe(0);
    const denied = await keygate(
      ['cert', 'import', 'u', '--cert', cert, '--key', key, '--ttl', '60', '--client-cert', otherCert, '--client-key', otherKey],
      env,
    );
    expect(denied).toMatchObject({ code: 3, stderr: 'keygate: not authorized: insufficient permissions\n' });
    expect((await keygate(['cert', 'ls', ...conn.slice(0, 4), '--client-cert', otherCert, '--client-key', otherKey])).code).toBe(3);

    const noClient = await keygate(['cert', 'import', 'u', '--cert', cert, '--key', key, '--ttl', '60', ...conn.slice(0, 4)]);
    expect(noClient.code).toBe(1);
    expect(noClient.stderr).toMatch(/a client certificate is required: pass --client-cert and --client-key/);
    const unreadable = await keygate(['cert', 'import', 'u', '--cert', join(dir, 'none.crt'), '--key', key, '--ttl', '60'], env);
    expect(unreadable).toMatchObject({ code: 1, stderr: `keygate: cannot read '${join(dir, 'none.crt')}' (ENOENT)\n` });
  });
});
