/**
 * The route table (src/api/routes.ts) is one piece of data, and everything that
 * describes the API is checked against it: `GET /v1/api` prints exactly it, the
 * OpenAPI document has an operation for every route and no operation the table does
 * not serve, and docs/api.md's table of every route is the table itself.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../src/api/routes.js';
import { apiListing } from '../../src/api/kes/system.js';
import { loadOpenAPI, operations, packageRoot } from '../../src/api/docs/spec.js';
import { Metrics } from '../../src/server/metrics.js';
import { LogStreams } from '../../src/log/streams.js';
import { ROUTE_DEFAULTS, route, type Route } from '../../src/server/route.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { routeKeyOf } from '../helpers/openapi.js';

/**
 * Routes that have no operation of their own in the OpenAPI document, each with the reason.
 * Every other route must be documented with its method.
 */
const NOT_IN_OPENAPI: Record<string, string> = {
  '* /rks/**': "RKS's 404 `No Route` for any path under /rks/ that no endpoint serves: a fallback, not an operation (each RKS operation documents its 404)",
};

const metrics = new Metrics();
const table = routeTable({ metrics, streams: new LogStreams() });
const key = (r: Pick<Route, 'method' | 'path'>) => `${r.method} ${r.path}`;

afterAll(() => metrics.close());

describe('route()', () => {
  const handler = () => undefined;

  it('fills in the defaults: no body, the default timeout, certificate policy, JSON errors', () => {
    expect(route({ method: 'GET', path: '/x', handler })).toEqual({ ...ROUTE_DEFAULTS, method: 'GET', path: '/x', handler });
    expect(ROUTE_DEFAULTS).toEqual({ maxBody: 0, timeoutMs: 15_000, auth: 'policy', errors: 'json' });
  });

  it('keeps what a declaration says', () => {
    const r = route({ method: 'PUT', path: '/y', maxBody: 10, timeoutMs: 0, auth: 'none', errors: 'text', handler });
    expect([r.maxBody, r.timeoutMs, r.auth, r.errors]).toEqual([10, 0, 'none', 'text']);
  });

  it('refuses fields the auth mode would never read', () => {
    const grant = () => null;
    const login = () => ({ login: '', password: '' });
    expect(() => route({ method: 'GET', path: '/g', auth: 'node', grant, handler })).toThrow("GET /g: a grant applies only to auth 'policy'");
    expect(() => route({ method: 'POST', path: '/l', auth: 'rks-login', handler })).toThrow("auth 'rks-login' and a login decoder go together");
    expect(() => route({ method: 'POST', path: '/l', login, handler })).toThrow("auth 'rks-login' and a login decoder go together");
    expect(route({ method: 'GET', path: '/g', grant, handler }).grant).toBe(grant);
  });
});

describe('the route table', () => {
  it('lists every surface once, each row declared with route()', () => {
    expect(new Set(table.map(key)).size).toBe(table.length);
    // route() always sets `errors`: a row written as a bare object literal would lack it.
    expect(table.filter((r) => r.errors === undefined).map(key)).toEqual([]);
    const surfaces = [
      '/v1/key/',
      '/v1/policy/',
      '/v1/identity/',
      '/v1/api',
      '/v1/metrics',
      '/v1/log/',
      '/v1/cert/',
      '/v1/group/',
      '/v1/node/',
      '/v1/pki/',
      '/rks/v1/',
      '/healthz',
      '/docs',
      '/ui',
    ];
    for (const s of surfaces)
      expect(
        table.some((r) => r.path.startsWith(s)),
        s,
      ).toBe(true);
  });

  it("keeps RKS's catch-all as the fallback only: after every RKS endpoint, the one subtree", () => {
    const subtrees = table.filter((r) => r.path.endsWith('/**'));
    expect(subtrees.map(key)).toEqual(['* /rks/**']);
    const fallback = table.findIndex((r) => r.path === '/rks/**');
    expect(table.findLastIndex((r) => r.path.startsWith('/rks/v1/'))).toBeLessThan(fallback);
    expect(table.filter((r) => r.path.startsWith('/rks/v1/')).length).toBe(22);
  });

  describe('GET /v1/api', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer();
    });
    afterAll(() => s.close());

    it('answers exactly this table, in its order', async () => {
      const r = await s.call(s.admin, '/v1/api');
      expect(r.status).toBe(200);
      expect(r.json).toEqual(apiListing(table));
    });
  });
});

