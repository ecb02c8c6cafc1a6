/**
 * The request pipeline: route (on the raw path) → method → throttle → canonical
 * names (decoded and checked once) → authenticate and authorize on the canonical
 * path, by the route's auth mode, into one Caller → read body (within the route's
 * limit) → handler (within the route's timeout) → reply → audit. Every step is
 * enforced here once, for every route of every surface.
 *
 * Everything up to the handler runs synchronously when it can (a certificate
 * identity allowed by policy, no body): then a route's `fast` handler may answer
 * from memory in the same tick. Whatever needs I/O continues asynchronously.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BodyDecodeError, KeygateError, MethodNotAllowedError, PayloadTooLargeError, coded } from '../errors.js';
import { ANONYMOUS, authenticate, callerAllows, countsAsFailure, type Caller } from '../auth/caller.js';
import { readBody, readBodyThen } from './body.js';
import { canonicalize } from './canonical.js';
import { errorStatus, writeError, writeReply } from './respond.js';
import { WrongMethod, type Reply, type RequestContext, type Route, type Router } from './route.js';
import type { State, StateHolder } from './state.js';
import type { Metrics } from './metrics.js';
import type { AuthThrottle } from './throttle.js';

/** Shared by requests without a query string; handlers only read it. */
const NO_QUERY = new URLSearchParams();

/** The request listener, and `shutdown()`, which ends what would otherwise never end by itself. */
export interface Dispatcher {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Ends every open stream and wakes every long-poll (they answer at once): shutdown waits only for real work. */
  shutdown(): void;
}

export function createDispatcher(router: Router, holder: StateHolder, metrics: Metrics, throttle: AuthThrottle): Dispatcher {
  const closing = new AbortController();
  // One listener per open stream or long-poll: as many as there are agents watching.
  setMaxListeners(0, closing.signal);
  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    const x = new Exchange(req, res, holder, metrics, throttle, closing.signal);
    let route: Route;
    let params: string[];
    let query: URLSearchParams;
    let who: Caller | Promise<Caller>;
    let body: Buffer | Promise<Buffer> | undefined;
    const run = async (): Promise<void> => {
      x.authenticated(await who);
      const ctx = x.context(params, query, await (body ?? readBody(req, route.maxBody)));
      x.reply(await withTimeout(() => route.handler(ctx), route.timeoutMs));
    };
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      x.path = q < 0 ? url : url.slice(0, q);
      const match = router.match(x.method, x.path);
      if (!match) throw coded('ROUTE_NOT_FOUND');
      route = match.route;
      x.route = route;
      x.errors = route.errors ?? 'json';
      if (match instanceof WrongMethod) throw route.wrongMethod?.() ?? new MethodNotAllowedError(x.method, route.method);
      checkMethod(x.method, route);
      if (route.auth !== 'none') throttle.check(x.ip);
      // Every name decoded and checked once, before any policy: the policy decides on
      // exactly the path the handler acts on (server/canonical.ts).
      const canonical = canonicalize(route, match.raw);
      params = x.params = canonical.params;
      x.path = canonical.path;
      query = q < 0 ? NO_QUERY : new URLSearchParams(url.slice(q + 1));
      if (route.auth === 'rks-login') {
        // The credentials are the body: read it first (within the route's limit).
        const raw = readBody(req, route.maxBody);
        body = raw;
        who = Buffer.isBuffer(raw)
          ? authenticate({ req, state: x.state, route, path: x.path, params, body: raw })
          : raw.then((b) => authenticate({ req, state: x.state, route, path: x.path, params, body: b }));
      } else {
        who = authenticate({ req, state: x.state, route, path: x.path, params });
      }
      if (!(who instanceof Promise)) {
        x.authenticated(who);
        // Only an authenticated caller gets its body read (a login's was read to authenticate it).
        const fast = route.fast;
        if (fast && body === undefined) {
          // A body arrives in events after this listener returns: it is collected by callback, and
          // the fast handler answers in the tick it completes in (at once when there is none).
          readBodyThen(req, route.maxBody, (err, b) => {
            if (err) return x.fail(err);
            try {
              const r = fast(x.context(params, query, b));
              if (r !== undefined) return x.reply(r);
            } catch (e) {
              return x.fail(e);
            }
            body = b;
            run().catch((e: unknown) => x.fail(e));
          });
          return;
        }
        body ??= readBody(req, route.maxBody);
        if (fast && Buffer.isBuffer(body)) {
          const r = fast(x.context(params, query, body));
          if (r !== undefined) return x.reply(r);
        }
      }
    } catch (err) {
      return x.fail(err);
    }

    run().catch((err: unknown) => x.fail(err));
  };
  return Object.assign(dispatch, { shutdown: () => closing.abort() });
}

