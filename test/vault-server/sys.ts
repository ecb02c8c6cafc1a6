/** The logical `sys/` backend: mounts, auth methods, ACL policies, capabilities, namespaces. */
import { parsePolicy, PolicyError } from './policy.js';
import type { BackendFactory, Core, Ctx, Mount, Namespace, PathDef } from './core.js';
import { encode } from './json.js';
import { kvV2Backend } from './kv-v2.js';
import { badRequest, fail, listResponse, none, ok, type Reply } from './reply.js';
import { sealStatusBody } from './sys-http.js';
import { base62, fieldBool, fieldString, fieldStrings, parseDuration, SYSTEM_TTL } from './util.js';

const PROTECTED = ['audit/', 'auth/', 'sys/', 'cubbyhole/', 'identity/'];
const SECRET_TYPES = new Set(['kv', 'pki']);
const AUTH_TYPES = new Set(['approle', 'kubernetes']);
const BUILTIN_PLUGINS = new Set(['kv', 'approle', 'kubernetes']);
const HIDDEN_POLICIES = new Set(['response-wrapping', 'control-group']);
const RESERVED_NS = new Set(['.', '..', 'root', 'sys', 'audit', 'auth', 'cubbyhole', 'identity']);

function mountInfo(m: Mount): Record<string, unknown> {
  const config: Record<string, unknown> = { default_lease_ttl: m.defaultLeaseTtl, force_no_cache: false, max_lease_ttl: m.maxLeaseTtl };
  if (m.table === 'auth') config['token_type'] = 'default-service';
  const info: Record<string, unknown> = {
    accessor: m.accessor,
    config,
    description: m.description,
    external_entropy_access: false,
    local: m.local,
    options: m.options,
    plugin_version: '',
    running_plugin_version: m.runningVersion,
    running_sha256: '',
    seal_wrap: m.sealWrap,
    type: m.type,
    uuid: m.uuid,
  };
  if (BUILTIN_PLUGINS.has(m.type)) info['deprecation_status'] = 'supported';
  return info;
}

function mountTable(ns: Namespace, table: 'secret' | 'auth'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of ns.mounts.values()) {
    if (m.table !== table) continue;
    out[table === 'auth' ? m.path.slice('auth/'.length) : m.path] = mountInfo(m);
  }
  return out;
}

function ttlField(v: unknown): number {
  if (v === 'system' || v === '' || v === undefined || v === null) return 0;
  return parseDuration(v);
}

function enable(ctx: Ctx, rawPath: string, table: 'secret' | 'auth'): Reply {
  const core = ctx.core;
  const d = ctx.data;
  let type = fieldString(d['type']);
  if (!type) return badRequest('backend type must be specified as a string');
  const optionsIn = d['options'] && typeof d['options'] === 'object' ? (d['options'] as Record<string, unknown>) : undefined;
  const options: Record<string, string> | null = optionsIn ? Object.fromEntries(Object.entries(optionsIn).map(([k, v]) => [k, String(v)])) : null;
  let opts = options;
  if (table === 'secret') {
    if (type === 'kv-v1' || type === 'kv-v2') {
      opts = { ...(options ?? {}), version: type === 'kv-v1' ? '1' : '2' };
      type = 'kv';
    } else if (type === 'generic') type = 'kv';
    else if (type !== 'kv' && options?.['version']) return badRequest(`secrets engine ${JSON.stringify(type)} does not allow setting a version`);
  }
  const rel = rawPath.endsWith('/') ? rawPath : rawPath + '/';
  const path = table === 'auth' ? 'auth/' + rel : rel;
  if (table === 'secret') {
    for (const p of PROTECTED) if (path.startsWith(p)) return badRequest(`cannot mount ${JSON.stringify(path)}`);
  } else if (type === 'token') return badRequest('token credential backend cannot be instantiated');
  for (const m of ctx.ns.mounts.values()) {
    if (m.table !== table) continue;
    if (m.path.startsWith(path) || path.startsWith(m.path)) {
      return badRequest(`path is already in use at ${table === 'auth' ? m.path.slice('auth/'.length) : m.path}`);
    }
  }
  if (!(table === 'secret' ? SECRET_TYPES : AUTH_TYPES).has(type)) return badRequest(`plugin not found in the catalog: ${type}`);
  const cfg = d['config'] && typeof d['config'] === 'object' ? (d['config'] as Record<string, unknown>) : {};
  let dflt: number, max: number;
  try {
    dflt = ttlField(cfg['default_lease_ttl']);
    max = ttlField(cfg['max_lease_ttl']);
  } catch (e) {
    return badRequest((e as Error).message);
  }
  if (max > 0 && dflt > max) return badRequest('given default lease TTL greater than given max lease TTL');
  if (type === 'kv') {
    const v = opts?.['version'] ?? '';
    if (!['', '1', '2'].includes(v)) return badRequest(`invalid version ${JSON.stringify(v)}`);
  }
  core.mount(ctx.ns, path, type, table, {
    description: fieldString(d['description']),
    options: opts,
    local: fieldBool(d['local'], false),
    sealWrap: fieldBool(d['seal_wrap'], false),
    defaultLeaseTtl: dflt,
    maxLeaseTtl: max,
  });
  return none();
}

