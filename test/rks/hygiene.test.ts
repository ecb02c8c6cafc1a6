/**
 * No secret of the RKS surface reaches a log line (RKS logged bodies, passwords,
 * OAuth secrets and tokens: rks.md §8.3): a whole session — wrong and right
 * logins, a callback group with OAuth credentials, secrets pushed, replaced and
 * read, nodes registered, renewed, revoked, groups rotated and deleted, failures
 * of every kind — then every audit and error line is scanned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCerts, pemBodyLines } from '../helpers/bundle-certs.js';
import { startGroupManager, type GroupManager } from '../helpers/group-manager.js';
import { workerMode } from '../helpers/server.js';
import { ADMIN, INIT_TOKEN, NO_CALLBACK, secret, startRks, type RksClient } from './support.js';

const certs = new BundleCerts();
const first = certs.bundle({ dnsNames: ['www.example.com'] });
const second = certs.bundle({ dnsNames: ['www.example.com'] });
const WRONG_PASSWORD = 'wrong-Vb3Nq7Kd';

let rks: RksClient;
let gm: GroupManager;
const tokens: string[] = [];

beforeAll(async () => {
  rks = await startRks();
  gm = await startGroupManager({ mode: 'rks' });
});
afterAll(async () => {
  await gm.close();
  await rks.s.close();
});

describe('log hygiene of the RKS surface', () => {
  it('a full session leaves no password, init token, OAuth secret, token or private key in the logs', async () => {
    const { call } = rks;
    const keep = (t: string) => (tokens.push(t), t);
    await call('/rks/v1/init', { method: 'POST', token: INIT_TOKEN });
    await call('/rks/v1/init', { method: 'POST', token: INIT_TOKEN + '-guess' });
    await call('/rks/v1/admin/login', { method: 'POST', body: { ...ADMIN, password: WRONG_PASSWORD } });
    const admin = keep(await rks.login());
    await call('/rks/v1/secret/www.example.com', { method: 'POST', token: admin, body: secret(first) });
    await call('/rks/v1/secret/bad.example.com', { method: 'POST', token: admin, body: secret({ ...first, keyPem: second.keyPem }) });
    await call('/rks/v1/secret/www.example.com', { method: 'PUT', token: admin, body: secret(second) });
    const info = { callbackURL: gm.callbackUrl, oauthURL: gm.oauthUrl, oauthClientID: gm.clientId, oauthClientSecret: gm.clientSecret };
    const groupToken = keep((await call('/rks/v1/group/cdn', { method: 'POST', token: admin, body: info })).json.groupToken);
    await call('/rks/v1/node', { method: 'POST', token: groupToken, headers: { 'X-LCDN-nodeId': '1' } }); // untrusted manager: 500
    await rks.s.call(rks.s.admin, '/v1/group/update/cdn', { method: 'PUT', body: { callback_ca: gm.caPem, oauth_client_secret: gm.clientSecret } });
    await call('/rks/v1/group/cdn', { method: 'PUT', token: admin, body: { ...info, oauthClientSecret: gm.clientSecret } });
    await call('/rks/v1/group/cdn/secrets/www.example.com', { method: 'POST', token: admin });
    gm.behaviour = (id) => (id === '0' ? 'refuse' : 'allow');
    const node = keep((await call('/rks/v1/node', { method: 'POST', token: groupToken, headers: { 'X-LCDN-nodeId': '1' } })).json.nodeToken);
    await call('/rks/v1/node', { method: 'POST', token: groupToken, headers: { 'X-LCDN-nodeId': '0' } });
    expect((await call('/rks/v1/secret/www.example.com', { token: node })).json.data.private_key).toBe(second.keyPem);
    await call('/rks/v1/auth/token/renew-self', { method: 'POST', token: node });
    await call('/rks/v1/auth/token/renew-self', { method: 'POST', token: node.slice(0, -2) + 'xx' });
    await call('/rks/v1/group/cdn', { token: groupToken });
    await call('/rks/v1/group/cdn/nodes/1', { method: 'DELETE', token: admin });
    const rotated = keep((await call('/rks/v1/group/cdn/grouptoken', { method: 'PUT', token: admin })).json.groupToken);
    await call('/rks/v1/node', { method: 'POST', token: rotated, headers: { 'X-LCDN-nodeId': '2' } });
    await call('/rks/v1/group/cdn', { method: 'DELETE', token: admin });
    await call('/rks/v1/group/other', { method: 'POST', token: admin, body: NO_CALLBACK });
    // In-process only: waits for the background last-seen writes (and whatever they log).
    if (!workerMode) await rks.s.running.holder.current.nodes.settled();

    const secrets = [
      ADMIN.password,
      WRONG_PASSWORD,
      INIT_TOKEN,
      gm.clientSecret,
      ...gm.issued,
      ...tokens,
      ...pemBodyLines(first.keyPem),
      ...pemBodyLines(second.keyPem),
    ];
    expect(tokens).toHaveLength(4);
    expect(gm.issued.length).toBeGreaterThan(0);
    const lines = rks.s.logLines;
    expect(lines.some((l) => l.includes('/rks/v1/node') && l.includes('node:cdn/1'))).toBe(true); // the audit names the node
    expect(lines.some((l) => l.includes('rks-admin:admin-rks'))).toBe(true);
    const leaks = lines.flatMap((line) => secrets.filter((s) => line.includes(s)).map((s) => `${s.slice(0, 6)}… in ${line.slice(0, 120)}`));
    expect(leaks).toEqual([]);
  });
});
