// §3 (KV v1) and §4 (KV v2) of vault-api.md; checklist items 6, 7, 8, 9.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { ACL_DENIED, Client, goTime, manualClock, tokenWith } from './testkit.js';

let vault: VaultTestServer;
let root: Client;
const clock = manualClock();

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root', clock: clock.now });
  root = new Client(vault.url, 'root');
  expect((await root.post('/v1/sys/mounts/v1', { type: 'kv' })).status).toBe(204);
  expect((await root.post('/v1/sys/mounts/kv', { type: 'kv', options: { version: '2' } })).status).toBe(204);
});
afterAll(() => vault.close());

describe('KV v1', () => {
  it('stores the whole body verbatim, number literals included, and overwrites without merging', async () => {
    expect((await root.request('PUT', '/v1/v1/app/cfg', { raw: '{"n":1.0,"big":12345678901234567890,"s":"x","o":{"z":1,"a":[1.50]}}' })).status).toBe(204);
    const r = await root.get('/v1/v1/app/cfg');
    expect(r.text).toContain('"data":{"big":12345678901234567890,"n":1.0,"o":{"a":[1.50],"z":1},"s":"x"}');
    await root.put('/v1/v1/app/cfg', { only: 'this' });
    expect((await root.get('/v1/v1/app/cfg')).json.data).toEqual({ only: 'this' });
  });

  it('reports the mount default lease, or the secret ttl field, as lease_duration', async () => {
    const r = await root.get('/v1/v1/app/cfg');
    expect(r.json).toMatchObject({ lease_id: '', renewable: false, lease_duration: 2764800 });
    await root.put('/v1/v1/app/ttl', { ttl: '1h', v: 1 });
    expect((await root.get('/v1/v1/app/ttl')).json.lease_duration).toBe(3600);
  });

  it('refuses paths holding .. with 500, worded per operation as Vault 1.4 does', async () => {
    const read = await root.get('/v1/v1/x/a..b');
    expect(read.status).toBe(500);
    expect(read.json).toEqual({ errors: ['1 error occurred:\n\t* read failed: relative paths not supported\n\n'] });
    const write = await root.put('/v1/v1/x/a..b', { a: 'b' });
    expect(write.status).toBe(500);
    expect(write.json).toEqual({ errors: ['1 error occurred:\n\t* internal error\n\n'] });
    const removed = await root.request('DELETE', '/v1/v1/x/a..b');
    expect(removed.status).toBe(500);
    expect(removed.json).toEqual({ errors: ['1 error occurred:\n\t* relative paths not supported\n\n'] });
    expect((await root.get('/v1/v1/x/a..b')).status).toBe(500);
  });

  it('rejects empty bodies and writes to the mount root', async () => {
    expect((await root.put('/v1/v1/app/empty', {})).json).toEqual({ errors: ['missing data fields'] });
    expect((await root.request('PUT', '/v1/v1/app/empty')).json).toEqual({ errors: ['missing data fields'] });
    expect((await root.put('/v1/v1', { a: 1 })).json).toEqual({ errors: ['missing path'] });
  });

  it('lists children with folders suffixed, 404 for empty folders and leaves', async () => {
    await root.put('/v1/v1/tree/foo', { a: 1 });
    await root.put('/v1/v1/tree/foo/bar', { a: 1 });
    await root.put('/v1/v1/tree/baz', { a: 1 });
    expect((await root.list('/v1/v1/tree/')).json.data.keys).toEqual(['baz', 'foo', 'foo/']);
    expect((await root.list('/v1/v1/tree/baz')).status).toBe(404);
    expect((await root.list('/v1/v1/nothing/')).text).toBe('{"errors":[]}\n');
  });

  it('deletes idempotently and 404s afterwards', async () => {
    expect((await root.del('/v1/v1/tree/baz')).status).toBe(204);
    expect((await root.del('/v1/v1/tree/baz')).status).toBe(204);
    expect((await root.get('/v1/v1/tree/baz')).status).toBe(404);
  });

  it('does not support PATCH (405 after the ACL check)', async () => {
    const r = await root.patch('/v1/v1/tree/foo', { a: 2 });
    expect(r.status).toBe(405);
    expect(r.json).toEqual({ errors: ['1 error occurred:\n\t* unsupported operation\n\n'] });
  });

  it('needs create for a new key and update for an existing one (checklist 9)', async () => {
    const createOnly = await tokenWith(root, { 'v1-create': 'path "v1/cu/*" { capabilities = ["create", "read"] }' });
    const updateOnly = await tokenWith(root, { 'v1-update': 'path "v1/cu/*" { capabilities = ["update", "read"] }' });
    const c = root.with(createOnly);
    const u = root.with(updateOnly);
    expect((await u.put('/v1/v1/cu/k', { a: 1 })).json).toEqual({ errors: [ACL_DENIED] });
    expect((await c.put('/v1/v1/cu/k', { a: 1 })).status).toBe(204);
    expect((await c.put('/v1/v1/cu/k', { a: 2 })).json).toEqual({ errors: [ACL_DENIED] });
    expect((await u.put('/v1/v1/cu/k', { a: 2 })).status).toBe(204);
  });
});

