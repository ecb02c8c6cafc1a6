/**
 * A policy decides on exactly the path the handler acts on — for every route in
 * the table, RKS's included, and every spelling of a path.
 *
 * For a random route, random valid names, a random policy that allows or denies
 * exactly that canonical path (or every name at that position), and a random
 * spelling of the same request — any character of a name percent-encoded in
 * either case, host names in mixed case or fully qualified — the server must
 * answer the spelling exactly as it answers the canonical path. Spellings that
 * name something else — doubled slashes, dot segments, an encoded '/' where a
 * name may not hold one, an encoded character of the route's own literal part —
 * must be refused before any policy (400/404/405), or answered as the canonical
 * path is. Over real TLS, against the real route table, handlers and keystore.
 * The same for a dashboard session (cookie and CSRF token): every spelling gets the
 * canonical answer, and nothing beyond SESSION_POLICY that anonymous callers do not get.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { head, rawRequest, type RawResponse } from './raw.js';
import { recordFigure } from './figures.js';
import { SESSION_POLICY } from '../../src/auth/session.js';

const INIT_TOKEN = 'init-canonical-7Qx';
/** The RKS admin, whose dashboard session is the other caller attacked here. */
const RKS_ADMIN = { login: 'ops', password: 'pw-canonical-3k' };

/** What each name of each route may be: a few values that exist and a few that do not. */
const KINDS = {
  key: ['k1', 'app-key', 'no_such_key'],
  keyPattern: ['', '*', 'k*', 'app-key'],
  policy: ['caller', 'nope'],
  identity: ['0'.repeat(64), 'abc'],
  bundle: ['www.example.com', '*.example.com', 'x_y.test'],
  bundlePattern: ['', '*', 'www*', '*.ex*'],
  host: ['www.example.com', 'a.example.com', 'nothing.test', '127.0.0.1'],
  group: ['edge', 'g-1'],
  groupPattern: ['', '*', 'ed*'],
  node: ['n1', 'rack/7', 'x.y'],
  asset: ['app.js', 'style.css', 'nope.txt'],
  rksGroup: ['edge', 'G-2'],
  fqdn: ['www.example.com', 'none.example.org'],
  nodeId: ['n1', 'node-2'],
  pkiRole: ['web', 'no-such-role'],
  serialPrefix: ['', '4a', 'ABC0'],
} as const;
type Kind = keyof typeof KINDS;

/** Every route of `/v1/api` with the kinds of its names; a route missing here fails the test. */
function kindsOf(path: string): Kind[] | null {
  if (path.includes('{')) {
    return [...path.matchAll(/\{(\w+)\}/g)].map((m) => (m[1] === 'groupname' ? 'rksGroup' : m[1] === 'fqdn' ? 'fqdn' : 'nodeId'));
  }
  if (!path.endsWith('/') || path === '/') return [];
  const table: Array<[RegExp, Kind[]]> = [
    [/^\/v1\/key\/list\/$/, ['keyPattern']],
    [/^\/v1\/key\/\w+\/$/, ['key']],
    [/^\/v1\/policy\/list\/$/, ['keyPattern']],
    [/^\/v1\/policy\/\w+\/$/, ['policy']],
    [/^\/v1\/identity\/list\/$/, ['keyPattern']],
    [/^\/v1\/identity\/\w+\/$/, ['identity']],
    [/^\/v1\/cert\/list\/$/, ['bundlePattern']],
    [/^\/v1\/cert\/lookup\/$/, ['host']],
    [/^\/v1\/cert\/\w+\/$/, ['bundle']],
    [/^\/v1\/group\/list\/$/, ['groupPattern']],
    [/^\/v1\/group\/(assign|unassign)\/$/, ['group', 'bundle']],
    [/^\/v1\/group\/\w+\/$/, ['group']],
    [/^\/v1\/node\/(revoke|ban|unban)\/$/, ['group', 'node']],
    [/^\/v1\/node\/\w+\/$/, ['group']],
    [/^\/v1\/pki\/certs\/$/, ['serialPrefix']],
    [/^\/v1\/pki\/\w+\/$/, ['pkiRole']],
    [/^\/docs\/$/, ['asset']],
    [/^\/ui\/$/, ['asset']],
  ];
  return table.find(([re]) => re.test(path))?.[1] ?? null;
}

