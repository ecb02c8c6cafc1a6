// §5.3 AppRole and §5.4 Kubernetes auth of vault-api.md.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { ACL_DENIED, Client, manualClock } from './testkit.js';
import { startTokenReviewServer, type TokenReviewServer } from '../vault/token-review.js';

let vault: VaultTestServer;
let root: Client;
let anon: Client;
const clock = manualClock();

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root', clock: clock.now });
  root = new Client(vault.url, 'root');
  anon = new Client(vault.url);
  await root.put('/v1/sys/policies/acl/app', { policy: 'path "secret/data/app/*" { capabilities = ["read", "create", "update"] }' });
});
afterAll(() => vault.close());

describe('AppRole', () => {
  it('is not reachable before the auth method is enabled', async () => {
    const r = await anon.post('/v1/auth/approle/login', { role_id: 'x', secret_id: 'y' });
    expect(r.status).toBe(403);
    expect(r.json).toEqual({ errors: ['permission denied'] });
  });

  it('role → role-id → secret-id → login gives a token with the role policies and TTL', async () => {
    expect((await root.post('/v1/sys/auth/approle', { type: 'approle' })).status).toBe(204);
    expect((await root.post('/v1/auth/approle/role/web', { token_policies: ['app'], token_ttl: '1h', token_max_ttl: '4h', secret_id_ttl: '10m' })).status).toBe(
      204,
    );
    const role = await root.get('/v1/auth/approle/role/web');
    expect(role.json.data).toMatchObject({
      bind_secret_id: true,
      secret_id_ttl: 600,
      token_ttl: 3600,
      token_max_ttl: 14400,
      token_policies: ['app'],
      token_type: 'default',
      local_secret_ids: false,
    });
    const roleId = (await root.get('/v1/auth/approle/role/web/role-id')).json.data.role_id as string;
    expect(roleId).toMatch(/^[0-9a-f-]{36}$/);
    const sid = await root.post('/v1/auth/approle/role/web/secret-id', { metadata: JSON.stringify({ host: 'h1' }) });
    expect(sid.status).toBe(200);
    expect(Object.keys(sid.json.data).sort()).toEqual(['secret_id', 'secret_id_accessor', 'secret_id_num_uses', 'secret_id_ttl']);
    expect(sid.json.data).toMatchObject({ secret_id_ttl: 600, secret_id_num_uses: 0 });

    // A bad token on a login request is ignored.
    const login = await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: sid.json.data.secret_id }, { token: 'hvs.garbage' });
    expect(login.status).toBe(200);
    expect(login.json.data).toBeNull();
    expect(login.json.mount_type).toBe('approle');
    expect(login.json.auth).toMatchObject({
      policies: ['app', 'default'],
      token_policies: ['app', 'default'],
      metadata: { host: 'h1', role_name: 'web' },
      lease_duration: 3600,
      renewable: true,
      token_type: 'service',
      orphan: true,
      num_uses: 0,
    });
    expect(login.json.auth.entity_id).toMatch(/^[0-9a-f-]{36}$/);
    const token = login.json.auth.client_token as string;
    const c = root.with(token);
    expect((await c.post('/v1/secret/data/app/x', { data: { a: 1 } })).status).toBe(200);
    expect((await c.get('/v1/secret/data/other')).json).toEqual({ errors: [ACL_DENIED] });
    const look = await c.get('/v1/auth/token/lookup-self');
    expect(look.json.data).toMatchObject({ display_name: 'approle', path: 'auth/approle/login', orphan: true, meta: { host: 'h1', role_name: 'web' } });

    // Same role → same entity.
    const sid2 = await root.post('/v1/auth/approle/role/web/secret-id', {});
    const login2 = await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: sid2.json.data.secret_id });
    expect(login2.json.auth.entity_id).toBe(login.json.auth.entity_id);

    // Past its TTL the token is gone, renew-self included.
    clock.advance(3600_000);
    expect((await c.post('/v1/auth/token/renew-self', {})).json).toEqual({ errors: ['permission denied'] });
  });

  it('renews within the role max TTL', async () => {
    const roleId = (await root.get('/v1/auth/approle/role/web/role-id')).json.data.role_id;
    const sid = (await root.post('/v1/auth/approle/role/web/secret-id', {})).json.data.secret_id;
    const login = await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: sid });
    const c = root.with(login.json.auth.client_token);
    // Each renewal grants token_ttl again until token_max_ttl (from issue time) caps it.
    for (let i = 0; i < 3; i++) {
      clock.advance(50 * 60_000);
      const r = await c.post('/v1/auth/token/renew-self', {});
      expect(r.json.auth.lease_duration).toBe(3600);
    }
    clock.advance(50 * 60_000);
    const last = await c.post('/v1/auth/token/renew-self', {});
    expect(last.json.auth.lease_duration).toBe(2400);
    expect(last.json.warnings).toEqual(['TTL of "1h0m0s" exceeded the effective max_ttl of "40m0s"; TTL value is capped accordingly']);
  });

  it('rejects bad credentials with 400 and Vault messages', async () => {
    const roleId = (await root.get('/v1/auth/approle/role/web/role-id')).json.data.role_id;
    expect((await anon.post('/v1/auth/approle/login', {})).json).toEqual({ errors: ['missing role_id'] });
    expect((await anon.post('/v1/auth/approle/login', { role_id: roleId })).json).toEqual({ errors: ['missing secret_id'] });
    for (const body of [
      { role_id: 'nope', secret_id: 'x' },
      { role_id: roleId, secret_id: 'wrong' },
    ]) {
      const r = await anon.post('/v1/auth/approle/login', body);
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ errors: ['invalid role or secret ID'] });
    }
  });

  it('expires secret IDs by TTL and consumes them by num_uses', async () => {
    const roleId = (await root.get('/v1/auth/approle/role/web/role-id')).json.data.role_id;
    const ttl = (await root.post('/v1/auth/approle/role/web/secret-id', { ttl: '1m' })).json.data.secret_id;
    clock.advance(61_000);
    expect((await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: ttl })).json).toEqual({ errors: ['invalid role or secret ID'] });
    const once = (await root.post('/v1/auth/approle/role/web/secret-id', { num_uses: 1 })).json.data.secret_id;
    expect((await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: once })).status).toBe(200);
    expect((await anon.post('/v1/auth/approle/login', { role_id: roleId, secret_id: once })).status).toBe(400);
  });

  it('answers missing roles the Vault way', async () => {
    expect((await root.get('/v1/auth/approle/role/none')).text).toBe('{"errors":[]}\n');
    expect((await root.get('/v1/auth/approle/role/none/role-id')).text).toBe('{"errors":[]}\n');
    const sid = await root.post('/v1/auth/approle/role/none/secret-id', {});
    expect(sid.status).toBe(404);
    expect(sid.json).toEqual({ errors: ['role "none" does not exist'] });
    await root.post('/v1/auth/approle/role/nobind', { bind_secret_id: false, secret_id_bound_cidrs: ['127.0.0.1/32'] });
    expect((await root.post('/v1/auth/approle/role/nobind/secret-id', {})).json).toEqual({ errors: ['bind_secret_id is not set on the role'] });
    expect((await root.list('/v1/auth/approle/role')).json.data.keys).toEqual(['nobind', 'web']);
  });

  it('applies the create/update existence check to roles', async () => {
    await root.put('/v1/sys/policies/acl/role-updater', { policy: 'path "auth/approle/role/*" { capabilities = ["update"] }' });
    const t = (await root.post('/v1/auth/token/create', { policies: ['role-updater'] })).json.auth.client_token;
    expect((await root.with(t).post('/v1/auth/approle/role/newrole', { token_policies: ['app'] })).json).toEqual({ errors: [ACL_DENIED] });
    expect((await root.with(t).post('/v1/auth/approle/role/web', { token_ttl: '1h' })).status).toBe(204);
  });

  it('supports custom role IDs and role-less login with bound CIDRs', async () => {
    await root.post('/v1/auth/approle/role/nobind/role-id', { role_id: 'my-role-id' });
    const r = await anon.post('/v1/auth/approle/login', { role_id: 'my-role-id' });
    expect(r.status).toBe(200);
    expect(r.json.auth.metadata).toEqual({ role_name: 'nobind' });
  });
});

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function jwt(key: KeyObject, alg: 'RS256' | 'ES256', claims: Record<string, unknown>): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  const sig = alg === 'ES256' ? sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(head), key);
  return `${head}.${sig.toString('base64url')}`;
}

