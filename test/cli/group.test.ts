/**
 * `keygate group` and `keygate node` as a user runs them: the CLI in a child
 * process against a real TLS server, with flags and with the environment. The
 * compiled `bin/keygate.js` is used when the build is newer than the sources
 * (`make test` builds first); otherwise the sources run through tsx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { runToEnd } from '../helpers/processes.js';

const root = new URL('../../', import.meta.url).pathname;
const entry = `import(${JSON.stringify(join(root, 'src/cli/main.ts'))}).then((m) => m.main(['node', 'keygate', ...process.argv.slice(1)]))`;

/** Newest modification time of the TypeScript sources under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const built = join(root, 'dist/.built');
const useBuild = existsSync(built) && existsSync(join(root, 'dist/src/cli/group-cmd.js')) && statSync(built).mtimeMs >= newestSource(join(root, 'src'));
const launcher = useBuild ? [join(root, 'bin/keygate.js')] : ['--import', 'tsx', '-e', entry, '--'];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** No clock of its own (the test's timeout bounds it); its process group dies with the test. */
async function keygate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYGATE_')));
  const r = await runToEnd(process.execPath, [...launcher, ...args], { cwd: root, env: { ...clean, ...env } });
  return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
}

let s: TestServer;
let nodeCert: TestClient;
let admin: string[];
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  s = await startTestServer({ prepare: (pki) => ((nodeCert = pki.client({ commonName: 'cli-node' })), {}) });
  admin = ['--server', s.url, '--ca', s.pki.caFile, '--cert', s.admin.certFile, '--key', s.admin.keyFile];
  env = { KEYGATE_SERVER: s.url, KEYGATE_CA: s.pki.caFile, KEYGATE_CLIENT_CERT: s.admin.certFile, KEYGATE_CLIENT_KEY: s.admin.keyFile };
  const b = new BundleCerts().bundle({ dnsNames: ['www.example.com'] });
  await s.call(s.admin, '/v1/cert/import/www.example.com', { method: 'PUT', body: { certificate: b.chainPem, private_key: b.keyPem, ttl: 3600 } });
}, 60_000);
afterAll(() => s.close());

describe('keygate group', () => {
  it('creates, describes, lists, assigns, rotates and removes groups', async () => {
    const created = await keygate(['group', 'create', 'edge', '--token-ttl', '300', '--oauth-client-secret', 'cli-secret', ...admin]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^kgg_[A-Za-z0-9_-]{43}\n$/);
    expect(created.stderr).toMatch(/shown only once/);

    const info = await keygate(['group', 'describe', 'edge', '--json'], env);
    expect(JSON.parse(info.stdout)).toMatchObject({ name: 'edge', token_ttl: 300, oauth_client_secret_set: true, bundles: [] });
    expect(info.stdout).not.toContain('cli-secret');
    const human = await keygate(['group', 'describe', 'edge'], env);
    expect(human.stdout).toMatch(/^Name\s+edge$/m);
    expect(human.stdout).toMatch(/secret|none/);

    expect((await keygate(['group', 'assign', 'edge', 'www.example.com'], env)).stdout).toBe('assigned www.example.com to edge\n');
    expect(JSON.parse((await keygate(['group', 'describe', 'edge', '--json'], env)).stdout).bundles).toEqual(['www.example.com']);
    expect((await keygate(['group', 'ls', 'ed'], env)).stdout).toBe('edge\n');

    const rotated = await keygate(['group', 'rotate', 'edge'], env);
    expect(rotated.stdout).toMatch(/^kgg_/);
    expect(rotated.stdout).not.toBe(created.stdout);

    expect((await keygate(['group', 'unassign', 'edge', 'www.example.com', '--json'], env)).stdout).toBe('{}\n');
    expect((await keygate(['group', 'rm', 'edge'], env)).stdout).toBe('deleted group edge\n');
    const gone = await keygate(['group', 'describe', 'edge'], env);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toBe('keygate: group does not exist\n');
  }, 60_000);

  it('exits 2 on usage errors, 1 on bad settings, 3 when not authorized', async () => {
    expect((await keygate(['group', 'create', 'x', '--token-ttl', 'soon'], env)).code).toBe(2);
    const bad = await keygate(['group', 'create', 'x', '--callback-url', 'http://insecure'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('keygate: callback_url must be an https:// URL without credentials, query or fragment\n');
    const denied = await keygate(['group', 'ls', '--cert', nodeCert.certFile, '--key', nodeCert.keyFile], env);
    expect(denied.code).toBe(3);
  }, 60_000);
});

describe('keygate node', () => {
  it('registers and renews with tokens, enrolls a certificate, lists, revokes and bans', async () => {
    const token = (await keygate(['group', 'create', 'fleet'], env)).stdout.trim();
    await keygate(['group', 'assign', 'fleet', 'www.example.com'], env);

    // A node without any client certificate, token from the environment.
    const nodeEnv = { KEYGATE_SERVER: s.url, KEYGATE_CA: s.pki.caFile, KEYGATE_TOKEN: token };
    const reg = await keygate(['node', 'register', 'fleet', 'n1', '--json'], nodeEnv);
    expect(reg.code, reg.stderr).toBe(0);
    const { node_token: nodeToken, ttl } = JSON.parse(reg.stdout);
    expect(ttl).toBe(600);
    expect((await keygate(['node', 'renew', '--token', nodeToken], { ...nodeEnv, KEYGATE_TOKEN: '' })).stdout).toBe('renewed: valid for 600s\n');
    expect((await keygate(['node', 'renew'], { KEYGATE_SERVER: s.url, KEYGATE_CA: s.pki.caFile })).code).toBe(2);

    const enrolled = await keygate(['node', 'enroll', 'fleet', '--node-id', 'n2', '--cert', nodeCert.certFile, '--key', nodeCert.keyFile], nodeEnv);
    expect(enrolled.stdout).toBe(`enrolled ${nodeCert.identity} into fleet as n2\n`);
    expect((await s.call(nodeCert, '/v1/cert/get/www.example.com')).status).toBe(200);

    const nodes = JSON.parse((await keygate(['group', 'nodes', 'fleet', '--json'], env)).stdout).nodes;
    expect(nodes.map((n: { node_id: string }) => n.node_id).sort()).toEqual(['n1', 'n2']);
    expect((await keygate(['group', 'nodes', 'fleet'], env)).stdout.split('\n')[0]).toBe(
      'NODE\tIDENTITY\tREGISTERED\tLAST SEEN\tTOKEN EXPIRES\tENROLLED\tREVOKED',
    );

    expect((await keygate(['node', 'revoke', 'fleet', 'n1'], env)).stdout).toBe('revoked n1 in fleet\n');
    const dead = await keygate(['node', 'renew', '--token', nodeToken], nodeEnv);
    expect(dead.code).toBe(3);
    expect(dead.stderr).toBe('keygate: not authorized: invalid, expired or revoked token\n');
    expect((await keygate(['node', 'revoke', 'fleet', 'nobody'], env)).code).toBe(4);

    expect((await keygate(['node', 'ban', 'fleet', nodeCert.identity], env)).code).toBe(0);
    expect((await s.call(nodeCert, '/v1/cert/get/www.example.com')).status).toBe(403);
    const banned = await keygate(['node', 'enroll', 'fleet', '--cert', nodeCert.certFile, '--key', nodeCert.keyFile], nodeEnv);
    expect(banned).toMatchObject({ code: 3, stderr: 'keygate: not authorized: node is banned\n' });
    expect((await keygate(['node', 'unban', 'fleet', nodeCert.identity], env)).code).toBe(0);
  }, 90_000);
});
