// §6 of vault-api.md: policy syntax, rule selection (checklist 10), KV path mapping, sys/policies/acl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACL } from './acl.js';
import { parsePolicy, PolicyError } from './policy.js';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import type { Operation } from './reply.js';
import { ACL_DENIED, Client, tokenWith } from './testkit.js';

function acl(...policies: string[]): ACL {
  return new ACL(policies.map((p, i) => ({ policy: parsePolicy(`p${i}`, p), nsPath: '' })));
}
const can = (a: ACL, op: Operation, path: string): boolean => a.allowOperation(op, path).allowed;

describe('policy parsing', () => {
  it('accepts HCL with comments, heredoc-free blocks, legacy policy= and JSON', () => {
    const p = parsePolicy(
      'x',
      `# comment
       // another
       /* block */
       path "secret/data/*" { capabilities = ["read", "list"] }
       path "/legacy/*" { policy = "write" }`,
    );
    expect(p.rules.map((r) => [r.path, [...r.caps].sort()])).toEqual([
      ['secret/data/*', ['list', 'read']],
      ['legacy/*', ['create', 'delete', 'list', 'read', 'update']],
    ]);
    const j = parsePolicy('j', JSON.stringify({ path: { 'a/b': { capabilities: ['read'] } } }));
    expect(j.rules[0]?.path).toBe('a/b');
  });

  it('rejects invalid capabilities, wildcards and keys with Vault messages', () => {
    expect(() => parsePolicy('x', 'path "x" { capabilities = ["root"] }')).toThrow(
      new PolicyError('failed to parse policy: path "x": invalid capability "root"'),
    );
    expect(() => parsePolicy('x', 'path "a/+*" { capabilities = ["read"] }')).toThrow(
      new PolicyError(`failed to parse policy: path "a/+*": invalid use of wildcards ('+*' is forbidden)`),
    );
    expect(() => parsePolicy('x', 'path "x" { capabilites = ["read"] }')).toThrow(/invalid key "capabilites" on line 1/);
    expect(() => parsePolicy('x', 'nope "x" {}')).toThrow(/invalid key "nope"/);
    expect(() => parsePolicy('x', 'path "x" { capabilities = ["read" }')).toThrow(/^failed to parse policy: At 1:/);
  });

  it('deny discards the other capabilities of its rule', () => {
    const p = parsePolicy('x', 'path "a" { capabilities = ["read", "deny", "list"] }');
    expect([...(p.rules[0]?.caps ?? [])]).toEqual(['deny']);
  });
});

