// §1.6 and §2.1–2.4 of vault-api.md: health, seal state, init/unseal, mounts (checklist 14).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { ACL_DENIED, Client, tokenWith } from './testkit.js';

let vault: VaultTestServer;
let root: Client;
let anon: Client;

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root' });
  root = new Client(vault.url, 'root');
  anon = new Client(vault.url);
});
afterAll(() => vault.close());
beforeEach(() => {
  vault.faults.reset();
  vault.unseal();
});

describe('sys/health', () => {
  it('answers 200 with the Vault body while active and unsealed', async () => {
    const r = await anon.get('/v1/sys/health');
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual([
      'initialized',
      'sealed',
      'standby',
      'performance_standby',
      'replication_performance_mode',
      'replication_dr_mode',
      'server_time_utc',
      'version',
      'enterprise',
      'cluster_name',
      'cluster_id',
      'echo_duration_ms',
      'clock_skew_ms',
      'replication_primary_canary_age_ms',
    ]);
    expect(r.json).toMatchObject({ initialized: true, sealed: false, standby: false, replication_dr_mode: 'disabled' });
    expect(r.json.server_time_utc).toBe(Math.floor(vault.now() / 1000));
  });

  it('uses the sealed, standby, perf-standby and DR codes and their overrides', async () => {
    vault.seal();
    let r = await anon.get('/v1/sys/health');
    expect(r.status).toBe(503);
    expect(r.json.sealed).toBe(true);
    expect(r.json.cluster_name).toBeUndefined();
    expect((await anon.get('/v1/sys/health?sealedcode=299')).status).toBe(299);
    vault.unseal();
    vault.faults.setRole('standby');
    r = await anon.get('/v1/sys/health');
    expect(r.status).toBe(429);
    expect(r.json.standby).toBe(true);
    expect((await anon.get('/v1/sys/health?standbyok=true')).status).toBe(200);
    expect((await anon.get('/v1/sys/health?standbycode=200')).status).toBe(200);
    vault.faults.setRole('perfstandby');
    expect((await anon.get('/v1/sys/health')).status).toBe(473);
    expect((await anon.get('/v1/sys/health?perfstandbyok=true')).status).toBe(200);
    vault.faults.setRole('drsecondary');
    expect((await anon.get('/v1/sys/health')).status).toBe(472);
    expect((await anon.get('/v1/sys/health?drsecondarycode=200')).status).toBe(200);
    vault.faults.setRole('active');
    expect((await anon.get('/v1/sys/health?activecode=204')).status).toBe(204);
  });

  it('rejects unparsable overrides with 400 {"errors":[]} and other verbs with 405', async () => {
    for (const q of ['activecode=abc', 'standbyok=maybe']) {
      const r = await anon.get(`/v1/sys/health?${q}`);
      expect(r.status).toBe(400);
      expect(r.text).toBe('{"errors":[]}\n');
    }
    const p = await anon.post('/v1/sys/health', {});
    expect(p.status).toBe(405);
    expect(p.text).toBe('{"errors":[]}\n');
  });

  it('answers HEAD with the status only', async () => {
    vault.seal();
    const r = await anon.request('HEAD', '/v1/sys/health');
    expect(r.status).toBe(503);
    expect(r.text).toBe('');
  });
});

