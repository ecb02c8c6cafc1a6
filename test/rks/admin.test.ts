/**
 * The RKS-compatible surface, administration side, on a real TLS server called as
 * RKS clients call it (no client certificate): init, admin login, RKS's routing
 * and body rules, groups, group tokens, secrets and associations, and the root
 * paths. Every answer is also checked against openapi/rks.yaml.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { startTestServer, workerMode } from '../helpers/server.js';
import { StoreUnreachableError } from '../../keystores/keystore.js';
import { ADMIN, INIT_TOKEN, NO_CALLBACK, expectError, expectJSON, secret, startRks, type RksClient } from './support.js';

const certs = new BundleCerts();
const www = certs.bundle({ dnsNames: ['www.example.com'] });
const api = certs.bundle({ dnsNames: ['api.example.com'], keyType: 'rsa-2048' });
const other = certs.bundle({ dnsNames: ['other.example.com'] });

let rks: RksClient;
let admin: string;
const call: RksClient['call'] = (path, opts) => rks.call(path, opts);
const post = (path: string, token: string, body?: unknown) => call(path, { method: 'POST', token, ...(body !== undefined ? { body } : {}) });

beforeAll(async () => {
  rks = await startRks();
  admin = await rks.login();
});
afterAll(() => rks.s.close());

describe('init', () => {
  it('answers 201 once with the init token, then 409; 403 without it or with another token', async () => {
    expectError(await call('/rks/v1/init', { method: 'POST' }), 403, 'X-Vault-Token not found');
    expectError(await post('/rks/v1/init', 'not-the-init-token'), 403, 'permission denied');
    expectError(await post('/rks/v1/init', admin), 403, 'permission denied');
    const first = await post('/rks/v1/init', INIT_TOKEN);
    expect({ status: first.status, text: first.text }).toEqual({ status: 201, text: '' });
    expectError(await post('/rks/v1/init', INIT_TOKEN), 409, 'RKS already initialized');
    // In-process only: looks into the keystore.
    if (!workerMode) expect(await rks.s.running.holder.current.store.get('rks.initialized')).toBeDefined();
  });

  it('needs no Content-Type without a body, tolerates a JSON body, and refuses a body of another type (415)', async () => {
    expectError(await post('/rks/v1/init', INIT_TOKEN), 409, 'RKS already initialized');
    expectError(await call('/rks/v1/init', { method: 'POST', token: INIT_TOKEN, body: { ignored: true } }), 409, 'RKS already initialized');
    const plain = await call('/rks/v1/init', { method: 'POST', token: INIT_TOKEN, raw: 'x', headers: { 'Content-Type': 'text/plain' } });
    expectError(plain, 415, 'Content-Type Header not valid');
  });

  it('is refused (403), as the login, when the config has no rks: section', async () => {
    const bare = await startTestServer();
    try {
      const init = await bare.call(null, '/rks/v1/init', { method: 'POST', headers: { 'X-Vault-Token': 'root' } });
      expect({ status: init.status, text: init.text }).toEqual({ status: 403, text: 'permission denied\n' });
      const login = await bare.call(null, '/rks/v1/admin/login', { method: 'POST', body: ADMIN, headers: { 'Content-Type': 'application/json' } });
      expect(login.status).toBe(403);
    } finally {
      await bare.close();
    }
  });
});

describe('admin login', () => {
  it('returns a renewable admin token for the configured credentials', async () => {
    const r = await post('/rks/v1/admin/login', '', ADMIN);
    expectJSON(r, 200, { adminToken: expect.stringMatching(/^kga_[A-Za-z0-9_-]{43}$/) });
    const renewed = await post('/rks/v1/auth/token/renew-self', r.json.adminToken);
    expectJSON(renewed, 200, { nodeToken: r.json.adminToken, ttl: 3600 });
  });

  it('answers 400 to a wrong login or password and to malformed bodies', async () => {
    expectError(await post('/rks/v1/admin/login', '', { ...ADMIN, password: 'wrong' }), 400, 'invalid username or password');
    expectError(await post('/rks/v1/admin/login', '', { ...ADMIN, login: 'root' }), 400, 'invalid username or password');
    expectError(await post('/rks/v1/admin/login', '', { ...ADMIN, role: 'admin' }), 400, 'failed to decode json request body');
    expectError(await post('/rks/v1/admin/login', '', { login: 1, password: 'x' }), 400, 'failed to decode json request body');
    expectError(
      await call('/rks/v1/admin/login', { method: 'POST', raw: '{"login":', headers: { 'Content-Type': 'application/json' } }),
      400,
      'failed to decode json request body',
    );
    expectError(await call('/rks/v1/admin/login', { method: 'POST' }), 400, 'failed to decode json request body');
  });

  it('reads field names case-insensitively and accepts ; charset=utf-8, as Go clients send', async () => {
    const r = await call('/rks/v1/admin/login', {
      method: 'POST',
      raw: JSON.stringify({ LOGIN: ADMIN.login, Password: ADMIN.password }),
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    expect(r.status).toBe(200);
    const xml = await call('/rks/v1/admin/login', { method: 'POST', raw: JSON.stringify(ADMIN), headers: { 'Content-Type': 'application/xml' } });
    expectError(xml, 415, 'Content-Type Header not valid');
  });

  it('throttles an address that keeps failing (429 with Retry-After), the right password included', async () => {
    const t = await startRks({ config: { limits: { auth_failures: 3, auth_failure_window: '1h' } } });
    try {
      for (let i = 0; i < 3; i++)
        expect((await t.call('/rks/v1/admin/login', { method: 'POST', body: { ...ADMIN, password: `guess-${i}` } })).status).toBe(400);
      const blocked = await t.call('/rks/v1/admin/login', { method: 'POST', body: ADMIN });
      expectError(blocked, 429, 'too many failed authentications: try again later');
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await t.s.close();
    }
  });
});

describe('routing and body rules', () => {
  it('answers 404 `No Route` to unknown paths, wrong methods and invalid group names', async () => {
    for (const [method, path] of [
      ['GET', '/rks/v1/nope'],
      ['GET', '/rks/'],
      ['GET', '/rks/v2/init'],
      ['GET', '/rks/v1/init'],
      ['PATCH', '/rks/v1/group/edge'],
      ['POST', '/rks/v1/group/edge/config'],
      ['GET', '/rks/v1/node'],
      ['GET', '/rks/v1/group/bad_name'],
      ['GET', `/rks/v1/group/${'a'.repeat(65)}`],
      ['GET', '/rks/v1/group/edge/'],
      ['GET', '/rks/v1/secret/'],
      ['GET', '/rks/v1/secret/a%2Fb'],
      ['DELETE', '/rks/v1/group/edge/nodes/'],
    ] as const) {
      expectError(await call(path, { method, token: admin, spec: false }), 404, 'No Route');
    }
  });

  it('refuses a Content-Encoding other than identity (400), even on GET', async () => {
    const gzip = await call('/rks/v1/group/nope', { token: admin, headers: { 'Content-Encoding': 'gzip' }, spec: false });
    expectError(gzip, 400, 'Content-Encoding Header not valid');
    expectError(await call('/rks/v1/group/nope', { token: admin, headers: { 'Content-Encoding': 'identity' } }), 404, 'Group not found');
  });

  it('answers 400 to a malformed percent-encoding and decodes the others', async () => {
    expectError(await call('/rks/v1/secret/%zz', { token: admin, spec: false }), 400, 'invalid URL escape');
    expectError(await call('/rks/v1/group/%65dge-none', { token: admin }), 404, 'Group not found');
  });
});

describe('groups', () => {
  it('create: 201 with a group token; 409 when it exists; 400 for bad bodies and non-https URLs', async () => {
    const r = await post('/rks/v1/group/g-create', admin, NO_CALLBACK);
    expectJSON(r, 201, { groupToken: expect.stringMatching(/^kgg_/) });
    expectError(await post('/rks/v1/group/g-create', admin, NO_CALLBACK), 409, 'Conflict, Group with this name already exists, unable to create group');
    expectError(await post('/rks/v1/group/g-other', admin, { ...NO_CALLBACK, prefetchFQDNs: [] }), 400, 'failed to decode json request body');
    expectError(await post('/rks/v1/group/g-other', admin), 400, 'failed to decode json request body');
    const http = await post('/rks/v1/group/g-other', admin, { ...NO_CALLBACK, callbackURL: 'http://manager.example/nodes' });
    expectError(http, 400, 'callbackURL must be an https:// URL without credentials, query or fragment');
    expect((await post('/rks/v1/group/g-partial', admin, {})).status).toBe(201); // missing fields are empty
    expect((await call('/rks/v1/group/g-other', { token: admin })).status).toBe(404); // nothing was created
  });

  it('the init token is the root credential: it administers too', async () => {
    expect((await post('/rks/v1/group/g-root', INIT_TOKEN, NO_CALLBACK)).status).toBe(201);
    expect((await call('/rks/v1/group/g-root', { method: 'DELETE', token: INIT_TOKEN })).status).toBe(204);
  });

  it('get and get config: the settings, never the OAuth client secret; update replaces all four', async () => {
    const info = {
      callbackURL: 'https://manager.example/nodes',
      oauthURL: 'https://manager.example/token',
      oauthClientID: 'cid',
      oauthClientSecret: 'hush-hush',
    };
    expect((await post('/rks/v1/group/g-info', admin, info)).status).toBe(201);
    const shown = { ...info, oauthClientSecret: '' };
    expectJSON(await call('/rks/v1/group/g-info', { token: admin }), 200, shown);
    expectJSON(await call('/rks/v1/group/g-info/config', { token: admin }), 200, shown);
    const next = { callbackURL: '', oauthURL: '', oauthClientID: 'cid2', oauthClientSecret: 'hush-2' };
    expectJSON(await call('/rks/v1/group/g-info', { method: 'PUT', token: admin, body: next }), 200, { ...next, oauthClientSecret: '' });
    expectJSON(await call('/rks/v1/group/g-info', { token: admin }), 200, { ...next, oauthClientSecret: '' });
    if (!workerMode) {
      // In-process only: the stored settings, secret included.
      const described = await rks.s.running.holder.current.groups.record('g-info');
      expect(described.settings).toMatchObject({ oauthClientId: 'cid2', oauthClientSecret: 'hush-2', oauthMode: 'rks' });
    }
    expectError(await call('/rks/v1/group/g-nope', { token: admin }), 404, 'Group not found');
    expectError(await call('/rks/v1/group/g-nope/config', { token: admin }), 404, 'Group not found');
    expectError(await call('/rks/v1/group/g-nope', { method: 'PUT', token: admin, body: next }), 404, 'Group not found');
    expectError(await call('/rks/v1/group/g-info', { method: 'PUT', token: admin, body: { colour: 'red' } }), 400, 'failed to decode json request body');
  });

  it('the group token cannot be read back (410), and rotating returns a new one', async () => {
    const created = await post('/rks/v1/group/g-token', admin, NO_CALLBACK);
    const read = await call('/rks/v1/group/g-token/grouptoken', { token: admin });
    expect(read.status).toBe(410);
    expect(read.text).toMatch(/cannot be read back .*rotate it with PUT \/rks\/v1\/group\/<group>\/grouptoken\n$/);
    expect(read.text).not.toContain(created.json.groupToken);
    const rotated = await call('/rks/v1/group/g-token/grouptoken', { method: 'PUT', token: admin });
    expectJSON(rotated, 200, { groupToken: expect.stringMatching(/^kgg_/) });
    expect(rotated.json.groupToken).not.toBe(created.json.groupToken);
    expectError(await call('/rks/v1/group/g-nope/grouptoken', { token: admin }), 404, 'Group not found');
    expectError(await call('/rks/v1/group/g-nope/grouptoken', { method: 'PUT', token: admin }), 404, 'Group not found');
  });

  it('delete: 204, then 404', async () => {
    expect((await post('/rks/v1/group/g-del', admin, NO_CALLBACK)).status).toBe(201);
    const r = await call('/rks/v1/group/g-del', { method: 'DELETE', token: admin });
    expect({ status: r.status, text: r.text, length: r.headers['content-length'] }).toEqual({ status: 204, text: '', length: undefined });
    expectError(await call('/rks/v1/group/g-del', { method: 'DELETE', token: admin }), 404, 'Group not found');
  });
});

describe('secrets', () => {
  it('create: 201; 409 when it exists; the pair is validated (400 naming the field)', async () => {
    const r = await post('/rks/v1/secret/www.example.com', admin, secret(www));
    expect({ status: r.status, text: r.text }).toEqual({ status: 201, text: '' });
    expectError(await post('/rks/v1/secret/www.example.com', admin, secret(www)), 409, 'secret already exist');
    const mismatch = { data: { certificate: www.chainPem, private_key: other.keyPem, meta: { ttl: 600 } } };
    expectError(
      await post('/rks/v1/secret/x.example.com', admin, mismatch),
      400,
      'data.private_key: does not match the leaf certificate (the first of the chain)',
    );
    const asRksTests = { data: { certificate: 'test', private_key: 'test', meta: { ttl: 60 } } }; // what RKS's own tests store
    expect((await post('/rks/v1/secret/x.example.com', admin, asRksTests)).text).toMatch(/^data\.certificate: /);
    expectError(await post('/rks/v1/secret/x.example.com', admin, secret(www, 0)), 400, 'data.meta.ttl must be a whole number of seconds from 1 to 31536000');
    expectError(
      await post('/rks/v1/secret/x.example.com', admin, { data: { certificate: www.chainPem } }),
      400,
      'data.private_key is required: the PEM private key of the certificate',
    );
    expectError(
      await post('/rks/v1/secret/x.example.com', admin, { data: { certificate: null, private_key: null, meta: null } }),
      400,
      'data.certificate is required: the PEM certificate chain, leaf first',
    );
    const nested = { data: { certificate: 'x', private_key: 'y', meta: { ttl: 60, extra: { deep: [null] } } } };
    expectError(await post('/rks/v1/secret/x.example.com', admin, nested), 400, 'failed to decode json request body');
    expectError(await post('/rks/v1/secret/x.example.com', admin, { data: { meta: { ttl: 1.5 } } }), 400, 'failed to decode json request body');
    expect((await post('/rks/v1/secret/a..b', admin, secret(www))).text).toMatch(/^invalid bundle name 'a\.\.b'/);
    expectError(
      await call('/rks/v1/secret/x.example.com', { method: 'POST', token: admin, raw: JSON.stringify(secret(www)) }),
      415,
      'Content-Type Header not valid',
    );
    expectError(await call('/rks/v1/secret/x.example.com', { token: admin }), 404, 'secret not found');
  });

  it('get: the Secret shape as RKS writes it; 404 for a secret that does not exist', async () => {
    const r = await call('/rks/v1/secret/www.example.com', { token: admin });
    expectJSON(r, 200, { data: { meta: { ttl: 600 }, certificate: www.chainPem, private_key: www.keyPem } });
    expect(Object.keys(r.json.data)).toEqual(['meta', 'certificate', 'private_key']);
    expectError(await call('/rks/v1/secret/nope.example.com', { token: admin }), 404, 'secret not found');
    expectError(await call('/rks/v1/secret/a..b', { token: admin }), 404, 'secret not found');
  });

  it('a wildcard FQDN works written as is or percent-encoded', async () => {
    const wild = certs.bundle({ dnsNames: ['*.wild.example.com'] });
    expect((await post('/rks/v1/secret/*.wild.example.com', admin, secret(wild))).status).toBe(201);
    expect((await call('/rks/v1/secret/%2A.wild.example.com', { token: admin })).json.data.certificate).toBe(wild.chainPem);
  });

  it('update: replaces the secret and leaves no trace of the old private key; 404 when missing', async () => {
    expect((await post('/rks/v1/secret/api.example.com', admin, secret(api))).status).toBe(201);
    const next = certs.bundle({ dnsNames: ['api.example.com'] });
    const r = await call('/rks/v1/secret/api.example.com', { method: 'PUT', token: admin, body: secret(next, 900) });
    expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: '' });
    expectJSON(await call('/rks/v1/secret/api.example.com', { token: admin }), 200, {
      data: { meta: { ttl: 900 }, certificate: next.chainPem, private_key: next.keyPem },
    });
    if (!workerMode) {
      // In-process only: reads every keystore entry.
      const store = rks.s.running.holder.current.store;
      const oldKeyLine = api.keyPem.split('\n')[5] as string;
      for (const name of (await store.list('', '', 10_000)).names) {
        expect((await store.get(name)).value.toString('utf8'), name).not.toContain(oldKeyLine);
      }
    }
    expectError(await call('/rks/v1/secret/nope.example.com', { method: 'PUT', token: admin, body: secret(next) }), 404, 'secret does not exist');
    const mismatch = { data: { certificate: next.chainPem, private_key: www.keyPem, meta: { ttl: 900 } } };
    expectError(
      await call('/rks/v1/secret/api.example.com', { method: 'PUT', token: admin, body: mismatch }),
      400,
      'data.private_key: does not match the leaf certificate (the first of the chain)',
    );
    expectError(
      await call('/rks/v1/secret/api.example.com', { method: 'PUT', token: admin, body: { data: {}, meta: {} } }),
      400,
      'failed to decode json request body',
    );
    expect((await call('/rks/v1/secret/api.example.com', { token: admin })).json.data.private_key).toBe(next.keyPem); // bad input changed nothing
  });

  it('delete: 409 while associated, 204 after dissociation, then 404', async () => {
    expect((await post('/rks/v1/secret/del.example.com', admin, secret(certs.bundle({ dnsNames: ['del.example.com'] })))).status).toBe(201);
    expect((await post('/rks/v1/group/g-sec', admin, NO_CALLBACK)).status).toBe(201);
    expect((await post('/rks/v1/group/g-sec/secrets/del.example.com', admin)).status).toBe(200);
    expectError(
      await call('/rks/v1/secret/del.example.com', { method: 'DELETE', token: admin }),
      409,
      'del.example.com still associated to at least one group',
    );
    expect((await call('/rks/v1/group/g-sec/secrets/del.example.com', { method: 'DELETE', token: admin })).status).toBe(204);
    expect((await call('/rks/v1/secret/del.example.com', { method: 'DELETE', token: admin })).status).toBe(204);
    expectError(await call('/rks/v1/secret/del.example.com', { method: 'DELETE', token: admin }), 404, 'Secret not found');
    expectError(await call('/rks/v1/secret/a..b', { method: 'DELETE', token: admin }), 404, 'Secret not found');
  });
});

describe('associations', () => {
  beforeAll(async () => {
    expect((await post('/rks/v1/group/g-assoc', admin, NO_CALLBACK)).status).toBe(201);
  });

  it('associate: 200, 409 when already associated, 404 for a missing secret (checked first) or group', async () => {
    const r = await post('/rks/v1/group/g-assoc/secrets/www.example.com', admin);
    expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: '' });
    expectError(await post('/rks/v1/group/g-assoc/secrets/www.example.com', admin), 409, 'www.example.com already associated to g-assoc');
    expectError(await post('/rks/v1/group/g-assoc/secrets/nope.example.com', admin), 404, 'Secret not found');
    expectError(await post('/rks/v1/group/g-nope/secrets/nope.example.com', admin), 404, 'Secret not found');
    expectError(await post('/rks/v1/group/g-nope/secrets/www.example.com', admin), 404, 'Group not found');
    expectError(await post('/rks/v1/group/g-assoc/secrets/a..b', admin), 404, 'Secret not found');
  });

  it('lists: the group secrets (sorted) and the secret groups', async () => {
    expect((await post('/rks/v1/group/g-assoc/secrets/*.wild.example.com', admin)).status).toBe(200);
    expectJSON(await call('/rks/v1/group/g-assoc/secrets', { token: admin }), 200, ['*.wild.example.com', 'www.example.com']);
    expectJSON(await call('/rks/v1/secret/www.example.com/groups', { token: admin }), 200, ['g-assoc']);
    expectJSON(await call('/rks/v1/secret/api.example.com/groups', { token: admin }), 200, []);
    expectError(await call('/rks/v1/group/g-nope/secrets', { token: admin }), 404, 'Group not found');
    expectError(await call('/rks/v1/secret/nope.example.com/groups', { token: admin }), 404, 'Secret not found');
  });

  it('dissociate: 204, also when not associated; 404 for a missing group (checked first) or secret', async () => {
    expect((await call('/rks/v1/group/g-assoc/secrets/*.wild.example.com', { method: 'DELETE', token: admin })).status).toBe(204);
    expect((await call('/rks/v1/group/g-assoc/secrets/*.wild.example.com', { method: 'DELETE', token: admin })).status).toBe(204);
    expectJSON(await call('/rks/v1/group/g-assoc/secrets', { token: admin }), 200, ['www.example.com']);
    expectError(await call('/rks/v1/group/g-nope/secrets/nope.example.com', { method: 'DELETE', token: admin }), 404, 'Group not found');
    expectError(await call('/rks/v1/group/g-assoc/secrets/nope.example.com', { method: 'DELETE', token: admin }), 404, 'Secret not found');
  });

  it('concurrent associations all land', async () => {
    const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'].map((n) => `${n}.example.com`);
    for (const n of names) expect((await post(`/rks/v1/secret/${n}`, admin, secret(certs.bundle({ dnsNames: [n] })))).status).toBe(201);
    expect((await post('/rks/v1/group/g-many', admin, NO_CALLBACK)).status).toBe(201);
    const answers = await Promise.all(names.map((n) => post(`/rks/v1/group/g-many/secrets/${n}`, admin)));
    expect(answers.map((a) => a.status)).toEqual(names.map(() => 200));
    expectJSON(await call('/rks/v1/group/g-many/secrets', { token: admin }), 200, [...names].sort());
  });
});

describe('a group token or a node token is not an admin', () => {
  it('gets 403 on every admin route, and changes nothing', async () => {
    const info = { ...NO_CALLBACK, oauthClientID: 'cid', oauthClientSecret: 'hush' };
    const { json } = await post('/rks/v1/group/g-guarded', admin, info);
    expect((await post('/rks/v1/group/g-guarded/secrets/www.example.com', admin)).status).toBe(200);
    const groupToken = json.groupToken as string;
    // In-process only: the stored group record, compared at the end.
    const gate = workerMode ? undefined : await rks.s.running.holder.current.groups.record('g-guarded');
    const nodeToken = (await call('/rks/v1/node', { method: 'POST', token: groupToken, headers: { 'X-LCDN-nodeId': 'n1' } })).json.nodeToken as string;
    expect(nodeToken).toMatch(/^kgn_/);
    const routes: Array<[string, string, unknown?]> = [
      ['POST', '/rks/v1/group/g-new', NO_CALLBACK],
      ['GET', '/rks/v1/group/g-guarded'],
      ['PUT', '/rks/v1/group/g-guarded', NO_CALLBACK],
      ['DELETE', '/rks/v1/group/g-guarded'],
      ['GET', '/rks/v1/group/g-guarded/config'],
      ['GET', '/rks/v1/group/g-guarded/grouptoken'],
      ['PUT', '/rks/v1/group/g-guarded/grouptoken'],
      ['DELETE', '/rks/v1/group/g-guarded/nodes/n1'],
      ['GET', '/rks/v1/group/g-guarded/secrets'],
      ['POST', '/rks/v1/group/g-guarded/secrets/api.example.com'],
      ['DELETE', '/rks/v1/group/g-guarded/secrets/www.example.com'],
      ['POST', '/rks/v1/secret/new.example.com', secret(www)],
      ['PUT', '/rks/v1/secret/www.example.com', secret(www)],
      ['DELETE', '/rks/v1/secret/www.example.com'],
      ['GET', '/rks/v1/secret/www.example.com/groups'],
      ['POST', '/rks/v1/init'],
    ];
    for (const token of [groupToken, nodeToken]) {
      for (const [method, path, body] of routes) {
        const r = await call(path, { method, token, ...(body !== undefined ? { body } : {}) });
        expect({ route: `${method} ${path}`, status: r.status, text: r.text }).toEqual({
          route: `${method} ${path}`,
          status: 403,
          text: 'permission denied\n',
        });
      }
    }
    expectError(await call('/rks/v1/secret/api.example.com', { token: groupToken }), 403, 'read secret: vault unauthorized');
    if (!workerMode) expect(await rks.s.running.holder.current.groups.record('g-guarded')).toEqual(gate);
  });
});

describe('root paths', () => {
  it('/healthz: RKS health JSON, 200 on any method while the keystore answers', async () => {
    const r = await call('/healthz');
    expectJSON(r, 200, {
      rks_version: expect.any(String),
      vault_address: '',
      vault_reachable: true,
      vault_health: { initialized: true, sealed: false, standby: false, server_time_utc: expect.any(Number), version: expect.any(String) },
    });
    expect((await call('/healthz', { method: 'POST', spec: false })).status).toBe(200);
  });

  // In-process only: swaps a failing keystore into the server's state.
  it.skipIf(workerMode)('/healthz: 500 while the keystore does not answer', async () => {
    const holder = rks.s.running.holder;
    const state = holder.current;
    const failing = Object.create(state.store) as typeof state.store;
    failing.status = () => Promise.reject(new StoreUnreachableError('keystore: down'));
    holder.current = { ...state, store: failing };
    try {
      expectJSON(await call('/healthz'), 500, { rks_version: expect.any(String), vault_address: '', vault_reachable: false });
    } finally {
      holder.current = state;
    }
  });

  it('/metrics: the Prometheus registry, without a credential; / answers RKS API', async () => {
    const m = await call('/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toContain('keygate_http_requests_total{route="/rks/**"');
    const root = await call('/');
    expect({ status: root.status, text: root.text, type: root.headers['content-type'] }).toEqual({
      status: 200,
      text: 'RKS API',
      type: 'text/plain; charset=utf-8',
    });
    const unknown = await call('/nope', { spec: false });
    expect({ status: unknown.status, json: unknown.json }).toEqual({ status: 404, json: { message: 'not found' } });
    expect((await call('/', { method: 'POST', spec: false })).status).toBe(404);
  });
});
