/**
 * A refusal never quotes what was sent. Whatever documented body field of whatever route
 * (`GET /v1/api`, so routes added later are attacked too) carries something secret-looking
 * — a line of a PEM private key, a token, a hex key — alone, in every field at once, nested
 * where a bundle's key goes, or in a list — an error answer and the server's log lines
 * never contain it, nor its beginning or end. (Someone pastes a key into the wrong field;
 * the answer is logged by a proxy, shown in a browser, kept in a shell's history.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { seededServer, seedValue, type Seeded } from './fixture.js';
import { discoverRoutes, bodyFieldNames, fillWith, takesBody, targetsOf, type Target } from './routes.js';
import { rawRequest, withBody } from './raw.js';
import { recordFigure } from './figures.js';

let seeded: Seeded;
let targets: Target[];
let fields: string[];

beforeAll(async () => {
  seeded = await seededServer();
  const routes = await discoverRoutes(seeded.peer);
  const fill = (t: Target) => fillWith(t, (p, i) => seedValue(p, t.template, i));
  targets = routes
    .flatMap(targetsOf)
    .filter((t) => t.method !== 'GET' && t.method !== 'DELETE' && t.route.maxBody > 0 && (t.route.kind !== 'subtree' || takesBody(t, fill(t))));
  fields = bodyFieldNames();
  expect(targets.length).toBeGreaterThan(20);
});
afterAll(() => seeded?.s.close());

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));
/** What a pasted secret looks like: a PEM body line, a keygate or Vault token, a hex or base64 key. */
const secretLike = fc.oneof(
  bytes(48, 48).map((b) => b.toString('base64')),
  bytes(32, 32).map((b) => `kgn_${b.toString('base64url')}`),
  bytes(18, 18).map(
    (b) =>
      `s.${b
        .toString('base64')
        .replace(/[^A-Za-z0-9]/g, 'x')
        .slice(0, 24)}`,
  ),
  bytes(32, 32).map((b) => b.toString('hex')),
  bytes(32, 32).map((b) => `-----BEGIN PRIVATE KEY-----\n${b.toString('base64')}\n-----END PRIVATE KEY-----\n`),
);
const PLACES = ['one field', 'every field', 'nested', 'in a list'] as const;

it('no error answer or log line quotes a secret-looking value sent in any documented field of any route', { timeout: 120_000 }, async () => {
  let errors = 0;
  const logFrom = seeded.s.logLines.length;
  const sent: string[] = [];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...targets), fc.constantFrom(...fields), fc.constantFrom(...PLACES), secretLike, async (t, field, place, secret) => {
      const body =
        place === 'one field'
          ? { [field]: secret }
          : place === 'every field'
            ? Object.fromEntries(fields.map((f) => [f, secret]))
            : place === 'nested'
              ? { [field]: { private_key: secret, certificate: secret, meta: { ttl: secret } } }
              : { [field]: [secret] };
      const path = fillWith(t, (p, i) => seedValue(p, t.template, i));
      const auth = t.template.startsWith('/rks/') ? { 'X-Vault-Token': seeded.rks.adminToken } : {};
      const r = await rawRequest(seeded.peer, withBody(t.method, path, JSON.stringify(body), auth));
      const core = secret.replace(/-----[A-Z ]+-----|\n/g, '');
      sent.push(core);
      if (r.status < 400) return;
      errors++;
      for (const piece of [core, core.slice(0, 16), core.slice(-16)]) {
        expect(r.body.includes(piece), `${t.method} ${path} with ${place} '${field}' → ${r.status} ${r.body.slice(0, 300)}`).toBe(false);
      }
    }),
    { numRuns: 500 },
  );
  const lines = seeded.s.logLines.slice(logFrom);
  expect(lines.length).toBeGreaterThan(100);
  expect(lines.filter((l) => sent.some((core) => l.includes(core) || l.includes(core.slice(0, 16))))).toEqual([]);
  expect(errors).toBeGreaterThan(200);
  recordFigure('echo', { cases: 500, errorAnswers: errors, routes: new Set(targets.map((t) => `${t.method} ${t.template}`)).size });
});
