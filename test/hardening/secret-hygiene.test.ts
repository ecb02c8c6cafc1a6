/**
 * Secret hygiene across every surface, on the server process as operators run
 * it with the most verbose logging (`log.error: debug`, audit on, both to
 * files): KES key import, data keys, encryption; bundles; groups with an OAuth
 * client secret and a real group manager; node registration, renewal,
 * enrollment, rotation; the RKS surface (init token, admin password and token,
 * group and node tokens, secrets); the PKI (issued private keys, CSR keys, the CA's
 * own key); dashboard sessions (the cookie's token, its CSRF token, dead and forged
 * cookies) — successes and failures alike; then `keygate migrate` of that keystore
 * (its report, `--json` included). No secret may appear, raw, hex or base64, in any
 * log line, any error message, the migrate output, or the metrics (`/v1/metrics`
 * and RKS's public `/metrics`).
 *
 * Then the files: the fs keystore (and the one migrate wrote), the log files,
 * `keygate dev-certs` output and the agent's key files are 0600; the keystore and
 * dev-certs folders are 0700.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { createCsr } from '../../src/pki/csr.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { privateKeyToPem } from '../../src/pki/certificate.js';
import { keygate } from '../helpers/cli.js';
import { BundleCerts, pemBodyLines } from '../helpers/bundle-certs.js';
import { startGroupManager, type GroupManager } from '../helpers/group-manager.js';
import type { TestResponse } from '../helpers/http.js';
import { RKS } from './fixture.js';
import { repoRoot, serverProcess, type ServerProcess } from './server-process.js';
import { recordFigure } from './figures.js';

let p: ServerProcess;
let gm: GroupManager;
const certs = new BundleCerts();
/** Every secret seen, as text (tokens, passwords) or bytes (keys, plaintexts). */
const secrets: Array<string | Buffer> = [];
/** Private keys keygate made for `issue`: returned once, stored nowhere (not even in the keystore). */
const issuedKeys: string[] = [];
/** The bodies of every error answer: error messages must not carry secrets either. */
const errorBodies: string[] = [];

beforeAll(async () => {
  gm = await startGroupManager({ mode: 'form' });
  p = await serverProcess({
    config: (_pki, _admin, dir) => ({
      log: { error: 'debug', audit: 'on', error_file: join(dir, 'error.log'), audit_file: join(dir, 'audit.log') },
      rks: RKS,
      pki: {
        issuers: { root: { builtin: { common_name: 'Hygiene CA', key_type: 'ecdsa-p256' } } },
        roles: { web: { issuer: 'root', allowed_names: ['*.hyg.test'], usage: ['server'], key_types: ['ecdsa-p256', 'rsa-2048'] } },
      },
    }),
  });
  await p.start();
  secrets.push(RKS.init_token, RKS.admin.password, gm.clientSecret, Buffer.from(`${gm.clientId}:${gm.clientSecret}`));
  secrets.push(...pemBodyLines(readFileSync(p.pki.serverKeyFile, 'utf8')));
});
afterAll(async () => {
  await p?.kill('SIGTERM');
  await gm?.close();
});

