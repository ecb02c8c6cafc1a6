/**
 * A role's templates (`{{node_id}}`, `{{group}}`) bind a certificate name to its caller:
 * whatever the node ids and group names, no two callers may ever be allowed the same
 * name. Node ids are case-sensitive printable ASCII and group names may hold capitals,
 * while DNS names are not case-sensitive: so a value is bound only as it is, when it is
 * already a lowercase DNS label (`CDN-1` binds nothing, or it would claim `cdn-1`'s names).
 *
 * A property test over the name rules with hostile ids (case variants, dots, `*`,
 * trailing dots, `xn--` labels, non-ASCII), then the same attack over the wire: node
 * `CDN-1` asking for node `cdn-1`'s name, and group `EDGE` for group `edge`'s.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { nameAllowed, type NameBinding } from '../../src/core/pki/names.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { recordFigure } from './figures.js';

const PATTERNS = [
  '{{node_id}}.edge.example',
  '{{node_id}}.{{group}}.edge.example',
  '*.{{node_id}}.nodes.example',
  '{{group}}.groups.example',
  '*.{{group}}.groups.example',
  'x-{{node_id}}.{{group}}.example',
];

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
/** Spellings an attacker may give its own id, from another caller's: as is, re-cased, dotted, starred, with a trailing dot, punycode or not ASCII. */
const SPELLINGS: Array<(l: string, other: string) => string> = [
  (l) => l,
  (l) => l.toUpperCase(),
  (l) => l.charAt(0).toUpperCase() + l.slice(1),
  (l, o) => `${l}.${o}`,
  (l, o) => `${o}.${l}`,
  (l) => `${l}.`,
  (l) => `*.${l}`,
  () => '*',
  (l) => `xn--${l}`,
  (l) => `${l}\u212a`, // KELVIN SIGN: lowercases to 'k'
  (l) => `${l.replace(/k/g, '\u212a')}`,
  (l) => `${l}_x`,
  (_l, o) => o,
];
/** Two ids built from the same labels, so that they often differ only in spelling. */
const idPair = fc
  .tuple(
    label.map((l) => `${l}k`),
    label,
    fc.integer({ min: 0, max: SPELLINGS.length - 1 }),
    fc.integer({ min: 0, max: SPELLINGS.length - 1 }),
  )
  .map(([l, o, i, j]) => [(SPELLINGS[i] as (l: string, o: string) => string)(l, o), (SPELLINGS[j] as (l: string, o: string) => string)(l, o)] as const);

/** The names a caller's binding of `pattern` would spell, however the caller re-cases them. */
function candidates(pattern: string, b: NameBinding): string[] {
  const spell = (f: (v: string) => string) =>
    pattern.replace(/\{\{(node_id|group)\}\}/g, (_m, k: string) => f((k === 'node_id' ? b.nodeId : b.group) ?? '')).replace(/^\*\./, 'www.');
  return [...new Set([spell((v) => v), spell((v) => v.toLowerCase()), spell((v) => v.toUpperCase()).toLowerCase()])];
}

describe('role name templates bind a name to exactly one caller', () => {
  it('no two different callers are ever allowed the same name (property over hostile node ids and groups)', () => {
    let pairs = 0;
    fc.assert(
      fc.property(fc.constantFrom(...PATTERNS), idPair, idPair, (pattern, [n1, n2], [g1, g2]) => {
        const a: NameBinding = { nodeId: n1, group: g1 };
        const b: NameBinding = { nodeId: n2, group: g2 };
        const usesNode = pattern.includes('{{node_id}}');
        const usesGroup = pattern.includes('{{group}}');
        const same = (!usesNode || n1 === n2) && (!usesGroup || g1 === g2);
        if (same) return;
        pairs++;
        for (const name of [...candidates(pattern, a), ...candidates(pattern, b)]) {
          const both = nameAllowed(name, [pattern], a) && nameAllowed(name, [pattern], b);
          expect(both, `${pattern}: '${name}' allowed to node '${n1}' of '${g1}' and to node '${n2}' of '${g2}'`).toBe(false);
        }
      }),
      { numRuns: 2000 },
    );
    // The case the templates exist for still works: a lowercase label binds.
    expect(nameAllowed('cdn-1.edge.edge.example', ['{{node_id}}.{{group}}.edge.example'], { nodeId: 'cdn-1', group: 'edge' })).toBe(true);
    recordFigure('pki-name-templates', { pairs });
  });

  it('a value that is not already a lowercase DNS label binds nothing', () => {
    for (const nodeId of ['CDN-1', 'Cdn-1', 'a.b', 'a.', '*', '*.a', 'a_b', 'a\u212a', '-a', '']) {
      const bound = nodeId.toLowerCase().replace(/\.$/, '');
      expect(nameAllowed(`${bound}.edge.example`, ['{{node_id}}.edge.example'], { nodeId }), nodeId).toBe(false);
      expect(nameAllowed(`x.${bound}.nodes.example`, ['*.{{node_id}}.nodes.example'], { nodeId }), nodeId).toBe(false);
    }
    expect(nameAllowed('edge.groups.example', ['{{group}}.groups.example'], { group: 'EDGE' })).toBe(false);
  });
});