describe('KV v2 data', () => {
  it('answers writes with 200 and version metadata', async () => {
    const r = await root.post('/v1/kv/data/app/db', { data: { user: 'u', pass: 'p' } });
    expect(r.status).toBe(200);
    expect(r.json.data).toEqual({ created_time: goTime(clock.now()), custom_metadata: null, deletion_time: '', destroyed: false, version: 1 });
    expect(Object.keys(r.json.data)).toEqual(['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version']);
  });

  it('reads the latest or a given version with data + metadata', async () => {
    clock.advance(1500);
    await root.post('/v1/kv/data/app/db', { data: { user: 'u2' } });
    const latest = await root.get('/v1/kv/data/app/db');
    expect(latest.json.data.data).toEqual({ user: 'u2' });
    expect(latest.json.data.metadata).toMatchObject({ version: 2, deletion_time: '', destroyed: false, custom_metadata: null });
    expect(latest.json.lease_duration).toBe(0);
    expect((await root.get('/v1/kv/data/app/db?version=1')).json.data.data).toEqual({ pass: 'p', user: 'u' });
    expect((await root.get('/v1/kv/data/app/db?version=0')).json.data.metadata.version).toBe(2);
    expect((await root.get('/v1/kv/data/app/db?version=9')).text).toBe('{"errors":[]}\n');
    expect((await root.get('/v1/kv/data/app/nokey')).text).toBe('{"errors":[]}\n');
  });

  it('requires data and warns about unknown top-level fields', async () => {
    expect((await root.post('/v1/kv/data/app/x', { foo: 1 })).json).toEqual({ errors: ['no data provided'] });
    expect((await root.post('/v1/kv/data/app/x', { data: 'str' })).json.errors[0]).toMatch(/^Field validation failed: /);
    const w = await root.post('/v1/kv/data/app/x', { data: { a: 1 }, zeta: 1, alpha: 2 });
    expect(w.status).toBe(200);
    expect(w.json.warnings).toEqual(['Endpoint ignored these unrecognized parameters: [alpha zeta]']);
  });

  it('re-encodes numbers as float64 would', async () => {
    await root.request('POST', '/v1/kv/data/app/num', { raw: '{"data":{"f":1.0,"g":2.50}}' });
    expect((await root.get('/v1/kv/data/app/num')).text).toContain('"data":{"f":1,"g":2.5}');
  });
});

