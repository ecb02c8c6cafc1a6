/**
 * KES's own edge cases on every route keygate shares with it (issue 13): the answer
 * current KES gives (reference/kes.md §3 and its name vectors), checked against
 * keygate. Where keygate answers differently on purpose, the row says so, and the
 * README's compatibility table lists the same difference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rawRequest, head, withBody } from '../hardening/raw.js';

interface Row {
  method: string;
  path: string;
  body?: string;
  status: number;
  /** The JSON `message` KES answers, when the row checks it. */
  message?: string;
  /** Set when keygate differs from KES on purpose: what KES does instead. */
  differs?: string;
}

const key = (m: string, p: string, status: number, message?: string, body?: string): Row => ({
  method: m,
  path: p,
  status,
  ...(message !== undefined && { message }),
  ...(body !== undefined && { body }),
});

const invalidKey = (n: string) => `key name '${n}' is empty, too long or contains invalid characters`;
const invalidPattern = (p: string) => `listing pattern '${p}' is empty, too long or is invalid`;

const rows: Row[] = [
  // Empty and invalid names: 400 naming the name, on every key route.
  ...['create', 'describe', 'delete', 'generate', 'encrypt', 'decrypt', 'hmac', 'import'].map((verb) =>
    key(verb === 'describe' ? 'GET' : verb === 'delete' ? 'DELETE' : 'PUT', `/v1/key/${verb}/`, 400, invalidKey('')),
  ),
  key('PUT', '/v1/key/create/-edge', 400, invalidKey('-edge')),
  key('PUT', '/v1/key/create/edge-', 400, invalidKey('edge-')),
  key('PUT', '/v1/key/create/_', 400, invalidKey('_')),
  key('PUT', '/v1/key/create/my.key', 400, invalidKey('my.key')),
  key('PUT', `/v1/key/create/${'a'.repeat(81)}`, 400, invalidKey('a'.repeat(81))),
  key('GET', '/v1/key/describe/a%2Fb', 400, invalidKey('a/b')),
  // Listings: '' and '*' list everything; a prefix with one trailing '*'; a bare prefix must be a valid name.
  key('GET', '/v1/key/list/', 200),
  key('GET', '/v1/key/list/*', 200),
  key('GET', '/v1/key/list/%2A', 200),
  key('GET', '/v1/key/list/edge-*', 200),
  key('GET', '/v1/key/list/edge', 200),
  key('GET', '/v1/key/list/edge-', 400, invalidPattern('edge-')),
  key('GET', '/v1/key/list/-*', 400, invalidPattern('-*')),
  key('GET', '/v1/key/list/**', 400, invalidPattern('**')),
  key('GET', '/v1/key/list/*edge', 400, invalidPattern('*edge')),
  key('GET', '/v1/policy/list/', 200),
  key('GET', '/v1/policy/list/p-', 400, invalidPattern('p-')),
  key('GET', '/v1/identity/list/', 200),
  key('GET', '/v1/policy/describe/', 400, "policy name '' is empty, too long or contains invalid characters"),
  key('GET', '/v1/identity/describe/', 400, "identity '' is empty, too long or contains invalid characters"),
  key('GET', '/v1/policy/describe/nope', 404, 'policy does not exist'),
  key('GET', '/v1/policy/read/nope', 404, 'policy does not exist'),
  // Methods: a wrong one is 405 naming both; POST is accepted where PUT is expected.
  key('GET', '/v1/key/create/edge-x', 405, "received method 'GET' expected 'PUT'"),
  key('DELETE', '/v1/key/generate/edge-one', 405, "received method 'DELETE' expected 'PUT'"),
  key('PUT', '/v1/status', 405, "received method 'PUT' expected 'GET'"),
  key('POST', '/v1/key/create/edge-post', 200),
  key('POST', '/v1/key/generate/edge-one', 200),
  // Bodies: generate reads a body only when there is one; the rest need theirs.
  key('PUT', '/v1/key/generate/edge-one', 200),
  key('PUT', '/v1/key/generate/edge-one', 200, undefined, '{"context":"Y3R4","version":"v1"}'),
  key('PUT', '/v1/key/decrypt/edge-one', 400, 'invalid request body', '{}'),
  key('PUT', '/v1/key/import/edge-imp', 406, undefined, '{"key":"AAAA","cipher":"AES256"}'),
  key('PUT', '/v1/key/import/edge-imp', 406, undefined, `{"key":"${Buffer.alloc(32).toString('base64')}","cipher":"DES"}`),
  key('PUT', '/v1/key/create/edge-one', 400, 'key already exists'),
  key('GET', '/v1/key/describe/edge-none', 404, 'key does not exist'),
  // Paths KES does not serve.
  key('GET', '/v1/status/', 404),
  key('GET', '/v1/key/unknown/x', 404),
  // Differences, on purpose.
  {
    method: 'GET',
    path: '/v1/key/list',
    status: 200,
    differs: "KES (Go's ServeMux) answers 301 to /v1/key/list/; keygate serves the listing directly (clients that follow the redirect see the same listing)",
  },
  {
    method: 'GET',
    path: '/v1/nope',
    status: 404,
    message: 'not found',
    differs: 'KES answers text/plain `404 page not found`; keygate answers every error as JSON',
  },
  {
    method: 'GET',
    path: '/v1/key/describe/edge-one/extra',
    status: 404,
    message: 'not found',
    differs: 'KES takes `edge-one/extra` as the key name: 400 invalid name; keygate routes names as single segments: 404',
  },
  {
    method: 'PUT',
    path: '/v1/key/decrypt/edge-one',
    body: 'not json',
    status: 400,
    differs: "same status; keygate's message adds the JSON parser's reason after `invalid request body`",
  },
];

describe("KES's edge cases against keygate", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    expect((await s.call(s.admin, '/v1/key/create/edge-one', { method: 'PUT' })).status).toBe(200);
  });
  afterAll(() => s.close());

  it.each(rows.map((r) => [`${r.method} ${r.path.length > 60 ? r.path.slice(0, 60) + '…' : r.path}${r.body ? ` ${r.body.slice(0, 30)}` : ''}`, r] as const))(
    '%s',
    async (_label, r) => {
      const peer = { port: s.port, ca: s.pki.ca.certPem, cert: s.admin.certPem, key: s.admin.keyPem };
      const res = await rawRequest(peer, r.body !== undefined ? withBody(r.method, r.path, r.body) : head(r.method, r.path));
      expect(res.status, res.body).toBe(r.status);
      if (r.status >= 400) {
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        const message = (JSON.parse(res.body) as { message: string }).message;
        if (r.message !== undefined) expect(message).toBe(r.message);
        if (r.status === 405) expect(res.headers['allow']).toBeDefined();
        if (r.differs?.startsWith('same status')) expect(message).toMatch(/^invalid request body: /);
      }
    },
  );
});
