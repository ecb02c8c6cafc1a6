// §5.1–5.2 of vault-api.md: token store, TTLs against the server clock (checklist 11).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { ACL_DENIED, Client, goTime, manualClock, type Res } from './testkit.js';

let vault: VaultTestServer;
let root: Client;
const clock = manualClock();

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root', clock: clock.now });
  root = new Client(vault.url, 'root');
  await root.put('/v1/sys/policies/acl/web', { policy: 'path "secret/data/web/*" { capabilities = ["read"] }' });
  await root.put('/v1/sys/policies/acl/db', { policy: 'path "secret/data/db/*" { capabilities = ["read"] }' });
  await root.put('/v1/sys/policies/acl/creator', { policy: 'path "auth/token/create*" { capabilities = ["update"] }' });
});
afterAll(() => vault.close());

async function create(c: Client, body: Record<string, unknown>): Promise<{ token: string; auth: Res['json']; json: Res['json'] }> {
  const r = await c.post('/v1/auth/token/create', body);
  if (r.status !== 200) throw new Error(`${r.status} ${r.text}`);
  return { token: r.json.auth.client_token, auth: r.json.auth, json: r.json };
}

describe('auth/token/create', () => {
  it('returns the auth block in Vault field order with data null', async () => {
    const { json, auth } = await create(root, { policies: ['web', 'Web', 'db'], ttl: '1h', meta: { app: 'x' }, display_name: 'my app' });
    expect(json.data).toBeNull();
    expect(json.lease_duration).toBe(0);
    expect(Object.keys(auth)).toEqual([
      'client_token',
      'accessor',
      'policies',
      'token_policies',
      'metadata',
      'lease_duration',
      'renewable',
      'entity_id',
      'token_type',
      'orphan',
      'mfa_requirement',
      'num_uses',
    ]);
    expect(auth).toMatchObject({
      policies: ['db', 'default', 'web'],
      metadata: { app: 'x' },
      lease_duration: 3600,
      renewable: true,
      entity_id: '',
      token_type: 'service',
      orphan: false,
      mfa_requirement: null,
      num_uses: 0,
    });
    expect(auth.client_token).toMatch(/^hvs\.[A-Za-z0-9_-]{80,}$/);
    expect(auth.accessor).toMatch(/^[A-Za-z0-9]{24}$/);
    const look = await root.with(auth.client_token).get('/v1/auth/token/lookup-self');
    expect(look.json.data.display_name).toBe('token-my-app');
  });

  it('warns about policies that do not exist and about capped TTLs', async () => {
    const { json } = await create(root, { policies: ['ghost'], ttl: '1000h' });
    expect(json.warnings).toEqual([
      'TTL of "1000h0m0s" exceeded the effective max_ttl of "768h0m0s"; TTL value is capped accordingly',
      'Policy "ghost" does not exist',
    ]);
    expect(json.auth.lease_duration).toBe(2764800);
  });

  it('inherits the parent policies and only allows a subset for non-sudo callers', async () => {
    const parent = await create(root, { policies: ['creator', 'web', 'db'] });
    const p = root.with(parent.token);
    const child = await create(p, {});
    expect(child.auth.policies).toEqual(['creator', 'db', 'default', 'web']);
    expect((await create(p, { policies: ['web'] })).auth.policies).toEqual(['default', 'web']);
    expect((await create(p, { policies: ['web'], no_default_policy: true })).auth.policies).toEqual(['web']);
    const tooMuch = await p.post('/v1/auth/token/create', { policies: ['admin'] });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.json).toEqual({ errors: ['child policies must be subset of parent'] });
  });

  it('needs sudo for orphans and periodic tokens; root tokens only from root', async () => {
    const parent = await create(root, { policies: ['web'] });
    const p = root.with(parent.token);
    // Creating tokens is itself governed by the ACL (update on auth/token/create).
    expect((await p.post('/v1/auth/token/create', {})).json).toEqual({ errors: [ACL_DENIED] });
    const creator = root.with((await create(root, { policies: ['creator', 'web'] })).token);
    expect((await creator.post('/v1/auth/token/create', { no_parent: true })).json).toEqual({
      errors: ['root or sudo privileges required to create orphan token'],
    });
    expect((await creator.post('/v1/auth/token/create', { period: '1h' })).json).toEqual({
      errors: ['root or sudo privileges required to create periodic token'],
    });
    expect((await creator.post('/v1/auth/token/create', { policies: ['root'] })).json).toEqual({ errors: ['child policies must be subset of parent'] });
    expect((await creator.post('/v1/auth/token/create-orphan', {})).json.auth.orphan).toBe(true);
    expect((await creator.post('/v1/auth/token/create', { num_uses: -1 })).json).toEqual({ errors: ['number of uses cannot be negative'] });
    const rootChild = await create(root, { policies: ['root'] });
    expect(rootChild.auth).toMatchObject({ policies: ['root'], lease_duration: 0, renewable: false });
    expect(rootChild.auth.client_token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);
  });

  it('refuses children of use-limited and batch tokens', async () => {
    const limited = await create(root, { policies: ['root'], num_uses: 5 });
    expect((await root.with(limited.token).post('/v1/auth/token/create', {})).json).toEqual({ errors: ['restricted use token cannot generate child tokens'] });
    const batch = await create(root, { type: 'batch', policies: ['web'], ttl: '1h' });
    expect(batch.auth).toMatchObject({ token_type: 'batch', accessor: '', renewable: false });
    expect(batch.auth.client_token).toMatch(/^hvb\./);
  });
});

