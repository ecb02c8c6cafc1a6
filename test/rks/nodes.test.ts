/**
 * The RKS-compatible surface, node side: registration with the group token and
 * `X-LCDN-nodeId`, reading secrets with the node token, renew-self, the crisis
 * cascades (revoke, dissociate, rotate, delete) and the group manager's callback
 * with RKS's OAuth request (Basic auth and query parameters), on real TLS servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { startGroupManager, type GroupManager } from '../helpers/group-manager.js';
import { ADMIN, INIT_TOKEN, NO_CALLBACK, expectError, expectJSON, secret, startRks, type RksClient } from './support.js';

const certs = new BundleCerts();
const www = certs.bundle({ dnsNames: ['www.example.com'] });
const api = certs.bundle({ dnsNames: ['api.example.com'] });
const DENIED = '{"errors":["permission denied"]}';

let rks: RksClient;
let admin: string;
const call: RksClient['call'] = (path, opts) => rks.call(path, opts);

/** POST /rks/v1/node with a group token and a node id (either may be left out). */
function register(groupToken: string | undefined, nodeId: string | undefined, headers: Record<string, string> = {}) {
  return call('/rks/v1/node', {
    method: 'POST',
    ...(groupToken !== undefined ? { token: groupToken } : {}),
    headers: { ...(nodeId !== undefined ? { 'X-LCDN-nodeId': nodeId } : {}), ...headers },
  });
}
const read = (token: string, fqdn = 'www.example.com') => call(`/rks/v1/secret/${fqdn}`, { token });
const renew = (token?: string) => call('/rks/v1/auth/token/renew-self', { method: 'POST', ...(token !== undefined ? { token } : {}) });

async function createGroup(name: string, info: Record<string, string> = NO_CALLBACK): Promise<string> {
  const r = await call(`/rks/v1/group/${name}`, { method: 'POST', token: admin, body: info });
  expect(r.status).toBe(201);
  return r.json.groupToken as string;
}
async function associate(group: string, fqdn = 'www.example.com'): Promise<void> {
  expect((await call(`/rks/v1/group/${group}/secrets/${fqdn}`, { method: 'POST', token: admin })).status).toBe(200);
}
async function nodeToken(groupToken: string, nodeId: string): Promise<string> {
  const r = await register(groupToken, nodeId);
  expect(r.status).toBe(201);
  return r.json.nodeToken as string;
}

beforeAll(async () => {
  rks = await startRks();
  admin = await rks.login();
  for (const [fqdn, b] of [
    ['www.example.com', www],
    ['api.example.com', api],
  ] as const) {
    expect((await call(`/rks/v1/secret/${fqdn}`, { method: 'POST', token: admin, body: secret(b) })).status).toBe(201);
  }
});
afterAll(() => rks.s.close());