describe('rule selection (checklist 10)', () => {
  it('trailing * is a raw prefix; it does not match the bare folder', () => {
    const a = acl('path "secret/zip-*" { capabilities = ["read"] }\npath "secret/bar/*" { capabilities = ["read"] }');
    expect(can(a, 'read', 'secret/zip-zap/zong')).toBe(true);
    expect(can(a, 'read', 'secret/bar')).toBe(false);
    expect(can(a, 'read', 'secret/bars/x')).toBe(false);
    expect(can(a, 'read', 'secret/bar/x/y')).toBe(true);
  });

  it('* in the middle is literal', () => {
    const a = acl('path "a/*/b" { capabilities = ["read"] }');
    expect(can(a, 'read', 'a/*/b')).toBe(true);
    expect(can(a, 'read', 'a/x/b')).toBe(false);
  });

  it('+ matches exactly one segment and a + rule without * needs the same depth', () => {
    const a = acl('path "kv/data/+/cfg" { capabilities = ["read"] }\npath "t/+/team*" { capabilities = ["list"] }');
    expect(can(a, 'read', 'kv/data/app/cfg')).toBe(true);
    expect(can(a, 'read', 'kv/data/a/b/cfg')).toBe(false);
    expect(can(a, 'read', 'kv/data/app/cfg/x')).toBe(false);
    expect(can(a, 'list', 't/x/teamA/y')).toBe(true);
    expect(can(a, 'list', 't/x/other')).toBe(false);
  });

  it('exact beats glob, longest prefix wins, and there is no union across rule strings', () => {
    const a = acl(
      'path "secret/*" { capabilities = ["read", "update", "create"] }',
      'path "secret/app/*" { capabilities = ["read"] }',
      'path "secret/app/exact" { capabilities = ["delete"] }',
    );
    expect(can(a, 'update', 'secret/other')).toBe(true);
    expect(can(a, 'update', 'secret/app/x')).toBe(false);
    expect(can(a, 'read', 'secret/app/exact')).toBe(false);
    expect(can(a, 'delete', 'secret/app/exact')).toBe(true);
  });

  it('deny on a glob does not block a more specific rule from another policy', () => {
    const a = acl('path "secret/*" { capabilities = ["deny"] }', 'path "secret/foo" { capabilities = ["read"] }');
    expect(can(a, 'read', 'secret/foo')).toBe(true);
    expect(can(a, 'read', 'secret/bar')).toBe(false);
  });

  it('merges identical rule strings across policies; deny wins the merge', () => {
    expect(can(acl('path "a" { capabilities = ["read"] }', 'path "a" { capabilities = ["update"] }'), 'update', 'a')).toBe(true);
    const d = acl('path "a" { capabilities = ["read"] }', 'path "a" { capabilities = ["deny"] }');
    expect(can(d, 'read', 'a')).toBe(false);
  });

  it('prefers the later wildcard, then non-glob, fewer +, longer, lexically larger', () => {
    const a = acl('path "a/+/c/*" { capabilities = ["read"] }', 'path "a/b/+/d" { capabilities = ["update"] }', 'path "a/*" { capabilities = ["list"] }');
    // a/b/+/d has its + at index 4 > 2, so it wins over a/+/c/* for a/b/c/d.
    expect(can(a, 'update', 'a/b/c/d')).toBe(true);
    expect(can(a, 'read', 'a/b/c/d')).toBe(false);
    // Same position (2) for x/+/y and the prefix x/*: the non-glob rule wins.
    const b = acl('path "x/+/y" { capabilities = ["read"] }', 'path "x/*" { capabilities = ["update"] }');
    expect(can(b, 'read', 'x/q/y')).toBe(true);
    expect(can(b, 'update', 'x/q/y')).toBe(false);
    const c = acl('path "m/+/n" { capabilities = ["read"] }', 'path "m/+/n*" { capabilities = ["update"] }');
    // Same + position, one with a trailing *: the non-* rule wins.
    expect(can(c, 'read', 'm/q/n')).toBe(true);
    expect(can(c, 'update', 'm/q/n')).toBe(false);
    // Same position, neither a glob: fewer + wins.
    const d = acl('path "k/+/+/l" { capabilities = ["read"] }', 'path "k/+/j/l" { capabilities = ["update"] }');
    expect(can(d, 'update', 'k/i/j/l')).toBe(true);
  });

  it('LIST tries the exact rule without the slash, then globs without the slash first (Vault order)', () => {
    const a = acl('path "kv/metadata/app" { capabilities = ["list"] }');
    expect(can(a, 'list', 'kv/metadata/app/')).toBe(true);
    const overlap = [parsePolicy('p', 'path "x/foo*" { capabilities = ["list"] }\npath "x/foo/*" { capabilities = ["read"] }')].map((policy) => ({
      policy,
      nsPath: '',
    }));
    expect(new ACL(overlap).allowOperation('list', 'x/foo/').allowed).toBe(true);
    // OpenBao prefers the with-slash candidate.
    expect(new ACL(overlap, { listSlashFirst: true }).allowOperation('list', 'x/foo/').allowed).toBe(false);
  });

  it('reports sudo and capabilities', () => {
    const a = acl('path "sys/auth/*" { capabilities = ["create", "update", "sudo"] }');
    expect(a.allowOperation('update', 'sys/auth/approle')).toEqual({ allowed: true, sudo: true });
    expect(a.capabilities('sys/auth/x')).toEqual(['create', 'sudo', 'update']);
    expect(a.capabilities('nothing')).toEqual(['deny']);
  });

  it('enforces required/denied/allowed parameters', () => {
    const a = acl(
      'path "p" { capabilities = ["update"]\n required_parameters = ["name"]\n denied_parameters = { "bad" = [] }\n allowed_parameters = { "name" = ["web-*"], "bad" = [] } }',
    );
    expect(a.allowOperation('update', 'p', { name: 'web-1' }).allowed).toBe(true);
    expect(a.allowOperation('update', 'p', {}).allowed).toBe(false);
    expect(a.allowOperation('update', 'p', { name: 'db-1' }).allowed).toBe(false);
    expect(a.allowOperation('update', 'p', { name: 'web-1', bad: 1 }).allowed).toBe(false);
  });
});