function disable(ctx: Ctx, rawPath: string, table: 'secret' | 'auth'): Reply {
  const rel = rawPath.endsWith('/') ? rawPath : rawPath + '/';
  const path = table === 'auth' ? 'auth/' + rel : rel;
  const m = ctx.ns.mounts.get(path);
  if (!m || m.table !== table) return none();
  if (table === 'secret' ? PROTECTED.some((p) => path.startsWith(p)) : m.type === 'token') {
    return badRequest(table === 'auth' ? 'token credential backend cannot be disabled' : `cannot unmount ${JSON.stringify(path)}`);
  }
  ctx.ns.mounts.delete(path);
  return none();
}

function tuneRead(m: Mount): Reply {
  // Tune reports effective values: 0 ("system") resolves to the system TTLs.
  const data: Record<string, unknown> = {
    default_lease_ttl: m.defaultLeaseTtl || SYSTEM_TTL,
    description: m.description,
    force_no_cache: false,
    max_lease_ttl: m.maxLeaseTtl || SYSTEM_TTL,
  };
  if (m.options) data['options'] = m.options;
  if (m.table === 'auth') data['token_type'] = 'default-service';
  return ok(data);
}

function tuneWrite(ctx: Ctx, m: Mount): Reply {
  const d = ctx.data;
  const warnings: string[] = [];
  try {
    if (d['default_lease_ttl'] !== undefined) m.defaultLeaseTtl = ttlField(d['default_lease_ttl']);
    if (d['max_lease_ttl'] !== undefined) m.maxLeaseTtl = ttlField(d['max_lease_ttl']);
  } catch (e) {
    return badRequest((e as Error).message);
  }
  if (d['description'] !== undefined) m.description = fieldString(d['description']);
  const options = d['options'] && typeof d['options'] === 'object' ? (d['options'] as Record<string, unknown>) : undefined;
  if (options && options['version'] !== undefined && m.type === 'kv') {
    const from = m.options?.['version'] === '2' ? 2 : 1;
    const to = Number(options['version']);
    if (from === 2 && to === 1) return badRequest('cannot downgrade mount from version 2');
    if (from === 1 && to === 2) {
      warnings.push('Upgrading mount from version 1 to version 2. This mount will be unavailable for a brief period and will resume service shortly.');
      const seed = m.backend.exportData?.() as Map<string, Record<string, unknown>> | undefined;
      m.options = { ...(m.options ?? {}), version: '2' };
      m.backend = kvV2Backend(seed)(ctx.core, m, ctx.ns);
    }
  }
  return warnings.length ? ok(null, { warnings }) : none();
}

function writePolicy(ctx: Ctx, rawName: string, field: 'policy' | 'rules'): Reply {
  let text = fieldString(ctx.data[field] ?? ctx.data['policy']);
  if (text === '') return badRequest(`'${field}' parameter not supplied or empty`);
  const name = rawName.toLowerCase();
  if (name === 'root') return badRequest('cannot update "root" policy');
  if (/^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0) text = Buffer.from(text, 'base64').toString('utf8');
  try {
    ctx.ns.policies.set(name, parsePolicy(name, text, ctx.core.policyOptions()));
  } catch (e) {
    if (e instanceof PolicyError) return badRequest(e.message);
    throw e;
  }
  return name !== rawName ? ok(null, { warnings: [`policy name was converted to ${name}`] }) : none();
}

function deletePolicy(ctx: Ctx, rawName: string): Reply {
  const name = rawName.toLowerCase();
  if (name === 'default') return badRequest('cannot delete default policy');
  if (name === 'root') return badRequest('cannot delete "root" policy');
  ctx.ns.policies.delete(name);
  return none();
}

function policyNames(ctx: Ctx): string[] {
  const names = [...ctx.ns.policies.keys()].filter((n) => !HIDDEN_POLICIES.has(n)).sort();
  if (ctx.ns.isRoot) names.push('root');
  return names;
}

