/**
 * Bad input, property-based, over every route `GET /v1/api` lists (so routes
 * added later are attacked too): hostile names and request targets sent raw
 * over TLS, malformed, deeply nested, wrong-typed and non-base64 bodies, bodies
 * and headers over the limits, wrong methods, bad cursors. Every case must get
 * a 4xx in the surface's error shape, the server must keep serving, and the
 * keystore must be byte for byte what it was (nothing stored, changed or deleted).
 * fast-check draws a new seed every run and prints it with any failure, to replay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dump } from '../helpers/fleet.js';
import { seededServer, seedValue, type Seeded } from './fixture.js';
import { discoverRoutes, bodyFieldNames, fillWith, prefixOf, queryParams, takesBody, targetsOf, unsafeAnswer, type Target } from './routes.js';
import { head, rawRequest, withBody, type RawResponse } from './raw.js';
import * as arb from './arbitraries.js';
import { recordFigure } from './figures.js';
import { expectUnchanged } from './store.js';

let seeded: Seeded;
let targets: Target[];
let baseline: Map<string, string>;
let fields: string[];
const counts: Record<string, number> = {};

beforeAll(async () => {
  seeded = await seededServer();
  const routes = await discoverRoutes(seeded.peer);
  targets = routes.flatMap(targetsOf);
  fields = bodyFieldNames();
  baseline = await dump(seeded.s.running.holder.current.store);
  expect(baseline.size).toBeGreaterThan(4);
});

afterAll(async () => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  recordFigure('bad-input', { cases: total, routes: targets.length, byClass: counts });
  await seeded.s.close();
});

/** The template with every parameter set to a seeded value, except those given. */
function fill(t: Target, values: Record<string, string> = {}): string {
  return fillWith(t, (p, i) => seedValue(p, t.template, i), values);
}

/** RKS authenticates by token, not certificate: its requests carry the admin token so validation is reached. */
function auth(t: Target): Record<string, string> {
  return t.template.startsWith('/rks/') ? { 'X-Vault-Token': seeded.rks.adminToken } : {};
}

async function attack(kind: string, t: Target, request: Buffer | string, opts: { body?: Buffer; method?: string } = {}): Promise<RawResponse> {
  counts[kind] = (counts[kind] ?? 0) + 1;
  const r = await rawRequest(seeded.peer, request, opts.body ? { body: opts.body } : {});
  const shown = `${kind}: ${String(request).slice(0, 160)}`;
  const method = opts.method ?? t.method;
  // Plain-text errors only where the sent path still lies under the route (a spoiled prefix matches nothing: JSON 404).
  const sentPath = String(request).split(' ')[1] ?? '';
  const textErrors = t.route.textErrors && sentPath.startsWith(t.route.root);
  const problem =
    method === 'HEAD' ? (r.status >= 400 && r.status < 500 ? null : `status ${r.status}`) : compatible(t, method, r) ? null : unsafeAnswer({ textErrors }, r);
  expect(problem, `${shown} → ${r.status} ${r.body.slice(0, 200)}`).toBeNull();
  await expectUnchanged(seeded.s.running.holder.current.store, baseline, `${shown} → ${r.status}`);
  return r;
}

/**
 * RKS's revokeNode answers 204 for any node id, even one that never existed (rks.md §2.3),
 * and RKS clients rely on it: a success there is fine as long as nothing changes.
 */
function compatible(t: Target, method: string, r: RawResponse): boolean {
  return method === 'DELETE' && t.template === '/rks/v1/group/{groupname}/nodes/{nodeId}' && r.status === 204;
}

const anyTarget = () => fc.constantFrom(...targets);

