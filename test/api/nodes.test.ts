/**
 * `/v1/node/...` end to end: registration against real HTTPS group managers (OAuth +
 * callback), renewal and expiry on an injected clock, revocation, bans, mTLS
 * enrollment, cascades, the node inventory, and what a node may read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { startGroupManager, type GroupManager } from '../helpers/group-manager.js';
import { manualClock, useClock } from '../helpers/fleet.js';

const certs = new BundleCerts();
const clock = manualClock(Date.now());
let s: TestServer;
let gm: GroupManager;
let selfSigned: GroupManager;
let nodeCert: TestClient;
let otherCert: TestClient;
/** Every token the tests saw: none may ever reach a log line. */
const secrets: string[] = [];

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function createGroup(name: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await s.call(s.admin, `/v1/group/create/${name}`, { method: 'PUT', body });
  expect(r.status, r.text).toBe(200);
  secrets.push(r.json.group_token);
  return r.json.group_token as string;
}

async function register(group: string, token: string, nodeId: string) {
  const r = await s.call(null, `/v1/node/register/${group}`, { method: 'PUT', body: { node_id: nodeId }, headers: bearer(token) });
  if (r.status === 200) secrets.push(r.json.node_token);
  return r;
}

const read = (token: string, bundle = 'www.example.com', who: TestClient | null = null) =>
  s.call(who, `/v1/cert/get/${bundle}`, token === '' ? {} : { headers: bearer(token) });

const assign = (group: string, bundle: string) => s.call(s.admin, `/v1/group/assign/${group}/${bundle}`, { method: 'PUT' });

beforeAll(async () => {
  gm = await startGroupManager({ mode: 'rks' });
  selfSigned = await startGroupManager({ mode: 'form', selfSigned: true });
  secrets.push(gm.clientSecret, selfSigned.clientSecret);
  s = await startTestServer({
    config: { limits: { auth_failures: 0 } },
    prepare: (pki) => {
      nodeCert = pki.client({ commonName: 'edge-node' });
      otherCert = pki.client({ commonName: 'other-node' });
      return {};
    },
  });
  // Every group and node response must be what the OpenAPI document says.
  const call = s.call;
  s.call = async (who, path, opts) => {
    const r = await call(who, path, opts);
    if (/^\/v1\/(group|node)\//.test(path)) expectResponseMatchesSpec(opts?.method ?? 'GET', path, r);
    return r;
  };
  // The injected clock needs the in-process server; worker mode runs on real time.
  if (!workerMode) await useClock(s.running, clock);
  for (const name of ['www.example.com', 'api.example.com']) {
    const b = certs.bundle({ dnsNames: [name] });
    expect(
      (await s.call(s.admin, `/v1/cert/import/${name}`, { method: 'PUT', body: { certificate: b.chainPem, private_key: b.keyPem, ttl: 3600 } })).status,
    ).toBe(200);
  }
});
afterAll(async () => {
  await s.close();
  await gm.close();
  await selfSigned.close();
});

describe('registration', () => {
  it('registers with the group token and reads assigned bundles with the node token', async () => {
    const gt = await createGroup('plain', { token_ttl: 120 });
    await assign('plain', 'www.example.com');
    const r = await register('plain', gt, 'node-1');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ node_token: expect.stringMatching(/^kgn_[A-Za-z0-9_-]{43}$/), ttl: 120 });
    const got = await read(r.json.node_token);
    expect(got.status).toBe(200);
    expect(got.json.name).toBe('www.example.com');
    expect((await read(r.json.node_token, 'api.example.com')).status).toBe(403);
    const audit = s.logLines.map((l) => JSON.parse(l)).filter((l) => l.path === '/v1/node/register/plain' && l.status === 200);
    expect(audit.at(-1)).toMatchObject({ identity: 'node:plain/node-1', method: 'PUT' });
    expect(
      s.logLines
        .map((l) => JSON.parse(l))
        .filter((l) => l.path === '/v1/cert/get/www.example.com' && l.status === 200)
        .at(-1).identity,
    ).toBe('node:plain/node-1');
  });

  it('refuses missing, malformed, foreign and node tokens, and bad bodies', async () => {
    const gt = await createGroup('reg');
    const other = await createGroup('reg-other');
    const noToken = await s.call(null, '/v1/node/register/reg', { method: 'PUT', body: { node_id: 'n' } });
    expect(noToken.status).toBe(403);
    expect(noToken.json).toEqual({ message: 'not authorized: a token is required (Authorization: Bearer <token>)' });
    for (const t of ['garbage', other, 'kgg_' + 'A'.repeat(43)]) {
      const r = await register('reg', t, 'n');
      expect(r.status).toBe(403);
      expect(r.json).toEqual({ message: 'not authorized: invalid, expired or revoked token' });
    }
    const node = await register('reg', gt, 'n');
    expect((await register('reg', node.json.node_token, 'n2')).status).toBe(403);
    const bodies: Array<[unknown, string]> = [
      [{}, 'invalid request body'],
      [{ node_id: 7 }, 'invalid request body'],
      [{ node_id: 'n', extra: 1 }, "unknown field 'extra'"],
      [{ node_id: 'with space' }, "node id must be 1–128 printable ASCII characters without spaces, and not '.' or '..' (in any spelling)"],
    ];
    for (const [body, message] of bodies) {
      const r = await s.call(null, '/v1/node/register/reg', { method: 'PUT', body, headers: bearer(gt) });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toEqual({ message });
    }
    // X-Vault-Token works as well as Authorization (the RKS header).
    expect((await s.call(null, '/v1/node/register/reg', { method: 'PUT', body: { node_id: 'v' }, headers: { 'X-Vault-Token': gt } })).status).toBe(200);
    expect((await s.call(null, '/v1/node/register/bad.group', { method: 'PUT', body: { node_id: 'v' }, headers: bearer(gt) })).status).toBe(400);
  });

  it('re-registering gives a fresh token and kills the previous one', async () => {
    const gt = await createGroup('rereg');
    await assign('rereg', 'www.example.com');
    const a = await register('rereg', gt, 'n1');
    const b = await register('rereg', gt, 'n1');
    expect(b.json.node_token).not.toBe(a.json.node_token);
    expect((await read(a.json.node_token)).status).toBe(403);
    expect((await read(b.json.node_token)).status).toBe(200);
  });
});

