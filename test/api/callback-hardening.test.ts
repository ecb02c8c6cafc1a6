/**
 * Issue 11 items 9, 10 and 13 over real TLS, on both surfaces: the OAuth destination cannot
 * move without the secret; dot-segment node ids never reach the group manager; a failed check
 * answers its stable class message and leaves the network detail to the error log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGroupManager, type GroupManager } from '../helpers/group-manager.js';
import { startRks, type RksClient } from '../rks/support.js';

let rks: RksClient;
let gm: GroupManager;
let rksAdmin = '';

const SECRET_REQUIRED = (field: string) =>
  `changing ${field} requires oauth_client_secret in the same request: it decides where the group's OAuth secret or access token is sent`;

function managerSettings(m: GroupManager) {
  return {
    callback_url: m.callbackUrl,
    oauth_url: m.oauthUrl,
    oauth_client_id: m.clientId,
    oauth_client_secret: m.clientSecret,
    oauth_mode: 'rks',
    callback_ca: m.caPem,
  };
}

async function createGroup(name: string, body: Record<string, unknown>): Promise<string> {
  const r = await rks.s.call(rks.s.admin, `/v1/group/create/${name}`, { method: 'PUT', body });
  expect(r.status, r.text).toBe(200);
  return r.json.group_token as string;
}

const update = (name: string, body: Record<string, unknown>) => rks.s.call(rks.s.admin, `/v1/group/update/${name}`, { method: 'PUT', body });
const register = (group: string, token: string, nodeId: string) =>
  rks.s.call(null, `/v1/node/register/${group}`, { method: 'PUT', body: { node_id: nodeId }, headers: { Authorization: `Bearer ${token}` } });

beforeAll(async () => {
  gm = await startGroupManager({ mode: 'rks' });
  rks = await startRks({ config: { limits: { auth_failures: 0 } } });
  rksAdmin = await rks.login();
});
afterAll(async () => {
  await rks.s.close();
  await gm.close();
});

describe('/v1/group/update: where the OAuth secret goes', () => {
  it('refuses to move the OAuth URL, the callback or the TLS trust without the secret; nothing changes', async () => {
    await createGroup('guarded', managerSettings(gm));
    for (const [field, body] of [
      ['oauth_url', { oauth_url: 'https://attacker.example/token', callback_insecure: true }],
      ['callback_url', { callback_url: 'https://attacker.example/nodes' }],
      ['callback_insecure', { callback_insecure: true }],
      ['callback_ca', { callback_ca: gm.caPem.replace(/\n/g, '\r\n') }],
    ] as const) {
      const r = await update('guarded', body);
      expect(r.status, field).toBe(400);
      expect(r.json).toEqual({ message: SECRET_REQUIRED(field) });
    }
    const d = await rks.s.call(rks.s.admin, '/v1/group/describe/guarded');
    expect(d.json).toMatchObject({ oauth_url: gm.oauthUrl, callback_url: gm.callbackUrl, callback_insecure: false });
  });

  it('allows the move with the secret in the same request, and other settings without it', async () => {
    await createGroup('movable', managerSettings(gm));
    expect((await update('movable', { token_ttl: 60, callback_timeout: 2 })).status).toBe(200);
    const moved = await update('movable', { oauth_url: 'https://manager2.example/token', oauth_client_secret: 'new-secret' });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.json).toMatchObject({ oauth_url: 'https://manager2.example/token', oauth_client_secret_set: true, token_ttl: 60 });
  });

  it("RKS's PUT sends all four fields, the secret among them: it still updates", async () => {
    await createGroup('rks-put', managerSettings(gm));
    const info = { callbackURL: 'https://manager2.example/nodes', oauthURL: gm.oauthUrl, oauthClientID: gm.clientId, oauthClientSecret: gm.clientSecret };
    const r = await rks.call('/rks/v1/group/rks-put', { method: 'PUT', token: rksAdmin, body: info });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ callbackURL: 'https://manager2.example/nodes' });
  });
});

describe('dot-segment node ids', () => {
  it('are refused on /v1/node/register and /rks/v1/node; the manager never sees its collection or parent', async () => {
    const token = await createGroup('dots', managerSettings(gm));
    const rksToken = (
      await rks.call('/rks/v1/group/dots-rks', {
        method: 'POST',
        token: rksAdmin,
        body: { callbackURL: gm.callbackUrl, oauthURL: gm.oauthUrl, oauthClientID: gm.clientId, oauthClientSecret: gm.clientSecret },
      })
    ).json.groupToken as string;
    expect((await update('dots-rks', { callback_ca: gm.caPem, oauth_client_secret: gm.clientSecret })).status).toBe(200);
    const before = gm.requests.length;
    for (const id of ['.', '..', '%2e%2e', '%2E.', '.%2e']) {
      const r = await register('dots', token, id);
      expect(r.status, id).toBe(400);
      expect(r.json.message).toMatch(/^node id must be .*not '\.' or '\.\.'/);
      const viaRks = await rks.call('/rks/v1/node', { method: 'POST', token: rksToken, headers: { 'X-LCDN-nodeId': id } });
      expect(viaRks.status, id).toBe(404);
    }
    expect(gm.requests.slice(before)).toEqual([]);
    // A valid id with dots is one segment, and only that segment is asked about.
    expect((await register('dots', token, '..n1')).status).toBe(200);
    const asked = gm.requests
      .slice(before)
      .filter((r) => r.method === 'GET')
      .map((r) => r.target);
    expect(asked).toEqual(['/callback/nodes/..n1']);
    for (const target of gm.requests.map((r) => r.target)) expect(target).not.toMatch(/^\/callback\/nodes\/?$|^\/callback\/?$/);
  });
});

describe('what a failed check answers', () => {
  it('the class message to the caller, the detail (errno, status) in the error log only', async () => {
    const token = await createGroup('down', { ...managerSettings(gm), oauth_url: 'https://127.0.0.1:1/token' });
    const r = await register('down', token, 'n1');
    expect(r.status).toBe(502);
    expect(r.json).toEqual({ message: 'callback: OAuth server unreachable' });
    gm.behaviour = () => 302;
    try {
      const token2 = await createGroup('redirects', managerSettings(gm));
      const r2 = await register('redirects', token2, 'n1');
      expect(r2.json).toEqual({ message: 'callback: group manager gave an invalid answer' });
      expect(r2.text).not.toMatch(/302|ECONN/);
    } finally {
      gm.behaviour = () => 'allow';
    }
    const lines = rks.s.logLines.join('\n');
    expect(lines).toMatch(/OAuth server https:\/\/127\.0\.0\.1:1\/token: ECONNREFUSED/);
    expect(lines).toMatch(/callback server https:\/\/localhost:\d+\/callback\/nodes\/n1: answered 302/);
    expect(lines).not.toContain(gm.clientSecret);
  });
});

describe('callbacks.allow_loopback (off by default)', () => {
  it('refuses a group manager on this host unless the configuration allows it, whatever the spelling', async () => {
    const strict = await startRks({ config: { limits: { auth_failures: 0 }, callbacks: { allow_loopback: false } } });
    try {
      const port = new URL(gm.callbackUrl).port;
      for (const host of ['localhost', '127.0.0.1', '127.1', '[::1]']) {
        const name = `lo-${host.replace(/[^a-z0-9]/g, '')}`;
        const c = await strict.s.call(strict.s.admin, `/v1/group/create/${name}`, {
          method: 'PUT',
          body: {
            ...managerSettings(gm),
            callback_url: gm.callbackUrl.replace(`localhost:${port}`, `${host}:${port}`),
            oauth_url: gm.oauthUrl.replace(`localhost:${port}`, `${host}:${port}`),
            callback_insecure: true,
          },
        });
        expect(c.status, c.text).toBe(200);
        const before = gm.callbacks.length + gm.oauthRequests.length;
        const r = await strict.s.call(null, `/v1/node/register/${name}`, {
          method: 'PUT',
          body: { node_id: 'n1' },
          headers: { Authorization: `Bearer ${c.json.group_token}` },
        });
        expect(r.status, host).toBeGreaterThanOrEqual(500);
        expect(r.json.message).toMatch(/^callback: (group manager|OAuth server) unreachable$/);
        expect(gm.callbacks.length + gm.oauthRequests.length, host).toBe(before);
      }
    } finally {
      await strict.s.close();
    }
  });
});
