/**
 * Routes are data: method, path, body limit, timeout and authentication mode
 * are declared once per route with `route({...})` and enforced by the dispatcher,
 * so handlers hold only domain logic. Every route of every surface is a row of one
 * table (src/api/routes.ts), and `/v1/api` is that table printed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { State } from './state.js';
import type { Caller } from '../auth/caller.js';

/** '*' accepts any method: the route's handler routes further itself. */
export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE' | '*';

/**
 * How a route authenticates its caller; the dispatcher does it, once, before the
 * handler runs, and hands the handler the resulting Caller (src/auth/caller.ts).
 * Every failure counts towards the failed-authentication throttle.
 * - `policy`: a client certificate; the admin passes, everyone else needs a policy that
 *   allows the canonical path, else the route's `grant` (a node by its group).
 * - `identify`: the certificate identity if one was presented, else a live dashboard session
 *   (auth/session.ts); never refused for want of one.
 * - `group-token`: a live group token (`Authorization: Bearer`); the certificate identity,
 *   if any, comes along (enrollment).
 * - `node-token`: a live node token.
 * - `node`: a node token, or a certificate enrolled in a group.
 * - `rks-admin`: RKS's init token or a live admin token of the configured admin.
 * - `rks-init`: RKS's init token only.
 * - `rks-login`: RKS's admin login and password in the body (read before authenticating).
 * - `rks-reader`: an RKS admin credential, or a node token the route's `grant` admits.
 * - `rks-renew`: a renewable RKS token: admin, node or group.
 * - `rks-revoke`: an RKS admin or node token (a group token ends by rotating its group).
 * - `none`: no credential at all (e.g. `/version`).
 */
export type AuthMode =
  'policy' | 'identify' | 'group-token' | 'node-token' | 'node' | 'rks-admin' | 'rks-init' | 'rks-login' | 'rks-reader' | 'rks-renew' | 'rks-revoke' | 'none';

/**
 * One name in a route's path. The dispatcher decodes the segment and refuses the
 * empty name (unless `optional`), dot segments, control characters and '/' (unless
 * `allowSlash`); `canonical` then refuses what this kind of name may not be
 * (BadRequestError) and returns its one canonical spelling.
 */
export interface Param {
  /** What the name is, for error messages ('key name', 'bundle name'). */
  readonly kind: string;
  readonly optional?: boolean;
  readonly allowSlash?: boolean;
  canonical(decoded: string): string;
  /** The error for a segment no name of this kind can be, or a bad percent-encoding (default: 400 `invalid <kind>`). */
  invalid?(segment: string, why: 'encoding' | 'name'): Error;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The configuration snapshot this request runs against, read once at its start. */
  readonly state: State;
  /** Who is calling, as the dispatcher authenticated it: the one source of identity and credentials. */
  readonly caller: Caller;
  /** The canonical path: what the policy decided on (names decoded, '%' and '/' inside a name re-encoded). */
  readonly path: string;
  /** The route's names from the path, decoded and canonical, in order. */
  readonly params: readonly string[];
  /** The first of `params`, or '' for routes without names. */
  readonly resource: string;
  readonly query: URLSearchParams;
  /** The request body, already read within the route's limit. */
  readonly body: Buffer;
  /** Whether this caller's certificate (or dashboard session) may call `path` by policy (the admin may call anything). */
  allows(path: string): boolean;
  /** Aborted when the server starts shutting down: long-polls answer at once. */
  readonly closing: AbortSignal;
  /** Names the caller in the audit log once a handler knows better (a node it just registered). */
  setPrincipal(name: string): void;
}

/** What a route's `grant` sees: who is calling, with what credential, for which names. */
export interface GrantContext {
  readonly state: State;
  /** Certificate identity, or '' when none was presented. */
  readonly identity: string;
  /** Bearer token from `Authorization: Bearer` or `X-Vault-Token`, or ''. */
  readonly token: string;
  readonly path: string;
  readonly params: readonly string[];
  readonly resource: string;
}

/** What a handler returns; `undefined` means 200 with an empty body. */
export type Reply =
  | undefined
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; contentType: string; headers?: Record<string, string> }
  /** Bytes already encoded (cached replies); never modified by the writer. */
  | { status?: number; body: Buffer; contentType: string; headers?: Record<string, string> }
  /** The handler wrote the response itself (streams). */
  | { streamed: true };