interface Target {
  method: string;
  /** Literal part and names, in path order. */
  parts: Array<{ literal: string } | { kind: Kind; value: string }>;
}

const encodeName = (name: string): string => name.replace(/%/g, '%25').replace(/\//g, '%2F');

/** The canonical spelling: names as the dispatcher rebuilds them. */
function canonical(t: Target): string {
  return t.parts.map((p) => ('literal' in p ? p.literal : encodeName(p.value))).join('');
}

const hex = (c: string, upper: boolean): string =>
  [...Buffer.from(c, 'utf8')].map((b) => '%' + (upper ? b.toString(16).toUpperCase() : b.toString(16)).padStart(2, '0')).join('');

/** Another spelling of the same names: characters percent-encoded at random, host names re-cased or fully qualified. */
function sameThing(t: Target, choices: number[]): string {
  let k = 0;
  const pick = () => choices[k++ % choices.length] as number;
  return t.parts
    .map((p) => {
      if ('literal' in p) return p.literal;
      let v = p.value;
      if (p.kind === 'host' && /[a-z]/.test(v)) {
        v = [...v].map((c) => (pick() % 2 ? c.toUpperCase() : c)).join('');
        if (pick() % 3 === 0) v += '.';
      }
      return [...v].map((c) => (c === '/' || c === '%' ? hex(c, pick() % 2 === 0) : pick() % 3 === 0 ? hex(c, pick() % 2 === 0) : c)).join('');
    })
    .join('');
}

/** A spelling that names something else, or nothing. */
function somethingElse(t: Target, how: number, at: number): string {
  const path = canonical(t);
  const slashes = [...path.matchAll(/\//g)].map((m) => m.index as number);
  const cut = slashes[at % slashes.length] as number;
  switch (how % 5) {
    case 0:
      return path.slice(0, cut) + '/' + path.slice(cut); // a doubled slash
    case 1:
      return path.slice(0, cut) + '/.' + path.slice(cut); // a '.' segment
    case 2:
      return path.slice(0, cut) + '/..' + path.slice(cut); // a '..' segment
    case 3: {
      // An encoded character of the route's own literal part.
      const literal = t.parts[0] as { literal: string };
      const i = 1 + (at % Math.max(1, literal.literal.length - 2));
      return literal.literal.slice(0, i) + hex(literal.literal[i] as string, true) + path.slice(i + 1);
    }
    default: {
      // A name that smuggles a separator: '/' encoded into a name, or a name that decodes to a dot segment.
      const name = t.parts.findIndex((p) => !('literal' in p));
      if (name < 0) return path + '%2F..';
      return t.parts
        .map((p, i) => ('literal' in p ? p.literal : i === name ? (at % 2 ? '%2E%2E' : encodeName(p.value) + '%2Fx') : encodeName(p.value)))
        .join('');
    }
  }
}

let s: TestServer;
let caller: TestClient;
let targets: Target[] = [];
const base: Record<string, unknown> = {};

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      caller = pki.client({ commonName: 'caller' });
      return {};
    },
    config: { rks: { init_token: INIT_TOKEN, admin: RKS_ADMIN }, limits: { auth_failures: 0 } },
  });
  const certs = new BundleCerts();
  for (const k of ['k1', 'app-key']) await s.call(s.admin, `/v1/key/create/${k}`, { method: 'PUT' });
  for (const name of ['www.example.com', '*.example.com']) {
    const b = certs.bundle({ commonName: name, dnsNames: [name] });
    await s.call(s.admin, `/v1/cert/import/${name}`, { method: 'PUT', body: { certificate: b.chainPem, private_key: b.keyPem, ttl: 3600 } });
  }
  await s.call(s.admin, '/v1/group/create/edge', { method: 'PUT' });
  const api = (await s.call(s.admin, '/v1/api')).json as Array<{ method: string; path: string }>;
  const missing: string[] = [];
  for (const r of api) {
    // Subtrees name nothing; log streams never end (their decision is the path's: no names to spell).
    if (r.path.endsWith('/**') || r.path.startsWith('/v1/log/')) continue;
    const kinds = kindsOf(r.path);
    if (kinds === null) {
      missing.push(r.path);
      continue;
    }
    const method = r.method === '*' ? 'GET' : r.method;
    if (r.path.includes('{')) {
      const segs = r.path.split(/\{\w+\}/);
      const names = [...kinds];
      for (const combo of combos(names)) {
        const parts: Target['parts'] = [];
        segs.forEach((seg, i) => {
          if (seg !== '') parts.push({ literal: seg });
          if (i < combo.length) parts.push({ kind: names[i] as Kind, value: combo[i] as string });
        });
        targets.push({ method, parts });
      }
    } else if (kinds.length === 0) {
      targets.push({ method, parts: [{ literal: r.path }] });
    } else {
      for (const combo of combos(kinds)) {
        const parts: Target['parts'] = [{ literal: r.path }];
        combo.forEach((v, i) => {
          if (i > 0) parts.push({ literal: '/' });
          parts.push({ kind: kinds[i] as Kind, value: v });
        });
        targets.push({ method, parts });
      }
    }
  }
  expect(missing, 'routes this test does not know how to name').toEqual([]);
  targets = targets.filter((t) => t.parts.some((p) => !('literal' in p)) || !t.parts.some((p) => 'literal' in p && p.literal === ''));
  Object.assign(base, {
    address: '127.0.0.1:0',
    admin: { identity: s.admin.identity },
    tls: { key: s.pki.serverKeyFile, cert: s.pki.serverCertFile },
    keystore: { memory: {} },
    rks: { init_token: INIT_TOKEN, admin: RKS_ADMIN },
    limits: { auth_failures: 0 },
  });
});
afterAll(() => s?.close());