describe('hostile names and targets, sent raw over TLS', () => {
  it('path and unicode tricks in the first parameter get a 4xx', async () => {
    const withParams = () => fc.constantFrom(...targets.filter((t) => t.params.length > 0));
    await fc.assert(
      fc.asyncProperty(withParams(), arb.firstSegmentTrick, async (t, trick) => {
        await attack('name', t, head(t.method, fill(t, { [t.params[0] as string]: trick }), auth(t)));
      }),
      { numRuns: 400 },
    );
  });

  it('any parameter that is no name anywhere (control characters, homoglyphs, broken escapes, >255 characters) gets a 4xx', async () => {
    const withParams = () => fc.constantFrom(...targets.filter((t) => t.params.length > 0));
    await fc.assert(
      fc.asyncProperty(withParams(), fc.nat(), arb.universallyBadSegment, async (t, which, bad) => {
        const param = t.params[which % t.params.length] as string;
        await attack('name', t, head(t.method, fill(t, { [param]: bad }), auth(t)));
      }),
      { numRuns: 300 },
    );
  });

  it('81 characters or more are refused for key, group, policy and identity names', async () => {
    const kes = () => fc.constantFrom(...targets.filter((t) => /^\/v1\/(key|group|policy|identity)\//.test(t.template) && t.params.length > 0));
    await fc.assert(
      fc.asyncProperty(kes(), arb.tooLongForKES, async (t, name) => {
        await attack('name', t, head(t.method, fill(t, { [t.params[0] as string]: name }), auth(t)));
      }),
      { numRuns: 100 },
    );
  });

  it('a spoiled route prefix (dot segments, double or encoded slashes, absolute form) matches nothing', async () => {
    await fc.assert(
      fc.asyncProperty(anyTarget(), arb.prefixMutation, async (t, mutate) => {
        const path = fill(t);
        const prefix = prefixOf(t);
        const mutated = mutate(prefix) + path.slice(prefix.length);
        fc.pre(mutated !== path);
        await attack('target', t, head(t.method, mutated, auth(t)));
      }),
      { numRuns: 300 },
    );
  });

  it('targets the HTTP parser refuses (raw control bytes, spaces, raw unicode, 17–40 KB) get a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(anyTarget(), arb.unparsableTarget, async (t, spoil) => {
        await attack('target', t, Buffer.from(head(t.method, spoil(fill(t)), auth(t)), 'utf8'));
      }),
      { numRuns: 120 },
    );
  });
});

describe('hostile bodies', () => {
  // RKS tolerates (ignores) a body where its operation takes none: those get bodies only past the limit.
  const bodyTargets = () =>
    fc.constantFrom(
      ...targets.filter(
        (t) =>
          t.method !== 'GET' && t.method !== 'DELETE' && (t.route.textErrors ? takesBody(t, fill(t)) : t.route.kind !== 'subtree' || takesBody(t, fill(t))),
      ),
    );

  it('malformed JSON, non-objects and deep nesting get a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(bodyTargets(), fc.oneof(arb.malformedJSON, arb.nonObjectJSON), async (t, body) => {
        await attack('body', t, withBody(t.method, fill(t), body, auth(t)));
      }),
      { numRuns: 300 },
    );
  });

  it('every documented field with a wrong-typed (possibly deeply nested) value, plus __proto__ and friends, gets a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(bodyTargets(), arb.poisonedObject(fields), async (t, body) => {
        await attack('body', t, withBody(t.method, fill(t), body, auth(t)));
      }),
      { numRuns: 150 },
    );
  });

  it('invalid base64 in every byte field gets a 4xx', async () => {
    const kes = () => fc.constantFrom(...targets.filter((t) => t.template.startsWith('/v1/key/') && t.route.maxBody > 0));
    await fc.assert(
      fc.asyncProperty(kes(), arb.badBase64Object, async (t, body) => {
        await attack('body', t, withBody(t.method, fill(t), body, auth(t)));
      }),
      { numRuns: 150 },
    );
  });

  it('any body on a route that takes none, and bodies past the limit (declared or chunked), get 413', async () => {
    await fc.assert(
      fc.asyncProperty(anyTarget(), fc.integer({ min: 1, max: 64 * 1024 }), fc.boolean(), async (t, extra, chunked) => {
        const size = t.route.maxBody + extra;
        const body = Buffer.alloc(size, '{');
        const path = fill(t);
        const r = chunked
          ? await attack('oversize', t, head(t.method, path, { 'Transfer-Encoding': 'chunked', ...auth(t) }), {
              body: Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]),
            })
          : await attack('oversize', t, head(t.method, path, { 'Content-Length': String(size), ...auth(t) }), { body });
        // A route whose token is not presented refuses (403) before it reads any body.
        if (t.method !== 'HEAD') expect([413, 404, 405, 403], path).toContain(r.status);
      }),
      { numRuns: 60 },
    );
  });
});

