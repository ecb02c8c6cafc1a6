/**
 * The HTTPS listener: TLS settings, connection limits and timeouts, and the
 * dispatcher. Start-up failures become ConfigErrors with one clear line.
 */
import https from 'node:https';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { ConfigError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { ERROR_CODE_HEADER } from '../error-codes.js';
import { createDispatcher } from './dispatch.js';
import type { Route } from './route.js';
import { Router } from './route.js';
import type { StateHolder } from './state.js';
import type { Metrics } from './metrics.js';
import { AuthThrottle, type ThrottleOptions } from './throttle.js';

/** The listener's TLS settings (loaded and checked from the configuration by compose/tls.ts). */
export interface ServerTls extends SecureContextOptions {
  requestCert: true;
  rejectUnauthorized: boolean;
}

export interface ListenerOptions {
  host: string;
  port: number;
  tls: ServerTls;
  routes: readonly Route[];
  holder: StateHolder;
  metrics: Metrics;
  headerTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  /** How long shutdown waits for requests in flight before closing every connection. */
  shutdownTimeoutMs: number;
  maxHeaderBytes: number;
  maxConnections: number;
  authFailures: ThrottleOptions;
}

export interface Listener {
  readonly server: https.Server;
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Requests the HTTP parser refuses (oversized or malformed headers, a bad request
 * line, header or request timeouts) never reach the dispatcher: answer them with
 * the same `{"message"}` JSON as every other error instead of Node's empty body.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  // A refused renegotiation is a TLS-level refusal: there is no HTTP exchange to answer.
  if (err.code === 'ECONNRESET' || err.code === 'ERR_TLS_RENEGOTIATION_DISABLED' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  socket.end(
    rawError(err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_READ_TIMEOUT' : 'MALFORMED_REQUEST'),
  );
}

/** An error answer for a raw socket, as the dispatcher writes errors: `{"message"}` and the code's header. */
function rawError(code: ErrorCode): string {
  const { status, message } = ERROR_CODES[code];
  const body = JSON.stringify({ message });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n${ERROR_CODE_HEADER}: ${code}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * `http://` to the TLS port: OpenSSL recognises the plain request line (ERR_SSL_HTTP_REQUEST, or
 * ERR_SSL_HTTPS_PROXY_REQUEST for a CONNECT) and the handshake fails. Nothing else would answer,
 * and curl would report an empty reply: answer in plain HTTP, on the raw TCP socket under the
 * failed TLS one, saying what to use instead.
 */
function answerPlainHTTP(err: NodeJS.ErrnoException, tlsSocket: TLSSocket): void {
  if (err.code !== 'ERR_SSL_HTTP_REQUEST' && err.code !== 'ERR_SSL_HTTPS_PROXY_REQUEST') return;
  const raw = (tlsSocket as TLSSocket & { _parent?: Socket | null })._parent;
  if (!raw || raw.destroyed || !raw.writable) return;
  raw.end(rawError('PLAIN_HTTP'));
  // end() flushes, then closes; a client that never reads must not hold the socket.
  raw.setTimeout(5000, () => raw.destroy());
}

export async function listen(options: ListenerOptions): Promise<Listener> {
  const router = new Router(options.routes);
  const dispatch = createDispatcher(router, options.holder, options.metrics, new AuthThrottle(options.authFailures));
  const server = https.createServer(
    {
      ...options.tls,
      maxHeaderSize: options.maxHeaderBytes,
      headersTimeout: options.headerTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.idleTimeoutMs,
      // Node checks header/request timeouts on this period (30 s by default): tighten it so slow clients are cut promptly.
      connectionsCheckingInterval: Math.min(1000, options.headerTimeoutMs),
    },
    dispatch,
  );
  server.maxConnections = options.maxConnections;
  // A client may half-close once its request is sent (raw TLS clients, `openssl s_client`
  // at end of input). node:http would then drop a response still being prepared (any route
  // that awaits I/O); with this it answers, then closes.
  (server as https.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const open = new Set<TLSSocket>();
  let closing = false;
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.allowHalfOpen = true;
    // Client-initiated renegotiation costs the server a full handshake per request of the
    // client's choosing (a CPU amplification) and nothing here needs it: the socket errors
    // out and is destroyed instead.
    socket.disableRenegotiation();
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    // A client that half-closes during shutdown has sent its last request: see close().
    socket.once('end', () => {
      if (closing) socket.destroy();
    });
  });
  // A client that fails the handshake (untrusted certificate with tls.auth on) is dropped quietly;
  // one that speaks plain HTTP is told to use https.
  server.on('tlsClientError', answerPlainHTTP);
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${options.host}:${options.port}`;
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`server: address ${where} is already in use`));
      else if (err.code === 'EACCES') reject(new ConfigError(`server: no permission to listen on ${where}`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new ConfigError(`server: address ${where} is not available on this machine`));
      else reject(new ConfigError(`server: cannot listen on ${where}: ${err.message}`));
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        // Streams and long-polls end now; only requests doing real work get the grace period.
        dispatch.shutdown();
        // In-flight requests finish; keep-alive connections are closed as soon as they go idle,
        // and whatever is still open at the deadline (log streams) is cut.
        server.closeIdleConnections();
        // A half-closed socket (its client sent FIN: an agent that went away mid-watch sits in
        // CLOSE-WAIT) has no one left to answer a slow request; waiting for it held shutdown for
        // the whole deadline. Those that half-close later go in their 'end' handler above.
        for (const socket of open) if (socket.readableEnded) socket.destroy();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs);
        server.once('close', () => {
          clearInterval(sweep);
          clearTimeout(deadline);
        });
      }),
  };
}
