/**
 * Authentication and authorisation abuse: a negative matrix over every route
 * `GET /v1/api` lists (and every RKS operation), for every credential that must
 * not get in — no certificate, an unknown one, one without a policy, a policy
 * holder off its paths, the admin once admin is disabled, and every kind of dead
 * or foreign token (expired, revoked, rotated, renewed then revoked, banned,
 * another group's, RKS group and node tokens, garbage), each sent as
 * `Authorization: Bearer` and as `X-Vault-Token`. A cell succeeds (2xx) only
 * where the README says it may; the number of unauthorised successes must be 0.
 * Denied paths are also tried in encoded, doubled-slash and dot-segment
 * spellings over raw TLS sockets, under glob and prefix policy matching. Dashboard
 * sessions (a cookie) get their session policy only, and writes only with the CSRF token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { manualClock, useClock } from '../helpers/fleet.js';
import type { TestClient } from '../helpers/certs.js';
import { seededServer, seedValue, SEED, RKS, type Seeded } from './fixture.js';
import { discoverRoutes, fillWith, targetsOf, type Target } from './routes.js';
import { rawRequest, withBody, head, type Peer } from './raw.js';
import { recordFigure } from './figures.js';
import { SESSION_POLICY } from '../../src/auth/session.js';

/**
 * Routes anyone may call: the API's description, RKS's operational endpoints, and the
 * dashboard's page, its "who am I" and its logout (which ends a session only for a session),
 * and the PKI's CA certificates and CRL (public, as Vault's are).
 */
const PUBLIC = new Set([
  '/version',
  '/docs',
  '/docs/{p0}',
  '/v1/openapi.json',
  '/healthz',
  '/metrics',
  '/',
  '/ui',
  '/ui/{p0}',
  '/ui/session',
  '/ui/logout',
  '/v1/pki/ca',
  '/v1/pki/crl',
]);

let seeded: Seeded;
let targets: Target[];
const clock = manualClock(Date.now());
const tally = { cells: 0, allowedSuccesses: 0, unauthorisedSuccesses: [] as string[], serverErrors: [] as string[] };
let fresh = 0;

beforeAll(async () => {
  seeded = await seededServer();
  await useClock(seeded.s.running, clock);
  targets = (await discoverRoutes(seeded.peer)).flatMap(targetsOf);
});
afterAll(async () => {
  recordFigure('auth-matrix', {
    cells: tally.cells,
    unauthorisedSuccesses: tally.unauthorisedSuccesses.length,
    allowedSuccesses: tally.allowedSuccesses,
    serverErrors: tally.serverErrors.length,
  });
  await seeded.s.close();
});

