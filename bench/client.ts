/** A plain mTLS HTTPS client for set-up calls (imports, listings, readiness probes); not for load. */
import https from 'node:https';
import type { ClientIdentity } from './loadgen-types.js';

export interface Reply {
  status: number;
  body: Buffer;
  json(): unknown;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  agent?: https.Agent;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** One request to https://127.0.0.1:<port><path> as `who`, verifying the server against `caPem` as `localhost`. */
export function call(port: number, caPem: string, who: ClientIdentity, path: string, opts: CallOptions = {}): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: 'localhost',
        method: opts.method ?? 'GET',
        ca: caPem,
        cert: who.certPem,
        key: who.keyPem,
        agent: opts.agent ?? false,
        timeout: opts.timeoutMs ?? 30_000,
        headers: { ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body.toString('utf8')) as unknown });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like `call`, but throws unless the status is `expect`. */
export async function callOK(port: number, caPem: string, who: ClientIdentity, path: string, opts: CallOptions = {}, expect = 200): Promise<Reply> {
  const reply = await call(port, caPem, who, path, opts);
  if (reply.status !== expect) throw new Error(`${opts.method ?? 'GET'} ${path}: ${reply.status} ${reply.body.toString('utf8').slice(0, 200)}`);
  return reply;
}
