/** The `auth/token/` backend: create, lookup, renew and revoke tokens. */
import type { BackendFactory, Core, Ctx } from './core.js';
import { badRequest, fail, none, ok, type Reply } from './reply.js';
import { calculateTtl, type TokenEntry } from './tokens.js';
import { fieldBool, FieldError, fieldInt, fieldString, fieldStrings, parseDuration, rfc3339, sanitizePolicies } from './util.js';

const SELF_PATHS = new Set(['auth/token/lookup-self', 'auth/token/renew-self', 'auth/token/revoke-self']);

/** `-self` endpoints run in the token's own namespace whatever the request addressed. */
export function isSelfPath(rel: string): boolean {
  return SELF_PATHS.has(rel);
}

function stringMap(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = String(x);
  return out;
}

function create(ctx: Ctx, orphanPath: boolean, role: string | undefined): Reply {
  const parent = ctx.token as TokenEntry;
  const core = ctx.core;
  if (parent.type === 'batch') return badRequest('batch tokens cannot create more tokens');
  if (parent.limitedUse) return badRequest('restricted use token cannot generate child tokens');
  if (role !== undefined) return badRequest(`unknown role ${role}`);
  const d = ctx.data;
  let numUses: number, noParent: boolean, noDefault: boolean, renewable: boolean, ttl: number, explicitMax: number, period: number;
  try {
    numUses = fieldInt(d['num_uses'], 0);
    noParent = fieldBool(d['no_parent'], false);
    noDefault = fieldBool(d['no_default_policy'], false);
    renewable = fieldBool(d['renewable'], true);
    ttl = parseDuration(d['ttl'] ?? d['lease']);
    explicitMax = parseDuration(d['explicit_max_ttl']);
    period = parseDuration(d['period']);
  } catch (e) {
    if (e instanceof FieldError) return badRequest(e.message);
    throw e;
  }
  if (numUses < 0) return badRequest('number of uses cannot be negative');
  const typeRaw = fieldString(d['type']);
  if (!['', 'service', 'batch', 'default'].includes(typeRaw)) return badRequest(`invalid 'type' value ${JSON.stringify(typeRaw)}`);
  const type = typeRaw === 'batch' ? 'batch' : 'service';
  const id = fieldString(d['id']);
  if (id !== '') {
    if (!ctx.sudo) return badRequest('root or sudo privileges required to specify token id');
    if (type === 'batch') return badRequest('batch tokens cannot have custom IDs');
    if (id.includes('.')) return badRequest('token IDs can not contain a period');
    if (core.tokens.lookup(id)) return badRequest('cannot create a token with a duplicate ID');
  }
  let policies: string[];
  const requested = fieldStrings(d['policies']);
  if (requested.length === 0) {
    policies = sanitizePolicies(
      parent.policies.filter((p) => !(noDefault && p === 'default')),
      false,
    );
  } else if (!ctx.sudo) {
    const parentSet = new Set(sanitizePolicies(parent.policies, false).filter((p) => p !== 'default'));
    const input = sanitizePolicies(requested, false).filter((p) => p !== 'default');
    if (!input.every((p) => parentSet.has(p))) return badRequest('child policies must be subset of parent');
    policies = sanitizePolicies(requested, !noDefault && parent.policies.includes('default'));
  } else {
    policies = sanitizePolicies(requested, !noDefault);
  }
  if (policies.includes('root')) {
    if (!parent.policies.includes('root')) return badRequest('root tokens may not be created without parent token being root');
    if (type === 'batch') return badRequest('batch tokens cannot be root tokens');
  }
  if (noParent && !orphanPath && !ctx.sudo) return badRequest('root or sudo privileges required to create orphan token');
  if (period > 0 && !ctx.sudo) return badRequest('root or sudo privileges required to create periodic token');
  if (ttl < 0) return badRequest('ttl must be positive');
  if (explicitMax < 0) return badRequest('explicit_max_ttl must be positive');

  const warnings: string[] = [];
  const mountTtl = core.mountTtls(ctx.mount);
  if (explicitMax > mountTtl.max && period === 0) {
    warnings.push(`Explicit max TTL of ${explicitMax} seconds is greater than system/mount allowed value; value is being capped to ${mountTtl.max} seconds`);
    explicitMax = mountTtl.max;
  }
  let finalTtl = 0;
  const neverExpires = policies.length === 1 && policies[0] === 'root' && ttl === 0 && period === 0 && explicitMax === 0;
  if (!neverExpires) {
    const r = calculateTtl({ now: ctx.now, start: ctx.now, increment: 0, backendTtl: ttl, period, backendMax: 0, explicitMax, mountTtl });
    if ('error' in r) return badRequest(r.error);
    finalTtl = r.ttl;
    warnings.push(...r.warnings);
  }
  for (const p of policies) {
    if (p !== 'root' && !ctx.ns.policies.has(p)) warnings.push(`Policy ${JSON.stringify(p)} does not exist`);
  }
  const displayRaw = fieldString(d['display_name']);
  const displayName = displayRaw ? ('token-' + displayRaw).replace(/[^a-zA-Z0-9-]/g, '-').replace(/-$/, '') : 'token';
  const te = core.tokens.issue({
    ns: ctx.ns,
    policies,
    parent: noParent || orphanPath ? undefined : parent,
    meta: stringMap(d['meta']),
    displayName,
    numUses,
    ttl: finalTtl,
    explicitMaxTtl: explicitMax,
    period,
    renewable: renewable && !neverExpires && type === 'service',
    path: 'auth/token/' + (orphanPath ? 'create-orphan' : 'create'),
    type,
    entityId: parent.entityId,
    ...(id ? { id } : {}),
    mountAccessor: ctx.mount.accessor,
    mountTtl,
    renew: () => ({ backendTtl: 0, backendMax: 0, period: te.period }),
  });
  return ok(null, { auth: core.tokens.authBlock(te, finalTtl), warnings });
}