describe('registration', () => {
  let groupToken = '';
  beforeAll(async () => {
    groupToken = await createGroup('edge');
    await associate('edge');
  });

  it('201 with a renewable node token of the group TTL, for the group token and a node id', async () => {
    const r = await register(groupToken, '1');
    expectJSON(r, 201, { nodeToken: expect.stringMatching(/^kgn_[A-Za-z0-9_-]{43}$/), ttl: 600 });
    expect((await register(undefined, 'node-2', { Authorization: `Bearer ${groupToken}` })).status).toBe(201);
  });

  it('checks the token header first (403), then the node id (404, as RKS), then the token (403)', async () => {
    expectError(await register(undefined, '1'), 403, 'X-Vault-Token not found');
    expectError(await register(undefined, undefined), 403, 'X-Vault-Token not found');
    for (const bad of [undefined, '', 'fake*$=', 'a_b', 'a'.repeat(65), 'two words']) {
      expectError(await register(groupToken, bad), 404, 'Invalid or non existend X-LCDN-nodeId');
    }
    expect((await register(groupToken, 'a'.repeat(64))).status).toBe(201);
    const node = await nodeToken(groupToken, 'n-token');
    for (const notGroup of ['s.garbage', 'kgg_' + 'A'.repeat(43), admin, INIT_TOKEN, node]) {
      expectError(await register(notGroup, '1'), 403, 'not authorized: invalid, expired or revoked token');
    }
  });

  it('tolerates a JSON body, and refuses one of another type (415)', async () => {
    expect((await call('/rks/v1/node', { method: 'POST', token: groupToken, headers: { 'X-LCDN-nodeId': '3' }, body: {} })).status).toBe(201);
    const text = await call('/rks/v1/node', { method: 'POST', token: groupToken, headers: { 'X-LCDN-nodeId': '3', 'Content-Type': 'text/plain' }, raw: 'hi' });
    expectError(text, 415, 'Content-Type Header not valid');
  });

  it("a node reads its group's secrets; anything else is the same 403", async () => {
    const node = await nodeToken(groupToken, 'reader');
    expectJSON(await read(node), 200, { data: { meta: { ttl: 600 }, certificate: www.chainPem, private_key: www.keyPem } });
    for (const fqdn of ['api.example.com', 'nope.example.com', 'a..b']) expectError(await read(node, fqdn), 403, 'read secret: vault unauthorized');
    expectError(await read(groupToken), 403, 'read secret: vault unauthorized');
    expectError(await read('s.garbage'), 403, 'read secret: vault unauthorized');
    expectError(await call('/rks/v1/secret/www.example.com'), 403, 'X-Vault-Token not found');
    expect((await call('/rks/v1/secret/www.example.com', { headers: { Authorization: `Bearer ${node}` } })).status).toBe(200);
  });

  it('renew-self: the same token with its full TTL; a group token gets the 31-day period', async () => {
    const node = await nodeToken(groupToken, 'renewer');
    expectJSON(await renew(node), 200, { nodeToken: node, ttl: 600 });
    expectJSON(await renew(groupToken), 200, { nodeToken: groupToken, ttl: 2678400 });
  });

  it("renew-self: every failure is 403 with RKS's exact body", async () => {
    for (const bad of ['s.garbage', 'kgn_' + 'A'.repeat(43), INIT_TOKEN]) {
      const r = await renew(bad);
      expect({ status: r.status, text: r.text, type: r.headers['content-type'] }).toEqual({
        status: 403,
        text: DENIED + '\n',
        type: 'text/plain; charset=utf-8',
      });
    }
    expectError(await renew(), 403, 'X-Vault-Token not found');
  });

  it('re-registering a node id succeeds with a fresh token; the previous one dies', async () => {
    const first = await nodeToken(groupToken, 'again');
    const second = await nodeToken(groupToken, 'again');
    expect(second).not.toBe(first);
    expect((await read(second)).status).toBe(200);
    expectError(await read(first), 403, 'read secret: vault unauthorized');
    expect((await renew(first)).text).toBe(DENIED + '\n');
  });
});

describe('crisis management cascades', () => {
  it('revoking a node: its token dies at once, it may register again; 204 for unknown nodes, 404 for unknown groups', async () => {
    const groupToken = await createGroup('rev');
    await associate('rev');
    const node = await nodeToken(groupToken, '7');
    expect((await read(node)).status).toBe(200);
    const r = await call('/rks/v1/group/rev/nodes/7', { method: 'DELETE', token: admin });
    expect({ status: r.status, text: r.text }).toEqual({ status: 204, text: '' });
    expectError(await read(node), 403, 'read secret: vault unauthorized');
    expect((await call('/rks/v1/group/rev/nodes/10', { method: 'DELETE', token: admin })).status).toBe(204);
    expect((await call('/rks/v1/group/rev/nodes/odd%20id', { method: 'DELETE', token: admin })).status).toBe(204);
    expectError(await call('/rks/v1/group/nope/nodes/7', { method: 'DELETE', token: admin }), 404, 'Group not found');
    expect((await read(await nodeToken(groupToken, '7'))).status).toBe(200);
  });

  it('dissociating takes access away from issued node tokens at once; associating grants it at once', async () => {
    const groupToken = await createGroup('assoc');
    const node = await nodeToken(groupToken, '1');
    expectError(await read(node), 403, 'read secret: vault unauthorized');
    await associate('assoc');
    expect((await read(node)).status).toBe(200);
    expect((await call('/rks/v1/group/assoc/secrets/www.example.com', { method: 'DELETE', token: admin })).status).toBe(204);
    expectError(await read(node), 403, 'read secret: vault unauthorized');
  });

  it('rotating the group token kills the old group token and every node token of the group', async () => {
    const old = await createGroup('rot');
    await associate('rot');
    const nodes = [await nodeToken(old, '1'), await nodeToken(old, '2')];
    const rotated = await call('/rks/v1/group/rot/grouptoken', { method: 'PUT', token: admin });
    const fresh = rotated.json.groupToken as string;
    expectError(await register(old, '3'), 403, 'not authorized: invalid, expired or revoked token');
    for (const n of nodes) {
      expectError(await read(n), 403, 'read secret: vault unauthorized');
      expect((await renew(n)).text).toBe(DENIED + '\n');
    }
    expect((await renew(old)).text).toBe(DENIED + '\n');
    expect((await read(await nodeToken(fresh, '1'))).status).toBe(200);
  });

  it('deleting the group kills its tokens and leaves the secrets', async () => {
    const groupToken = await createGroup('gone');
    await associate('gone');
    const node = await nodeToken(groupToken, '1');
    expect((await call('/rks/v1/group/gone', { method: 'DELETE', token: admin })).status).toBe(204);
    expectError(await register(groupToken, '2'), 403, 'not authorized: invalid, expired or revoked token');
    expectError(await read(node), 403, 'read secret: vault unauthorized');
    expectError(await call('/rks/v1/group/gone', { token: admin }), 404, 'Group not found');
    expectError(await call('/rks/v1/group/gone/grouptoken', { token: admin }), 404, 'Group not found');
    expect((await read(admin)).status).toBe(200);
  });
});