// In-process only: expiry on the injected clock.
describe.skipIf(workerMode)('renewal and expiry', () => {
  it('renews to the full TTL; an unrenewed token expires; renewal after expiry or revocation fails', async () => {
    const gt = await createGroup('ttl', { token_ttl: 60 });
    await assign('ttl', 'www.example.com');
    const { json } = await register('ttl', gt, 'n1');
    const token = json.node_token as string;
    clock.advance(50_000);
    const r = await s.call(null, '/v1/node/renew', { method: 'PUT', headers: bearer(token) });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ node_token: token, ttl: 60 });
    clock.advance(59_000);
    expect((await read(token)).status).toBe(200);
    clock.advance(1_000);
    expect((await read(token)).status).toBe(403);
    const late = await s.call(null, '/v1/node/renew', { method: 'PUT', headers: bearer(token) });
    expect(late.status).toBe(403);
    expect(late.json).toEqual({ message: 'not authorized: invalid, expired or revoked token' });

    const fresh = await register('ttl', gt, 'n1');
    expect((await s.call(s.admin, '/v1/node/revoke/ttl/n1', { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(null, '/v1/node/renew', { method: 'PUT', headers: bearer(fresh.json.node_token) })).status).toBe(403);
    expect((await s.call(null, '/v1/node/renew', { method: 'PUT', headers: bearer(gt) })).status).toBe(403);
    expect((await s.call(null, '/v1/node/renew', { method: 'PUT' })).status).toBe(403);
  });
});