function capabilities(ctx: Ctx, te: ReturnType<Core['tokens']['lookup']>): Reply {
  if (!te) return badRequest('invalid token');
  const paths = fieldStrings(ctx.data['paths'] ?? ctx.data['path']);
  if (paths.length === 0) return badRequest('paths must be supplied');
  const acl = ctx.core.aclFor(te);
  const data: Record<string, unknown> = {};
  for (const p of paths) data[p] = acl.capabilities(ctx.ns.path + p.replace(/^\//, ''));
  if (paths.length === 1) data['capabilities'] = data[paths[0] as string];
  return ok(data, { inject: true });
}

function nsInfo(core: Core, ns: Namespace): Record<string, unknown> {
  if (core.flavor.name === 'openbao') {
    return { custom_metadata: ns.customMetadata, id: ns.id, locked: false, path: ns.path, tainted: false, uuid: ns.uuid };
  }
  return { custom_metadata: ns.customMetadata, id: ns.id, path: ns.path };
}

function childNs(ctx: Ctx, name: string): Namespace | undefined {
  let ns: Namespace | undefined = ctx.ns;
  for (const seg of name.split('/').filter((s) => s !== '')) ns = ns?.children.get(seg);
  return ns === ctx.ns ? undefined : ns;
}

function metadataField(v: unknown): Record<string, string> | string {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) return 'custom_metadata must be a map of strings';
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}

function namespacePaths(core: Core): PathDef[] {
  if (!core.flavor.namespaces) return [];
  return [
    {
      pattern: /^namespaces\/?$/,
      ops: {
        list: (ctx) => {
          const kids = [...ctx.ns.children.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
          return listResponse(
            kids.map(([k]) => k + '/'),
            Object.fromEntries(kids.map(([k, ns]) => [k + '/', nsInfo(core, ns)])),
          );
        },
      },
    },
    {
      pattern: /^namespaces\/(.+?)\/?$/,
      ops: {
        read: (ctx, m) => {
          const ns = childNs(ctx, m[1] ?? '');
          return ns ? ok(nsInfo(core, ns)) : none();
        },
        update: (ctx, m) => {
          const name = m[1] ?? '';
          if (name.includes('/')) return badRequest(`namespace name must not contain "/": ${JSON.stringify(name)}`);
          if (RESERVED_NS.has(name)) return badRequest(`${JSON.stringify(name)} is a reserved path and cannot be used as a namespace name`);
          if (/\s/.test(name)) return badRequest('namespace name cannot contain whitespace');
          const meta = metadataField(ctx.data['custom_metadata']);
          if (typeof meta === 'string') return badRequest(meta);
          let ns = ctx.ns.children.get(name);
          if (!ns) ns = core.makeNamespace(core.flavor.name === 'openbao' ? base62(6) : base62(5), `${ctx.ns.path}${name}/`, ctx.ns);
          if (ctx.data['custom_metadata'] !== undefined || !ns.customMetadata) ns.customMetadata = meta;
          return ok(nsInfo(core, ns));
        },
        patch: (ctx, m) => {
          const ns = childNs(ctx, m[1] ?? '');
          if (!ns) return fail(404);
          const patch = ctx.data['custom_metadata'];
          if (patch && typeof patch === 'object' && !Array.isArray(patch)) {
            for (const [k, v] of Object.entries(patch)) {
              if (v === null) delete ns.customMetadata[k];
              else ns.customMetadata[k] = String(v);
            }
          }
          return ok(nsInfo(core, ns));
        },
        delete: (ctx, m) => {
          const ns = childNs(ctx, m[1] ?? '');
          if (!ns) return ok(null, { warnings: ['requested namespace does not exist'] });
          if (ns.children.size > 0) return badRequest(`cannot delete namespace (${JSON.stringify(ns.path)}) containing child namespaces`);
          core.deleteNamespace(ns);
          return ok({ status: 'in-progress' });
        },
      },
    },
  ];
}

export const systemBackend: BackendFactory = (core) => {
  const withMount =
    (table: 'secret' | 'auth', fn: (ctx: Ctx, m: Mount) => Reply, missing: (p: string) => string) =>
    (ctx: Ctx, mm: RegExpExecArray): Reply => {
      const rel = (mm[1] ?? '').replace(/\/?$/, '/');
      const m = ctx.ns.mounts.get(table === 'auth' ? 'auth/' + rel : rel);
      return m && m.table === table ? fn(ctx, m) : badRequest(missing(rel));
    };
  const rootOnly = (ctx: Ctx): Reply => badRequest(ctx.ns.isRoot ? 'unsupported in root namespace' : 'operation only available in root namespace');
  return {
    rootPaths: [
      /^auth\/.+/,
      /^remount$/,
      /^audit/,
      /^raw/,
      /^rotate$/,
      /^config\/.+/,
      /^leases\/revoke-prefix\/.+/,
      /^leases\/revoke-force\/.+/,
      /^leases\/lookup\/.+/,
      /^leases$/,
    ],
    paths: [
      { pattern: /^mounts\/?$/, ops: { read: (ctx) => ok(mountTable(ctx.ns, 'secret'), { inject: true }) } },
      {
        pattern: /^mounts\/(.+?)\/tune$/,
        ops: {
          read: withMount(
            'secret',
            (_ctx, m) => tuneRead(m),
            (p) => `cannot fetch sysview for path ${JSON.stringify(p)}`,
          ),
          update: withMount('secret', tuneWrite, (p) => `no mount entry found at ${JSON.stringify(p)}`),
        },
      },
      {
        pattern: /^mounts\/(.+?)\/?$/,
        ops: {
          read: withMount(
            'secret',
            (_ctx, m) => ok(mountInfo(m), { inject: true }),
            (p) => `No secret engine mount at ${p}`,
          ),
          update: (ctx, m) => enable(ctx, m[1] ?? '', 'secret'),
          delete: (ctx, m) => disable(ctx, m[1] ?? '', 'secret'),
        },
      },
      { pattern: /^auth\/?$/, ops: { read: (ctx) => ok(mountTable(ctx.ns, 'auth'), { inject: true }) } },
      {
        pattern: /^auth\/(.+?)\/tune$/,
        ops: {
          read: withMount(
            'auth',
            (_ctx, m) => tuneRead(m),
            (p) => `cannot fetch sysview for path ${JSON.stringify('auth/' + p)}`,
          ),
          update: withMount('auth', tuneWrite, (p) => `no mount entry found at ${JSON.stringify('auth/' + p)}`),
        },
      },
      {
        pattern: /^auth\/(.+?)\/?$/,
        ops: {
          read: withMount(
            'auth',
            (_ctx, m) => ok(mountInfo(m), { inject: true }),
            (p) => `No auth engine at ${p}`,
          ),
          update: (ctx, m) => enable(ctx, m[1] ?? '', 'auth'),
          delete: (ctx, m) => disable(ctx, m[1] ?? '', 'auth'),
        },
      },
      { pattern: /^policies\/acl\/?$/, ops: { list: (ctx) => ok({ keys: policyNames(ctx) }) } },
      {
        pattern: /^policies\/acl\/(.+)$/,
        ops: {
          read: (ctx, m) => {
            const name = (m[1] ?? '').toLowerCase();
            if (name === 'root' && ctx.ns.isRoot) return ok({ name: 'root', policy: '' });
            const p = ctx.ns.policies.get(name);
            return p ? ok({ name: p.name, policy: p.raw }) : none();
          },
          update: (ctx, m) => writePolicy(ctx, m[1] ?? '', 'policy'),
          delete: (ctx, m) => deletePolicy(ctx, m[1] ?? ''),
        },
      },
      {
        pattern: /^policy\/?$/,
        ops: {
          read: (ctx) => ok({ keys: policyNames(ctx), policies: policyNames(ctx) }, { inject: true }),
          list: (ctx) => ok({ keys: policyNames(ctx), policies: policyNames(ctx) }, { inject: true }),
        },
      },
      {
        pattern: /^policy\/(.+)$/,
        ops: {
          read: (ctx, m) => {
            const name = (m[1] ?? '').toLowerCase();
            if (name === 'root' && ctx.ns.isRoot) return ok({ name: 'root', rules: '' }, { inject: true });
            const p = ctx.ns.policies.get(name);
            return p ? ok({ name: p.name, rules: p.raw }, { inject: true }) : none();
          },
          update: (ctx, m) => writePolicy(ctx, m[1] ?? '', 'rules'),
          delete: (ctx, m) => deletePolicy(ctx, m[1] ?? ''),
        },
      },
      { pattern: /^capabilities-self$/, ops: { update: (ctx) => capabilities(ctx, ctx.token) } },
      { pattern: /^capabilities$/, ops: { update: (ctx) => capabilities(ctx, core.tokens.lookup(fieldString(ctx.data['token']))) } },
      {
        pattern: /^capabilities-accessor$/,
        ops: { update: (ctx) => capabilities(ctx, core.tokens.lookupAccessor(fieldString(ctx.data['accessor']))) },
      },
      ...namespacePaths(core),
      { pattern: /^seal-status$/, ops: { read: () => ({ kind: 'body', status: 200, body: encode(sealStatusBody(core)) + '\n' }) } },
      { pattern: /^(health|init|seal|unseal|step-down|leader|rekey.*|generate-root.*)$/, ops: { read: rootOnly, update: rootOnly } },
    ],
  };
};
