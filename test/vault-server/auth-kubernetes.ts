/**
 * Kubernetes auth (vault-plugin-auth-kubernetes). With `pem_keys` configured the
 * service-account JWT signature is verified locally, as the plugin does; without
 * them any well-formed token passes that step. Then, like the real plugin (checked
 * against Vault 1.4), every login asks the TokenReview API at `kubernetes_host`
 * (trusting `kubernetes_ca_cert`, with `token_reviewer_jwt` or else the JWT itself
 * as bearer), and only a review that authenticates the same service account (name,
 * namespace, uid) logs in; anything else is 403 permission denied. Tests provide
 * such an API: test/vault/token-review.ts.
 */
import http from 'node:http';
import https from 'node:https';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { cidrAllows } from './auth-approle.js';
import { loginToken } from './auth-token.js';
import { defaultTokenFields, parseTokenFields, type TokenFields } from './token-fields.js';
import type { BackendFactory, Ctx } from './core.js';
import { badRequest, fail, none, ok, PERMISSION_DENIED, type Reply } from './reply.js';
import { fieldBool, fieldString, fieldStrings, parseDuration } from './util.js';

interface Config {
  host: string;
  caCert: string;
  pemKeys: string[];
  keys: KeyObject[];
  issuer: string;
  disableIssValidation: boolean;
  disableLocalCaJwt: boolean;
  tokenReviewerJwt: string;
}

interface Role extends TokenFields {
  names: string[];
  namespaces: string[];
  namespaceSelector: string;
  audience: string;
  aliasNameSource: string;
}

const ALGS: Record<string, { hash: string; kind: 'rsa' | 'pss' | 'ec' }> = {
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  PS512: { hash: 'sha512', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ec' },
  ES384: { hash: 'sha384', kind: 'ec' },
  ES512: { hash: 'sha512', kind: 'ec' },
};

/** Parses and (with keys) verifies a compact JWS; returns the claims or undefined. */
function verifyJwt(jwt: string, keys: KeyObject[] | undefined): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: unknown };
  let claims: unknown;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const alg = ALGS[String(header.alg)];
  if (!alg || claims === null || typeof claims !== 'object' || Array.isArray(claims)) return undefined;
  const sig = Buffer.from(s, 'base64url');
  if (sig.length === 0) return undefined;
  if (keys) {
    const signed = Buffer.from(`${h}.${p}`);
    const good = keys.some((key) => {
      try {
        if (alg.kind === 'ec') return verify(alg.hash, signed, { key, dsaEncoding: 'ieee-p1363' }, sig);
        if (alg.kind === 'pss') return verify(alg.hash, signed, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -2 }, sig);
        return verify(alg.hash, signed, key, sig);
      } catch {
        return false;
      }
    });
    if (!good) return undefined;
  }
  return claims as Record<string, unknown>;
}

/** cap/jwt's time and claim checks, in its order and with its leeways and messages. */
function validateClaims(c: Record<string, unknown>, nowMs: number, issuer: string, audience: string): string | undefined {
  if (issuer && c['iss'] !== issuer) return 'invalid issuer (iss) claim';
  if (audience) {
    const aud = Array.isArray(c['aud']) ? c['aud'] : typeof c['aud'] === 'string' ? [c['aud']] : [];
    if (!aud.includes(audience)) return 'invalid audience (aud) claim: audience claim does not match any expected audience';
  }
  const num = (k: string): number => (typeof c[k] === 'number' ? Math.trunc(c[k] as number) : 0);
  const iat = num('iat');
  let exp = num('exp');
  let nbf = num('nbf');
  if (iat === 0 && exp === 0 && nbf === 0) return undefined;
  const DEFAULT_LEEWAY = 150;
  const SKEW = 60;
  if (exp === 0) exp = Math.max(iat, nbf) + DEFAULT_LEEWAY;
  if (nbf === 0) nbf = iat !== 0 ? iat : exp - DEFAULT_LEEWAY;
  const now = nowMs / 1000;
  if (now + SKEW < nbf) return 'invalid not before (nbf) claim: token not yet valid';
  if (now - SKEW > exp) return 'invalid expiration time (exp) claim: token is expired';
  if (iat !== 0 && now + SKEW < iat) return 'invalid issued at (iat) claim: token issued in the future';
  return undefined;
}

