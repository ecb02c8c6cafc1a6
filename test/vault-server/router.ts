/**
 * The logical request pipeline, in Vault's order (vault/request_handling.go):
 * sealed → namespace → trailing-slash write → token → existence check → ACL →
 * mount routing → backend. This order is what makes an unknown path a 403 for
 * ordinary tokens and a 404 only for root.
 */
import { isSelfPath } from './auth-token.js';
import type { Backend, Core, Ctx, PathDef } from './core.js';
import { ACL_DENIED, fail, multiError, PERMISSION_DENIED, type Operation, type Reply } from './reply.js';

export interface LogicalRequest {
  /** Path after `/v1/`, already list-normalised. */
  path: string;
  op: Operation;
  data: Record<string, unknown>;
  rawBody: string | undefined;
  token: string;
  nsHeader: string | undefined;
  remoteAddr: string;
}

export interface LogicalResult {
  reply: Reply;
  /** Operation after create/update classification (decides 404 vs 204 for empty replies). */
  op: Operation;
  /** `mount_type` for the envelope; undefined when the flavour omits the field. */
  mountType: string | undefined;
}

function matchRoute(backend: Backend, sub: string): { def: PathDef; m: RegExpExecArray } | undefined {
  for (const def of backend.paths) {
    const m = def.pattern.exec(sub);
    if (m) return { def, m };
  }
  return undefined;
}

/** Applies `f` to a reply now, or when it arrives. */
function settle(r: Reply | Promise<Reply>, f: (r: Reply) => LogicalResult): LogicalResult | Promise<LogicalResult> {
  return r instanceof Promise ? r.then(f) : f(r);
}

export function handleLogical(core: Core, req: LogicalRequest): LogicalResult | Promise<LogicalResult> {
  let op = req.op;
  const result = (reply: Reply, mountType?: string): LogicalResult => ({ reply, op, mountType: core.flavor.mountType ? mountType : undefined });

  if (!core.seal.initialized || core.seal.sealed) return result(fail(503, 'Vault is sealed'));

  const resolved = core.resolveNamespace(req.nsHeader, req.path);
  if (!resolved) return result(fail(404, 'namespace not found'));
  let { ns } = resolved;
  const rel = resolved.rel;

  if ((op === 'update' || op === 'patch') && rel.endsWith('/')) return result(fail(400, "cannot write to a path ending in '/'"));

  const te = req.token ? core.tokens.lookup(req.token) : undefined;
  if (te && isSelfPath(rel)) ns = core.namespaceById(te.nsId) ?? ns;

  const found = core.findMount(ns, rel);
  const route = found ? matchRoute(found.mount.backend, found.sub) : undefined;
  const isLogin = !!found && !!found.mount.backend.loginPaths?.some((re) => re.test(found.sub));
  const now = core.now();
  const ctx: Ctx = {
    core,
    ns,
    mount: found?.mount as Ctx['mount'],
    op,
    path: found?.sub ?? rel,
    requestPath: rel,
    data: req.data,
    rawBody: req.rawBody,
    token: te,
    remoteAddr: req.remoteAddr,
    now,
    sudo: false,
  };

  let revokeAfter = false;
  if (!isLogin) {
    if (!te) return result(fail(403, PERMISSION_DENIED));
    // Vault spends a use before the ACL check, so denied requests count too.
    revokeAfter = core.tokens.use(te);
    const finish = (r: Reply, mt?: string): LogicalResult => {
      if (revokeAfter) core.tokens.revoke(te);
      return result(r, mt);
    };
    if (op === 'update' && route?.def.exists) {
      op = route.def.exists(ctx, route.m) ? 'update' : 'create';
      ctx.op = op;
    }
    const acl = core.aclFor(te);
    const allowed = acl.allowOperation(op, ns.path + rel, req.data);
    const needsSudo = !!found?.mount.backend.rootPaths?.some((re) => re.test(found.sub));
    if (!allowed.allowed || (needsSudo && !allowed.sudo)) return finish(fail(403, ACL_DENIED));
    ctx.sudo = allowed.sudo;
    if (!found) return finish(fail(404, `no handler for route ${JSON.stringify(rel)}. route entry not found.`));
    return settle(dispatch(ctx, route, false), (r) => finish(r, found.mount.type));
  }
  return settle(dispatch(ctx, route, true), (r) => result(r, found?.mount.type));
}

function dispatch(ctx: Ctx, route: { def: PathDef; m: RegExpExecArray } | undefined, login: boolean): Reply | Promise<Reply> {
  if (!route) return fail(404, multiError('unsupported path'));
  const handler = route.def.ops[ctx.op] ?? (ctx.op === 'create' ? route.def.ops.update : undefined);
  if (!handler) return fail(405, login ? 'unsupported operation' : multiError('unsupported operation'));
  return handler(ctx, route.m);
}