/** A request that would succeed for a caller allowed to make it: fresh names where it creates, a plausible body. */
function requestFor(t: Target): { path: string; body: string | undefined } {
  const creates =
    /\/(create|import)\/\{p0\}$/.test(t.template) || (t.method === 'POST' && /^\/rks\/v1\/(group\/\{groupname\}|secret\/\{fqdn\})$/.test(t.template));
  const path = fillWith(t, (p, i) =>
    creates && i === 0 ? `mx-${++fresh}${t.template.includes('cert') || t.template.includes('secret') ? '.example.com' : ''}` : seedValue(p, t.template, i),
  );
  const b = seeded.bundle;
  const b64 = randomBytes(32).toString('base64');
  const bodies: Array<[RegExp, unknown]> = [
    [/^\/v1\/key\/import\//, { key: b64, cipher: 'AES256' }],
    [/^\/v1\/key\/(generate|encrypt|hmac)\//, { plaintext: b64, message: b64 }],
    [/^\/v1\/cert\/import\//, { certificate: b.chainPem, private_key: b.keyPem, ttl: 600 }],
    [/^\/v1\/group\/(create|update)\//, { token_ttl: 600 }],
    [/^\/v1\/node\/register\//, { node_id: `mx-node-${fresh}` }],
    [/^\/rks\/v1\/admin\/login$/, { login: RKS.admin.login, password: 'not-the-password' }],
    [/^\/rks\/v1\/group\/[^/]+$/, { callbackURL: '', oauthURL: '', oauthClientID: '', oauthClientSecret: '' }],
    [/^\/rks\/v1\/secret\/[^/]+$/, { data: { certificate: b.chainPem, private_key: b.keyPem, meta: { ttl: 600 } } }],
  ];
  const found = t.method === 'GET' || t.method === 'DELETE' ? undefined : bodies.find(([re]) => re.test(path));
  return { path, body: found ? JSON.stringify(found[1]) : undefined };
}

/** Sends one cell of the matrix; `allowed` says whether this caller may succeed here. */
async function cell(who: string, peer: Peer, t: Target, headers: Record<string, string>, allowed: (path: string) => boolean): Promise<void> {
  const { path, body } = requestFor(t);
  const request = body !== undefined ? withBody(t.method, path, body, headers) : head(t.method, path, headers);
  tally.cells++;
  let status: number;
  try {
    status = (await rawRequest(peer, request, { timeoutMs: 5000 })).status;
  } catch (err) {
    // A refused handshake is a refusal; a request that hangs got in (a log stream).
    status = /timed out/.test(String(err)) ? 200 : 0;
  }
  const where = `${who}: ${t.method} ${path} → ${status}`;
  if (status >= 500) tally.serverErrors.push(where);
  if (status < 200 || status > 299 || PUBLIC.has(t.template)) return;
  if (allowed(path)) tally.allowedSuccesses++;
  else tally.unauthorisedSuccesses.push(where);
}

const peerOf = (s: TestServer, who: TestClient | null): Peer => ({
  port: s.port,
  ca: s.pki.ca.certPem,
  ...(who ? { cert: who.certPem, key: who.keyPem } : {}),
});

describe('certificates', () => {
  it('no certificate, unknown, policy-less, and a policy holder off its paths get nothing', async () => {
    const { s, reader } = seeded;
    const policy = s.running.holder.current.identities.get(reader.identity);
    const self = (p: string) => p === '/v1/identity/self/describe';
    const callers: Array<[string, TestClient | null, (p: string) => boolean]> = [
      ['no certificate', null, () => false],
      ['self-signed stranger', s.pki.client({ selfSigned: true }), self],
      ['CA-issued, no policy', s.pki.client(), self],
      ['policy holder', reader, (p) => self(p) || policy?.verify(p.split('?')[0] as string) === true],
    ];
    for (const [who, client, allowed] of callers) for (const t of targets) await cell(who, peerOf(s, client), t, {}, allowed);
    // The matrix is not vacuous: the policy holder does get what it is allowed.
    expect((await s.call(reader, `/v1/cert/describe/${SEED.bundle}`)).status).toBe(200);
    expect((await s.call(reader, `/v1/key/describe/${SEED.key}`)).status).toBe(403);
  });

  it('the admin certificate is nobody once admin.identity is disabled', async () => {
    let admin: TestClient | undefined;
    const s = await startTestServer({ prepare: (_pki, a) => ((admin = a), { admin: { identity: 'disabled' } }) });
    try {
      for (const t of targets) await cell('disabled admin', peerOf(s, admin as TestClient), t, {}, (p) => p === '/v1/identity/self/describe');
    } finally {
      await s.close();
    }
  });
});

describe('tokens', () => {
  /** Registers `node` in `group` with the group token; returns the node token. */
  async function register(group: string, groupToken: string, node: string): Promise<string> {
    const r = await seeded.s.call(null, `/v1/node/register/${group}`, {
      method: 'PUT',
      body: { node_id: node },
      headers: { Authorization: `Bearer ${groupToken}` },
    });
    expect(r.status, r.text).toBe(200);
    return r.json.node_token as string;
  }
  const admin = (path: string, method: string, body?: unknown) => seeded.s.call(seeded.s.admin, path, { method, ...(body !== undefined ? { body } : {}) });
  const groupToken = async (g: string, body: unknown = {}) => (await admin(`/v1/group/create/${g}`, 'PUT', body)).json.group_token as string;

  it('dead, foreign and RKS tokens get nothing beyond what their kind may do', async () => {
    const { s } = seeded;
    // Expired: a 60 s token, then the clock moves past it (every other token is made after).
    const gexp = await groupToken('gexp', { token_ttl: 60 });
    const expired = await register('gexp', gexp, 'n-exp');
    clock.advance(61_000);
    const edge = seeded.groupToken;
    const revoked = await register(SEED.group, edge, 'n-rev');
    expect((await admin(`/v1/node/revoke/${SEED.group}/n-rev`, 'DELETE')).status).toBe(200);
    const banned = await register(SEED.group, edge, 'n-ban');
    expect((await admin(`/v1/node/ban/${SEED.group}/n-ban`, 'PUT')).status).toBe(200);
    const toRenew = await register(SEED.group, edge, 'n-ren');
    const renewed = (await s.call(null, '/v1/node/renew', { method: 'PUT', headers: { Authorization: `Bearer ${toRenew}` } })).json.node_token as string;
    expect((await admin(`/v1/node/revoke/${SEED.group}/n-ren`, 'DELETE')).status).toBe(200);
    const g3 = await groupToken('g3');
    expect((await admin(`/v1/group/assign/g3/${SEED.bundle}`, 'PUT')).status).toBe(200);
    const rotatedNode = await register('g3', g3, 'n-rot');
    expect((await admin('/v1/group/rotate/g3', 'PUT')).status).toBe(200);
    const g2 = await groupToken('g2');
    const g2Node = await register('g2', g2, 'n2');

    const nodeMay = (bundles: string[]) => (p: string) =>
      /^\/v1\/node\/(bundles|renew)$/.test(p) ||
      p === '/rks/v1/auth/token/renew-self' ||
      p === '/rks/v1/auth/token/revoke-self' ||
      bundles.some((b) => [`/v1/cert/get/${b}`, `/v1/cert/lookup/${b}`, `/v1/cert/watch/${b}`, `/rks/v1/secret/${b}`].includes(p));
    const groupMay = (group: string) => (p: string) =>
      [`/v1/node/register/${group}`, `/v1/node/enroll/${group}`, '/rks/v1/node', '/rks/v1/auth/token/renew-self'].includes(p);
    const nothing = () => false;
    const tokens: Array<[string, string, (p: string) => boolean]> = [
      ['expired node token', expired, nothing],
      ['revoked node token', revoked, nothing],
      ['banned node token', banned, nothing],
      ['renewed, then revoked node token', renewed, nothing],
      ['revoked token renewed', toRenew, nothing],
      ['rotated group token', g3, nothing],
      ['node token of a rotated group', rotatedNode, nothing],
      ['group token of another group', g2, groupMay('g2')],
      ['node token of another group', g2Node, nodeMay([])],
      ['group token', edge, groupMay(SEED.group)],
      ['RKS group token', seeded.rks.groupToken, groupMay(SEED.rksGroup)],
      ['RKS node token', seeded.rks.nodeToken, nodeMay([SEED.rksSecret])],
      ['RKS admin token on keygate routes', seeded.rks.adminToken, (p) => p.startsWith('/rks/')],
      ['forged node token', 'kgn_' + 'A'.repeat(43), nothing],
      ['forged group token', 'kgg_' + randomBytes(32).toString('base64url'), nothing],
      ['garbage', 'x'.repeat(300), nothing],
    ];
    const anonymous = peerOf(s, null);
    for (const [who, token, allowed] of tokens) {
      for (const t of targets) {
        await cell(`${who} (Bearer)`, anonymous, t, { Authorization: `Bearer ${token}` }, allowed);
        await cell(`${who} (X-Vault-Token)`, anonymous, t, { 'X-Vault-Token': token }, allowed);
      }
    }
    // Not vacuous: the live tokens do what they may.
    expect((await s.call(null, `/v1/cert/get/${SEED.bundle}`, { headers: { Authorization: `Bearer ${seeded.nodeToken}` } })).status).toBe(200);
    expect((await register('g2', g2, 'n2-again')).length).toBeGreaterThan(0);
    // A banned node cannot register again either.
    expect(
      (await s.call(null, `/v1/node/register/${SEED.group}`, { method: 'PUT', body: { node_id: 'n-ban' }, headers: { Authorization: `Bearer ${edge}` } }))
        .status,
    ).toBe(403);
  }, 60_000);
});

describe('denied paths in other spellings, over raw sockets', () => {
  const spellings = (name: string) => [
    `/v1/key/describe/${name}`,
    `//v1/key/describe/${name}`,
    `/v1/key//describe/${name}`,
    `/v1/key/describe//${name}`,
    `/v1/key/describe/./${name}`,
    `/v1/key/describe/../describe/${name}`,
    `/v1/key/%64escribe/${name}`,
    `/v1/key/describe/%6B1`,
    `/v1/key/describe/${name}/`,
    `/v1/key/describe/${name}%00`,
    `/v1/key/describe/${name}%2F`,
    `/v1/key/describe/${name}?x=/v1/key/describe/k2`,
    `/v1/%6Bey/describe/${name}`,
    `/v1/key/DESCRIBE/${name}`,
    `/v1/key/describe/${name}#frag`,
    `/v1/key/describe\\${name}`,
    `/v1/key/create/../describe/${name}`,
    `/v1/key/describe/../create/mx-evil`,
    `/v1/key/describe/*/../../create/mx-evil`,
  ];

  for (const match of ['glob', 'prefix'] as const) {
    it(`refuses every spelling of a denied path (policy_match: ${match})`, async () => {
      let reader: TestClient | undefined;
      const s = await startTestServer({
        config: { policy_match: match, limits: { auth_failures: 0 } },
        prepare: (pki) => {
          reader = pki.client({ commonName: 'reader' });
          return { policy: { r: { allow: ['/v1/key/describe/*'], deny: ['/v1/key/describe/k1'], identities: [reader.identity] } } };
        },
      });
      try {
        for (const k of ['k1', 'k2']) expect((await s.call(s.admin, `/v1/key/create/${k}`, { method: 'PUT' })).status).toBe(200);
        const peer = peerOf(s, reader as TestClient);
        for (const path of spellings('k1')) {
          tally.cells++;
          const r = await rawRequest(peer, head('GET', path)).catch(() => ({ status: 0 }));
          if (r.status >= 200 && r.status < 300) tally.unauthorisedSuccesses.push(`${match}: GET ${path} → ${r.status}`);
        }
        // Not vacuous: the allowed key is readable, and nothing was created.
        expect((await rawRequest(peer, head('GET', '/v1/key/describe/k2'))).status).toBe(200);
        expect((await s.call(s.admin, '/v1/key/list/*')).json.names).toEqual(['k1', 'k2']);
      } finally {
        await s.close();
      }
    });
  }
});

// Last: a session's writes with its CSRF token may change the seeded objects.
describe('dashboard sessions', () => {
  it('a session cookie gets the session policy only: writes need its CSRF token, other origins and dead sessions nothing', async () => {
    const { s } = seeded;
    const session = async () => {
      const r = await s.call(null, '/ui/login', { method: 'POST', body: RKS.admin, headers: { 'Content-Type': 'application/json' } });
      expect(r.status, r.text).toBe(200);
      return { cookie: String(([] as string[]).concat(r.headers['set-cookie'] ?? [])[0]).split(';')[0] as string, csrf: r.json.csrf_token as string };
    };
    const anonymous = peerOf(s, null);
    const policy = (p: string) => SESSION_POLICY.verify(p.split('?')[0] as string);
    const nothing = () => false;
    const dead = await session();
    expect((await s.call(null, '/ui/logout', { method: 'POST', headers: { Cookie: dead.cookie, 'X-Keygate-CSRF': dead.csrf } })).status).toBe(200);
    const plain = await session();
    const foreign = await session();
    for (const t of targets) {
      await cell('session without its CSRF token', anonymous, t, { Cookie: plain.cookie }, (p) => t.method === 'GET' && policy(p));
      await cell(
        'session from another origin',
        anonymous,
        t,
        { Cookie: foreign.cookie, 'X-Keygate-CSRF': foreign.csrf, Origin: 'https://evil.example' },
        nothing,
      );
      await cell('logged-out session', anonymous, t, { Cookie: dead.cookie, 'X-Keygate-CSRF': dead.csrf }, nothing);
    }
    const live = await session();
    for (const t of targets) await cell('session with its CSRF token', anonymous, t, { Cookie: live.cookie, 'X-Keygate-CSRF': live.csrf }, policy);
    // Not vacuous: a session reads what its policy allows, and never a key operation.
    const fresh = await session();
    expect((await s.call(null, `/v1/group/describe/${SEED.group}`, { headers: { Cookie: fresh.cookie } })).status).toBe(200);
    expect((await s.call(null, `/v1/key/describe/${SEED.key}`, { headers: { Cookie: fresh.cookie } })).status).toBe(200);
    expect(
      (await s.call(null, `/v1/key/generate/${SEED.key}`, { method: 'PUT', body: {}, headers: { Cookie: fresh.cookie, 'X-Keygate-CSRF': fresh.csrf } })).status,
    ).toBe(403);
  }, 180_000);
});

it('adds up to zero unauthorised successes and no server error', () => {
  expect(tally.unauthorisedSuccesses).toEqual([]);
  expect(tally.serverErrors).toEqual([]);
  expect(tally.cells).toBeGreaterThan(2000);
});