/** Every combination of the sample values of `kinds` (at most a handful per route). */
function combos(kinds: readonly Kind[]): string[][] {
  return kinds.reduce<string[][]>((acc, k) => acc.flatMap((prefix) => KINDS[k].map((v) => [...prefix, v])), [[]]);
}

/**
 * Routes that change something answer differently the second time, and some reads
 * report live figures (metrics, status, health): only the decision is compared there.
 */
const changes = (t: Target) => t.method !== 'GET' || /^\/(v1\/metrics|v1\/metrics\/keygate|v1\/status|metrics|healthz)$/.test(canonical(t));

async function send(t: Target, path: string): Promise<RawResponse> {
  const rks = canonical(t).startsWith('/rks/');
  const headers: Record<string, string> = rks ? { 'X-Vault-Token': INIT_TOKEN } : {};
  // A watch answers at once with wait=0 instead of holding the request.
  const query = path.startsWith('/v1/cert/watch/') ? '?wait=0' : '';
  return rawRequest({ port: s.port, ca: s.pki.ca.certPem, cert: caller.certPem, key: caller.keyPem }, head(t.method, path + query, headers));
}

const decision = (r: RawResponse) => (r.status === 403 ? 'refused' : r.status === 429 ? 'throttled' : 'not refused');

// Before the property below, which deletes what it may.
it.skipIf(workerMode)('the encoded spellings of the issue are the canonical names', async () => {
  await s.running.reload(
    parseConfig(
      stringify({
        ...base,
        policy: {
          caller: { allow: ['/v1/**'], deny: ['/v1/group/assign/edge/www.example.com', '/v1/cert/lookup/www.example.com'], identities: [caller.identity] },
        },
      }),
      'canonical.yml',
    ),
  );
  const t = (method: string, path: string) => rawRequest({ port: s.port, ca: s.pki.ca.certPem, cert: caller.certPem, key: caller.keyPem }, head(method, path));
  expect((await t('PUT', '/v1/group/assign/edge/%77ww.example.com')).status).toBe(403);
  expect((await t('PUT', '/v1/group/assign/edge/www.example.com')).status).toBe(403);
  for (const host of ['WWW.example.com', 'www.example.com.', 'WwW.ExAmPlE.CoM.', '%57ww.example.com']) {
    expect((await t('GET', `/v1/cert/lookup/${host}`)).status, host).toBe(403);
  }
  expect((await t('GET', '/v1/cert/lookup/a.example.com')).status).toBe(200);
  // A '/' smuggled into a name that may not hold one, and a dot segment, are 400 before any policy.
  expect((await t('PUT', '/v1/group/assign/edge%2Fx/www.example.com')).status).toBe(400);
  expect((await t('GET', '/v1/key/describe/%2E%2E')).status).toBe(400);
});