/** Calls the server, remembering error bodies. */
async function call(
  path: string,
  opts: { method?: string; body?: unknown; token?: string; rks?: boolean; cert?: boolean; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers[opts.rks ? 'X-Vault-Token' : 'Authorization'] = opts.rks ? opts.token : `Bearer ${opts.token}`;
  if (opts.rks && opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await p.call(opts.cert === false || opts.token !== undefined ? null : p.admin, path, {
    method: opts.method ?? 'GET',
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  if (r.status >= 400) errorBodies.push(r.text);
  return r;
}

async function kes(): Promise<void> {
  const master = randomBytes(32);
  secrets.push(master);
  expect((await call('/v1/key/import/hyg', { method: 'PUT', body: { key: master.toString('base64'), cipher: 'AES256' } })).status).toBe(200);
  await call('/v1/key/import/hyg-short', { method: 'PUT', body: { key: master.subarray(0, 31).toString('base64') } });
  await call('/v1/key/import/hyg', { method: 'PUT', body: { key: master.toString('base64') } });
  const dek = await call('/v1/key/generate/hyg', { method: 'PUT', body: {} });
  secrets.push(Buffer.from(dek.json.plaintext, 'base64'));
  const plaintext = Buffer.from('hygiene plaintext ' + randomBytes(12).toString('hex'));
  secrets.push(plaintext);
  const enc = await call('/v1/key/encrypt/hyg', { method: 'PUT', body: { plaintext: plaintext.toString('base64') } });
  expect((await call('/v1/key/decrypt/hyg', { method: 'PUT', body: { ciphertext: enc.json.ciphertext } })).status).toBe(200);
  const tampered = Buffer.from(enc.json.ciphertext, 'base64');
  tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1);
  await call('/v1/key/decrypt/hyg', { method: 'PUT', body: { ciphertext: tampered.toString('base64') } });
  await call('/v1/key/hmac/hyg', { method: 'PUT', body: { message: plaintext.toString('base64') } });
  await call('/v1/key/encrypt/hyg', { method: 'PUT', body: { plaintext: plaintext.toString('base64') + '!' } });
  // Key versions: rotate, rewrap (ciphertext in, ciphertext out), retire the old version.
  expect((await call('/v1/key/rotate/hyg', { method: 'PUT' })).status).toBe(200);
  const rewrapped = await call('/v1/key/rewrap/hyg', { method: 'PUT', body: { ciphertext: enc.json.ciphertext } });
  expect(rewrapped.status, rewrapped.text).toBe(200);
  errorBodies.push(rewrapped.text); // an answer that must not carry the plaintext either
  await call('/v1/key/rewrap/hyg', { method: 'PUT', body: { ciphertext: tampered.toString('base64') } });
  expect((await call('/v1/key/config/hyg', { method: 'PUT', body: { min_decryption_version: 2 } })).status).toBe(200);
  expect((await call('/v1/key/decrypt/hyg', { method: 'PUT', body: { ciphertext: enc.json.ciphertext } })).status).toBe(400);
  expect((await call('/v1/key/rewrap/hyg', { method: 'PUT', body: { ciphertext: enc.json.ciphertext } })).status).toBe(400);
  const current = await call('/v1/key/decrypt/hyg', { method: 'PUT', body: { ciphertext: rewrapped.json.ciphertext } });
  expect(Buffer.from(current.json.plaintext, 'base64')).toEqual(plaintext);
}

async function tlsSurface(): Promise<void> {
  const www = certs.bundle({ dnsNames: ['hyg.example.com'] });
  const other = certs.bundle({ dnsNames: ['other.example.com'] });
  secrets.push(...pemBodyLines(www.keyPem), ...pemBodyLines(other.keyPem));
  expect(
    (await call('/v1/cert/import/hyg.example.com', { method: 'PUT', body: { certificate: www.chainPem, private_key: www.keyPem, ttl: 600 } })).status,
  ).toBe(200);
  await call('/v1/cert/import/bad.example.com', { method: 'PUT', body: { certificate: www.chainPem, private_key: other.keyPem, ttl: 600 } });
  await call('/v1/cert/import/cut.example.com', { method: 'PUT', body: { certificate: www.chainPem, private_key: www.keyPem.slice(0, 120), ttl: 600 } });
  const settings = {
    oauth_url: gm.oauthUrl,
    oauth_client_id: gm.clientId,
    oauth_client_secret: gm.clientSecret,
    callback_url: gm.callbackUrl,
    callback_ca: gm.caPem,
  };
  const created = await call('/v1/group/create/hyg', { method: 'PUT', body: settings });
  expect(created.status, created.text).toBe(200);
  const groupToken = created.json.group_token as string;
  secrets.push(groupToken);
  await call('/v1/group/update/hyg', { method: 'PUT', body: { oauth_client_secret: gm.clientSecret + 'x', callback_url: 'http://insecure.example' } });
  expect((await call('/v1/group/describe/hyg')).status).toBe(200);
  errorBodies.push((await call('/v1/group/describe/hyg')).text); // describe must not show the secret either
  await call('/v1/group/assign/hyg/hyg.example.com', { method: 'PUT' });
  const reg = await call('/v1/node/register/hyg', { method: 'PUT', token: groupToken, body: { node_id: 'hyg-1' } });
  expect(reg.status, reg.text).toBe(200);
  secrets.push(reg.json.node_token, ...gm.issued);
  gm.behaviour = () => 'refuse';
  await call('/v1/node/register/hyg', { method: 'PUT', token: groupToken, body: { node_id: 'hyg-2' } });
  gm.behaviour = () => 'allow';
  expect((await call('/v1/cert/get/hyg.example.com', { token: reg.json.node_token })).status).toBe(200);
  const renewed = await call('/v1/node/renew', { method: 'PUT', token: reg.json.node_token });
  secrets.push(renewed.json.node_token ?? '');
  const enrolled = await call('/v1/node/enroll/hyg', { method: 'PUT', token: groupToken, body: {}, headers: {} });
  expect([200, 400]).toContain(enrolled.status);
  const rotated = await call('/v1/group/rotate/hyg', { method: 'PUT' });
  secrets.push(rotated.json.group_token);
  await call('/v1/node/register/hyg', { method: 'PUT', token: groupToken, body: { node_id: 'hyg-3' } });
  await call('/v1/cert/get/hyg.example.com', { token: reg.json.node_token });
  secrets.push(...gm.issued);
}

async function rksSurface(): Promise<void> {
  const post = (path: string, token: string, body?: unknown, headers?: Record<string, string>) =>
    call(path, { method: 'POST', token, rks: true, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
  await post('/rks/v1/admin/login', '', { login: RKS.admin.login, password: RKS.admin.password + 'x' });
  const admin = (await post('/rks/v1/admin/login', '', RKS.admin)).json.adminToken as string;
  secrets.push(admin);
  await post('/rks/v1/init', RKS.init_token);
  const secret = certs.bundle({ dnsNames: ['rkshyg.example.com'] });
  secrets.push(...pemBodyLines(secret.keyPem));
  const group = await post('/rks/v1/group/rkshyg', admin, {
    callbackURL: '',
    oauthURL: gm.oauthUrl,
    oauthClientID: gm.clientId,
    oauthClientSecret: gm.clientSecret,
  });
  secrets.push(group.json.groupToken);
  expect(
    (await post('/rks/v1/secret/rkshyg.example.com', admin, { data: { certificate: secret.chainPem, private_key: secret.keyPem, meta: { ttl: 600 } } })).status,
  ).toBe(201);
  await post('/rks/v1/secret/rkshyg2.example.com', admin, {
    data: { certificate: secret.chainPem, private_key: secret.keyPem.slice(0, 100), meta: { ttl: 600 } },
  });
  await post('/rks/v1/group/rkshyg/secrets/rkshyg.example.com', admin);
  errorBodies.push((await call('/rks/v1/group/rkshyg', { token: admin, rks: true })).text);
  const node = await post('/rks/v1/node', group.json.groupToken, undefined, { 'X-LCDN-nodeId': 'rn-hyg' });
  secrets.push(node.json.nodeToken);
  expect((await call('/rks/v1/secret/rkshyg.example.com', { token: node.json.nodeToken, rks: true })).status).toBe(200);
  await post('/rks/v1/auth/token/renew-self', node.json.nodeToken);
  await post('/rks/v1/auth/token/renew-self', node.json.nodeToken + 'x');
  await call('/rks/v1/group/rkshyg', { token: group.json.groupToken, rks: true });
  await call('/rks/v1/group/rkshyg/grouptoken', { method: 'PUT', token: admin, rks: true });
}

async function pkiSurface(): Promise<void> {
  const issued = await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'a.hyg.test', ttl: '1h' } });
  expect(issued.status, issued.text).toBe(200);
  secrets.push(...pemBodyLines(issued.json.private_key));
  issuedKeys.push(...pemBodyLines(issued.json.private_key));
  const rsa = await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'b.hyg.test', key_type: 'rsa-2048' } });
  expect(rsa.status, rsa.text).toBe(200);
  secrets.push(...pemBodyLines(rsa.json.private_key));
  issuedKeys.push(...pemBodyLines(rsa.json.private_key));
  await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'a.elsewhere.test' } });
  await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'a.hyg.test', ttl: '1000h' } });
  await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'a.hyg.test', key_type: 'ed448' } });
  const { privateKey } = generateKeyPair('ecdsa-p256');
  const csrKey = privateKeyToPem(privateKey);
  secrets.push(...pemBodyLines(csrKey));
  const csr = createCsr(privateKey, { commonName: 'c.hyg.test', dnsNames: ['c.hyg.test'] });
  const signed = await call('/v1/pki/sign/web', { method: 'PUT', body: { csr } });
  expect(signed.status, signed.text).toBe(200);
  await call('/v1/pki/sign/web', { method: 'PUT', body: { csr: csr.slice(0, 200) + csr.slice(260) } });
  // A private key where the CSR belongs must not be echoed back.
  await call('/v1/pki/sign/web', { method: 'PUT', body: { csr: csrKey } });
  await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: csrKey } });
  await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'a.hyg.test', alt_names: ['b.hyg.test', csrKey.split('\n')[1] as string] } });
  await call('/v1/pki/issue/web', { method: 'PUT', body: { common_name: 'a.hyg.test', key_type: csrKey.split('\n')[2] } });
  expect((await call('/v1/pki/revoke', { method: 'PUT', body: { serial: issued.json.serial } })).status).toBe(200);
  await call('/v1/pki/revoke', { method: 'PUT', body: { serial: 'ff' } });
  expect((await call('/v1/pki/certs/')).status).toBe(200);
  errorBodies.push((await call('/v1/pki/certs/')).text); // the issued list must not carry a key either
  expect((await call('/v1/pki/crl?format=pem', { cert: false })).status).toBe(200);
  errorBodies.push((await call('/v1/pki/ca', { cert: false })).text);
}