describe('enforcement over HTTP', () => {
  let vault: VaultTestServer;
  let root: Client;
  beforeAll(async () => {
    vault = await startVaultTestServer({ rootToken: 'root' });
    root = new Client(vault.url, 'root');
    await root.post('/v1/sys/mounts/kv', { type: 'kv-v2' });
    await root.post('/v1/sys/mounts/v1', { type: 'kv' });
  });
  afterAll(() => vault.close());

  it('a minimal KV v2 policy grants exactly its mapped operations', async () => {
    const t = await tokenWith(root, {
      app: `path "kv/data/app/*" { capabilities = ["create", "read"] }
            path "kv/metadata/app/*" { capabilities = ["list", "delete"] }`,
    });
    const c = root.with(t);
    expect((await c.post('/v1/kv/data/app/one', { data: { a: 1 } })).status).toBe(200);
    expect((await c.get('/v1/kv/data/app/one')).json.data.data).toEqual({ a: 1 });
    // Existing key: POST is an update, which the policy lacks.
    expect((await c.post('/v1/kv/data/app/one', { data: { a: 2 } })).json).toEqual({ errors: [ACL_DENIED] });
    expect((await c.list('/v1/kv/metadata/app')).json.data.keys).toEqual(['one']);
    expect((await c.list('/v1/kv/metadata/')).status).toBe(403);
    expect((await c.get('/v1/kv/metadata/app/one')).status).toBe(403);
    expect((await c.del('/v1/kv/data/app/one')).status).toBe(403);
    expect((await c.post('/v1/kv/delete/app/one', { versions: [1] })).status).toBe(403);
    expect((await c.put('/v1/kv/destroy/app/one', { versions: [1] })).status).toBe(403);
    expect((await c.get('/v1/kv/data/other')).status).toBe(403);
    // A v1-style rule would grant nothing on a v2 mount; here the v2 rule grants nothing on v1-style paths.
    expect((await c.get('/v1/kv/app/one')).status).toBe(403);
    expect((await c.del('/v1/kv/metadata/app/one')).status).toBe(204);
    expect((await root.get('/v1/kv/data/app/one')).status).toBe(404);
  });

  it('a KV v1 policy maps straight onto the paths', async () => {
    const t = await tokenWith(root, { v1app: 'path "v1/app/*" { capabilities = ["create", "read", "update", "delete", "list"] }' });
    const c = root.with(t);
    expect((await c.put('/v1/v1/app/x', { a: 1 })).status).toBe(204);
    expect((await c.get('/v1/v1/app/x')).json.data).toEqual({ a: 1 });
    expect((await c.list('/v1/v1/app/')).json.data.keys).toEqual(['x']);
    expect((await c.del('/v1/v1/app/x')).status).toBe(204);
    expect((await c.put('/v1/v1/other', { a: 1 })).json).toEqual({ errors: [ACL_DENIED] });
    const v2style = await tokenWith(root, { v2style: 'path "v1/data/app/*" { capabilities = ["read"] }' });
    await root.put('/v1/v1/app/y', { a: 1 });
    expect((await root.with(v2style).get('/v1/v1/app/y')).status).toBe(403);
  });

  it('requires sudo on root-protected paths', async () => {
    const noSudo = await tokenWith(root, { authadmin: 'path "sys/auth/*" { capabilities = ["create", "update", "read"] }' });
    const withSudo = await tokenWith(root, { authsudo: 'path "sys/auth/*" { capabilities = ["create", "update", "read", "sudo"] }' });
    expect((await root.with(noSudo).post('/v1/sys/auth/approle', { type: 'approle' })).json).toEqual({ errors: [ACL_DENIED] });
    expect((await root.with(withSudo).post('/v1/sys/auth/approle', { type: 'approle' })).status).toBe(204);
  });

  it('answers sys/capabilities-self from the same rules', async () => {
    const t = await tokenWith(root, { capself: 'path "kv/data/app/*" { capabilities = ["read", "create"] }' });
    const r = await root.with(t).post('/v1/sys/capabilities-self', { paths: ['kv/data/app/x', 'kv/data/z'] });
    expect(r.json.data).toEqual({ 'kv/data/app/x': ['create', 'read'], 'kv/data/z': ['deny'] });
    expect(r.json['kv/data/app/x']).toEqual(['create', 'read']);
    expect((await root.post('/v1/sys/capabilities-self', { path: 'anything' })).json.data.capabilities).toEqual(['root']);
  });
});

