/**
 * The request pipeline: route → method → authenticate → authorize → read body
 * (within the route's limit) → handler (within the route's timeout) → reply →
 * audit. Every step is enforced here once, for every route of every surface.
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
import { writeError, writeReply } from './respond.js';
import type { Route, Router } from './route.js';
import type { State, StateHolder } from './state.js';
import type { Metrics } from './metrics.js';
import type { AuthThrottle } from './throttle.js';

export function createDispatcher(router: Router, holder: StateHolder, metrics: Metrics, throttle: AuthThrottle) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const state = holder.current;
    const started = performance.now();
    // Read once: Node clears req.socket when the connection closes, which can happen before the audit line.
    const ip = req.socket.remoteAddress ?? '';
    let identity = '';
    let path = '';
    let errors: 'json' | 'text' = 'json';
    let routePath = 'unmatched';
    let authenticated = false;
    metrics.requestStarted();
    const finish = (status: number): void => {
      metrics.requestEnded(routePath, req.method ?? '', status, (performance.now() - started) / 1000);
      state.logger.audit({
        ip,
        identity,
        method: req.method ?? '',
        path,
        status,
        latencyMs: performance.now() - started,
      });
    };

    const run = async (): Promise<void> => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      path = q < 0 ? url : url.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));

      const match = router.match(path);
      if (!match) throw new NotFoundError('not found');
      const { route, resource } = match;
      routePath = route.path;
      checkMethod(req.method ?? '', route);

      errors = route.errors ?? 'json';
      if (route.auth !== 'none') throttle.check(ip);
      identity = await authenticate(req, route, state, path, resource);
      authenticated = true;

      const body = await readBody(req, route.maxBody);
      const setPrincipal = (name: string): void => {
        identity = name;
      };
      const reply = await withTimeout(
        Promise.resolve(route.handler({ req, res, state, identity, path, resource, query, body, setPrincipal })),
        route.timeoutMs,
      );
      writeReply(res, reply);
      if (reply && 'streamed' in reply) res.once('close', () => finish(res.statusCode));
      else finish(res.statusCode);
    };

    run().catch((err: unknown) => {
      // Unread body bytes would be parsed as the next request: close instead.
      const status = writeError(res, err, err instanceof PayloadTooLargeError, errors);
      if (!authenticated && routePath !== 'unmatched' && (status === 400 || status === 403)) {
        metrics.authFailed(status === 400 ? 'no_certificate' : 'forbidden');
        throttle.fail(ip);
      }
      if (!(err instanceof KeygateError) || status >= 500) {
        const cause = err instanceof Error ? (err.cause ?? err) : err;
        state.logger.error(`http: ${req.method} ${path}: ${describe(cause)}`, { status });
      }
      finish(status);
    });
  };
}

function checkMethod(method: string, route: Route): void {
  if (method === route.method || route.method === '*') return;
  // Like KES: routes that expect PUT accept POST from older clients.
  if (route.method === 'PUT' && method === 'POST') return;
  throw new MethodNotAllowedError(method, route.method);
}

/**
 * Who may call: the admin, an identity whose policy allows the path, or whoever the
 * route's `grant` admits (a node by its group). Returns the caller's audit name.
 */
async function authenticate(req: IncomingMessage, route: Route, state: State, path: string, resource: string): Promise<string> {
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
  const principal = await route.grant({ state, identity, token, path, resource, req });
  if (principal === null) throw new NotAuthorizedError();
  return principal;
}

/** The token of `Authorization: Bearer …`, else of `X-Vault-Token` (RKS), else ''. */
export function bearerToken(req: IncomingMessage): string {
  const auth = req.headers['authorization'];
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const vault = req.headers['x-vault-token'];
  return typeof vault === 'string' ? vault.trim() : '';
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError('request timed out', 503)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