describe('the group manager decides (callback with RKS-style OAuth)', () => {
  let gm: GroupManager;
  let groupToken = '';
  const info = () => ({ callbackURL: gm.callbackUrl, oauthURL: gm.oauthUrl, oauthClientID: gm.clientId, oauthClientSecret: gm.clientSecret });
  /** The group's trust for its manager, set with keygate's own API (RKS has no such field). */
  const trust = (group: string, settings: Record<string, unknown>) => rks.s.call(rks.s.admin, `/v1/group/update/${group}`, { method: 'PUT', body: settings });

  beforeAll(async () => {
    gm = await startGroupManager({ mode: 'rks' });
    gm.behaviour = (id) => (id === '0' ? 'refuse' : id === '404' ? 'unknown' : id === '500' ? 503 : id === 'slow' ? 'hang' : 'allow');
    groupToken = await createGroup('cdn', info());
    await associate('cdn');
  });
  afterAll(() => gm.close());

  it('refuses to trust a manager whose certificate it cannot verify (500) until the group has its CA', async () => {
    const r = await register(groupToken, '1');
    expect(r.status).toBe(500);
    expect(r.text).toMatch(/^callback: OAuth server unreachable/);
    expect((await trust('cdn', { callback_ca: gm.caPem, callback_timeout: 1, oauth_client_secret: gm.clientSecret })).status).toBe(200);
  });

  it('allows the nodes the manager allows, after an OAuth request with Basic auth AND query parameters', async () => {
    const node = await nodeToken(groupToken, '1');
    expect((await read(node)).status).toBe(200);
    const oauth = gm.oauthRequests.at(-1);
    expect(oauth?.authorization).toBe('Basic ' + Buffer.from(`${gm.clientId}:${gm.clientSecret}`).toString('base64'));
    expect(Object.fromEntries(oauth?.query ?? [])).toEqual({ client_id: gm.clientId, client_secret: gm.clientSecret, grant_type: 'client_credentials' });
    expect(oauth?.body).toBe('');
    expect(gm.callbacks.at(-1)).toEqual({ nodeId: '1', authorization: `Bearer ${gm.issued.at(-1)}` });
  });

  it("refuses what the manager refuses (403 in RKS's words), and answers 500 when it cannot decide", async () => {
    expectError(await register(groupToken, '0'), 403, 'node 0 not Allowed');
    expectError(await register(groupToken, '404'), 403, 'node 404 not found');
    expectError(await register(groupToken, '500'), 500, 'callback: group manager gave an invalid answer');
    expectError(await register(groupToken, 'slow'), 500, 'callback: group manager unreachable');
  });

  it('a manager that later refuses a node keeps it out, even after a revocation', async () => {
    const node = await nodeToken(groupToken, 'x1');
    gm.behaviour = (id) => (id === 'x1' ? 'refuse' : 'allow');
    expect((await call('/rks/v1/group/cdn/nodes/x1', { method: 'DELETE', token: admin })).status).toBe(204);
    expectError(await read(node), 403, 'read secret: vault unauthorized');
    expectError(await register(groupToken, 'x1'), 403, 'node x1 not Allowed');
  });

  it('wrong OAuth client credentials are a 500, as RKS', async () => {
    const wrong = await createGroup('cdn-wrong', { ...info(), oauthClientSecret: 'not-the-secret' });
    expect((await trust('cdn-wrong', { callback_ca: gm.caPem, oauth_client_secret: 'not-the-secret' })).status).toBe(200);
    expectError(await register(wrong, '1'), 500, 'callback: OAuth server refused the client credentials');
  });

  it('an admin can still log in and read; the OAuth secret is never shown', async () => {
    expect((await call('/rks/v1/admin/login', { method: 'POST', body: ADMIN })).status).toBe(200);
    expectJSON(await call('/rks/v1/group/cdn', { token: admin }), 200, { ...info(), oauthClientSecret: '' });
  });
});