async function sessionSurface(): Promise<void> {
  const json = { 'Content-Type': 'application/json' };
  await call('/ui/login', { method: 'POST', cert: false, body: { login: RKS.admin.login, password: RKS.admin.password + 'x' }, headers: json });
  const login = await call('/ui/login', { method: 'POST', cert: false, body: RKS.admin, headers: json });
  expect(login.status, login.text).toBe(200);
  const cookie = String(([] as string[]).concat(login.headers['set-cookie'] ?? [])[0]).split(';')[0] as string;
  const csrf = login.json.csrf_token as string;
  secrets.push(cookie.slice(cookie.indexOf('=') + 1), csrf);
  const as = (path: string, opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
    call(path, { ...opts, cert: false, headers: { Cookie: cookie, ...opts.headers } });
  expect((await as('/v1/status')).status).toBe(200);
  expect((await as('/ui/session')).status).toBe(200);
  await as('/v1/group/create/sess-hyg', { method: 'PUT', body: {} });
  await as('/v1/group/create/sess-hyg', { method: 'PUT', body: {}, headers: { 'X-Keygate-CSRF': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') } });
  await as('/v1/group/create/sess-hyg', { method: 'PUT', body: {}, headers: { 'X-Keygate-CSRF': csrf, Origin: 'https://evil.example' } });
  const created = await as('/v1/group/create/sess-hyg', { method: 'PUT', body: {}, headers: { 'X-Keygate-CSRF': csrf } });
  expect(created.status, created.text).toBe(200);
  secrets.push(created.json.group_token);
  await as('/v1/key/generate/hyg', { method: 'PUT', body: {}, headers: { 'X-Keygate-CSRF': csrf } });
  expect((await as('/ui/logout', { method: 'POST', headers: { 'X-Keygate-CSRF': csrf } })).status).toBe(200);
  await as('/ui/session');
  await as('/v1/status');
  await call('/v1/status', { cert: false, headers: { Cookie: `__Host-keygate-session=${cookie.slice(cookie.indexOf('=') + 1, -3)}abc` } });
}

/** `keygate migrate` of the stopped server's keystore into a new fs keystore: its output, plain and --json. */
async function migrateOutput(): Promise<string[]> {
  const target = parse(readFileSync(p.configFile, 'utf8')) as Record<string, unknown>;
  target['keystore'] = { fs: { path: join(p.dir, 'migrated') } };
  const targetFile = join(p.dir, 'migrate-target.yml');
  writeFileSync(targetFile, stringify(target));
  const out: string[] = [];
  for (const args of [['--dry-run'], ['--json'], ['--merge'], ['--merge', '--json', '--filter', 'token.*', 'pki.*']]) {
    const r = await keygate(['migrate', '--from', p.configFile, '--to', targetFile, ...args]);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    out.push(r.stdout, r.stderr);
  }
  expect(out.join('')).toMatch(/copied|"copied"/);
  return out;
}

/** The forms a secret could leak in: as is, hex, base64 (padded or not), base64url. */
function forms(secret: string | Buffer): string[] {
  const bytes = Buffer.from(secret);
  const b64 = bytes.toString('base64');
  const out = [bytes.toString('hex'), b64, b64.replace(/=+$/, ''), bytes.toString('base64url')];
  if (typeof secret === 'string') out.push(secret);
  return out.filter((f) => f.length >= 12);
}

it('leaks no secret into any log line, error message or metric, however verbose the logs', async () => {
  await kes();
  await tlsSurface();
  await rksSurface();
  await pkiSurface();
  await sessionSurface();
  const metrics = [(await call('/v1/metrics')).text, (await call('/v1/metrics/keygate')).text, (await call('/metrics', { cert: false })).text];
  // A graceful stop flushes and closes the log files; the next test starts the server again.
  await p.kill('SIGTERM');
  // The CA's own key lives in the keystore (at rest, 0600) and nowhere else.
  const ca = JSON.parse(readFileSync(join(p.dir, 'data', 'pki.ca.root'), 'utf8')) as { key: string };
  secrets.push(...pemBodyLines(ca.key));
  const migrated = await migrateOutput();
  // An issued private key is returned once: no keystore entry holds it (nor what migrate copied).
  for (const dir of ['data', 'migrated']) {
    for (const e of readdirSync(join(p.dir, dir))) {
      const text = readFileSync(join(p.dir, dir, e), 'utf8').replace(/\\n/g, '\n');
      for (const line of issuedKeys) expect(text.includes(line), `${dir}/${e} holds an issued private key`).toBe(false);
    }
  }
  const logs = [readFileSync(join(p.dir, 'error.log'), 'utf8'), readFileSync(join(p.dir, 'audit.log'), 'utf8'), p.stderr()];
  // Not vacuous: the session and the PKI were audited, under the session's name (never its cookie).
  expect(logs[1]).toContain('"session:admin-rks"');
  expect(logs[1]).toMatch(/pki\.issue/);
  const haystacks: Array<[string, string]> = [
    ...logs.flatMap((text, i) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line): [string, string] => [`log ${i}`, line]),
    ),
    ...errorBodies.map((b): [string, string] => ['error answer', b]),
    ...metrics.map((m): [string, string] => ['metrics', m]),
    ...migrated.flatMap((text) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line): [string, string] => ['migrate output', line]),
    ),
  ];
  const leaks: string[] = [];
  const all = secrets.filter((s) => s.length > 0).flatMap(forms);
  for (const [where, text] of haystacks) for (const form of all) if (text.includes(form)) leaks.push(`${where}: ${text.slice(0, 160)}`);
  expect(leaks).toEqual([]);
  const debugLines = logs[0]?.split('\n').filter((l) => l.includes('"level":"debug"')).length ?? 0;
  expect(logs[1]?.split('\n').length).toBeGreaterThan(40);
  recordFigure('secret-hygiene', {
    secrets: secrets.length,
    forms: all.length,
    logLines: haystacks.length - errorBodies.length - metrics.length,
    debugLines,
    errorAnswers: errorBodies.length,
    leaks: leaks.length,
  });
}, 60_000);