describe('callback', () => {
  const settings = () => ({
    callback_url: gm.callbackUrl,
    oauth_url: gm.oauthUrl,
    oauth_client_id: gm.clientId,
    oauth_client_secret: gm.clientSecret,
    oauth_mode: 'rks',
    callback_ca: gm.caPem,
    callback_timeout: 0.5,
  });

  // Skipped with workers, a known difference: each worker caches its own OAuth access token, so two workers may each ask once.
  it.skipIf(workerMode)('asks the OAuth server once while its token is valid (the first use of this OAuth client here)', async () => {
    const gt = await createGroup('cb-cache', settings());
    const before = gm.oauthRequests.length;
    expect((await register('cb-cache', gt, 'n1')).status).toBe(200);
    expect((await register('cb-cache', gt, 'n2')).status).toBe(200);
    expect((await register('cb-cache', gt, 'n3')).status).toBe(200);
    expect(gm.oauthRequests.length - before).toBe(1);
    expect(gm.callbacks.slice(-3)).toEqual(['n1', 'n2', 'n3'].map((nodeId) => ({ nodeId, authorization: `Bearer ${gm.issued.at(-1)}` })));
  });

  it('allows, refuses (403 and 404), and fails on other answers and silence', async () => {
    const gt = await createGroup('cb', settings());
    gm.behaviour = (id) => (({ good: 'allow', bad: 'refuse', ghost: 'unknown', boom: 500, slow: 'hang' }) as const)[id as 'good'] ?? 'unknown';
    expect((await register('cb', gt, 'good')).status).toBe(200);
    expect(await register('cb', gt, 'bad')).toMatchObject({ status: 403, json: { message: 'not authorized: node refused by the group manager' } });
    expect(await register('cb', gt, 'ghost')).toMatchObject({ status: 403, json: { message: 'not authorized: node unknown to the group manager' } });
    expect(await register('cb', gt, 'boom')).toMatchObject({ status: 502, json: { message: 'callback: group manager gave an invalid answer' } });
    expect(await register('cb', gt, 'slow')).toMatchObject({ status: 504, json: { message: 'callback: group manager unreachable' } });
    gm.behaviour = () => 'allow';
    const listed = await s.call(s.admin, '/v1/group/nodes/cb');
    expect(listed.json.nodes.map((n: { node_id: string }) => n.node_id)).toEqual(['good']);
  });

  it("verifies the manager's TLS certificate by default; callback_insecure opts out", async () => {
    const base = {
      ...settings(),
      callback_url: selfSigned.callbackUrl,
      oauth_url: selfSigned.oauthUrl,
      oauth_client_id: selfSigned.clientId,
      oauth_client_secret: selfSigned.clientSecret,
      oauth_mode: 'form',
      callback_ca: '',
    };
    const gt = await createGroup('cb-tls', base);
    const r = await register('cb-tls', gt, 'n1');
    expect(r.status).toBe(502);
    expect(r.json).toEqual({
      message: 'callback: OAuth server unreachable',
    });
    expect(selfSigned.oauthRequests).toHaveLength(0);
    expect(
      (await s.call(s.admin, '/v1/group/update/cb-tls', { method: 'PUT', body: { callback_insecure: true, oauth_client_secret: selfSigned.clientSecret } }))
        .status,
    ).toBe(200);
    expect((await register('cb-tls', gt, 'n1')).status).toBe(200);
    expect(selfSigned.callbacks.at(-1)?.nodeId).toBe('n1');
  });
});

