/**
 * A keygate server with something in it: a key, a certificate bundle, a group
 * it is assigned to, a registered node and a policy. Attacks then aim at real
 * resources, so "nothing stored" also means "nothing changed or deleted".
 */
import { expect } from 'vitest';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import type { TestClient } from '../helpers/certs.js';
import type { Peer } from './raw.js';

export interface Seeded {
  s: TestServer;
  /** The admin, as a raw-socket peer. */
  peer: Peer;
  certs: BundleCerts;
  bundle: TestBundle;
  groupToken: string;
  nodeToken: string;
  /** An identity with a policy (`p1`: describe keys and bundles, but never key k1). */
  reader: TestClient;
  /** The RKS surface's credentials: admin token (from the login), group and node token of `redge`. */
  rks: { adminToken: string; groupToken: string; nodeToken: string };
}

/** The `rks:` section of the seeded server: its root (init) token and admin login. */
export const RKS = { init_token: 'init-hardening-Qw8', admin: { login: 'admin-rks', password: 'pw-hardening-Zt5' } } as const;

/** The seeded server's PKI: one built-in CA, a role for certificate identities and one for the seeded group's nodes. */
export const SEED_PKI = {
  issuers: { root: { builtin: { common_name: 'Hardening CA', key_type: 'ecdsa-p256' } } },
  roles: {
    web: { issuer: 'root', allowed_names: ['*.example.com'], usage: ['server'], allow_ip_sans: true, max_ttl: '24h', groups: ['edge'] },
  },
} as const;

/** Names of the seeded resources, by what a path segment names. */
export const SEED = {
  key: 'k1',
  bundle: 'www.example.com',
  group: 'edge',
  node: 'n1',
  policy: 'p1',
  rksGroup: 'redge',
  rksSecret: 'rks.example.com',
  rksNode: 'rn1',
} as const;

export async function seededServer(options: TestServerOptions = {}): Promise<Seeded> {
  let reader: TestClient | undefined;
  const s = await startTestServer({
    ...options,
    // A PKI too, so its routes are attacked past "no such role": the role `web` (seedValue's), a
    // node role for the seeded group, and a built-in CA made while seeding (never by an attack).
    config: { limits: { auth_failures: 0 }, rks: RKS, pki: SEED_PKI, ...options.config },
    prepare: (pki, admin) => {
      reader = pki.client({ commonName: 'reader' });
      const policy = { allow: ['/v1/key/describe/*', '/v1/cert/describe/*'], deny: ['/v1/key/*/k1'], identities: [reader.identity] };
      return { policy: { [SEED.policy]: policy }, ...options.prepare?.(pki, admin) };
    },
  });
  const certs = new BundleCerts();
  const bundle = certs.bundle({ dnsNames: [SEED.bundle] });
  const ok = async (path: string, opts: Parameters<TestServer['call']>[2] = {}) => {
    const r = await s.call(s.admin, path, { method: 'PUT', ...opts });
    expect(r.status, `${path}: ${r.text}`).toBe(200);
    return r;
  };
  await ok(`/v1/key/create/${SEED.key}`);
  await ok(`/v1/cert/import/${SEED.bundle}`, { body: { certificate: bundle.chainPem, private_key: bundle.keyPem, ttl: 3600 } });
  const groupToken = (await ok(`/v1/group/create/${SEED.group}`, { body: {} })).json.group_token as string;
  await ok(`/v1/group/assign/${SEED.group}/${SEED.bundle}`);
  expect((await s.call(null, '/v1/pki/ca')).status).toBe(200); // the CA exists before any attack
  const reg = await s.call(null, `/v1/node/register/${SEED.group}`, {
    method: 'PUT',
    body: { node_id: SEED.node },
    headers: { Authorization: `Bearer ${groupToken}` },
  });
  expect(reg.status, reg.text).toBe(200);
  return {
    rks: await seedRks(s, certs.bundle({ dnsNames: [SEED.rksSecret] })),
    s,
    peer: { port: s.port, ca: s.pki.ca.certPem, cert: s.admin.certPem, key: s.admin.keyPem },
    certs,
    bundle,
    groupToken,
    nodeToken: reg.json.node_token as string,
    reader: reader as TestClient,
  };
}

/** RKS's way in: login, init, a group with a secret associated and a registered node. */
async function seedRks(s: TestServer, bundle: TestBundle): Promise<Seeded['rks']> {
  const call = async (path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await s.call(null, path, {
      method: 'POST',
      headers: { 'X-Vault-Token': token, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body } : {}),
    });
    expect(r.status, `${path}: ${r.text}`).toBeLessThan(300);
    return r;
  };
  const adminToken = (await call('/rks/v1/admin/login', '', RKS.admin)).json.adminToken as string;
  await call('/rks/v1/init', RKS.init_token);
  const groupToken = (await call(`/rks/v1/group/${SEED.rksGroup}`, adminToken, { callbackURL: '', oauthURL: '', oauthClientID: '', oauthClientSecret: '' }))
    .json.groupToken as string;
  await call(`/rks/v1/secret/${SEED.rksSecret}`, adminToken, { data: { certificate: bundle.chainPem, private_key: bundle.keyPem, meta: { ttl: 600 } } });
  await call(`/rks/v1/group/${SEED.rksGroup}/secrets/${SEED.rksSecret}`, adminToken);
  const nodeToken = (await call('/rks/v1/node', groupToken, undefined, { 'X-LCDN-nodeId': SEED.rksNode })).json.nodeToken as string;
  return { adminToken, groupToken, nodeToken };
}

/** A valid value for a path parameter, by its name or by the route family it belongs to. */
export function seedValue(param: string, routePath: string, index: number): string {
  const p = param.toLowerCase();
  if (routePath.startsWith('/rks/')) {
    if (p.includes('group')) return SEED.rksGroup;
    if (p.includes('node')) return SEED.rksNode;
    if (p.includes('fqdn')) return SEED.rksSecret;
  }
  if (p.includes('group')) return SEED.group;
  if (p.includes('node')) return SEED.node;
  if (p.includes('fqdn') || p.includes('bundle') || p.includes('server_name') || p.includes('asset')) return p.includes('asset') ? 'app.js' : SEED.bundle;
  if (p.includes('identity')) return 'self';
  if (routePath.startsWith('/v1/pki/')) return routePath.includes('/certs/') ? '4a' : 'web';
  if (p.includes('pattern') || p.includes('prefix')) return '*';
  if (routePath.startsWith('/v1/key/')) return SEED.key;
  if (routePath.startsWith('/v1/cert/')) return SEED.bundle;
  if (routePath.startsWith('/v1/policy/')) return SEED.policy;
  if (routePath.startsWith('/v1/group/') || routePath.startsWith('/v1/node/')) {
    if (index === 0) return SEED.group;
    return routePath.includes('assign') ? SEED.bundle : SEED.node;
  }
  return 'x1';
}
