/** AppRole auth (builtin/credential/approle): roles, role IDs, secret IDs, login. */
import { BlockList, isIP } from 'node:net';
import { loginToken } from './auth-token.js';
import { defaultTokenFields, parseTokenFields, type TokenFields } from './token-fields.js';
import type { BackendFactory, Ctx } from './core.js';
import { badRequest, fail, none, ok, type Reply } from './reply.js';
import { fieldBool, fieldInt, fieldString, fieldStrings, parseDuration, uuid } from './util.js';

interface SecretId {
  accessor: string;
  numUses: number;
  ttl: number;
  created: number;
  /** ms; 0 = never. */
  expires: number;
  metadata: Record<string, string>;
  cidrs: string[];
  tokenCidrs: string[];
  updated: number;
}

interface Role extends TokenFields {
  name: string;
  roleId: string;
  bindSecretId: boolean;
  secretIdBoundCidrs: string[] | null;
  secretIdNumUses: number;
  secretIdTtl: number;
  localSecretIds: boolean;
  legacyPolicies: boolean;
  legacyPeriod: boolean;
  secretIds: Map<string, SecretId>;
}

export function cidrAllows(cidrs: readonly string[], addr: string): boolean {
  if (cidrs.length === 0) return true;
  const ip = addr.replace(/^::ffff:/, '');
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  for (const c of cidrs) {
    const [net, bits] = c.split('/');
    if (!net) continue;
    const fam = isIP(net) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(net, fam);
    else list.addSubnet(net, Number(bits), fam);
  }
  return list.check(ip, family);
}

function roleData(r: Role): Record<string, unknown> {
  const d: Record<string, unknown> = {
    bind_secret_id: r.bindSecretId,
    local_secret_ids: r.localSecretIds,
    secret_id_bound_cidrs: r.secretIdBoundCidrs,
    secret_id_num_uses: r.secretIdNumUses,
    secret_id_ttl: r.secretIdTtl,
    token_bound_cidrs: r.tokenBoundCidrs,
    token_explicit_max_ttl: r.tokenExplicitMaxTtl,
    token_max_ttl: r.tokenMaxTtl,
    token_no_default_policy: r.tokenNoDefaultPolicy,
    token_num_uses: r.tokenNumUses,
    token_period: r.tokenPeriod,
    token_policies: r.tokenPolicies,
    token_ttl: r.tokenTtl,
    token_type: r.tokenType,
  };
  if (r.legacyPolicies) d['policies'] = r.tokenPolicies;
  if (r.legacyPeriod) d['period'] = r.tokenPeriod;
  return d;
}