// The in-process server's policies are replaced per case (reload); with workers, every worker would need the signal.
it.skipIf(workerMode)('answers every spelling of a path as its canonical path, under random policies, on every route', { timeout: 180_000 }, async () => {
  expect(targets.length).toBeGreaterThan(60);
  let reloads = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat(targets.length - 1),
      fc.constantFrom('allow-exact', 'deny-exact', 'deny-any-name', 'allow-any-name'),
      fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
      fc.boolean(),
      fc.nat(),
      fc.nat(),
      async (i, kind, choices, equivalent, how, at) => {
        const t = targets[i] as Target;
        const path = canonical(t);
        const anyName = t.parts.map((p) => ('literal' in p ? p.literal : '*')).join('');
        const rules =
          kind === 'allow-exact'
            ? { allow: [path] }
            : kind === 'allow-any-name'
              ? { allow: [anyName] }
              : kind === 'deny-exact'
                ? { allow: ['/**'], deny: [path] }
                : { allow: ['/**'], deny: [anyName] };
        await s.running.reload(parseConfig(stringify({ ...base, policy: { caller: { ...rules, identities: [caller.identity] } } }), 'canonical.yml'));
        reloads++;
        const spelled = equivalent ? sameThing(t, choices) : somethingElse(t, how, at);
        const want = await send(t, path);
        const got = await send(t, spelled);
        const what = `${t.method} ${spelled} (canonical ${path}, ${kind})`;
        if (equivalent) {
          if (changes(t)) expect(decision(got), what).toBe(decision(want));
          else expect({ status: got.status, body: got.body }, what).toEqual({ status: want.status, body: want.body });
        } else if (![400, 404, 405].includes(got.status)) {
          // Not refused before policy: then it named the same thing, and got the same decision.
          expect(decision(got), what).toBe(decision(want));
          if (!changes(t)) expect(got.status, what).toBe(want.status);
        }
      },
    ),
    { numRuns: 300 },
  );
  expect(reloads).toBe(300);
  recordFigure('canonical-paths', {
    routes: new Set(targets.map((t) => `${t.method} ${(t.parts[0] as { literal: string }).literal}`)).size,
    targets: targets.length,
    cases: reloads,
    requests: reloads * 2,
  });
});

// The other kind of caller decided by path: a dashboard session (cookie and CSRF token, no certificate).
it.skipIf(workerMode)(
  'answers a dashboard session every spelling of a path as its canonical path, and never beyond the session policy',
  { timeout: 120_000 },
  async () => {
    const login = await s.call(null, '/ui/login', { method: 'POST', body: RKS_ADMIN, headers: { 'Content-Type': 'application/json' } });
    expect(login.status, login.text).toBe(200);
    const cookie = String(([] as string[]).concat(login.headers['set-cookie'] ?? [])[0]).split(';')[0] as string;
    const session = { Cookie: cookie, 'X-Keygate-CSRF': login.json.csrf_token as string };
    const peer = { port: s.port, ca: s.pki.ca.certPem };
    const query = (p: string) => (p.startsWith('/v1/cert/watch/') ? '?wait=0' : '');
    let allowedInPolicy = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(targets.length - 1),
        fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.nat(),
        fc.nat(),
        async (i, choices, equivalent, how, at) => {
          const t = targets[i] as Target;
          const path = canonical(t);
          const spelled = equivalent ? sameThing(t, choices) : somethingElse(t, how, at);
          const want = await rawRequest(peer, head(t.method, path + query(path), session));
          const got = await rawRequest(peer, head(t.method, spelled + query(spelled), session));
          const what = `session: ${t.method} ${spelled} (canonical ${path})`;
          if (equivalent || ![400, 404, 405].includes(got.status)) expect(decision(got), what).toBe(decision(want));
          if (decision(want) === 'not refused' && !SESSION_POLICY.verify(path)) {
            // Beyond the session policy only what anybody may call, without any credential.
            const nobody = await rawRequest(peer, head(t.method, path + query(path)));
            expect(decision(nobody), `${what}: allowed to the session, outside its policy`).toBe('not refused');
          } else if (decision(want) === 'not refused') allowedInPolicy++;
        },
      ),
      { numRuns: 300 },
    );
    // Not vacuous: the session was allowed what its policy allows.
    expect(allowedInPolicy).toBeGreaterThan(10);
    recordFigure('canonical-paths-session', { cases: 300, allowedByPolicy: allowedInPolicy });
  },
);