describe('KV v2 check-and-set (checklist 7)', () => {
  it('cas 0 means the key must not exist; otherwise it must equal current_version', async () => {
    expect((await root.post('/v1/kv/data/cas/k', { data: { a: 1 }, options: { cas: 0 } })).json.data.version).toBe(1);
    const again = await root.post('/v1/kv/data/cas/k', { data: { a: 1 }, options: { cas: 0 } });
    expect(again.status).toBe(400);
    expect(again.text).toBe('{"errors":["check-and-set parameter did not match the current version"]}\n');
    expect((await root.post('/v1/kv/data/cas/k', { data: { a: 2 }, options: { cas: '1' } })).json.data.version).toBe(2);
    expect((await root.post('/v1/kv/data/cas/k', { data: { a: 2 }, options: { cas: 'x' } })).json).toEqual({
      errors: ['error parsing check-and-set parameter'],
    });
  });

  it('soft-deleted keys keep their current version for CAS', async () => {
    await root.del('/v1/kv/data/cas/k');
    expect((await root.post('/v1/kv/data/cas/k', { data: { a: 3 }, options: { cas: 0 } })).status).toBe(400);
    expect((await root.post('/v1/kv/data/cas/k', { data: { a: 3 }, options: { cas: 2 } })).json.data.version).toBe(3);
  });

  it('enforces cas_required from key metadata and from the mount config', async () => {
    expect((await root.post('/v1/kv/metadata/cas/req', { cas_required: true })).status).toBe(204);
    const r = await root.post('/v1/kv/data/cas/req', { data: { a: 1 } });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ errors: ['check-and-set parameter required for this call'] });
    expect((await root.post('/v1/kv/data/cas/req', { data: { a: 1 }, options: { cas: 0 } })).status).toBe(200);

    await root.post('/v1/kv/config', { cas_required: true });
    try {
      expect((await root.post('/v1/kv/data/cas/other', { data: { a: 1 } })).json).toEqual({ errors: ['check-and-set parameter required for this call'] });
      const warn = await root.post('/v1/kv/metadata/cas/other', { cas_required: false });
      expect(warn.status).toBe(200);
      expect(warn.json.warnings).toEqual(['"cas_required" set to false, but is mandated by backend config. This value will be ignored.']);
    } finally {
      await root.post('/v1/kv/config', { cas_required: false });
    }
    expect((await root.get('/v1/kv/config')).json.data).toEqual({ cas_required: false, delete_version_after: '0s', max_versions: 0 });
  });
});

describe('KV v2 deletion (checklist 6)', () => {
  it('soft delete marks the latest version; reads then 404 with a full envelope body and no newline', async () => {
    await root.post('/v1/kv/data/del/k', { data: { a: 1 } });
    clock.advance(1000);
    expect((await root.del('/v1/kv/data/del/k')).status).toBe(204);
    const r = await root.get('/v1/kv/data/del/k');
    expect(r.status).toBe(404);
    expect(r.text.endsWith('}')).toBe(true);
    expect(Object.keys(r.json)).toEqual(['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth', 'mount_type']);
    expect(r.json.mount_type).toBe('');
    expect(r.json.data.data).toBeNull();
    expect(r.json.data.metadata).toMatchObject({ version: 1, destroyed: false, custom_metadata: null });
    expect(r.json.data.metadata.deletion_time).toBe(goTime(clock.now()));
    // Deleting again is a no-op.
    expect((await root.del('/v1/kv/data/del/k')).status).toBe(204);
  });

  it('undelete restores, destroy removes data for good', async () => {
    expect((await root.post('/v1/kv/undelete/del/k', { versions: [1] })).status).toBe(204);
    expect((await root.get('/v1/kv/data/del/k')).json.data.data).toEqual({ a: 1 });
    expect((await root.put('/v1/kv/destroy/del/k', { versions: '1' })).status).toBe(204);
    const r = await root.get('/v1/kv/data/del/k');
    expect(r.status).toBe(404);
    expect(r.json.data.metadata.destroyed).toBe(true);
    expect((await root.post('/v1/kv/undelete/del/k', { versions: [1] })).status).toBe(204);
    expect((await root.get('/v1/kv/data/del/k')).status).toBe(404);
  });

  it('delete/ soft-deletes listed versions; empty version lists are rejected with their exact texts', async () => {
    await root.post('/v1/kv/data/del/v', { data: { n: 1 } });
    await root.post('/v1/kv/data/del/v', { data: { n: 2 } });
    expect((await root.post('/v1/kv/delete/del/v', { versions: [1] })).status).toBe(204);
    expect((await root.get('/v1/kv/data/del/v?version=1')).status).toBe(404);
    expect((await root.get('/v1/kv/data/del/v')).json.data.data).toEqual({ n: 2 });
    expect((await root.post('/v1/kv/delete/del/v', {})).json).toEqual({ errors: ['No version number provided'] });
    expect((await root.post('/v1/kv/undelete/del/v', { versions: [] })).json).toEqual({ errors: ['No version number provided'] });
    expect((await root.post('/v1/kv/destroy/del/v', {})).json).toEqual({ errors: ['no version number provided'] });
    expect((await root.post('/v1/kv/delete/del/missing', { versions: [1] })).status).toBe(204);
  });

  it('delete_version_after sets a future deletion time that reads ignore until it passes', async () => {
    await root.post('/v1/kv/metadata/del/dva', { delete_version_after: '1h' });
    const w = await root.post('/v1/kv/data/del/dva', { data: { a: 1 } });
    expect(w.json.data.deletion_time).toBe(goTime(clock.now() + 3600_000));
    expect((await root.get('/v1/kv/data/del/dva')).status).toBe(200);
    clock.advance(3600_000 + 1);
    expect((await root.get('/v1/kv/data/del/dva')).status).toBe(404);
  });
});