export const approleBackend: BackendFactory = () => {
  const roles = new Map<string, Role>();
  const byRoleId = (id: string): Role | undefined => [...roles.values()].find((r) => r.roleId === id);

  const writeRole = (ctx: Ctx, name: string): Reply => {
    const d = ctx.data;
    const existing = roles.get(name);
    const r: Role = existing
      ? { ...existing }
      : {
          name,
          roleId: uuid(),
          bindSecretId: true,
          secretIdBoundCidrs: null,
          secretIdNumUses: 0,
          secretIdTtl: 0,
          localSecretIds: false,
          ...defaultTokenFields(),
          legacyPolicies: false,
          legacyPeriod: false,
          secretIds: new Map(),
        };
    const has = (k: string): boolean => d[k] !== undefined;
    try {
      if (!existing && has('role_id')) r.roleId = fieldString(d['role_id']);
      if (has('bind_secret_id')) r.bindSecretId = fieldBool(d['bind_secret_id'], true);
      if (has('secret_id_bound_cidrs')) r.secretIdBoundCidrs = fieldStrings(d['secret_id_bound_cidrs']);
      if (has('secret_id_num_uses')) r.secretIdNumUses = fieldInt(d['secret_id_num_uses'], 0);
      if (has('secret_id_ttl')) r.secretIdTtl = parseDuration(d['secret_id_ttl']);
      if (!existing && has('local_secret_ids')) r.localSecretIds = fieldBool(d['local_secret_ids'], false);
      if (has('token_policies')) r.tokenPolicies = fieldStrings(d['token_policies']);
      else if (has('policies')) {
        r.tokenPolicies = fieldStrings(d['policies']);
        r.legacyPolicies = true;
      }
      if (has('token_ttl')) r.tokenTtl = parseDuration(d['token_ttl']);
      if (has('token_max_ttl')) r.tokenMaxTtl = parseDuration(d['token_max_ttl']);
      if (has('token_period')) r.tokenPeriod = parseDuration(d['token_period']);
      else if (has('period')) {
        r.tokenPeriod = parseDuration(d['period']);
        r.legacyPeriod = true;
      }
      parseTokenFields(r, d);
    } catch (e) {
      return badRequest((e as Error).message);
    }
    if (r.secretIdNumUses < 0) return badRequest('secret_id_num_uses cannot be negative');
    if (r.tokenNumUses < 0) return badRequest('token_num_uses cannot be negative');
    if (!['default', 'service', 'batch', 'default-service', 'default-batch'].includes(r.tokenType))
      return badRequest(`invalid 'token_type' value ${JSON.stringify(r.tokenType)}`);
    if (!r.bindSecretId && !r.secretIdBoundCidrs?.length && !r.tokenBoundCidrs.length)
      return badRequest('at least one constraint should be enabled on the role');
    if (r.tokenMaxTtl > 0 && r.tokenTtl > r.tokenMaxTtl) return badRequest('"token_ttl" cannot be greater than "token_max_ttl"');
    if (r.roleId === '') return badRequest('role_id cannot be empty');
    const clash = byRoleId(r.roleId);
    if (clash && clash.name !== name) return badRequest('role_id already in use');
    roles.set(name, r);
    return none();
  };

  const generate = (ctx: Ctx, name: string, custom: string | undefined): Reply => {
    const r = roles.get(name);
    if (!r) return fail(404, `role ${JSON.stringify(name)} does not exist`);
    if (!r.bindSecretId) return badRequest('bind_secret_id is not set on the role');
    const d = ctx.data;
    let numUses: number, ttl: number;
    try {
      numUses = d['num_uses'] !== undefined ? fieldInt(d['num_uses'], 0) : r.secretIdNumUses;
      ttl = d['ttl'] !== undefined ? parseDuration(d['ttl']) : r.secretIdTtl;
    } catch (e) {
      return badRequest((e as Error).message);
    }
    if (numUses < 0) return badRequest('num_uses cannot be negative');
    if (r.secretIdNumUses > 0 && (numUses === 0 || numUses > r.secretIdNumUses))
      return badRequest("num_uses cannot be higher than the role's secret_id_num_uses");
    if (r.secretIdTtl > 0 && (ttl === 0 || ttl > r.secretIdTtl)) return badRequest("ttl cannot be longer than the role's secret_id_ttl");
    let metadata: Record<string, string> = {};
    if (d['metadata'] !== undefined && d['metadata'] !== '') {
      try {
        const parsed = typeof d['metadata'] === 'string' ? (JSON.parse(d['metadata']) as unknown) : d['metadata'];
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        metadata = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
      } catch (e) {
        return badRequest(`failed to parse metadata: ${(e as Error).message}`);
      }
    }
    const secret = custom ?? uuid();
    if (r.secretIds.has(secret)) return badRequest('SecretID is already registered');
    const s: SecretId = {
      accessor: uuid(),
      numUses,
      ttl,
      created: ctx.now,
      expires: ttl > 0 ? ctx.now + ttl * 1000 : 0,
      metadata,
      cidrs: fieldStrings(d['cidr_list']),
      tokenCidrs: fieldStrings(d['token_bound_cidrs']),
      updated: ctx.now,
    };
    r.secretIds.set(secret, s);
    return ok({ secret_id: secret, secret_id_accessor: s.accessor, secret_id_num_uses: numUses, secret_id_ttl: ttl });
  };

  const secretInfo = (s: SecretId): Record<string, unknown> => ({
    cidr_list: s.cidrs,
    creation_time: new Date(s.created).toISOString(),
    expiration_time: s.expires ? new Date(s.expires).toISOString() : '0001-01-01T00:00:00Z',
    last_updated_time: new Date(s.updated).toISOString(),
    metadata: s.metadata,
    secret_id_accessor: s.accessor,
    secret_id_num_uses: s.numUses,
    secret_id_ttl: s.ttl,
    token_bound_cidrs: s.tokenCidrs,
  });

  const live = (s: SecretId, now: number): boolean => s.expires === 0 || now < s.expires;

  const login = (ctx: Ctx): Reply => {
    const roleId = fieldString(ctx.data['role_id']).trim();
    if (roleId === '') return badRequest('missing role_id');
    const r = byRoleId(roleId);
    if (!r) return badRequest('invalid role or secret ID');
    const meta: Record<string, string> = {};
    if (r.bindSecretId) {
      const sid = fieldString(ctx.data['secret_id']).trim();
      if (sid === '') return badRequest('missing secret_id');
      const s = r.secretIds.get(sid);
      if (!s || !live(s, ctx.now)) {
        if (s) r.secretIds.delete(sid);
        return badRequest('invalid role or secret ID');
      }
      if (!cidrAllows(s.cidrs, ctx.remoteAddr))
        return badRequest(`source address ${JSON.stringify(ctx.remoteAddr)} unauthorized through CIDR restrictions on the secret ID`);
      if (s.numUses > 0) {
        s.numUses--;
        if (s.numUses === 0) r.secretIds.delete(sid);
      }
      Object.assign(meta, s.metadata);
    }
    if (r.secretIdBoundCidrs?.length && !cidrAllows(r.secretIdBoundCidrs, ctx.remoteAddr)) {
      return badRequest(`source address ${JSON.stringify(ctx.remoteAddr)} unauthorized by CIDR restrictions on the role`);
    }
    meta['role_name'] = r.name;
    return loginToken(ctx, {
      policies: r.tokenPolicies,
      noDefaultPolicy: r.tokenNoDefaultPolicy,
      meta,
      displayName: '',
      ttl: r.tokenTtl,
      maxTtl: r.tokenMaxTtl,
      explicitMaxTtl: r.tokenExplicitMaxTtl,
      period: r.tokenPeriod,
      numUses: r.tokenNumUses,
      alias: r.roleId,
      renew: () => {
        const cur = roles.get(r.name);
        if (!cur) return `role ${JSON.stringify(r.name)} does not exist during renewal`;
        return { backendTtl: cur.tokenTtl, backendMax: cur.tokenMaxTtl, period: cur.tokenPeriod };
      },
    });
  };

  const withRole = (fn: (ctx: Ctx, r: Role) => Reply) => (ctx: Ctx, m: RegExpExecArray) => {
    const r = roles.get(m[1] ?? '');
    return r ? fn(ctx, r) : none();
  };

  return {
    loginPaths: [/^login$/],
    paths: [
      { pattern: /^login$/, ops: { update: login } },
      { pattern: /^role\/?$/, ops: { list: () => ok({ keys: [...roles.keys()].sort() }) } },
      {
        pattern: /^role\/([^/]+)$/,
        exists: (_ctx, m) => roles.has(m[1] ?? ''),
        ops: {
          read: withRole((_ctx, r) => ok(roleData(r))),
          update: (ctx, m) => writeRole(ctx, m[1] ?? ''),
          delete: (_ctx, m) => {
            roles.delete(m[1] ?? '');
            return none();
          },
        },
      },
      {
        pattern: /^role\/([^/]+)\/role-id$/,
        ops: {
          read: withRole((_ctx, r) => ok({ role_id: r.roleId })),
          update: (ctx, m) => {
            const r = roles.get(m[1] ?? '');
            if (!r) return badRequest(`role ${JSON.stringify(m[1])} does not exist`);
            const id = fieldString(ctx.data['role_id']);
            if (!id) return badRequest('missing role_id');
            const clash = byRoleId(id);
            if (clash && clash !== r) return badRequest('role_id already in use');
            r.roleId = id;
            return none();
          },
        },
      },
      {
        pattern: /^role\/([^/]+)\/secret-id\/?$/,
        ops: {
          update: (ctx, m) => generate(ctx, m[1] ?? '', undefined),
          list: withRole((ctx, r) =>
            ok({
              keys: [...r.secretIds.values()]
                .filter((s) => live(s, ctx.now))
                .map((s) => s.accessor)
                .sort(),
            }),
          ),
        },
      },
      {
        pattern: /^role\/([^/]+)\/custom-secret-id$/,
        ops: {
          update: (ctx, m) => {
            const sid = fieldString(ctx.data['secret_id']);
            if (!sid) return badRequest('missing secret_id');
            return generate(ctx, m[1] ?? '', sid);
          },
        },
      },
      {
        pattern: /^role\/([^/]+)\/secret-id\/lookup$/,
        ops: {
          update: (ctx, m) => {
            const r = roles.get(m[1] ?? '');
            if (!r) return badRequest(`role ${JSON.stringify(m[1])} does not exist`);
            const s = r.secretIds.get(fieldString(ctx.data['secret_id']));
            return s && live(s, ctx.now) ? ok(secretInfo(s)) : none();
          },
        },
      },
      {
        pattern: /^role\/([^/]+)\/secret-id\/destroy$/,
        ops: {
          update: (ctx, m) => {
            roles.get(m[1] ?? '')?.secretIds.delete(fieldString(ctx.data['secret_id']));
            return none();
          },
        },
      },
      {
        pattern: /^role\/([^/]+)\/secret-id-accessor\/(lookup|destroy)$/,
        ops: {
          update: (ctx, m) => {
            const r = roles.get(m[1] ?? '');
            if (!r) return badRequest(`role ${JSON.stringify(m[1])} does not exist`);
            const acc = fieldString(ctx.data['secret_id_accessor']);
            const entry = [...r.secretIds.entries()].find(([, s]) => s.accessor === acc);
            if (!entry) return badRequest(`failed to find accessor entry for secret_id_accessor: ${JSON.stringify(acc)}`);
            if (m[2] === 'destroy') {
              r.secretIds.delete(entry[0]);
              return none();
            }
            return ok(secretInfo(entry[1]));
          },
        },
      },
    ],
  };
};