describe('lookup', () => {
  it('lookup-self reports the token fields, with ttl counting down on the server clock', async () => {
    const { token, auth } = await create(root, { policies: ['web'], ttl: '2h', explicit_max_ttl: '10h' });
    const created = clock.now();
    clock.advance(30_000);
    const r = await root.with(token).get('/v1/auth/token/lookup-self');
    expect(r.status).toBe(200);
    expect(r.json.data).toEqual({
      accessor: auth.accessor,
      creation_time: Math.floor(created / 1000),
      creation_ttl: 7200,
      display_name: 'token',
      entity_id: '',
      expire_time: goTime(created + 7200_000),
      explicit_max_ttl: 36000,
      id: token,
      issue_time: goTime(created),
      meta: null,
      num_uses: 0,
      orphan: false,
      path: 'auth/token/create',
      policies: ['default', 'web'],
      renewable: true,
      ttl: 7170,
      type: 'service',
    });
  });

  it('the configured root token never expires and has no lease fields', async () => {
    const r = await root.get('/v1/auth/token/lookup-self');
    expect(r.json.data).toMatchObject({
      id: 'root',
      policies: ['root'],
      ttl: 0,
      expire_time: null,
      path: 'auth/token/root',
      display_name: 'root',
      orphan: true,
    });
    expect(r.json.data.issue_time).toBeUndefined();
    expect(r.json.data.renewable).toBeUndefined();
  });

  it('lookup of another token answers 403 bad token when unknown', async () => {
    const { token } = await create(root, { policies: ['web'] });
    expect((await root.post('/v1/auth/token/lookup', { token })).json.data.id).toBe(token);
    const bad = await root.post('/v1/auth/token/lookup', { token: 'hvs.unknown' });
    expect(bad.status).toBe(403);
    expect(bad.json).toEqual({ errors: ['bad token'] });
    expect((await root.post('/v1/auth/token/lookup', {})).json).toEqual({ errors: ['missing token ID'] });
  });
});

describe('expiry (checklist 11)', () => {
  it('an expired token is 403 permission denied immediately, on every path', async () => {
    const { token } = await create(root, { policies: ['web'], ttl: '60s' });
    const c = root.with(token);
    clock.advance(59_000);
    expect((await c.get('/v1/auth/token/lookup-self')).status).toBe(200);
    clock.advance(1_000);
    for (const p of ['/v1/auth/token/lookup-self', '/v1/secret/data/web/x']) {
      const r = await c.get(p);
      expect(r.status).toBe(403);
      expect(r.text).toBe('{"errors":["permission denied"]}\n');
    }
    expect((await root.post('/v1/auth/token/lookup', { token })).json).toEqual({ errors: ['bad token'] });
  });

  it('children die with an expired parent; orphans survive', async () => {
    const parent = await create(root, { policies: ['root'], ttl: '10m' });
    const p = root.with(parent.token);
    const child = await create(p, { ttl: '1h' });
    const orphan = await create(p, { ttl: '1h', no_parent: true });
    clock.advance(10 * 60_000);
    expect((await root.with(child.token).get('/v1/auth/token/lookup-self')).status).toBe(403);
    expect((await root.with(orphan.token).get('/v1/auth/token/lookup-self')).status).toBe(200);
  });
});