describe("over the wire: a node cannot take another node's or group's names by re-casing its own", () => {
  let s: TestServer;
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
  let tokens: Record<string, string> = {};

  beforeAll(async () => {
    s = await startTestServer({
      config: {
        pki: {
          issuers: { root: { builtin: { common_name: 'Names Root CA', key_type: 'ecdsa-p256' } } },
          roles: {
            edge: { issuer: 'root', allowed_names: ['{{node_id}}.{{group}}.edge.example'], usage: ['server'], groups: ['edge', 'EDGE'] },
            kelvin: { issuer: 'root', allowed_names: ['*.kelvin.example'], usage: ['server'], groups: ['edge'] },
          },
        },
      },
    });
    tokens = {};
    for (const group of ['edge', 'EDGE']) {
      const g = await s.call(s.admin, `/v1/group/create/${group}`, { method: 'PUT' });
      expect(g.status, g.text).toBe(200);
      for (const nodeId of ['cdn-1', 'CDN-1']) {
        const r = await s.call(null, `/v1/node/register/${group}`, { method: 'PUT', body: { node_id: nodeId }, headers: bearer(g.json.group_token) });
        expect(r.status, r.text).toBe(200);
        tokens[`${group}/${nodeId}`] = r.json.node_token as string;
      }
    }
  });
  afterAll(() => s?.close());

  const issue = (who: string, name: string) =>
    s.call(null, '/v1/pki/issue/edge', { method: 'PUT', body: { common_name: name, key_type: 'ecdsa-p256' }, headers: bearer(tokens[who] as string) });

  it('node cdn-1 of edge gets its own name; CDN-1 of edge and cdn-1 of EDGE get nothing', async () => {
    const own = await issue('edge/cdn-1', 'cdn-1.edge.edge.example');
    expect(own.status, own.text).toBe(200);
    expect(new X509Certificate(own.json.certificate).subjectAltName).toBe('DNS:cdn-1.edge.edge.example');
    for (const who of ['edge/CDN-1', 'EDGE/cdn-1', 'EDGE/CDN-1']) {
      for (const name of ['cdn-1.edge.edge.example', 'CDN-1.edge.edge.example', 'cdn-1.EDGE.edge.example.', 'CDN-1.EDGE.edge.example']) {
        const r = await issue(who, name);
        expect(r.status, `${who} asking for ${name}: ${r.text}`).toBe(400);
        expect(r.json.message).toMatch(/is not allowed/);
      }
    }
  });

  it('a name is checked in the spelling the request gives: no character outside ASCII is folded into an allowed name', async () => {
    const ask = (name: string, alt: string[] = []) =>
      s.call(null, '/v1/pki/issue/kelvin', {
        method: 'PUT',
        body: { common_name: name, alt_names: alt, key_type: 'ecdsa-p256' },
        headers: bearer(tokens['edge/cdn-1'] as string),
      });
    expect((await ask('www.kelvin.example')).status).toBe(200);
    // U+212A KELVIN SIGN and U+0130 lowercase to ASCII-looking names; an issuer given the raw request (Vault's use_csr_common_name) would sign them as they are.
    for (const [cn, alt] of [
      ['www.\u212aelvin.example', []],
      ['www.kelvin.example', ['api.\u212aelvin.example']],
      ['\u0130.kelvin.example', []],
      ['www.kelvin.example\u0000', []],
    ] as Array<[string, string[]]>) {
      const r = await ask(cn, alt);
      expect(r.status, `${JSON.stringify([cn, alt])}: ${r.text}`).toBe(400);
      expect(r.json.message).toMatch(/is not a DNS name a certificate may carry/);
    }
  });
});