export function lookupData(core: Core, te: TokenEntry): Record<string, unknown> {
  const ns = core.namespaceById(te.nsId);
  const data: Record<string, unknown> = {
    accessor: te.accessor,
    creation_time: Math.floor(te.creationTime / 1000),
    creation_ttl: te.ttl,
    display_name: te.displayName,
    entity_id: te.entityId,
    expire_time: te.expireTime ? rfc3339(te.expireTime) : null,
    explicit_max_ttl: te.explicitMaxTtl,
    id: te.id,
    meta: te.meta,
    num_uses: te.numUses,
    orphan: te.parent === '',
    path: te.path,
    policies: te.policies,
    ttl: core.tokens.remaining(te),
    type: te.type,
  };
  if (te.hasLease) {
    data['issue_time'] = rfc3339(te.creationTime);
    data['renewable'] = te.renewable && te.expireTime !== 0;
  }
  if (te.period) data['period'] = te.period;
  if (te.role) data['role'] = te.role;
  if (ns && !ns.isRoot) data['namespace_path'] = ns.path;
  if (te.lastRenewal) {
    data['last_renewal_time'] = Math.floor(te.lastRenewal / 1000);
    data['last_renewal'] = rfc3339(te.lastRenewal);
  }
  return data;
}

export function renewToken(core: Core, te: TokenEntry, incrementRaw: unknown): Reply {
  let increment: number;
  try {
    increment = parseDuration(incrementRaw);
  } catch (e) {
    return badRequest((e as Error).message);
  }
  if (!te.hasLease || te.expireTime === 0 || !te.renewable) return badRequest('lease is not renewable');
  const p = te.renew();
  if (typeof p === 'string') return badRequest(p);
  const now = core.now();
  const r = calculateTtl({
    now,
    start: te.creationTime,
    increment,
    backendTtl: p.backendTtl,
    period: p.period,
    backendMax: p.backendMax,
    explicitMax: te.explicitMaxTtl,
    mountTtl: te.mountTtl,
  });
  if ('error' in r) return badRequest(r.error);
  te.expireTime = now + r.ttl * 1000;
  te.lastRenewal = now;
  return ok(null, { auth: core.tokens.authBlock(te, r.ttl), warnings: r.warnings });
}

function targetToken(ctx: Ctx): string {
  return fieldString(ctx.data['token']).trim();
}

