/**
 * What the bare node:https baselines share: the server's TLS (client certificates required
 * and verified against the bench CA), the caller's identity hashed once per connection and
 * checked against the allowed set (as keygate does), `listening <port>` on stdout for
 * bench/servers.ts, and a clean stop on SIGTERM.
 */
import https from 'node:https';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface BaselineTLSConfig {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** Identities (SHA-256 of the client certificate's public key) allowed past `allowed()`. */
  identities: string[];
}

/** Starts the baseline; `handler` asks `allowed()` where keygate's policy check would stand. */
export function serveBaseline(config: BaselineTLSConfig, handler: (req: IncomingMessage, res: ServerResponse, allowed: () => boolean) => void): void {
  const allowedSet = new Set(config.identities);
  const identities = new WeakMap<TLSSocket, string>();
  const identityOf = (socket: TLSSocket): string => {
    let id = identities.get(socket);
    if (id === undefined) {
      const spki = socket.getPeerX509Certificate()?.publicKey.export({ type: 'spki', format: 'der' });
      id = spki ? createHash('sha256').update(spki).digest('hex') : '';
      identities.set(socket, id);
    }
    return id;
  };
  const server = https.createServer(
    {
      cert: readFileSync(config.certFile),
      key: readFileSync(config.keyFile),
      ca: readFileSync(config.caFile),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      keepAliveTimeout: 90_000,
    },
    (req, res) => handler(req, res, () => allowedSet.has(identityOf(req.socket as TLSSocket))),
  );
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