describe('KV v2 metadata (checklist 8)', () => {
  it('reads the key history', async () => {
    const r = await root.get('/v1/kv/metadata/app/db');
    expect(Object.keys(r.json.data)).toEqual([
      'cas_required',
      'created_time',
      'current_version',
      'custom_metadata',
      'delete_version_after',
      'max_versions',
      'oldest_version',
      'updated_time',
      'versions',
    ]);
    expect(r.json.data).toMatchObject({ cas_required: false, current_version: 2, delete_version_after: '0s', max_versions: 0, oldest_version: 0 });
    expect(Object.keys(r.json.data.versions)).toEqual(['1', '2']);
  });

  it('writes settings without creating a version; custom_metadata is replaced, PATCH merges', async () => {
    expect((await root.post('/v1/kv/metadata/meta/k', { custom_metadata: { a: '1', b: '2' }, max_versions: 3, delete_version_after: '3h25m19s' })).status).toBe(
      204,
    );
    let r = await root.get('/v1/kv/metadata/meta/k');
    expect(r.json.data).toMatchObject({
      current_version: 0,
      max_versions: 3,
      delete_version_after: '3h25m19s',
      custom_metadata: { a: '1', b: '2' },
      versions: {},
    });
    await root.post('/v1/kv/metadata/meta/k', { custom_metadata: { c: '3' } });
    expect((await root.get('/v1/kv/metadata/meta/k')).json.data.custom_metadata).toEqual({ c: '3' });
    expect((await root.patch('/v1/kv/metadata/meta/k', { custom_metadata: { d: '4' } })).status).toBe(204);
    r = await root.get('/v1/kv/metadata/meta/k');
    expect(r.json.data.custom_metadata).toEqual({ c: '3', d: '4' });
    expect((await root.post('/v1/kv/metadata/meta/none', {})).status).toBe(204);
    expect((await root.get('/v1/kv/metadata/meta/none')).status).toBe(404);
  });

  it('deleting metadata wipes every version and the key leaves listings', async () => {
    await root.post('/v1/kv/data/wipe/k', { data: { a: 1 } });
    await root.post('/v1/kv/data/wipe/k', { data: { a: 2 } });
    await root.post('/v1/kv/data/wipe/j', { data: { a: 1 } });
    expect((await root.del('/v1/kv/metadata/wipe/k')).status).toBe(204);
    expect((await root.get('/v1/kv/data/wipe/k?version=1')).text).toBe('{"errors":[]}\n');
    expect((await root.get('/v1/kv/metadata/wipe/k')).text).toBe('{"errors":[]}\n');
    expect((await root.list('/v1/kv/metadata/wipe')).json.data.keys).toEqual(['j']);
    expect((await root.del('/v1/kv/metadata/wipe/k')).status).toBe(204);
  });

  it('lists keys and folders, soft-deleted keys included', async () => {
    await root.del('/v1/kv/data/wipe/j');
    const r = await root.list('/v1/kv/metadata/');
    expect(r.json.data.keys).toEqual(expect.arrayContaining(['app/', 'cas/', 'del/', 'wipe/']));
    expect((await root.list('/v1/kv/metadata/wipe/')).json.data.keys).toEqual(['j']);
    expect((await root.get('/v1/kv/metadata/wipe?list=true')).json.data.keys).toEqual(['j']);
    expect((await root.list('/v1/kv/metadata/nothing/')).status).toBe(404);
    expect((await root.list('/v1/kv/metadata/wipe/?exclude_deleted=true')).status).toBe(404);
  });

  it('keeps 10 versions by default and prunes the oldest', async () => {
    for (let i = 1; i <= 11; i++) await root.post('/v1/kv/data/prune/k', { data: { i } });
    const m = await root.get('/v1/kv/metadata/prune/k');
    expect(m.json.data.oldest_version).toBe(2);
    expect(
      Object.keys(m.json.data.versions)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect((await root.get('/v1/kv/data/prune/k?version=1')).text).toBe('{"errors":[]}\n');
  });

  it('uses max(metadata max_versions, config max_versions)', async () => {
    await root.post('/v1/kv/metadata/prune/m', { max_versions: 2 });
    for (let i = 1; i <= 4; i++) await root.post('/v1/kv/data/prune/m', { data: { i } });
    expect(Object.keys((await root.get('/v1/kv/metadata/prune/m')).json.data.versions)).toEqual(['3', '4']);
    await root.post('/v1/kv/config', { max_versions: 3 });
    try {
      await root.post('/v1/kv/data/prune/m', { data: { i: 5 } });
      const m = await root.get('/v1/kv/metadata/prune/m');
      expect(Object.keys(m.json.data.versions)).toEqual(['3', '4', '5']);
      expect(m.json.data.oldest_version).toBe(3);
    } finally {
      await root.post('/v1/kv/config', { max_versions: 0 });
    }
  });
});

describe('KV v2 patch and subkeys', () => {
  it('merge-patches the current version into a new one', async () => {
    await root.post('/v1/kv/data/patch/k', { data: { a: 1, b: { c: 2, d: 3 } } });
    const r = await root.patch('/v1/kv/data/patch/k', { data: { a: null, b: { c: 5 }, e: 6 } });
    expect(r.status).toBe(200);
    expect(r.json.data.version).toBe(2);
    expect((await root.get('/v1/kv/data/patch/k')).json.data.data).toEqual({ b: { c: 5, d: 3 }, e: 6 });
    expect((await root.patch('/v1/kv/data/patch/missing', { data: { a: 1 } })).status).toBe(404);
    await root.del('/v1/kv/data/patch/k');
    const gone = await root.patch('/v1/kv/data/patch/k', { data: { a: 1 } });
    expect(gone.status).toBe(404);
    expect(gone.json.data).toMatchObject({ version: 2, destroyed: false });
  });

  it('returns subkeys with null leaves', async () => {
    await root.post('/v1/kv/data/sub/k', { data: { a: 1, b: { c: 'x' } } });
    expect((await root.get('/v1/kv/subkeys/sub/k')).json.data.subkeys).toEqual({ a: null, b: { c: null } });
  });
});

describe('KV v2 wrong paths', () => {
  it('answers v1-style paths with 404 and the per-operation warning', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/kv/app/db', 'get'],
      ['POST', '/v1/kv/app/db', 'put'],
      ['DELETE', '/v1/kv/app/db', 'delete'],
      ['LIST', '/v1/kv/data/app/', 'list'],
      ['GET', '/v1/kv/data/', 'get'],
    ];
    for (const [method, path, sub] of cases) {
      const r = await root.request(method, path, method === 'POST' ? { body: { a: 1 } } : {});
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json.data).toBeNull();
      expect(r.json.warnings).toEqual([
        `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${sub}' for this operation.`,
      ]);
    }
  });

  it('answers non-list operations on a prefix root with its own warning', async () => {
    for (const p of ['data', 'metadata', 'delete', 'undelete', 'destroy']) {
      const r = await root.get(`/v1/kv/${p}`);
      expect(r.status).toBe(404);
      expect(r.json.warnings).toEqual(['Non-listing operations on the root of a K/V v2 mount are not supported.']);
    }
  });

  it('still applies the ACL first', async () => {
    const t = await tokenWith(root, { nada: 'path "kv/data/x" { capabilities = ["read"] }' });
    expect((await root.with(t).get('/v1/kv/app/db')).json).toEqual({ errors: [ACL_DENIED] });
  });
});

