/**
 * The request pipeline: route → method → authenticate → authorize → read body
 * (within the route's limit) → handler (within the route's timeout) → reply →
 * audit. Every step is enforced here once, for every route of every surface.
 *
 * Everything up to the handler runs synchronously when it can (a certificate
 * identity allowed by policy, no body): then a route's `fast` handler may answer
 * from memory in the same tick. Whatever needs I/O continues asynchronously.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import {
  KeygateError,
  MethodNotAllowedError,
  NotAuthorizedError,
  NotFoundError,
  PayloadTooLargeError,
  UnavailableError,
} from '../errors.js';
import { optionalPeerIdentity, peerIdentity } from '../auth/peer.js';
import { readBody } from './body.js';
import { errorStatus, writeError, writeReply } from './respond.js';
import type { Reply, RequestContext, Route, Router } from './route.js';
import type { State, StateHolder } from './state.js';
import type { Metrics } from './metrics.js';
import type { AuthThrottle } from './throttle.js';

/** Shared by requests without a query string; handlers only read it. */
const NO_QUERY = new URLSearchParams();

export function createDispatcher(router: Router, holder: StateHolder, metrics: Metrics, throttle: AuthThrottle) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const x = new Exchange(req, res, holder.current, metrics, throttle);
    let route: Route;
    let resource: string;
    let query: URLSearchParams;
    let who: string | Promise<string>;
    let body: Buffer | Promise<Buffer> | undefined;
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = (x.path = q < 0 ? url : url.slice(0, q));
      const match = router.match(path);
      if (!match) throw new NotFoundError('not found');
      route = match.route;
      resource = match.resource;
      x.routePath = route.path;
      checkMethod(x.method, route);
      x.errors = route.errors ?? 'json';
      if (route.auth !== 'none') throttle.check(x.ip);
      query = q < 0 ? NO_QUERY : new URLSearchParams(url.slice(q + 1));
      who = authenticate(req, route, x.state, path, resource);
      if (typeof who === 'string') {
        x.authenticated(who);
        // Only an authenticated caller gets its body read.
        body = readBody(req, route.maxBody);
        if (route.fast && Buffer.isBuffer(body)) {
          const r = route.fast(x.context(resource, query, body));
          if (r !== undefined) return x.reply(r);
        }
      }
    } catch (err) {
      return x.fail(err);
    }

    const run = async (): Promise<void> => {
      x.authenticated(await who);
      const ctx = x.context(resource, query, await (body ?? readBody(req, route.maxBody)));
      x.reply(await withTimeout(() => route.handler(ctx), route.timeoutMs));
    };
    run().catch((err: unknown) => x.fail(err));
  };
}

/** One request's bookkeeping, from arrival to its audit line: one object instead of a closure per step. */
class Exchange {
  readonly started = performance.now();
  // Read once: Node clears req.socket when the connection closes, which can happen before the audit line.
  readonly ip: string;
  readonly method: string;
  identity = '';
  path = '';
  errors: 'json' | 'text' = 'json';
  routePath = 'unmatched';
  private isAuthenticated = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly state: State,
    private readonly metrics: Metrics,
    private readonly throttle: AuthThrottle,
  ) {
    this.ip = req.socket.remoteAddress ?? '';
    this.method = req.method ?? '';
    metrics.requestStarted();
  }

  authenticated(identity: string): void {
    this.identity = identity;
    this.isAuthenticated = true;
  }

  context(resource: string, query: URLSearchParams, body: Buffer): RequestContext {
    const { req, res, state, identity, path } = this;
    return { req, res, state, identity, path, resource, query, body, setPrincipal: (name) => void (this.identity = name) };
  }

  reply(r: Reply): void {
    writeReply(this.res, r);
    if (r && 'streamed' in r) this.res.once('close', () => this.finish(this.res.statusCode));
    else this.finish(this.res.statusCode);
  }

  fail(err: unknown): void {
    const { status } = errorStatus(err);
    // Counted before the answer leaves, so the client's next try finds it counted (in every worker).
    if (!this.isAuthenticated && this.routePath !== 'unmatched' && (status === 400 || status === 403)) {
      this.metrics.authFailed(status === 400 ? 'no_certificate' : 'forbidden');
      this.throttle.fail(this.ip);
    }
    // Unread body bytes would be parsed as the next request: close instead.
    writeError(this.res, err, err instanceof PayloadTooLargeError, this.errors);
    if (!(err instanceof KeygateError) || status >= 500) {
      const cause = err instanceof Error ? (err.cause ?? err) : err;
      this.state.logger.error(`http: ${this.method} ${this.path}: ${describe(cause)}`, { status });
    }
    this.finish(status);
  }

  private finish(status: number): void {
    const seconds = (performance.now() - this.started) / 1000;
    this.metrics.requestEnded(this.routePath, this.method, status, seconds);
    this.state.logger.audit({ ip: this.ip, identity: this.identity, method: this.method, path: this.path, status, latencyMs: seconds * 1000 });
  }
}

function checkMethod(method: string, route: Route): void {
  if (method === route.method || route.method === '*') return;
  // Like KES: routes that expect PUT accept POST from older clients.
  if (route.method === 'PUT' && method === 'POST') return;
  throw new MethodNotAllowedError(method, route.method);
}

/**
 * Who may call: the admin, an identity whose policy allows the path, or whoever the
 * route's `grant` admits (a node by its group). Returns the caller's audit name,
 * synchronously unless a grant has to look something up.
 */
function authenticate(req: IncomingMessage, route: Route, state: State, path: string, resource: string): string | Promise<string> {
  const socket = req.socket as TLSSocket;
  if (route.auth === 'none') return '';
  if (route.auth === 'identify') return optionalPeerIdentity(socket);
  if (!route.grant) {
    const identity = peerIdentity(socket);
    if (identity === state.admin || state.identities.get(identity)?.verify(path)) return identity;
    throw new NotAuthorizedError();
  }
  const identity = optionalPeerIdentity(socket);
  if (identity !== '' && (identity === state.admin || state.identities.get(identity)?.verify(path))) return identity;
  const token = bearerToken(req);
  if (identity === '' && token === '') peerIdentity(socket); // throws the KES "certificate required" 400
  const grant = route.grant;
  return (async () => {
    const principal = await grant({ state, identity, token, path, resource, req });
    if (principal === null) throw new NotAuthorizedError();
    return principal;
  })();
}

/** The token of `Authorization: Bearer …`, else of `X-Vault-Token` (RKS), else ''. */
export function bearerToken(req: IncomingMessage): string {
  const auth = req.headers['authorization'];
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const vault = req.headers['x-vault-token'];
  return typeof vault === 'string' ? vault.trim() : '';
}

/** Runs `work`, failing with a 503 if it takes longer than `ms` (0: no limit). */
async function withTimeout<T>(work: () => Promise<T> | T, ms: number): Promise<T> {
  const pending = work();
  if (ms <= 0 || !(pending instanceof Promise)) return pending;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError('request timed out', 503)), ms);
  });
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
