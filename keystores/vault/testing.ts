/**
 * Test support for the Vault adapter: sets Vault up over its HTTP API the way
 * an operator would (mounts, namespaces, policies, AppRole and Kubernetes
 * auth), against the project's test server or a real Vault. The adapter never
 * imports this module.
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { minimalPolicy, type PolicyScope } from './policy.js';

export interface AdminResponse {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** A Kubernetes API that answers TokenReviews (a real Vault's Kubernetes auth asks it at every login). */
export interface KubernetesAPI {
  readonly url: string;
  readonly caPem: string;
  /** Makes the API authenticate JWTs signed with this key. */
  trust(publicKeyPem: string): void;
}

/** A root-ish client for one namespace ('' = root). */
export class VaultAdmin {
  /**
   * Where `kubernetes()` points Vault for TokenReviews; unset, a made-up host (the project's
   * test server verifies JWTs with the configured keys alone).
   */
  kubernetesAPI: (() => Promise<KubernetesAPI>) | undefined;

  constructor(
    readonly url: string,
    readonly token: string,
    readonly namespace = '',
  ) {}

  /** The same client in another namespace. */
  in(namespace: string): VaultAdmin {
    const other = new VaultAdmin(this.url, this.token, namespace);
    other.kubernetesAPI = this.kubernetesAPI;
    return other;
  }

  /** One request; `token` overrides the admin token ('' sends none). */
  async request(method: string, path: string, body?: unknown, token = this.token): Promise<AdminResponse> {
    const headers: Record<string, string> = {};
    if (token !== '') headers['X-Vault-Token'] = token;
    if (this.namespace !== '') headers['X-Vault-Namespace'] = this.namespace;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const list = method === 'LIST';
    const res = await fetch(`${this.url}/v1/${path}${list ? '?list=true' : ''}`, {
      method: list ? 'GET' : method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  }

  /** Like `request`, but any status >= 400 throws. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async ok(method: string, path: string, body?: unknown): Promise<any> {
    const res = await this.request(method, path, body);
    if (res.status >= 400) throw new Error(`${method} ${path} (ns '${this.namespace}'): ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async createNamespace(name: string): Promise<void> {
    await this.ok('POST', `sys/namespaces/${name}`, {});
  }

  /** Mounts a KV engine and, like real clients, waits out a fresh KV v2 mount's brief upgrade phase. */
  async mountKV(path: string, version: 'v1' | 'v2'): Promise<void> {
    await this.ok('POST', `sys/mounts/${path}`, { type: 'kv', options: { version: version === 'v1' ? '1' : '2' } });
    for (let i = 0; version === 'v2' && i < 100; i++) {
      const res = await this.request('LIST', `${path}/metadata/`);
      if (res.status !== 400) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async writePolicy(name: string, hcl: string): Promise<void> {
    await this.ok('PUT', `sys/policies/acl/${name}`, { policy: hcl });
  }

  /** Writes keygate's minimal policy for `scope` under `name`. */
  async keygatePolicy(name: string, scope: PolicyScope): Promise<void> {
    await this.writePolicy(name, minimalPolicy(scope));
  }

  /** A child token with `policies` (plus `default`). */
  async createToken(policies: string[], ttl?: string): Promise<string> {
    const body = await this.ok('POST', 'auth/token/create', { policies, ...(ttl !== undefined && { ttl }) });
    return body.auth.client_token as string;
  }

  async enableAuth(path: string, type: string): Promise<void> {
    await this.ok('POST', `sys/auth/${path}`, { type });
  }

  /** Creates an AppRole role and returns its credentials. */
  async appRole(mount: string, role: string, policies: string[], tokenTTL = '1h'): Promise<{ roleId: string; secretId: string }> {
    await this.ok('POST', `auth/${mount}/role/${role}`, { token_policies: policies, token_ttl: tokenTTL, token_max_ttl: '24h' });
    const roleId = (await this.ok('GET', `auth/${mount}/role/${role}/role-id`)).data.role_id as string;
    const secretId = (await this.ok('POST', `auth/${mount}/role/${role}/secret-id`, {})).data.secret_id as string;
    return { roleId, secretId };
  }

  /**
   * Configures Kubernetes auth at `mount` with a fresh signing key and a role bound to
   * service account `sa` in Kubernetes namespace `saNamespace`; returns a signer for JWTs.
   */
  async kubernetes(mount: string, role: string, policies: string[], sa: string, saNamespace: string, tokenTTL = '1h'): Promise<ServiceAccountIssuer> {
    const issuer = new ServiceAccountIssuer();
    const api = await this.kubernetesAPI?.();
    api?.trust(issuer.publicKeyPem);
    await this.ok('POST', `auth/${mount}/config`, {
      kubernetes_host: api?.url ?? 'https://kubernetes.default.svc',
      ...(api !== undefined && { kubernetes_ca_cert: api.caPem }),
      pem_keys: [issuer.publicKeyPem],
      // Vault 1.4 checks the issuer claim unless told not to; current Vault does not by default.
      disable_iss_validation: true,
    });
    await this.ok('POST', `auth/${mount}/role/${role}`, {
      bound_service_account_names: [sa],
      bound_service_account_namespaces: [saNamespace],
      token_policies: policies,
      token_ttl: tokenTTL,
    });
    return issuer;
  }
}

/** Signs Kubernetes service-account JWTs (ES256) the way the API server does. */
export class ServiceAccountIssuer {
  private readonly key: KeyObject;
  readonly publicKeyPem: string;

  constructor() {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.key = pair.privateKey;
    this.publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** A projected-token style JWT for `namespace/name`, valid for `ttlSeconds`. */
  jwt(namespace: string, name: string, ttlSeconds = 3600): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'ES256', kid: 'test', typ: 'JWT' };
    const claims = {
      iss: 'https://kubernetes.default.svc.cluster.local',
      aud: ['https://kubernetes.default.svc.cluster.local'],
      sub: `system:serviceaccount:${namespace}:${name}`,
      iat: now,
      nbf: now,
      exp: now + ttlSeconds,
      'kubernetes.io': { namespace, serviceaccount: { name, uid: randomUUID() } },
    };
    const encode = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const signed = `${encode(header)}.${encode(claims)}`;
    const signature = sign('sha256', Buffer.from(signed), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return `${signed}.${signature.toString('base64url')}`;
  }
}
