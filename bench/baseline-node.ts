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
import { readFileSync } from 'node:fs';
import { serveBaseline, type BaselineTLSConfig } from './baseline-server.js';

interface BaselineConfig extends BaselineTLSConfig {
  /** path → the exact response body and its content type */
  routes: Record<string, { bodyFile: string; contentType: string }>;
}

const config = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as BaselineConfig;
const routes = new Map(Object.entries(config.routes).map(([path, r]) => [path, { body: readFileSync(r.bodyFile), type: r.contentType }]));

serveBaseline(config, (req, res, allowed) => {
  const route = routes.get(req.url ?? '');
  const status = !allowed() ? 403 : route ? 200 : 404;
  const body = status === 200 && route ? route.body : Buffer.from(`{"message":"${status}"}`);
  res.writeHead(status, { 'Content-Type': route?.type ?? 'application/json', 'Content-Length': String(body.length) });
  res.end(body);
});