/** Mode bits of a path. */
const mode = (path: string): number => statSync(path).mode & 0o777;

it('keeps secrets in 0600 files in 0700 folders: keystore, logs, dev certificates, agent keys', async () => {
  await p.start();
  const data = join(p.dir, 'data');
  expect(mode(data)).toBe(0o700);
  const entries = readdirSync(data);
  expect(entries.length).toBeGreaterThan(5);
  for (const e of entries) expect(mode(join(data, e)), e).toBe(0o600);
  for (const log of ['error.log', 'audit.log']) expect(mode(join(p.dir, log)), log).toBe(0o600);
  // What `keygate migrate` wrote (the first test): the same modes as the keystore it copied.
  const migrated = join(p.dir, 'migrated');
  expect(mode(migrated)).toBe(0o700);
  expect(readdirSync(migrated)).toEqual(expect.arrayContaining(['pki.ca.root']));
  for (const e of readdirSync(migrated)) expect(mode(join(migrated, e)), e).toBe(0o600);

  const dev = join(p.dir, 'dev-certs');
  await promisify(execFile)(process.execPath, [join(repoRoot, 'bin/keygate.js'), 'dev-certs', '--dir', dev]);
  expect(mode(dev)).toBe(0o700);
  for (const f of readdirSync(dev).filter((f) => f.endsWith('.key'))) expect(mode(join(dev, f)), f).toBe(0o600);

  const token = (await call('/v1/group/create/agent-hyg', { method: 'PUT', body: {} })).json.group_token as string;
  await call('/v1/group/assign/agent-hyg/hyg.example.com', { method: 'PUT' });
  const out = join(p.dir, 'agent-out');
  const agentConfig = join(p.dir, 'agent.yml');
  writeFileSync(
    agentConfig,
    stringify({
      server: p.url,
      tls: { ca: p.pki.caFile },
      node: { group: 'agent-hyg', group_token: token, id: 'a1' },
      bundles: ['hyg.example.com'],
      output: { dir: out, combined: true },
    }),
  );
  await promisify(execFile)(process.execPath, [join(repoRoot, 'bin/keygate.js'), 'agent', '--config', agentConfig, '--once']);
  const keys = walk(out).filter((f) => /\.(key|pem)$/.test(f));
  expect(keys.length).toBeGreaterThanOrEqual(2);
  for (const f of keys) expect(mode(f), f).toBe(0o600);
  // The agent's folders hold the public certificates too (0755, for the web server): never writable by others.
  for (const d of walk(out, true)) expect(mode(d) & 0o022, d).toBe(0);
}, 60_000);

/** Every file (or folder, with `dirs`) below `dir`, following no symbolic links. */
function walk(dir: string, dirs = false): string[] {
  const out: string[] = dirs ? [dir] : [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(path, dirs));
    else if (e.isFile() && !dirs) out.push(path);
  }
  return out;
}