export interface Route {
  method: Method;
  /**
   * An exact path; a prefix ending in '/' followed by one name per entry of `params`
   * (`/v1/key/create/` + a key name); or a template whose `{…}` segments are names
   * (`/rks/v1/group/{groupname}/secrets/{fqdn}`, with `params` in order).
   * A path ending in '/**' claims a whole subtree.
   */
  path: string;
  maxBody: number;
  timeoutMs: number;
  auth: AuthMode;
  /**
   * `required`: a client certificate must have been presented, whatever else the auth mode
   * accepted (enrollment binds it to a node; self-describe describes it). Checked with the
   * credential, before the handler: 400 `tls: client certificate is required`.
   */
  certificate?: 'required' | undefined;
  /** The names the path carries after its prefix (prefix and template routes). */
  params?: readonly Param[] | undefined;
  /**
   * A second way in for `policy` routes, asked only when the path policy does not allow
   * the caller: e.g. a node whose group is assigned the bundle it reads. On `rks-reader`
   * routes, what a node token must also pass (an admin need not). Returns the caller's
   * name for the audit log, or null to refuse.
   */
  grant?: ((ctx: GrantContext) => Promise<string | null> | string | null) | undefined;
  /** Error body shape: KES-style JSON (default) or RKS-style plain text. */
  errors?: 'json' | 'text' | undefined;
  /** The error for a method this path is not served with (default 405; RKS answers 404). */
  wrongMethod?: (() => Error) | undefined;
  /** The refusal of a credential that fails this route's auth mode, where the surface words it its own way. */
  refused?: (() => Error) | undefined;
  /** `rks-login` routes: the login and password a body carries (throws BadRequestError for a malformed one). */
  login?: ((body: Buffer, req: IncomingMessage) => { login: string; password: string }) | undefined;
  handler: (ctx: RequestContext) => Promise<Reply> | Reply;
  /**
   * The same answer as `handler` when it can be given synchronously from memory (a
   * cached read), else undefined. The dispatcher tries it first for requests without
   * a body, so a hot read is answered in the tick it arrived in, with no promise in
   * between; anything it cannot answer goes the normal way.
   */
  fast?: ((ctx: RequestContext) => Reply | undefined) | undefined;
}

/** Body limit of crypto routes, as KES: encrypt/decrypt are for small data. */
export const MAX_CRYPTO_BODY = 1 << 20;
export const DEFAULT_TIMEOUT_MS = 15_000;

/** A route declaration: method, path and handler; every other field of Route may be left to its default. */
export type RouteSpec = Pick<Route, 'method' | 'path' | 'handler'> & Partial<Omit<Route, 'method' | 'path' | 'handler'>>;

/** What a declaration leaves out: no body, the default timeout, a client certificate allowed by policy, JSON errors. */
export const ROUTE_DEFAULTS = { maxBody: 0, timeoutMs: DEFAULT_TIMEOUT_MS, auth: 'policy', errors: 'json' } as const satisfies Partial<Route>;

/**
 * The one way to declare a route (the table is src/api/routes.ts): named fields over
 * ROUTE_DEFAULTS. Refuses, when the table is built, fields its auth mode would never
 * read: a `grant` outside `policy` and `rks-reader`, a `login` outside `rks-login` (and
 * `rks-login` without one).
 */
export function route(spec: RouteSpec): Route {
  // Every route gets every field, in one order: one object shape, so the dispatcher's reads of
  // route fields stay monomorphic (a spread of each spec made a shape per combination of fields).
  // Required: a field added to Route but not copied here fails to compile instead of being dropped.
  const r: Required<Route> = {
    method: spec.method,
    path: spec.path,
    maxBody: spec.maxBody ?? ROUTE_DEFAULTS.maxBody,
    timeoutMs: spec.timeoutMs ?? ROUTE_DEFAULTS.timeoutMs,
    auth: spec.auth ?? ROUTE_DEFAULTS.auth,
    certificate: spec.certificate,
    params: spec.params,
    grant: spec.grant,
    errors: spec.errors ?? ROUTE_DEFAULTS.errors,
    wrongMethod: spec.wrongMethod,
    refused: spec.refused,
    login: spec.login,
    handler: spec.handler,
    fast: spec.fast,
  };
  if (r.grant && r.auth !== 'policy' && r.auth !== 'rks-reader')
    throw new Error(`route ${r.method} ${r.path}: a grant applies only to auth 'policy' and 'rks-reader'`);
  if ((r.login !== undefined) !== (r.auth === 'rks-login')) throw new Error(`route ${r.method} ${r.path}: auth 'rks-login' and a login decoder go together`);
  return r;
}