describe('sys/policies/acl', () => {
  let vault: VaultTestServer;
  let root: Client;
  beforeAll(async () => {
    vault = await startVaultTestServer({ rootToken: 'root' });
    root = new Client(vault.url, 'root');
  });
  afterAll(() => vault.close());

  it('lists stored names sorted with root last', async () => {
    await root.put('/v1/sys/policies/acl/zeta', { policy: 'path "a" { capabilities = ["read"] }' });
    await root.put('/v1/sys/policies/acl/alpha', { policy: 'path "a" { capabilities = ["read"] }' });
    const r = await root.list('/v1/sys/policies/acl');
    expect(r.json.data).toEqual({ keys: ['alpha', 'default', 'zeta', 'root'] });
    expect(r.json.keys).toBeUndefined();
  });

  it('reads raw policy text; root reads empty; unknown is 404', async () => {
    const text = 'path "a" {\n  capabilities = ["read"]\n}\n';
    await root.put('/v1/sys/policies/acl/raw', { policy: text });
    expect((await root.get('/v1/sys/policies/acl/raw')).json.data).toEqual({ name: 'raw', policy: text });
    expect((await root.get('/v1/sys/policies/acl/root')).json.data).toEqual({ name: 'root', policy: '' });
    expect((await root.get('/v1/sys/policies/acl/nope')).text).toBe('{"errors":[]}\n');
  });

  it('lower-cases names with a warning and decodes base64 policies', async () => {
    const r = await root.put('/v1/sys/policies/acl/MiXed', { policy: Buffer.from('path "b" { capabilities = ["list"] }').toString('base64') });
    expect(r.status).toBe(200);
    expect(r.json.warnings).toEqual(['policy name was converted to mixed']);
    expect((await root.get('/v1/sys/policies/acl/mixed')).json.data.policy).toBe('path "b" { capabilities = ["list"] }');
  });

  it('rejects empty, invalid and root writes; protects default and root from deletion', async () => {
    expect((await root.put('/v1/sys/policies/acl/e', { policy: '' })).json).toEqual({ errors: ["'policy' parameter not supplied or empty"] });
    expect((await root.put('/v1/sys/policies/acl/e', { policy: 'path "x" { capabilities = ["foo"] }' })).json).toEqual({
      errors: ['failed to parse policy: path "x": invalid capability "foo"'],
    });
    expect((await root.put('/v1/sys/policies/acl/root', { policy: 'path "x" { capabilities = ["read"] }' })).json).toEqual({
      errors: ['cannot update "root" policy'],
    });
    expect((await root.del('/v1/sys/policies/acl/default')).json).toEqual({ errors: ['cannot delete default policy'] });
    expect((await root.del('/v1/sys/policies/acl/root')).json).toEqual({ errors: ['cannot delete "root" policy'] });
    expect((await root.del('/v1/sys/policies/acl/absent')).status).toBe(204);
  });

  it('serves the legacy sys/policy endpoints with rules and top-level data', async () => {
    await root.put('/v1/sys/policy/legacy', { rules: 'path "c" { capabilities = ["read"] }' });
    const r = await root.get('/v1/sys/policy/legacy');
    expect(r.json.rules).toBe('path "c" { capabilities = ["read"] }');
    expect(r.json.data.name).toBe('legacy');
    const l = await root.get('/v1/sys/policy');
    expect(l.json.policies).toContain('legacy');
    expect(l.json.keys).toContain('root');
  });

  it('ships the default policy: lookup-self, renew-self, revoke-self and cubbyhole', async () => {
    const t = (await root.post('/v1/auth/token/create', { policies: ['default'] })).json.auth.client_token as string;
    const c = root.with(t);
    expect((await c.get('/v1/auth/token/lookup-self')).status).toBe(200);
    expect((await c.put('/v1/cubbyhole/mine', { a: 1 })).status).toBe(204);
    expect((await c.get('/v1/cubbyhole/mine')).json.data).toEqual({ a: 1 });
    expect((await root.get('/v1/cubbyhole/mine')).status).toBe(404);
    expect((await c.get('/v1/sys/mounts')).status).toBe(403);
  });
});