describe('seal, unseal and init', () => {
  it('reports seal status unauthenticated, with cluster fields only while unsealed', async () => {
    const r = await anon.get('/v1/sys/seal-status');
    expect(Object.keys(r.json)).toEqual([
      'type',
      'initialized',
      'sealed',
      't',
      'n',
      'progress',
      'nonce',
      'version',
      'build_date',
      'migration',
      'cluster_name',
      'cluster_id',
      'recovery_seal',
      'storage_type',
    ]);
    expect(r.json).toMatchObject({ type: 'shamir', initialized: true, sealed: false, t: 1, n: 1, progress: 0, storage_type: 'inmem' });
    expect((await anon.post('/v1/sys/seal-status', {})).status).toBe(405);
  });

  it('seals with a root/sudo token only, then unseals with the key', async () => {
    const weak = await tokenWith(root, { nosudo: 'path "sys/seal" { capabilities = ["update"] }' });
    expect((await root.with(weak).put('/v1/sys/seal')).json).toEqual({ errors: [ACL_DENIED] });
    expect((await anon.put('/v1/sys/seal')).status).toBe(403);
    expect((await root.get('/v1/sys/seal')).status).toBe(405);
    const s = await root.put('/v1/sys/seal');
    expect(s.status).toBe(204);
    expect((await root.get('/v1/secret/data/x')).json).toEqual({ errors: ['Vault is sealed'] });
    expect((await anon.put('/v1/sys/unseal', {})).json).toEqual({ errors: ["'key' must be specified in request body as JSON, or 'reset' set to true"] });
    expect((await anon.put('/v1/sys/unseal', { key: '!!' })).json).toEqual({ errors: ["'key' must be a valid hex or base64 string"] });
    const u = await anon.put('/v1/sys/unseal', { key: vault.unsealKeys[0] });
    expect(u.status).toBe(200);
    expect(u.json).toMatchObject({ sealed: false, progress: 0 });
    expect((await anon.put('/v1/sys/unseal', { reset: true })).json).toEqual({ errors: ['vault is unsealed'] });
    expect((await root.get('/v1/sys/mounts')).status).toBe(200);
  });

  it('goes through init and threshold unseal from an uninitialised server', async () => {
    const fresh = await startVaultTestServer();
    try {
      const c = new Client(fresh.url);
      fresh.faults.uninitialize();
      expect((await c.get('/v1/sys/health')).status).toBe(501);
      expect((await c.get('/v1/sys/health?uninitcode=200')).status).toBe(200);
      expect((await c.get('/v1/sys/init')).json).toEqual({ initialized: false });
      expect((await c.get('/v1/secret/data/x')).json).toEqual({ errors: ['Vault is sealed'] });
      expect((await c.get('/v1/sys/seal-status')).json).toMatchObject({ initialized: false, sealed: true, t: 0, n: 0 });
      expect((await c.put('/v1/sys/init', { secret_shares: 3, secret_threshold: 1 })).json).toEqual({
        errors: ['invalid seal configuration: threshold must be greater than one for multiple shares'],
      });
      const init = await c.put('/v1/sys/init', { secret_shares: 3, secret_threshold: 2 });
      expect(init.status).toBe(200);
      expect(Object.keys(init.json)).toEqual(['keys', 'keys_base64', 'root_token']);
      expect(init.json.keys).toHaveLength(3);
      expect(init.json.root_token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);
      expect((await c.put('/v1/sys/init', { secret_shares: 1, secret_threshold: 1 })).json).toEqual({ errors: ['Vault is already initialized'] });
      expect((await c.get('/v1/sys/health')).status).toBe(503);
      const p1 = await c.put('/v1/sys/unseal', { key: init.json.keys[0] });
      expect(p1.json).toMatchObject({ sealed: true, progress: 1, t: 2, n: 3 });
      const p2 = await c.put('/v1/sys/unseal', { key: init.json.keys_base64[2] });
      expect(p2.json).toMatchObject({ sealed: false, progress: 0 });
      const r = await c.get('/v1/sys/mounts', { token: init.json.root_token });
      expect(r.status).toBe(200);
      // A non-dev server has no secret/ mount.
      expect(r.json.data['secret/']).toBeUndefined();
    } finally {
      await fresh.close();
    }
  });

  it('answers sys/leader, sealed or not (no HA)', async () => {
    const want = {
      ha_enabled: false,
      is_self: false,
      active_time: '0001-01-01T00:00:00Z',
      leader_address: '',
      leader_cluster_address: '',
      performance_standby: false,
      performance_standby_last_remote_wal: 0,
    };
    expect((await anon.get('/v1/sys/leader')).json).toEqual(want);
    vault.seal();
    expect((await anon.get('/v1/sys/leader')).json).toEqual(want);
  });
});