describe('Kubernetes', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = (): number => Math.floor(clock.now() / 1000);
  const projected = (ns: string, sa: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    iss: 'https://kubernetes.default.svc.cluster.local',
    aud: ['vault'],
    sub: `system:serviceaccount:${ns}:${sa}`,
    iat: now(),
    exp: now() + 3600,
    'kubernetes.io': { namespace: ns, serviceaccount: { name: sa, uid: `uid-${sa}` }, pod: { name: 'p', uid: 'pu' } },
    ...extra,
  });

  // Known to Vault (pem_keys) but not to the cluster: its tokens pass the local check, never the review.
  const unknownToCluster = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();
  let api: TokenReviewServer;

  beforeAll(async () => {
    api = await startTokenReviewServer();
    api.trust(pem(rsa.publicKey));
    api.trust(pem(ec.publicKey));
    await root.post('/v1/sys/auth/kubernetes', { type: 'kubernetes' });
    const config = {
      kubernetes_host: api.url,
      kubernetes_ca_cert: api.caPem,
      pem_keys: [pem(rsa.publicKey), pem(ec.publicKey), pem(unknownToCluster.publicKey)],
    };
    expect((await root.post('/v1/auth/kubernetes/config', config)).status).toBe(204);
    expect(
      (
        await root.post('/v1/auth/kubernetes/role/keygate', {
          bound_service_account_names: ['keygate', 'keygate-*'],
          bound_service_account_namespaces: ['prod'],
          audience: 'vault',
          token_policies: ['app'],
          token_ttl: '20m',
        })
      ).status,
    ).toBe(204);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('asks the TokenReview API at every login, as the plugin does, and refuses what it does not vouch for', async () => {
    const before = api.reviews.length;
    const ok = await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: jwt(rsa.privateKey, 'RS256', projected('prod', 'keygate')) });
    expect(ok.status).toBe(200);
    expect(api.reviews.slice(before)).toEqual([{ account: 'prod/keygate', authenticated: true }]);
    const refused = await anon.post('/v1/auth/kubernetes/login', {
      role: 'keygate',
      jwt: jwt(unknownToCluster.privateKey, 'ES256', projected('prod', 'keygate')),
    });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ errors: ['permission denied'] });
    expect(api.reviews.slice(before)).toHaveLength(2);
  });

  it('validates config and role input', async () => {
    expect((await root.post('/v1/auth/kubernetes/config', {})).json).toEqual({ errors: ['no host provided'] });
    expect((await root.post('/v1/auth/kubernetes/role/bad', { bound_service_account_namespaces: ['x'] })).json).toEqual({
      errors: ['"bound_service_account_names" can not be empty'],
    });
    expect((await root.post('/v1/auth/kubernetes/role/bad', { bound_service_account_names: ['x'] })).json).toEqual({
      errors: ['"bound_service_account_namespaces" can not be empty if "bound_service_account_namespace_selector" is not set'],
    });
    expect(
      (await root.post('/v1/auth/kubernetes/role/bad', { bound_service_account_names: ['*', 'x'], bound_service_account_namespaces: ['x'] })).json,
    ).toEqual({
      errors: ['can not mix "*" with values'],
    });
  });

  it('logs in with an RS256 projected token and an ES256 legacy token', async () => {
    const r = await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: jwt(rsa.privateKey, 'RS256', projected('prod', 'keygate')) });
    expect(r.status).toBe(200);
    expect(r.json.auth).toMatchObject({
      metadata: {
        role: 'keygate',
        service_account_name: 'keygate',
        service_account_namespace: 'prod',
        service_account_secret_name: '',
        service_account_uid: 'uid-keygate',
      },
      policies: ['app', 'default'],
      lease_duration: 1200,
      renewable: true,
      orphan: true,
      token_type: 'service',
    });
    const look = await root.with(r.json.auth.client_token).get('/v1/auth/token/lookup-self');
    expect(look.json.data.display_name).toBe('kubernetes-prod-keygate');

    const legacy = {
      iss: 'kubernetes/serviceaccount',
      'kubernetes.io/serviceaccount/namespace': 'prod',
      'kubernetes.io/serviceaccount/secret.name': 'keygate-token-abcde',
      'kubernetes.io/serviceaccount/service-account.name': 'keygate-worker',
      'kubernetes.io/serviceaccount/service-account.uid': 'uid-w',
      sub: 'system:serviceaccount:prod:keygate-worker',
      aud: 'vault',
    };
    const l = await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: jwt(ec.privateKey, 'ES256', legacy) });
    expect(l.status).toBe(200);
    expect(l.json.auth.metadata).toMatchObject({ service_account_name: 'keygate-worker', service_account_secret_name: 'keygate-token-abcde' });
  });

  it('answers 403 permission denied for a bad signature or a malformed token', async () => {
    for (const token of [
      jwt(other.privateKey, 'ES256', projected('prod', 'keygate')),
      'not.a.jwt',
      jwt(rsa.privateKey, 'RS256', projected('prod', 'keygate')).slice(0, -4) + 'AAAA',
    ]) {
      const r = await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: token });
      expect(r.status).toBe(403);
      expect(r.json).toEqual({ errors: ['permission denied'] });
    }
  });

  it('answers 403 with the validation message for expired tokens and wrong audiences', async () => {
    const expired = await anon.post('/v1/auth/kubernetes/login', {
      role: 'keygate',
      jwt: jwt(rsa.privateKey, 'RS256', projected('prod', 'keygate', { iat: now() - 7200, exp: now() - 3600 })),
    });
    expect(expired.status).toBe(403);
    expect(expired.json).toEqual({ errors: ['invalid expiration time (exp) claim: token is expired'] });
    const aud = await anon.post('/v1/auth/kubernetes/login', {
      role: 'keygate',
      jwt: jwt(rsa.privateKey, 'RS256', projected('prod', 'keygate', { aud: ['other'] })),
    });
    expect(aud.json).toEqual({ errors: ['invalid audience (aud) claim: audience claim does not match any expected audience'] });
  });

  it('judges expiry on the server clock', async () => {
    const token = jwt(rsa.privateKey, 'RS256', projected('prod', 'keygate', { exp: now() + 30 }));
    expect((await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: token })).status).toBe(200);
    clock.advance(120_000);
    expect((await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: token })).status).toBe(403);
  });

  it('enforces the service-account name and namespace bindings', async () => {
    const name = await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: jwt(rsa.privateKey, 'RS256', projected('prod', 'intruder')) });
    expect(name.status).toBe(403);
    expect(name.json).toEqual({ errors: ['service account name not authorized'] });
    const ns = await anon.post('/v1/auth/kubernetes/login', { role: 'keygate', jwt: jwt(rsa.privateKey, 'RS256', projected('dev', 'keygate')) });
    expect(ns.status).toBe(403);
    expect(ns.json).toEqual({ errors: ['namespace not authorized'] });
  });

  it('answers 400 for missing fields and unknown roles', async () => {
    expect((await anon.post('/v1/auth/kubernetes/login', { jwt: 'x' })).json).toEqual({ errors: ['missing role'] });
    expect((await anon.post('/v1/auth/kubernetes/login', { role: 'keygate' })).json).toEqual({ errors: ['missing jwt'] });
    const r = await anon.post('/v1/auth/kubernetes/login', { role: 'ghost', jwt: 'x' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ errors: ['invalid role name "ghost"'] });
  });

  it('reads config and roles back', async () => {
    const cfg = await root.get('/v1/auth/kubernetes/config');
    expect(cfg.json.data).toMatchObject({ kubernetes_host: api.url, disable_iss_validation: true, token_reviewer_jwt_set: false });
    expect(cfg.json.data.pem_keys).toHaveLength(3);
    const role = await root.get('/v1/auth/kubernetes/role/keygate');
    expect(role.json.data).toMatchObject({
      bound_service_account_names: ['keygate', 'keygate-*'],
      bound_service_account_namespaces: ['prod'],
      token_ttl: 1200,
      audience: 'vault',
    });
  });
});