export interface RouteMatch {
  route: Route;
  /** The names of the path as they arrived (still percent-encoded), one per `route.params`. */
  raw: string[];
}

/** A path some route serves, but not with this method. */
export class WrongMethod {
  constructor(readonly route: Route) {}
}

const NO_NAMES: string[] = [];

/**
 * Looks routes up on the raw path, before anything is decoded, so an encoded '/'
 * can never make a path reach another route. Exact paths first (O(1)), then the
 * prefix up to the last '/' (one name) or the one before (two names); then
 * templates, segment by segment; then subtrees. `/v1/key/list` without a trailing
 * slash is served as `/v1/key/list/` with an empty name, as KES clients send it.
 */
export class Router {
  private readonly exact = new Map<string, Route[]>();
  private readonly prefix = new Map<string, Route>();
  private readonly templates: Array<{ segments: string[]; route: Route }> = [];
  private readonly subtrees: Array<[string, Route]> = [];

  constructor(readonly routes: readonly Route[]) {
    for (const r of routes) {
      if (r.path.endsWith('/**')) {
        this.subtrees.push([r.path.slice(0, -2), r]);
      } else if (r.path.includes('{')) {
        const segments = r.path.split('/');
        const names = segments.filter((s) => s.startsWith('{')).length;
        if (names !== (r.params?.length ?? 0)) throw new Error(`router: ${r.path} declares ${r.params?.length ?? 0} params for ${names} names`);
        this.templates.push({ segments, route: r });
      } else if (r.path.endsWith('/') && r.path !== '/') {
        // '/' itself is an exact route: as a prefix it would claim every one-segment path.
        const n = r.params?.length ?? 0;
        if (n !== 1 && n !== 2) throw new Error(`router: prefix route ${r.path} must declare one or two params`);
        if (this.prefix.has(r.path)) throw new Error(`router: duplicate route ${r.path}`);
        this.prefix.set(r.path, r);
      } else {
        const same = this.exact.get(r.path) ?? [];
        if (same.some((o) => o.method === r.method)) throw new Error(`router: duplicate route ${r.method} ${r.path}`);
        this.exact.set(r.path, [...same, r]);
      }
    }
  }

  /** The route for a method and raw path; WrongMethod when only other methods are served there. */
  match(method: string, path: string): RouteMatch | WrongMethod | undefined {
    const exact = this.exact.get(path);
    if (exact) return pick(exact, method, NO_NAMES);
    const cut = path.lastIndexOf('/') + 1;
    const byPrefix = this.prefix.get(path.slice(0, cut));
    if (byPrefix && byPrefix.params?.length === 1) return { route: byPrefix, raw: [path.slice(cut)] };
    if (cut > 1) {
      const cut2 = path.lastIndexOf('/', cut - 2) + 1;
      const two = this.prefix.get(path.slice(0, cut2));
      if (two && two.params?.length === 2) return { route: two, raw: [path.slice(cut2, cut - 1), path.slice(cut)] };
    }
    const bare = this.prefix.get(path + '/');
    if (bare && bare.params?.length === 1) return { route: bare, raw: [''] };
    if (this.templates.length > 0) {
      const found = this.template(method, path);
      if (found) return found;
    }
    for (const [root, route] of this.subtrees) {
      if (path.startsWith(root) || path + '/' === root) return { route, raw: NO_NAMES };
    }
    return undefined;
  }

  private template(method: string, path: string): RouteMatch | WrongMethod | undefined {
    const got = path.split('/');
    const fits: RouteMatch[] = [];
    for (const { segments, route } of this.templates) {
      if (segments.length !== got.length) continue;
      const raw: string[] = [];
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const want = segments[i] as string;
        const seg = got[i] as string;
        if (want.startsWith('{')) {
          if (seg === '') ok = false;
          else raw.push(seg);
        } else ok = want === seg;
      }
      if (ok) fits.push({ route, raw });
    }
    if (fits.length === 0) return undefined;
    return fits.find((f) => f.route.method === method || f.route.method === '*') ?? new WrongMethod((fits[0] as RouteMatch).route);
  }
}

function pick(routes: Route[], method: string, raw: string[]): RouteMatch | WrongMethod {
  const r =
    routes.find((o) => o.method === method || o.method === '*') ??
    (routes.length === 1 && routes[0]?.method === 'PUT' && method === 'POST' ? routes[0] : undefined);
  return r ? { route: r, raw } : new WrongMethod(routes[0] as Route);
}