describe('sys/mounts', () => {
  it('starts with the dev-mode mounts', async () => {
    const r = await root.get('/v1/sys/mounts');
    expect(Object.keys(r.json.data).sort()).toEqual(['cubbyhole/', 'identity/', 'secret/', 'sys/']);
    expect(r.json.data['secret/']).toMatchObject({ type: 'kv', options: { version: '2' }, local: false, seal_wrap: false });
    expect(r.json.data['cubbyhole/']).toMatchObject({ type: 'cubbyhole', local: true });
    expect(r.json.data['sys/'].type).toBe('system');
  });

  it('enables engines with aliases and options, and reads them back', async () => {
    expect((await root.post('/v1/sys/mounts/a/kv2', { type: 'kv-v2', description: 'd' })).status).toBe(204);
    expect((await root.post('/v1/sys/mounts/gen', { type: 'generic' })).status).toBe(204);
    const one = await root.get('/v1/sys/mounts/a/kv2');
    expect(one.json.data).toMatchObject({ type: 'kv', options: { version: '2' }, description: 'd' });
    expect(one.json.type).toBe('kv');
    expect((await root.get('/v1/sys/mounts/gen')).json.data).toMatchObject({ type: 'kv', options: null });
    expect((await root.get('/v1/sys/mounts/nothing')).json).toEqual({ errors: ['No secret engine mount at nothing/'] });
  });

  it('refuses overlaps, protected paths, unknown types and versions on non-KV types', async () => {
    expect((await root.post('/v1/sys/mounts/a', { type: 'kv' })).json).toEqual({ errors: ['path is already in use at a/kv2/'] });
    expect((await root.post('/v1/sys/mounts/secret/sub', { type: 'kv' })).json).toEqual({ errors: ['path is already in use at secret/'] });
    expect((await root.post('/v1/sys/mounts/sys', { type: 'kv' })).json).toEqual({ errors: ['cannot mount "sys/"'] });
    expect((await root.post('/v1/sys/mounts/x', { type: 'nosuch' })).json).toEqual({ errors: ['plugin not found in the catalog: nosuch'] });
    expect((await root.post('/v1/sys/mounts/x', { type: 'transit', options: { version: '2' } })).json).toEqual({
      errors: ['secrets engine "transit" does not allow setting a version'],
    });
    expect((await root.post('/v1/sys/mounts/x', {})).json).toEqual({ errors: ['backend type must be specified as a string'] });
  });

  it('disables with 204, also when nothing is mounted', async () => {
    await root.post('/v1/secret/data/x', { data: { a: 1 } });
    expect((await root.del('/v1/sys/mounts/gen')).status).toBe(204);
    expect((await root.del('/v1/sys/mounts/gen')).status).toBe(204);
    expect((await root.get('/v1/gen/x')).status).toBe(404);
  });

  it('tunes lease TTLs', async () => {
    expect((await root.post('/v1/sys/mounts/a/kv2/tune', { default_lease_ttl: '1h', max_lease_ttl: '2h' })).status).toBe(204);
    expect((await root.get('/v1/sys/mounts/a/kv2/tune')).json.data).toMatchObject({ default_lease_ttl: 3600, max_lease_ttl: 7200 });
  });
});

describe('sys/auth', () => {
  it('enables, lists and disables auth methods', async () => {
    expect((await root.post('/v1/sys/auth/approle', { type: 'approle' })).status).toBe(204);
    expect((await root.post('/v1/sys/auth/k8s/prod', { type: 'kubernetes' })).status).toBe(204);
    const l = await root.get('/v1/sys/auth');
    expect(Object.keys(l.json.data).sort()).toEqual(['approle/', 'k8s/prod/', 'token/']);
    expect(l.json['approle/'].type).toBe('approle');
    expect((await root.post('/v1/sys/auth/approle', { type: 'approle' })).json).toEqual({ errors: ['path is already in use at approle/'] });
    expect((await root.post('/v1/sys/auth/tok', { type: 'token' })).json).toEqual({ errors: ['token credential backend cannot be instantiated'] });
    expect((await root.del('/v1/sys/auth/k8s/prod')).status).toBe(204);
    expect(Object.keys((await root.get('/v1/sys/auth')).json.data).sort()).toEqual(['approle/', 'token/']);
  });

  it('listing is not root-protected but enabling is', async () => {
    const t = await tokenWith(root, { authread: 'path "sys/auth" { capabilities = ["read"] }\npath "sys/auth/*" { capabilities = ["update", "create"] }' });
    expect((await root.with(t).get('/v1/sys/auth')).status).toBe(200);
    expect((await root.with(t).post('/v1/sys/auth/other', { type: 'approle' })).json).toEqual({ errors: [ACL_DENIED] });
  });
});