/** One request's bookkeeping, from arrival to its audit line: one object instead of a closure per step. */
class Exchange {
  readonly started = performance.now();
  // Read once: Node clears req.socket when the connection closes, which can happen before the audit line.
  readonly ip: string;
  readonly method: string;
  readonly state: State;
  caller: Caller = ANONYMOUS;
  principal = '';
  path = '';
  errors: 'json' | 'text' = 'json';
  route: Route | undefined;
  params: string[] = [];
  private isAuthenticated = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly holder: StateHolder,
    private readonly metrics: Metrics,
    private readonly throttle: AuthThrottle,
    private readonly closing: AbortSignal,
  ) {
    this.state = holder.current;
    this.ip = req.socket.remoteAddress ?? '';
    this.method = req.method ?? '';
    metrics.requestStarted();
  }

  authenticated(caller: Caller): void {
    this.caller = caller;
    this.principal = caller.principal;
    this.isAuthenticated = true;
  }

  context(params: string[], query: URLSearchParams, body: Buffer): RequestContext {
    const { req, res, state, caller, path } = this;
    return {
      req,
      res,
      state,
      caller,
      path,
      params,
      resource: params[0] ?? '',
      query,
      body,
      allows: (p) => callerAllows(state, caller, p),
      closing: this.closing,
      setPrincipal: (name) => void (this.principal = name),
    };
  }

  reply(r: Reply): void {
    writeReply(this.res, r);
    if (r && 'streamed' in r) {
      this.res.once('close', () => this.finish(this.res.statusCode));
      if (!this.res.writableEnded) {
        if (this.route?.auth !== 'none') this.watchAuthorization();
        // A stream has no end of its own: at shutdown it ends, cleanly, instead of holding it up.
        const end = () => this.res.end();
        if (this.closing.aborted) end();
        else {
          this.closing.addEventListener('abort', end, { once: true });
          this.res.once('close', () => this.closing.removeEventListener('abort', end));
        }
      }
    } else this.finish(this.res.statusCode);
  }

  /**
   * A long-lived answer (a log stream) holds only while its authorisation does: after
   * every reload the caller is authenticated again against the new configuration, and
   * the stream ends the moment that fails.
   */
  private watchAuthorization(): void {
    const route = this.route;
    if (!route || !this.holder.onChange) return;
    const cut = (state: State) => {
      state.logger.info(`http: ${this.method} ${this.path}: stream ended: its caller is no longer authorised after the reload`);
      this.res.destroy();
    };
    const check = (state: State) => {
      if (this.res.destroyed) return;
      try {
        const again = authenticate({ req: this.req, state, route, path: this.path, params: this.params });
        if (again instanceof Promise) again.catch(() => cut(state));
      } catch {
        cut(state);
      }
    };
    const unsubscribe = this.holder.onChange(check);
    this.res.once('close', unsubscribe);
  }

  fail(err: unknown): void {
    const { status } = errorStatus(err);
    // Counted before the answer leaves, so the client's next try finds it counted (in every worker).
    // A body that does not decode on a route anyone may call is as much a probe as a bad credential.
    const probe = this.route?.auth === 'none' && err instanceof BodyDecodeError;
    if (
      probe ||
      (!this.isAuthenticated &&
        this.route !== undefined &&
        this.route.auth !== 'none' &&
        (status === 400 || status === 401 || status === 403) &&
        countsAsFailure(err))
    ) {
      const byCertificate = this.route?.auth === 'policy' || this.route?.auth === 'identify';
      this.metrics.authFailed(!byCertificate ? 'bad_token' : status === 400 ? 'no_certificate' : 'forbidden');
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
    this.metrics.requestEnded(this.route?.path ?? 'unmatched', this.method, status, seconds);
    this.state.logger.audit({ ip: this.ip, identity: this.principal, method: this.method, path: this.path, status, latencyMs: seconds * 1000 });
  }
}

function checkMethod(method: string, route: Route): void {
  if (method === route.method || route.method === '*') return;
  // Like KES: routes that expect PUT accept POST from older clients.
  if (route.method === 'PUT' && method === 'POST') return;
  throw route.wrongMethod?.() ?? new MethodNotAllowedError(method, route.method);
}

/** Runs `work`, failing with a 503 if it takes longer than `ms` (0: no limit). */
async function withTimeout<T>(work: () => Promise<T> | T, ms: number): Promise<T> {
  const pending = work();
  if (ms <= 0 || !(pending instanceof Promise)) return pending;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(coded('REQUEST_TIMEOUT')), ms);
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
