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

export function createDispatcher(router: Router, holder: StateHolder) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const state = holder.current;
    const started = performance.now();
    let identity = '';
    let path = '';
    const finish = (status: number): void => {
      state.logger.audit({
        ip: req.socket.remoteAddress ?? '',
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
      checkMethod(req.method ?? '', route);

      identity = authenticate(req.socket as TLSSocket, route, state, path);

      const body = await readBody(req, route.maxBody);
      const reply = await withTimeout(
        Promise.resolve(route.handler({ req, res, state, identity, path, resource, query, body })),
        route.timeoutMs,
      );
      writeReply(res, reply);
      if (!(reply && 'streamed' in reply)) finish(res.statusCode);
    };

    run().catch((err: unknown) => {
      // Unread body bytes would be parsed as the next request: close instead.
      const status = writeError(res, err, err instanceof PayloadTooLargeError);
      if (!(err instanceof KeygateError) || status >= 500) {
        const cause = err instanceof Error ? (err.cause ?? err) : err;
        state.logger.error(`http: ${req.method} ${path}: ${describe(cause)}`, { status });
      }
      finish(status);
    });
  };
}

function checkMethod(method: string, route: Route): void {
  if (method === route.method) return;
  // Like KES: routes that expect PUT accept POST from older clients.
  if (route.method === 'PUT' && method === 'POST') return;
  throw new MethodNotAllowedError(method, route.method);
}

function authenticate(socket: TLSSocket, route: Route, state: State, path: string): string {
  if (route.auth === 'none') return '';
  if (route.auth === 'identify') return optionalPeerIdentity(socket);
  const identity = peerIdentity(socket);
  if (identity === state.admin) return identity;
  const policy = state.identities.get(identity);
  if (!policy || !policy.verify(path)) throw new NotAuthorizedError();
  return identity;
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
