/**
 * Routes are data: method, path, body limit, timeout and authentication mode
 * are declared once per route and enforced by the dispatcher, so handlers hold
 * only domain logic and `/v1/api` is just this table printed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { State } from './state.js';

/** '*' accepts any method: the route's handler routes further itself (the RKS surface). */
export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE' | '*';

/**
 * - `policy`: a client certificate is required; the admin passes, everyone else needs a policy that allows the path.
 * - `identify`: the identity is computed if a certificate was presented, never refused.
 * - `none`: no identity at all (e.g. `/version`).
 */
export type AuthMode = 'policy' | 'identify' | 'none';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The configuration snapshot this request runs against, read once at its start. */
  readonly state: State;
  /** Caller identity, or '' when none was presented / needed. */
  readonly identity: string;
  readonly path: string;
  /** The part of the path after the route's prefix (a name or pattern); '' for exact routes. */
  readonly resource: string;
  readonly query: URLSearchParams;
  /** The request body, already read within the route's limit. */
  readonly body: Buffer;
  /** Names the caller in the audit log when the route authenticates by itself (tokens). */
  setPrincipal(name: string): void;
}

/** What a route's `grant` sees: who is calling, with what credential, for which resource. */
export interface GrantContext {
  readonly state: State;
  /** Certificate identity, or '' when none was presented. */
  readonly identity: string;
  /** Bearer token from `Authorization: Bearer` or `X-Vault-Token`, or ''. */
  readonly token: string;
  readonly path: string;
  readonly resource: string;
  readonly req: IncomingMessage;
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
  /** Exact path, or a prefix ending in '/' followed by a single resource segment. */
  path: string;
  maxBody: number;
  timeoutMs: number;
  auth: AuthMode;
  /**
   * A second way in for `policy` routes, asked only when the path policy does not allow
   * the caller: e.g. a node whose group is assigned the bundle it reads. Returns the
   * caller's name for the audit log, or null to refuse.
   */
  grant?: (ctx: GrantContext) => Promise<string | null> | string | null;
  /** How many '/'-separated segments the resource has (default 1), e.g. 2 for `/v1/group/assign/<group>/<bundle>`. */
  segments?: 1 | 2;
  /** Error body shape: KES-style JSON (default) or RKS-style plain text. */
  errors?: 'json' | 'text';
  handler: (ctx: RequestContext) => Promise<Reply> | Reply;
  /**
   * The same answer as `handler` when it can be given synchronously from memory (a
   * cached read), else undefined. The dispatcher tries it first for requests without
   * a body, so a hot read is answered in the tick it arrived in, with no promise in
   * between; anything it cannot answer goes the normal way.
   */
  fast?: (ctx: RequestContext) => Reply | undefined;
}

/** Body limit of crypto routes, as KES: encrypt/decrypt are for small data. */
export const MAX_CRYPTO_BODY = 1 << 20;
export const DEFAULT_TIMEOUT_MS = 15_000;

export interface RouteMatch {
  route: Route;
  resource: string;
}

/**
 * Looks routes up in O(1): exact paths first, then the prefix up to the last '/'
 * (resources never contain '/'). `/v1/key/list` without a trailing slash is
 * served as `/v1/key/list/` with an empty prefix, as KES clients send it.
 * A path ending in '/**' claims a whole subtree (its handler routes further);
 * the resource is then everything after the subtree's root.
 */
export class Router {
  private readonly exact = new Map<string, Route>();
  private readonly prefix = new Map<string, Route>();
  private readonly subtrees: Array<[string, Route]> = [];

  constructor(readonly routes: readonly Route[]) {
    for (const r of routes) {
      if (r.path.endsWith('/**')) {
        this.subtrees.push([r.path.slice(0, -2), r]);
        continue;
      }
      // '/' itself is an exact route: as a prefix it would claim every one-segment path.
      const table = r.path.endsWith('/') && r.path !== '/' ? this.prefix : this.exact;
      if (table.has(r.path)) throw new Error(`router: duplicate route ${r.path}`);
      table.set(r.path, r);
    }
  }

  match(path: string): RouteMatch | undefined {
    const exact = this.exact.get(path);
    if (exact) return { route: exact, resource: '' };
    const cut = path.lastIndexOf('/') + 1;
    const byPrefix = this.prefix.get(path.slice(0, cut));
    if (byPrefix && (byPrefix.segments ?? 1) === 1) return { route: byPrefix, resource: path.slice(cut) };
    if (cut > 1) {
      const cut2 = path.lastIndexOf('/', cut - 2) + 1;
      const two = this.prefix.get(path.slice(0, cut2));
      if (two && two.segments === 2) return { route: two, resource: path.slice(cut2) };
    }
    const bare = this.prefix.get(path + '/');
    if (bare) return { route: bare, resource: '' };
    for (const [root, route] of this.subtrees) {
      if (path.startsWith(root)) return { route, resource: path.slice(root.length) };
      if (path + '/' === root) return { route, resource: '' };
    }
    return undefined;
  }
}