describe('revocation, bans, cascades', () => {
  it('revokes a node (it may register again) and bans one (it may not), by id with any characters', async () => {
    const gt = await createGroup('rv');
    await assign('rv', 'www.example.com');
    const odd = 'rack/7:slot?3';
    const n = await register('rv', gt, odd);
    expect((await s.call(s.admin, `/v1/node/revoke/rv/${encodeURIComponent(odd)}`, { method: 'DELETE' })).status).toBe(200);
    expect((await read(n.json.node_token)).status).toBe(403);
    expect((await s.call(s.admin, '/v1/node/revoke/rv/never', { method: 'DELETE' })).json).toEqual({ message: 'node does not exist' });
    expect((await s.call(s.admin, '/v1/node/revoke/nope/x', { method: 'DELETE' })).json).toEqual({ message: 'group does not exist' });
    expect((await register('rv', gt, odd)).status).toBe(200);

    expect((await s.call(s.admin, `/v1/node/ban/rv/${encodeURIComponent(odd)}`, { method: 'PUT' })).status).toBe(200);
    const banned = await register('rv', gt, odd);
    expect(banned.status).toBe(403);
    expect(banned.json).toEqual({ message: 'not authorized: node is banned' });
    expect((await s.call(s.admin, `/v1/node/unban/rv/${encodeURIComponent(odd)}`, { method: 'DELETE' })).status).toBe(200);
    expect((await s.call(s.admin, `/v1/node/unban/rv/${encodeURIComponent(odd)}`, { method: 'DELETE' })).json).toEqual({ message: 'node is not banned' });
    expect((await register('rv', gt, odd)).status).toBe(200);
    expect((await s.call(s.admin, '/v1/node/revoke/rv/%E0%A4%A', { method: 'DELETE' })).status).toBe(400);
  });

  it('rotation and deletion kill every node token of the group and nothing else', async () => {
    const a = await createGroup('casc-a');
    const b = await createGroup('casc-b');
    await assign('casc-a', 'www.example.com');
    await assign('casc-b', 'www.example.com');
    const nodesA = await Promise.all(['n1', 'n2', 'n3'].map((id) => register('casc-a', a, id)));
    const nodeB = await register('casc-b', b, 'n1');
    const rotated = await s.call(s.admin, '/v1/group/rotate/casc-a', { method: 'PUT' });
    secrets.push(rotated.json.group_token);
    for (const n of nodesA) expect((await read(n.json.node_token)).status).toBe(403);
    expect((await read(nodeB.json.node_token)).status).toBe(200);
    const back = await register('casc-a', rotated.json.group_token, 'n1');
    expect((await read(back.json.node_token)).status).toBe(200);

    expect((await s.call(s.admin, '/v1/group/delete/casc-a', { method: 'DELETE' })).status).toBe(200);
    expect((await read(back.json.node_token)).status).toBe(403);
    expect((await read(nodeB.json.node_token)).status).toBe(200);
  });

  it('applies assignment changes to existing node tokens immediately', async () => {
    const gt = await createGroup('live');
    const n = await register('live', gt, 'n1');
    expect((await read(n.json.node_token, 'api.example.com')).status).toBe(403);
    await assign('live', 'api.example.com');
    expect((await read(n.json.node_token, 'api.example.com')).status).toBe(200);
    await s.call(s.admin, '/v1/group/unassign/live/api.example.com', { method: 'DELETE' });
    expect((await read(n.json.node_token, 'api.example.com')).status).toBe(403);
  });
});

describe('mTLS enrollment', () => {
  it('enrolls a certificate with the group token; the certificate alone then reads', async () => {
    const gt = await createGroup('mtls');
    await assign('mtls', 'www.example.com');
    expect((await read('', 'www.example.com', nodeCert)).status).toBe(403);
    const noCert = await s.call(null, '/v1/node/enroll/mtls', { method: 'PUT', headers: bearer(gt) });
    expect(noCert).toMatchObject({ status: 400, json: { message: 'tls: client certificate is required' } });
    expect((await s.call(nodeCert, '/v1/node/enroll/mtls', { method: 'PUT' })).status).toBe(403);
    const e = await s.call(nodeCert, '/v1/node/enroll/mtls', { method: 'PUT', headers: bearer(gt), body: { node_id: 'edge-42' } });
    expect(e.status).toBe(200);
    expect(e.json).toEqual({ group: 'mtls', node_id: 'edge-42', identity: nodeCert.identity });
    const got = await read('', 'www.example.com', nodeCert);
    expect(got.status).toBe(200);
    expect(
      s.logLines
        .map((l) => JSON.parse(l))
        .filter((l) => l.path === '/v1/cert/get/www.example.com')
        .at(-1).identity,
    ).toBe('node:mtls/edge-42');
    expect((await read('', 'api.example.com', nodeCert)).status).toBe(403);
    expect((await read('', 'www.example.com', otherCert)).status).toBe(403);

    const nodes = await s.call(s.admin, '/v1/group/nodes/mtls');
    expect(nodes.json.nodes).toEqual([
      {
        node_id: 'edge-42',
        identity: nodeCert.identity,
        registered_at: expect.any(String),
        last_seen: expect.any(String),
        token_expires_at: null,
        enrolled_at: expect.any(String),
        revoked_at: null,
      },
    ]);

    // Rotation ends the enrollment too; enrolling again with the new token restores it.
    const rotated = await s.call(s.admin, '/v1/group/rotate/mtls', { method: 'PUT' });
    secrets.push(rotated.json.group_token);
    expect((await read('', 'www.example.com', nodeCert)).status).toBe(403);
    expect((await s.call(nodeCert, '/v1/node/enroll/mtls', { method: 'PUT', headers: bearer(rotated.json.group_token) })).json.node_id).toBe(nodeCert.identity);
    expect((await read('', 'www.example.com', nodeCert)).status).toBe(200);

    // Banning the identity ends it for good.
    expect((await s.call(s.admin, `/v1/node/ban/mtls/${nodeCert.identity}`, { method: 'PUT' })).status).toBe(200);
    expect((await read('', 'www.example.com', nodeCert)).status).toBe(403);
    const again = await s.call(nodeCert, '/v1/node/enroll/mtls', { method: 'PUT', headers: bearer(rotated.json.group_token) });
    expect(again).toMatchObject({ status: 403, json: { message: 'not authorized: node is banned' } });
  });
});

