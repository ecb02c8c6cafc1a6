/**
 * Routes are data: method, path, body limit, timeout and authentication mode
 * are declared once per route and enforced by the dispatcher, so handlers hold
 * only domain logic and `/v1/api` is just this table printed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { State } from './state.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

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
}

/** What a handler returns; `undefined` means 200 with an empty body. */
export type Reply =
  | undefined
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; contentType: string; headers?: Record<string, string> }
  /** The handler wrote the response itself (streams). */
  | { streamed: true };

export interface Route {
  method: Method;
  /** Exact path, or a prefix ending in '/' followed by a single resource segment. */
  path: string;
  maxBody: number;
  timeoutMs: number;
  auth: AuthMode;
  handler: (ctx: RequestContext) => Promise<Reply> | Reply;
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
 */
export class Router {
  private readonly exact = new Map<string, Route>();
  private readonly prefix = new Map<string, Route>();

  constructor(readonly routes: readonly Route[]) {
    for (const r of routes) {
      const table = r.path.endsWith('/') ? this.prefix : this.exact;
      if (table.has(r.path)) throw new Error(`router: duplicate route ${r.path}`);
      table.set(r.path, r);
    }
  }

  match(path: string): RouteMatch | undefined {
    const exact = this.exact.get(path);
    if (exact) return { route: exact, resource: '' };
    const cut = path.lastIndexOf('/') + 1;
    const byPrefix = this.prefix.get(path.slice(0, cut));
    if (byPrefix) return { route: byPrefix, resource: path.slice(cut) };
    const bare = this.prefix.get(path + '/');
    if (bare) return { route: bare, resource: '' };
    return undefined;
  }
}
