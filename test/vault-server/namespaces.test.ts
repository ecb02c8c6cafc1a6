// §2.6 and §7 of vault-api.md: namespaces (checklist 12) and the Vault CE / OpenBao flavours.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { ACL_DENIED, Client } from './testkit.js';

describe('namespaces (Vault Enterprise flavour)', () => {
  let vault: VaultTestServer;
  let root: Client;
  let anon: Client;
  beforeAll(async () => {
    vault = await startVaultTestServer({ rootToken: 'root' });
    root = new Client(vault.url, 'root');
    anon = new Client(vault.url);
  });
  afterAll(() => vault.close());

  it('creates children of the request namespace and lists direct children', async () => {
    const a = await root.post('/v1/sys/namespaces/ns1', { custom_metadata: { team: 'a' } });
    expect(a.status).toBe(200);
    expect(a.json.data).toEqual({ custom_metadata: { team: 'a' }, id: expect.stringMatching(/^[A-Za-z0-9]{5}$/), path: 'ns1/' });
    expect((await root.post('/v1/sys/namespaces/team', {}, { ns: 'ns1' })).json.data.path).toBe('ns1/team/');
    await root.post('/v1/sys/namespaces/ns2', {});
    const l = await root.list('/v1/sys/namespaces');
    expect(l.json.data.keys).toEqual(['ns1/', 'ns2/']);
    expect(l.json.data.key_info['ns1/']).toEqual(a.json.data);
    expect((await root.get('/v1/sys/namespaces/ns1')).json.data).toEqual(a.json.data);
    expect((await root.get('/v1/sys/namespaces/nope')).text).toBe('{"errors":[]}\n');
    expect((await root.list('/v1/sys/namespaces', { ns: 'ns1/team' })).status).toBe(404);
    expect((await root.post('/v1/sys/namespaces/sys', {})).status).toBe(400);
    expect((await root.post('/v1/sys/namespaces/a/b', {})).status).toBe(400);
  });

  it('gives a new namespace its own sys, cubbyhole, identity and token mounts but no KV', async () => {
    const m = await root.get('/v1/sys/mounts', { ns: 'ns1' });
    expect(Object.keys(m.json.data).sort()).toEqual(['cubbyhole/', 'identity/', 'sys/']);
    expect(Object.keys((await root.get('/v1/sys/auth', { ns: 'ns1' })).json.data)).toEqual(['token/']);
    expect((await root.list('/v1/sys/policies/acl', { ns: 'ns1' })).json.data.keys).toEqual(['default']);
  });

  it('header + path concatenate and resolve to the longest existing namespace', async () => {
    await root.post('/v1/sys/mounts/secret', { type: 'kv-v2' }, { ns: 'ns1/team' });
    await root.post('/v1/secret/data/k', { data: { where: 'team' } }, { ns: 'ns1/team' });
    const forms: [string, string | undefined][] = [
      ['/v1/ns1/team/secret/data/k', undefined],
      ['/v1/secret/data/k', 'ns1/team'],
      ['/v1/secret/data/k', '/ns1/team/'],
      ['/v1/team/secret/data/k', 'ns1'],
    ];
    for (const [path, ns] of forms) {
      const r = await root.get(path, ns !== undefined ? { ns } : {});
      expect(r.status, `${path} ${ns}`).toBe(200);
      expect(r.json.data.data).toEqual({ where: 'team' });
    }
    // The root namespace's own secret/ mount is a different store.
    expect((await root.get('/v1/secret/data/k')).status).toBe(404);
  });

  it('answers 404 namespace not found for an unknown header namespace; a path prefix is just a path', async () => {
    const r = await root.get('/v1/secret/data/k', { ns: 'ghost' });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ errors: ['namespace not found'] });
    expect((await root.get('/v1/ghost/secret/data/k')).json).toEqual({ errors: ['no handler for route "ghost/secret/data/k". route entry not found.'] });
    expect((await root.get('/v1/sys/mounts', { ns: 'root' })).json.data['secret/']).toBeDefined();
  });

  it('scopes tokens and policies to the namespace they were created in', async () => {
    await root.put('/v1/sys/policies/acl/reader', { policy: 'path "secret/data/*" { capabilities = ["read"] }' }, { ns: 'ns1/team' });
    const created = await root.post('/v1/auth/token/create', { policies: ['reader'] }, { ns: 'ns1/team' });
    const tok = created.json.auth.client_token as string;
    const nsId = (await root.get('/v1/sys/namespaces/ns1/team')).json.data.id as string;
    expect(tok.endsWith(`.${nsId}`)).toBe(true);
    expect(created.json.warnings).toBeNull();
    const c = root.with(tok);
    expect((await c.get('/v1/secret/data/k', { ns: 'ns1/team' })).status).toBe(200);
    expect((await c.get('/v1/ns1/team/secret/data/k')).status).toBe(200);
    // Without the namespace the request runs in root, where the ns-prefixed rules do not match.
    expect((await c.get('/v1/secret/data/k')).json).toEqual({ errors: [ACL_DENIED] });
    expect((await c.get('/v1/secret/data/k', { ns: 'ns2' })).json).toEqual({ errors: [ACL_DENIED] });
    const look = await c.get('/v1/auth/token/lookup-self');
    expect(look.status).toBe(200);
    expect(look.json.data.namespace_path).toBe('ns1/team/');
  });

  it('runs -self paths in the token namespace whatever the header says', async () => {
    const tok = (await root.post('/v1/auth/token/create', { policies: ['default'] }, { ns: 'ns1' })).json.auth.client_token as string;
    const c = root.with(tok);
    for (const ns of [undefined, 'ns2', 'ns1/team']) {
      expect((await c.get('/v1/auth/token/lookup-self', ns ? { ns } : {})).status, String(ns)).toBe(200);
    }
    expect((await c.post('/v1/auth/token/renew-self', {}, { ns: 'ns2' })).status).toBe(200);
    expect((await c.post('/v1/auth/token/revoke-self', {}, { ns: 'ns2' })).status).toBe(204);
    expect((await c.get('/v1/auth/token/lookup-self')).status).toBe(403);
  });

  it('lets parents grant into children and root-namespace rules name namespaced paths', async () => {
    await root.put('/v1/sys/policies/acl/parent', { policy: 'path "team/secret/data/*" { capabilities = ["read"] }' }, { ns: 'ns1' });
    const p = root.with((await root.post('/v1/auth/token/create', { policies: ['parent'] }, { ns: 'ns1' })).json.auth.client_token);
    expect((await p.get('/v1/secret/data/k', { ns: 'ns1/team' })).status).toBe(200);
    await root.put('/v1/sys/policies/acl/global', { policy: 'path "ns1/team/secret/data/*" { capabilities = ["read"] }' });
    const g = root.with((await root.post('/v1/auth/token/create', { policies: ['global'] })).json.auth.client_token);
    expect((await g.get('/v1/secret/data/k', { ns: 'ns1/team' })).status).toBe(200);
    expect((await g.get('/v1/ns1/team/secret/data/k')).status).toBe(200);
  });

  it('logins go to the namespace that holds the auth mount', async () => {
    await root.post('/v1/sys/auth/approle', { type: 'approle' }, { ns: 'ns2' });
    await root.post('/v1/auth/approle/role/r', { token_policies: ['default'] }, { ns: 'ns2' });
    const roleId = (await root.get('/v1/auth/approle/role/r/role-id', { ns: 'ns2' })).json.data.role_id;
    const sid = (await root.post('/v1/auth/approle/role/r/secret-id', {}, { ns: 'ns2' })).json.data.secret_id;
    const wrong = await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: sid });
    expect(wrong.status).toBe(403);
    expect(wrong.json).toEqual({ errors: ['permission denied'] });
    const ok = await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: sid }, { ns: 'ns2' });
    expect(ok.status).toBe(200);
    const look = await root.with(ok.json.auth.client_token).get('/v1/auth/token/lookup-self');
    expect(look.json.data.namespace_path).toBe('ns2/');
  });

  it('refuses root-only sys endpoints inside a namespace but serves seal-status', async () => {
    expect((await anon.get('/v1/sys/health', { ns: 'ns1' })).json).toEqual({ errors: ['operation unavailable in namespaces'] });
    expect((await anon.get('/v1/sys/seal-status', { ns: 'ns1' })).json.sealed).toBe(false);
    expect((await root.get('/v1/ns1/sys/seal-status')).json.sealed).toBe(false);
  });

  it('patches metadata and deletes leaf namespaces only', async () => {
    const p = await root.patch('/v1/sys/namespaces/ns2', { custom_metadata: { x: 'y' } });
    expect(p.json.data.custom_metadata).toEqual({ x: 'y' });
    expect((await root.del('/v1/sys/namespaces/ns1')).status).toBe(400);
    const d = await root.del('/v1/sys/namespaces/ns2');
    expect(d.status).toBe(200);
    expect(d.json.data).toEqual({ status: 'in-progress' });
    const again = await root.del('/v1/sys/namespaces/ns2');
    expect(again.json.warnings).toEqual(['requested namespace does not exist']);
    expect((await root.get('/v1/sys/mounts', { ns: 'ns2' })).json).toEqual({ errors: ['namespace not found'] });
  });
});