describe('what a node may read', () => {
  it("lists the bundles of the node's group, by node token or enrolled certificate", async () => {
    const gt = await createGroup('lister');
    await assign('lister', 'www.example.com');
    await assign('lister', 'api.example.com');
    const n = await register('lister', gt, 'lister-1');
    const byToken = await s.call(null, '/v1/node/bundles', { headers: bearer(n.json.node_token) });
    expect(byToken.status).toBe(200);
    expect(byToken.json).toEqual({ names: ['api.example.com', 'www.example.com'] });
    expect(
      s.logLines
        .map((l) => JSON.parse(l))
        .filter((l) => l.path === '/v1/node/bundles')
        .at(-1).identity,
    ).toBe('node:lister/lister-1');
    await s.call(s.admin, '/v1/group/unassign/lister/api.example.com', { method: 'DELETE' });
    expect((await s.call(null, '/v1/node/bundles', { headers: bearer(n.json.node_token) })).json.names).toEqual(['www.example.com']);

    const enrolled = await s.call(otherCert, '/v1/node/enroll/lister', { method: 'PUT', headers: bearer(gt) });
    expect(enrolled.status).toBe(200);
    expect((await s.call(otherCert, '/v1/node/bundles')).json.names).toEqual(['www.example.com']);

    expect((await s.call(null, '/v1/node/bundles', { headers: bearer(gt) })).status).toBe(403);
    expect((await s.call(null, '/v1/node/bundles', { headers: bearer('kgn_not-a-token') })).status).toBe(403);
    expect((await s.call(s.pki.client(), '/v1/node/bundles')).status).toBe(403);
  });
});

// In-process only: last_seen on the injected clock, and waiting for the server's background writes.
describe.skipIf(workerMode)('inventory', () => {
  it('lists nodes with registered_at, last_seen, identity and token expiry', async () => {
    const gt = await createGroup('inv', { token_ttl: 90 });
    await assign('inv', 'www.example.com');
    const t0 = clock.now();
    const n = await register('inv', gt, 'n1');
    clock.advance(61_000);
    expect((await read(n.json.node_token)).status).toBe(200);
    await s.running.holder.current.nodes.settled();
    const r = await s.call(s.admin, '/v1/group/nodes/inv');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      nodes: [
        {
          node_id: 'n1',
          identity: null,
          registered_at: new Date(t0).toISOString(),
          last_seen: new Date(t0 + 61_000).toISOString(),
          token_expires_at: new Date(t0 + 90_000).toISOString(),
          enrolled_at: null,
          revoked_at: null,
        },
      ],
    });
    expect((await s.call(s.admin, '/v1/group/nodes/missing')).status).toBe(404);
    expect((await s.call(s.admin, '/v1/group/nodes/inv?continue_at=zz')).status).toBe(400);
  });
});

describe('secret hygiene', () => {
  it('never logs a group token, node token, access token or OAuth client secret', async () => {
    expect(secrets.length).toBeGreaterThan(20);
    const all = [...secrets, ...gm.issued, ...selfSigned.issued];
    for (const line of s.logLines) for (const secret of all) expect(line.includes(secret), `log line leaks a secret: ${line}`).toBe(false);
    for (const g of workerMode ? ['cb', 'cb-tls'] : ['cb', 'cb-cache', 'cb-tls']) {
      // worker mode skips cb-cache's test
      const d = await s.call(s.admin, `/v1/group/describe/${g}`);
      expect(d.json.oauth_client_secret_set).toBe(true);
      for (const secret of all) expect(d.text.includes(secret)).toBe(false);
    }
  });
});