describe('hostile methods, headers and queries', () => {
  it('a method the route does not take gets a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(anyTarget(), arb.anyMethod, async (t, method) => {
        const same =
          method === t.method ||
          (t.method === 'PUT' && method === 'POST') ||
          (t.route.method === '*' && takes(t, method)) ||
          // RKS's paths are served by one row per method: another row takes this method.
          targets.some((o) => o.template === t.template && o.method === method);
        // An exact route declared for any method (RKS's /healthz) takes them all.
        fc.pre(!same && !(t.route.method === '*' && t.route.kind === 'exact'));
        await attack('method', t, head(method, fill(t), auth(t)), { method });
      }),
      { numRuns: 200 },
    );
  });

  it('headers over limits.max_header_bytes, and malformed framing headers, get a 4xx', async () => {
    const badHeaders = fc.oneof(
      fc.integer({ min: 17 * 1024, max: 64 * 1024 }).map((n) => ({ 'X-Big': 'a'.repeat(n) })),
      fc.integer({ min: 2100, max: 4000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, 'vvvv']))),
      fc.integer({ min: 17 * 1024, max: 40 * 1024 }).map((n) => ({ Authorization: `Bearer ${'A'.repeat(n)}` })),
      fc.constantFrom<Record<string, string>>(
        { 'Content-Length': 'abc' },
        { 'Content-Length': '-1' },
        { 'Content-Length': '1, 2' },
        { 'Content-Length': '5', 'Transfer-Encoding': 'chunked' },
        { 'Transfer-Encoding': 'chunked, identity' },
        { 'Bad Header': 'x' },
        { 'X-Nul': 'a\u0000b' },
        { 'X-Fold': 'a\r\n b' },
        { 'X-CR': 'a\rb' },
      ),
    );
    await fc.assert(
      fc.asyncProperty(anyTarget(), badHeaders, async (t, headers) => {
        await attack('header', t, head(t.method, fill(t), { ...auth(t), ...headers }));
      }),
      { numRuns: 100 },
    );
  });

  it('bad paging cursors and filters on listing routes get a 400', async () => {
    // The routes whose operation documents the query parameter, so new listings are attacked too.
    const taking = (param: string) => targets.filter((t) => queryParams(t, fill(t)).includes(param));
    expect(taking('continue_at').length).toBeGreaterThanOrEqual(4);
    const query = fc.oneof(
      fc.tuple(
        fc.constantFrom(...taking('continue_at')),
        arb.firstSegmentTrick.map((c) => `continue_at=${encodeURIComponent(c)}`),
      ),
      fc.tuple(
        fc.constantFrom(...taking('expiring_within_days')),
        fc.constantFrom('-1', '1e3', 'abc', '9999999', '1.5', '%00').map((d) => `expiring_within_days=${d}`),
      ),
    );
    await fc.assert(
      fc.asyncProperty(query, async ([t, q]) => {
        await attack('query', t, head(t.method, `${fill(t)}?${q}`, auth(t)));
      }),
      { numRuns: 120 },
    );
  });
});

it('keeps serving after all of it', async () => {
  const r = await rawRequest(seeded.peer, head('GET', '/v1/key/describe/k1'));
  expect(r.status).toBe(200);
  expect(seeded.s.logLines.filter((l) => /"status":5\d\d/.test(l))).toEqual([]);
});

/** Whether a subtree route documents `method` for this target's path (RKS routes several methods itself). */
function takes(t: Target, method: string): boolean {
  return t.route.templates.some((o) => o.path === t.template && o.method === method);
}