describe('renewal', () => {
  it('renew-self extends to the increment and returns the same token', async () => {
    const { token } = await create(root, { policies: ['web'], ttl: '1h' });
    clock.advance(30 * 60_000);
    const r = await root.with(token).post('/v1/auth/token/renew-self', { increment: '2h' });
    expect(r.status).toBe(200);
    expect(r.json.auth).toMatchObject({ client_token: token, lease_duration: 7200, renewable: true, policies: ['default', 'web'] });
    const look = await root.with(token).get('/v1/auth/token/lookup-self');
    expect(look.json.data.ttl).toBe(7200);
    expect(look.json.data.last_renewal_time).toBe(Math.floor(clock.now() / 1000));
    clock.advance(7199_000);
    expect((await root.with(token).get('/v1/auth/token/lookup-self')).status).toBe(200);
  });

  it('caps renewals at the explicit max TTL with a warning', async () => {
    const { token } = await create(root, { policies: ['web'], ttl: '1h', explicit_max_ttl: '2h' });
    clock.advance(3000_000);
    const r = await root.with(token).post('/v1/auth/token/renew-self', { increment: '3h' });
    expect(r.json.auth.lease_duration).toBe(4200);
    expect(r.json.warnings).toEqual(['TTL of "3h0m0s" exceeded the effective max_ttl of "1h10m0s"; TTL value is capped accordingly']);
  });

  it('periodic tokens renew to their period indefinitely', async () => {
    const { token, auth } = await create(root, { policies: ['web'], period: '10m', ttl: '1h' });
    expect(auth.lease_duration).toBe(600);
    for (let i = 0; i < 5; i++) {
      clock.advance(9 * 60_000);
      const r = await root.with(token).post('/v1/auth/token/renew-self', { increment: '1h' });
      expect(r.json.auth.lease_duration).toBe(600);
    }
    expect((await root.with(token).get('/v1/auth/token/lookup-self')).json.data.period).toBe(600);
  });

  it('refuses to renew non-renewable and non-expiring tokens', async () => {
    expect((await root.post('/v1/auth/token/renew-self', {})).json).toEqual({ errors: ['lease is not renewable'] });
    const { token } = await create(root, { policies: ['web'], renewable: false });
    const r = await root.with(token).post('/v1/auth/token/renew-self', {});
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ errors: ['lease is not renewable'] });
    expect((await root.post('/v1/auth/token/renew', { token: 'hvs.nope' })).json).toEqual({ errors: ['token not found'] });
  });
});

describe('revocation and use counts (checklist 11)', () => {
  it('revoke-self revokes the token and its non-orphan children', async () => {
    const parent = await create(root, { policies: ['root'] });
    const p = root.with(parent.token);
    const child = await create(p, {});
    const grandchild = await create(root.with(child.token), {});
    const orphan = await create(p, { no_parent: true });
    const r = await p.post('/v1/auth/token/revoke-self');
    expect(r.status).toBe(204);
    for (const t of [parent.token, child.token, grandchild.token]) expect((await root.with(t).get('/v1/auth/token/lookup-self')).status).toBe(403);
    expect((await root.with(orphan.token).get('/v1/auth/token/lookup-self')).status).toBe(200);
  });

  it('revoke-orphan needs sudo and keeps the children', async () => {
    const parent = await create(root, { policies: ['root'] });
    const child = await create(root.with(parent.token), {});
    expect((await root.post('/v1/auth/token/revoke-orphan', { token: parent.token })).status).toBe(204);
    const look = await root.with(child.token).get('/v1/auth/token/lookup-self');
    expect(look.json.data.orphan).toBe(true);
  });

  it('num_uses: each request spends one, the last use succeeds, then 403', async () => {
    await root.put('/v1/sys/policies/acl/none', { policy: 'path "nothing" { capabilities = ["read"] }' });
    const { token, auth } = await create(root, { policies: ['none'], num_uses: 3 });
    expect(auth.num_uses).toBe(3);
    const c = root.with(token);
    expect((await c.get('/v1/auth/token/lookup-self')).json.data.num_uses).toBe(2);
    // A denied request still spends a use, as in Vault.
    expect((await c.get('/v1/secret/data/x')).json).toEqual({ errors: [ACL_DENIED] });
    expect((await c.get('/v1/auth/token/lookup-self')).status).toBe(200);
    expect((await c.get('/v1/auth/token/lookup-self')).json).toEqual({ errors: ['permission denied'] });
  });

  it('revoke and revoke-accessor are idempotent for unknown tokens', async () => {
    const { token, auth } = await create(root, { policies: ['web'] });
    expect((await root.post('/v1/auth/token/lookup-accessor', { accessor: auth.accessor })).json.data.id).toBe('');
    expect((await root.post('/v1/auth/token/revoke-accessor', { accessor: auth.accessor })).status).toBe(204);
    expect((await root.post('/v1/auth/token/revoke', { token })).status).toBe(204);
    expect((await root.post('/v1/auth/token/revoke', { token })).status).toBe(204);
  });
});