describe('Vault CE flavour', () => {
  let vault: VaultTestServer;
  let root: Client;
  beforeAll(async () => {
    vault = await startVaultTestServer({ rootToken: 'root', flavor: 'vault-ce' });
    root = new Client(vault.url, 'root');
  });
  afterAll(() => vault.close());

  it('ignores X-Vault-Namespace but still echoes it', async () => {
    await root.post('/v1/secret/data/k', { data: { a: 1 } });
    const r = await root.get('/v1/secret/data/k', { ns: 'whatever' });
    expect(r.status).toBe(200);
    expect(r.headers['x-vault-namespace']).toBe('whatever');
  });

  it('has no sys/namespaces', async () => {
    const r = await root.list('/v1/sys/namespaces');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ errors: ['1 error occurred:\n\t* unsupported path\n\n'] });
  });
});

describe('OpenBao flavour', () => {
  let vault: VaultTestServer;
  let root: Client;
  beforeAll(async () => {
    vault = await startVaultTestServer({ rootToken: 'root', flavor: 'openbao' });
    root = new Client(vault.url, 'root');
  });
  afterAll(() => vault.close());

  it('omits mount_type, uses commit_date and short tokens, and returns the OpenBao namespace shape', async () => {
    const r = await root.get('/v1/sys/mounts');
    expect('mount_type' in r.json).toBe(false);
    const ss = await root.get('/v1/sys/seal-status');
    expect(ss.json.commit_date).toBeDefined();
    expect(ss.json.build_date).toBeUndefined();
    expect((await root.get('/v1/sys/health')).json.performance_standby).toBeUndefined();
    const t = await root.post('/v1/auth/token/create', {});
    expect(t.json.auth.client_token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);
    const ns = await root.post('/v1/sys/namespaces/bao', {});
    expect(Object.keys(ns.json.data)).toEqual(['custom_metadata', 'id', 'locked', 'path', 'tainted', 'uuid']);
    expect(ns.json.data.id).toMatch(/^[A-Za-z0-9]{6}$/);
    // Soft-deleted reads keep the raw envelope without mount_type.
    await root.post('/v1/secret/data/x', { data: { a: 1 } });
    await root.del('/v1/secret/data/x');
    expect('mount_type' in (await root.get('/v1/secret/data/x')).json).toBe(false);
  });
});