describe('the route table and the OpenAPI document', () => {
  const ops = operations(loadOpenAPI(packageRoot())).filter(({ op }) => op['x-keygate-planned'] !== true);
  /** The operations a route serves by name: same method ('*' serves any), and its path (a prefix route: the path up to its names). */
  const servedBy = (r: Route) =>
    ops.filter((o) => (r.method === '*' || r.method.toLowerCase() === o.method) && (r.path.includes('{') ? o.path === r.path : routeKeyOf(o.path) === r.path));

  it('documents every route with its method, but the routes named here with their reason', () => {
    const undocumented = table.filter((r) => servedBy(r).length === 0).map(key);
    expect(undocumented).toEqual(Object.keys(NOT_IN_OPENAPI));
  });

  it('serves every documented operation by a route of its own (not only through a fallback)', () => {
    const unserved = ops
      .filter((o) => !table.some((r) => !r.path.endsWith('/**') && servedBy(r).includes(o)))
      .map((o) => `${o.method.toUpperCase()} ${o.path}`);
    expect(unserved).toEqual([]);
  });

  it('notices a route without an operation, and an operation without a route', () => {
    const extra = route({ method: 'DELETE', path: '/v1/key/describe/', handler: () => undefined });
    expect(servedBy(extra)).toEqual([]);
    const hmac = table.find((r) => r.path === '/v1/key/hmac/') as Route;
    expect(servedBy(hmac).map((o) => `${o.method} ${o.path}`)).toEqual(['put /v1/key/hmac/{name}']);
  });
});

describe('the route table and docs/api.md', () => {
  const BEGIN = '<!-- route-table: generated from src/api/routes.ts; test/api/route-table.test.ts checks it -->';
  const END = '<!-- /route-table -->';

  it('lists every route, with its method, auth mode, body limit and timeout, as the table has them', () => {
    const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const begin = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(begin, `docs/api.md lacks the line ${BEGIN}`).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(begin);
    const shown = doc.slice(begin + BEGIN.length, end).trim();
    const expected = markdownTable(table);
    expect(shown, `docs/api.md's route table is out of date; between its markers it should read:\n\n${expected}\n`).toBe(expected);
  });

  it('renders every name of a path, and notices a changed route', () => {
    const text = markdownTable(table);
    expect(text).toContain('| PUT | `/v1/group/assign/<group name>/<bundle name>` | policy | 0 | 15 s |');
    expect(text).toContain('| GET | `/v1/cert/get/<bundle name>` | policy or grant | 0 | 15 s |');
    expect(text).toContain('| PUT | `/v1/node/enroll/<group name>` | group-token + certificate | 4 KiB | 15 s |');
    const changed = table.map((r) => (r.path === '/v1/key/import/' ? { ...r, maxBody: 1 } : r));
    expect(markdownTable(changed)).not.toBe(text);
  });
});

/** docs/api.md's table of every route, one row per route in the table's order. */
function markdownTable(routes: readonly Route[]): string {
  const rows = routes.map(
    (r) =>
      `| ${r.method === '*' ? 'any' : r.method} | \`${shownPath(r)}\` | ${r.auth}${r.grant ? (r.auth === 'policy' ? ' or grant' : ' + grant') : ''}${r.certificate ? ' + certificate' : ''} | ${size(r.maxBody)} | ${r.timeoutMs === 0 ? 'none' : `${r.timeoutMs / 1000} s`} |`,
  );
  return ['| method | path | auth | body limit | timeout |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** A prefix route's path with its names (`<key name>`; `[<…>]` when it may be empty); templates and exact paths as declared. */
function shownPath(r: Route): string {
  if (r.path.includes('{') || !r.path.endsWith('/') || r.path === '/') return r.path;
  return r.path + (r.params ?? []).map((p) => (p.optional ? `[<${p.kind}>]` : `<${p.kind}>`)).join('/');
}

function size(bytes: number): string {
  if (bytes === 0) return '0';
  if (bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}
