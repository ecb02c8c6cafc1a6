/**
 * The bare node:https baseline (run as its own process by servers.ts): the
 * same TLS settings as keygate (client certificate requested and verified
 * against the client CA, TLS 1.2+), the identity — SHA-256 of the peer's
 * SubjectPublicKeyInfo — computed once per connection and checked against the
 * allowed set, then the same bytes keygate returns. Nothing else: no routing
 * table, no policy patterns, no audit log, no keystore.
 *
 * Usage: baseline-node.ts CONFIG.json; prints `listening <port>` on stdout.
 */
import https from 'node:https';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';

interface BaselineConfig {
  certFile: string;
  keyFile: string;
  caFile: string;
  identities: string[];
  /** path → the exact response body and its content type */
  routes: Record<string, { bodyFile: string; contentType: string }>;
}

const config = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as BaselineConfig;
const allowed = new Set(config.identities);
const routes = new Map(Object.entries(config.routes).map(([path, r]) => [path, { body: readFileSync(r.bodyFile), type: r.contentType }]));
const identities = new WeakMap<TLSSocket, string>();

function identityOf(socket: TLSSocket): string {
  let id = identities.get(socket);
  if (id === undefined) {
    const spki = socket.getPeerX509Certificate()?.publicKey.export({ type: 'spki', format: 'der' });
    id = spki ? createHash('sha256').update(spki).digest('hex') : '';
    identities.set(socket, id);
  }
  return id;
}

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
  (req, res) => {
    const route = routes.get(req.url ?? '');
    const status = !allowed.has(identityOf(req.socket as TLSSocket)) ? 403 : route ? 200 : 404;
    const body = status === 200 && route ? route.body : Buffer.from(`{"message":"${status}"}`);
    res.writeHead(status, { 'Content-Type': route?.type ?? 'application/json', 'Content-Length': String(body.length) });
    res.end(body);
  },
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