describe('KV v2 create vs update (checklist 9)', () => {
  it('decides by metadata existence, even when every version is deleted', async () => {
    const createOnly = await tokenWith(root, {
      'v2-create': 'path "kv/data/cu/*" { capabilities = ["create"] }\npath "kv/metadata/cu/*" { capabilities = ["create"] }',
    });
    const updateOnly = await tokenWith(root, {
      'v2-update': 'path "kv/data/cu/*" { capabilities = ["update"] }\npath "kv/metadata/cu/*" { capabilities = ["update"] }',
    });
    const c = root.with(createOnly);
    const u = root.with(updateOnly);
    expect((await u.post('/v1/kv/data/cu/k', { data: { a: 1 } })).status).toBe(403);
    expect((await c.post('/v1/kv/data/cu/k', { data: { a: 1 } })).status).toBe(200);
    expect((await c.post('/v1/kv/data/cu/k', { data: { a: 1 } })).status).toBe(403);
    await root.del('/v1/kv/data/cu/k');
    await root.put('/v1/kv/destroy/cu/k', { versions: [1] });
    expect((await c.post('/v1/kv/data/cu/k', { data: { a: 2 } })).status).toBe(403);
    expect((await u.post('/v1/kv/data/cu/k', { data: { a: 2 } })).status).toBe(200);
    expect((await c.post('/v1/kv/metadata/cu/new', { max_versions: 1 })).status).toBe(204);
    expect((await c.post('/v1/kv/metadata/cu/new', { max_versions: 2 })).status).toBe(403);
    expect((await u.post('/v1/kv/metadata/cu/new', { max_versions: 2 })).status).toBe(204);
  });
});

describe('mount upgrade', () => {
  it('tunes a v1 mount to v2 with a warning and keeps the data as version 1; downgrade is refused', async () => {
    await root.post('/v1/sys/mounts/up', { type: 'kv-v1' });
    await root.put('/v1/up/k', { a: 'b' });
    const t = await root.post('/v1/sys/mounts/up/tune', { options: { version: '2' } });
    expect(t.status).toBe(200);
    expect(t.json.warnings).toEqual([
      'Upgrading mount from version 1 to version 2. This mount will be unavailable for a brief period and will resume service shortly.',
    ]);
    expect((await root.get('/v1/up/data/k')).json.data).toMatchObject({ data: { a: 'b' }, metadata: { version: 1 } });
    expect((await root.post('/v1/sys/mounts/up/tune', { options: { version: '1' } })).json).toEqual({ errors: ['cannot downgrade mount from version 2'] });
  });
});