/** Legacy secret-based tokens carry flat claims; projected tokens nest them under `kubernetes.io`. */
function serviceAccount(c: Record<string, unknown>): { name: string; namespace: string; uid: string; secretName: string } {
  const k8s = c['kubernetes.io'];
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  if (k8s && typeof k8s === 'object') {
    const o = k8s as Record<string, unknown>;
    const sa = (o['serviceaccount'] ?? {}) as Record<string, unknown>;
    return { name: str(sa['name']), namespace: str(o['namespace']), uid: str(sa['uid']), secretName: str(c['kubernetes.io/serviceaccount/secret.name']) };
  }
  return {
    name: str(c['kubernetes.io/serviceaccount/service-account.name']),
    namespace: str(c['kubernetes.io/serviceaccount/namespace']),
    uid: str(c['kubernetes.io/serviceaccount/service-account.uid']),
    secretName: str(c['kubernetes.io/serviceaccount/secret.name']),
  };
}

/**
 * Asks the TokenReview API at `config.host` about `jwt`, as the plugin does at every login:
 * '' when the API authenticates the service account `sa`, else why not (never the token).
 */
function tokenReview(config: Config, jwt: string, sa: { name: string; namespace: string; uid: string }): Promise<string> {
  let url: URL;
  try {
    url = new URL('/apis/authentication.k8s.io/v1/tokenreviews', config.host);
  } catch {
    return Promise.resolve('lookup failed: invalid kubernetes_host');
  }
  const body = Buffer.from(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: jwt } }));
  const headers = { Authorization: `Bearer ${config.tokenReviewerJwt || jwt}`, 'Content-Type': 'application/json', 'Content-Length': String(body.length) };
  return new Promise((resolve) => {
    const answer = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve('lookup failed: connection error'));
      res.on('end', () => {
        let status: { authenticated?: unknown; user?: { username?: unknown; uid?: unknown } } | undefined;
        try {
          status = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { status?: typeof status }).status;
        } catch {
          return resolve('lookup failed: unparsable TokenReview');
        }
        if (status?.authenticated !== true) return resolve('lookup failed: service account jwt not valid');
        const parts = String(status.user?.username ?? '').split(':');
        if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount') return resolve('lookup failed: username is not a service account');
        if (parts[2] !== sa.namespace || parts[3] !== sa.name) return resolve('JWT names did not match');
        if (String(status.user?.uid ?? '') !== sa.uid) return resolve('JWT UIDs did not match');
        resolve('');
      });
    };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { method: 'POST', headers, ...(config.caCert !== '' && { ca: config.caCert }), timeout: 10_000 }, answer)
        : http.request(url, { method: 'POST', headers, timeout: 10_000 }, answer);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve('lookup failed: TokenReview API not reachable'));
    req.end(body);
  });
}

/** strutil.StrListContainsGlob: `*` at either end of an entry is a wildcard. */
function globContains(list: readonly string[], v: string): boolean {
  return list.some((g) => {
    if (g === '*' || g === v) return true;
    if (g.length > 1 && g.startsWith('*') && g.endsWith('*')) return v.includes(g.slice(1, -1));
    if (g.startsWith('*')) return v.endsWith(g.slice(1));
    if (g.endsWith('*')) return v.startsWith(g.slice(0, -1));
    return false;
  });
}