export const tokenBackend: BackendFactory = (core) => ({
  rootPaths: [/^revoke-orphan\/.*/, /^accessors/],
  paths: [
    { pattern: /^create-orphan$/, ops: { update: (ctx) => create(ctx, true, undefined) } },
    { pattern: /^create\/(.+)$/, ops: { update: (ctx, m) => create(ctx, false, m[1]) } },
    { pattern: /^create$/, ops: { update: (ctx) => create(ctx, false, undefined) } },
    { pattern: /^lookup-self$/, ops: { read: (ctx) => ok(lookupData(core, ctx.token as TokenEntry)) } },
    {
      pattern: /^lookup$/,
      ops: {
        update: (ctx) => {
          const id = targetToken(ctx);
          if (!id) return badRequest('missing token ID');
          const te = core.tokens.lookup(id);
          return te ? ok(lookupData(core, te)) : fail(403, 'bad token');
        },
      },
    },
    {
      pattern: /^lookup-accessor$/,
      ops: {
        update: (ctx) => {
          const acc = fieldString(ctx.data['accessor']);
          if (!acc) return badRequest('missing accessor');
          const te = core.tokens.lookupAccessor(acc);
          if (!te) return badRequest('invalid accessor');
          const data = lookupData(core, te);
          data['id'] = '';
          return ok(data);
        },
      },
    },
    { pattern: /^renew-self$/, ops: { update: (ctx) => renewToken(core, ctx.token as TokenEntry, ctx.data['increment']) } },
    {
      pattern: /^renew$/,
      ops: {
        update: (ctx) => {
          const id = targetToken(ctx);
          if (!id) return badRequest('missing token ID');
          const te = core.tokens.lookup(id);
          return te ? renewToken(core, te, ctx.data['increment']) : badRequest('token not found');
        },
      },
    },
    {
      pattern: /^renew-accessor$/,
      ops: {
        update: (ctx) => {
          const te = core.tokens.lookupAccessor(fieldString(ctx.data['accessor']));
          if (!te) return badRequest('invalid accessor');
          const r = renewToken(core, te, ctx.data['increment']);
          if (r.kind === 'ok' && r.auth) r.auth.client_token = '';
          return r;
        },
      },
    },
    {
      pattern: /^revoke-self$/,
      ops: {
        update: (ctx) => {
          core.tokens.revoke(ctx.token as TokenEntry);
          return none();
        },
      },
    },
    {
      pattern: /^revoke$/,
      ops: {
        update: (ctx) => {
          const id = targetToken(ctx);
          if (!id) return badRequest('missing token ID');
          const te = core.tokens.lookup(id);
          if (te) core.tokens.revoke(te);
          return none();
        },
      },
    },
    {
      pattern: /^revoke-accessor$/,
      ops: {
        update: (ctx) => {
          const te = core.tokens.lookupAccessor(fieldString(ctx.data['accessor']));
          if (!te) return badRequest('invalid accessor');
          core.tokens.revoke(te);
          return none();
        },
      },
    },
    {
      pattern: /^revoke-orphan$/,
      ops: {
        update: (ctx) => {
          if (!ctx.sudo) return badRequest('root or sudo privileges required to revoke and orphan');
          const te = core.tokens.lookup(targetToken(ctx));
          if (te) core.tokens.revokeOrphan(te);
          return none();
        },
      },
    },
    { pattern: /^accessors\/?$/, ops: { list: (ctx) => ok({ keys: core.tokens.accessors(ctx.ns.id) }) } },
  ],
});

/** Used by login backends to mint a token through the same TTL rules as Vault's core. */
export function loginToken(
  ctx: Ctx,
  a: {
    policies: string[];
    noDefaultPolicy: boolean;
    meta: Record<string, string>;
    displayName: string;
    ttl: number;
    maxTtl: number;
    explicitMaxTtl: number;
    period: number;
    numUses: number;
    alias: string;
    renew: () => { backendTtl: number; backendMax: number; period: number } | string;
  },
): Reply {
  const core = ctx.core;
  const mountTtl = core.mountTtls(ctx.mount);
  const r = calculateTtl({
    now: ctx.now,
    start: ctx.now,
    increment: 0,
    backendTtl: a.ttl,
    period: a.period,
    backendMax: a.maxTtl,
    explicitMax: a.explicitMaxTtl,
    mountTtl,
  });
  if ('error' in r) return fail(500, r.error);
  const entity = core.entityFor(ctx.ns.id, ctx.mount.accessor, a.alias);
  // Vault prefixes the mount path to the backend's display name ("approle", "kubernetes-ns-sa").
  const source = ctx.mount.path.replace(/^auth\//, '').replace(/\//g, '-');
  const te = core.tokens.issue({
    ns: ctx.ns,
    policies: sanitizePolicies(a.policies, !a.noDefaultPolicy),
    parent: undefined,
    meta: a.meta,
    displayName: (source + a.displayName).replace(/-$/, ''),
    numUses: a.numUses,
    ttl: r.ttl,
    explicitMaxTtl: a.explicitMaxTtl,
    period: a.period,
    renewable: true,
    path: ctx.requestPath,
    type: 'service',
    entityId: entity.id,
    mountAccessor: ctx.mount.accessor,
    mountTtl,
    renew: a.renew,
  });
  return ok(null, { auth: core.tokens.authBlock(te, r.ttl), warnings: r.warnings });
}