export const kubernetesBackend: BackendFactory = () => {
  let config: Config | undefined;
  const roles = new Map<string, Role>();

  const writeConfig = (ctx: Ctx): Reply => {
    const d = ctx.data;
    const host = fieldString(d['kubernetes_host']);
    if (!host) return badRequest('no host provided');
    const pemKeys = fieldStrings(d['pem_keys']);
    const keys: KeyObject[] = [];
    for (const pem of pemKeys) {
      try {
        const k = createPublicKey(pem);
        if (k.asymmetricKeyType !== 'rsa' && k.asymmetricKeyType !== 'ec' && k.asymmetricKeyType !== 'rsa-pss') throw new Error();
        keys.push(k);
      } catch {
        return badRequest('data does not contain any valid RSA or ECDSA public keys');
      }
    }
    const caCert = fieldString(d['kubernetes_ca_cert']);
    if (caCert && !caCert.includes('-----BEGIN CERTIFICATE-----')) return badRequest('kubernetes_ca_cert must be a PEM encoded certificate');
    try {
      config = {
        host,
        caCert,
        pemKeys,
        keys,
        issuer: fieldString(d['issuer']),
        disableIssValidation: fieldBool(d['disable_iss_validation'], true),
        disableLocalCaJwt: fieldBool(d['disable_local_ca_jwt'], false),
        tokenReviewerJwt: fieldString(d['token_reviewer_jwt']),
      };
    } catch (e) {
      return badRequest((e as Error).message);
    }
    return none();
  };

  const writeRole = (ctx: Ctx, name: string): Reply => {
    const d = ctx.data;
    const prev = roles.get(name);
    const has = (k: string): boolean => d[k] !== undefined;
    const r: Role = prev
      ? { ...prev }
      : {
          names: [],
          namespaces: [],
          namespaceSelector: '',
          audience: '',
          aliasNameSource: 'serviceaccount_uid',
          ...defaultTokenFields(),
        };
    try {
      if (has('bound_service_account_names')) r.names = fieldStrings(d['bound_service_account_names']);
      if (has('bound_service_account_namespaces')) r.namespaces = fieldStrings(d['bound_service_account_namespaces']);
      if (has('bound_service_account_namespace_selector')) r.namespaceSelector = fieldString(d['bound_service_account_namespace_selector']);
      if (has('audience')) r.audience = fieldString(d['audience']);
      if (has('alias_name_source')) r.aliasNameSource = fieldString(d['alias_name_source']);
      if (has('token_policies') || has('policies')) r.tokenPolicies = fieldStrings(d['token_policies'] ?? d['policies']);
      if (has('token_ttl') || has('ttl')) r.tokenTtl = parseDuration(d['token_ttl'] ?? d['ttl']);
      if (has('token_max_ttl') || has('max_ttl')) r.tokenMaxTtl = parseDuration(d['token_max_ttl'] ?? d['max_ttl']);
      if (has('token_period') || has('period')) r.tokenPeriod = parseDuration(d['token_period'] ?? d['period']);
      parseTokenFields(r, d);
    } catch (e) {
      return badRequest((e as Error).message);
    }
    if (r.names.length === 0) return badRequest('"bound_service_account_names" can not be empty');
    if (r.namespaces.length === 0 && !r.namespaceSelector)
      return badRequest('"bound_service_account_namespaces" can not be empty if "bound_service_account_namespace_selector" is not set');
    if ((r.names.length > 1 && r.names.includes('*')) || (r.namespaces.length > 1 && r.namespaces.includes('*')))
      return badRequest('can not mix "*" with values');
    if (!['serviceaccount_uid', 'serviceaccount_name'].includes(r.aliasNameSource))
      return badRequest(`invalid alias_name_source ${JSON.stringify(r.aliasNameSource)}`);
    if (r.tokenMaxTtl > 0 && r.tokenTtl > r.tokenMaxTtl) return badRequest('token ttl should not be greater than token max ttl');
    roles.set(name, r);
    return none();
  };

  const login = async (ctx: Ctx): Promise<Reply> => {
    const roleName = fieldString(ctx.data['role']);
    if (!roleName) return badRequest('missing role');
    const jwt = fieldString(ctx.data['jwt']);
    if (!jwt) return badRequest('missing jwt');
    const r = roles.get(roleName);
    if (!r) return badRequest(`invalid role name ${JSON.stringify(roleName)}`);
    if (r.tokenBoundCidrs.length && !cidrAllows(r.tokenBoundCidrs, ctx.remoteAddr)) return fail(403, PERMISSION_DENIED);
    if (!config) return fail(500, 'could not load backend configuration');
    const claims = verifyJwt(jwt, config.keys.length ? config.keys : undefined);
    if (!claims) return fail(403, PERMISSION_DENIED);
    const claimErr = validateClaims(claims, ctx.now, config.disableIssValidation ? '' : config.issuer, r.audience.trim());
    if (claimErr) return fail(403, claimErr);
    const sa = serviceAccount(claims);
    if (!(r.names.length === 1 && r.names[0] === '*') && !globContains(r.names, sa.name)) return fail(403, 'service account name not authorized');
    const nsAllowed = r.namespaces.length > 0 && (r.namespaces[0] === '*' || globContains(r.namespaces, sa.namespace));
    if (!nsAllowed) return fail(403, 'namespace not authorized');
    if (!sa.uid) return fail(500, 'could not parse UID from claims');
    if ((await tokenReview(config, jwt, sa)) !== '') return fail(403, PERMISSION_DENIED);
    const alias = r.aliasNameSource === 'serviceaccount_name' ? `${sa.namespace}/${sa.name}` : sa.uid;
    return loginToken(ctx, {
      policies: r.tokenPolicies,
      noDefaultPolicy: r.tokenNoDefaultPolicy,
      meta: {
        role: roleName,
        service_account_name: sa.name,
        service_account_namespace: sa.namespace,
        service_account_secret_name: sa.secretName,
        service_account_uid: sa.uid,
      },
      displayName: `${sa.namespace}-${sa.name}`,
      ttl: r.tokenTtl,
      maxTtl: r.tokenMaxTtl,
      explicitMaxTtl: r.tokenExplicitMaxTtl,
      period: r.tokenPeriod,
      numUses: r.tokenNumUses,
      alias,
      renew: () => {
        const cur = roles.get(roleName);
        if (!cur) return `role ${roleName} does not exist during renewal`;
        return { backendTtl: cur.tokenTtl, backendMax: cur.tokenMaxTtl, period: cur.tokenPeriod };
      },
    });
  };

  return {
    loginPaths: [/^login$/],
    paths: [
      { pattern: /^login$/, ops: { update: login } },
      {
        pattern: /^config$/,
        exists: () => config !== undefined,
        ops: {
          read: () =>
            config
              ? ok({
                  disable_iss_validation: config.disableIssValidation,
                  disable_local_ca_jwt: config.disableLocalCaJwt,
                  issuer: config.issuer,
                  kubernetes_ca_cert: config.caCert,
                  kubernetes_host: config.host,
                  pem_keys: config.pemKeys,
                  token_reviewer_jwt_set: config.tokenReviewerJwt !== '',
                  use_annotations_as_alias_metadata: false,
                })
              : none(),
          update: writeConfig,
        },
      },
      { pattern: /^role\/?$/, ops: { list: () => ok({ keys: [...roles.keys()].sort() }) } },
      {
        pattern: /^role\/([^/]+)$/,
        exists: (_ctx, m) => roles.has(m[1] ?? ''),
        ops: {
          read: (_ctx, m) => {
            const r = roles.get(m[1] ?? '');
            if (!r) return none();
            return ok({
              alias_name_source: r.aliasNameSource,
              audience: r.audience,
              bound_service_account_names: r.names,
              bound_service_account_namespace_selector: r.namespaceSelector,
              bound_service_account_namespaces: r.namespaces,
              token_bound_cidrs: r.tokenBoundCidrs,
              token_explicit_max_ttl: r.tokenExplicitMaxTtl,
              token_max_ttl: r.tokenMaxTtl,
              token_no_default_policy: r.tokenNoDefaultPolicy,
              token_num_uses: r.tokenNumUses,
              token_period: r.tokenPeriod,
              token_policies: r.tokenPolicies,
              token_ttl: r.tokenTtl,
              token_type: r.tokenType,
            });
          },
          update: (ctx, m) => writeRole(ctx, m[1] ?? ''),
          delete: (_ctx, m) => {
            roles.delete(m[1] ?? '');
            return none();
          },
        },
      },
    ],
  };
};
