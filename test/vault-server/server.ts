/**
 * The HTTP(S) listener: Vault's HTTP layer (http/handler.go, http/logical.go) —
 * verb mapping, body parsing, response headers — plus fault injection and the
 * test-only `/__test/` control API.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Core } from './core.js';
import type { FaultCommand, FaultControls } from './faults.js';
import { encode } from './json.js';
import { errorBody, render, type Operation, type Rendered } from './reply.js';
import { handleLogical } from './router.js';
import { handleSpecial, SPECIAL_PATHS } from './sys-http.js';
import { parseGoBool } from './util.js';

/** Vault's default listener limit (max_request_size). */
const MAX_BODY = 32 * 1024 * 1024;
const TEST_PREFIX = '/__test/';

export interface RecordedRequest {
  method: string;
  path: string;
  namespace: string | undefined;
  status: number;
  at: number;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string } | undefined;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BodyTooLarge());
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Query values: one value → string, repeated → array (Vault's parseQuery). */
function queryData(q: URLSearchParams, skip: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of new Set(q.keys())) {
    if (skip.includes(k)) continue;
    const all = q.getAll(k);
    out[k] = all.length === 1 ? all[0] : all;
  }
  return out;
}

type Parsed = { ok: true; data: Record<string, unknown> } | { ok: false; rendered: Rendered };

function parseBody(text: string, contentType: string): Parsed {
  const trimmed = text.trimStart();
  if (contentType.startsWith('application/x-www-form-urlencoded') && !trimmed.startsWith('{') && !trimmed.startsWith('[')) {
    return { ok: true, data: queryData(new URLSearchParams(text), []) };
  }
  if (trimmed === '') return { ok: true, data: {} };
  try {
    const v: unknown = JSON.parse(text);
    if (v === null) return { ok: true, data: {} };
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return { ok: true, data: v as Record<string, unknown> };
  } catch {
    return { ok: false, rendered: { status: 400, body: errorBody(['error parsing JSON']) } };
  }
}

export class VaultHttpServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;

  constructor(
    private readonly core: Core,
    private readonly faults: FaultControls,
    tls: { cert: string; key: string } | undefined,
  ) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(req, res, { status: 500, body: errorBody([String((err as Error)?.message ?? err)]) });
        else res.destroy();
      });
    };
    this.server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
    // Vault keeps idle connections for a long time; tests must not hang on close().
    this.server.keepAliveTimeout = 5_000;
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await done;
  }

  private send(req: IncomingMessage, res: ServerResponse, r: Rendered): void {
    const headers: Record<string, string | number> = { 'Cache-Control': 'no-store', 'Content-Type': 'application/json' };
    const ns = req.headers['x-vault-namespace'];
    if (typeof ns === 'string') headers['X-Vault-Namespace'] = ns;
    if (r.status !== 204 && r.status !== 304) headers['Content-Length'] = Buffer.byteLength(r.body);
    if (r.status === 204 || req.method === 'HEAD') {
      res.writeHead(r.status, headers);
      res.end();
    } else {
      res.writeHead(r.status, headers);
      res.end(r.body);
    }
    const url = req.url ?? '';
    if (!url.startsWith(TEST_PREFIX)) {
      this.requests.push({ method: req.method ?? '', path: url, namespace: typeof ns === 'string' ? ns : undefined, status: r.status, at: this.core.now() });
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vault.invalid');
    if (url.pathname.startsWith(TEST_PREFIX)) return this.testApi(req, res, url);

    if (this.faults.takeDrop()) {
      req.socket.destroy();
      return;
    }
    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
    const injected = this.faults.takeFailure();
    if (injected) {
      req.resume();
      return this.send(req, res, { status: injected.status, body: errorBody([injected.message]) });
    }

    let text: string;
    try {
      text = await readBody(req);
    } catch (e) {
      if (e instanceof BodyTooLarge) return this.send(req, res, { status: 413, body: errorBody(['http: request body too large']) });
      throw e;
    }
    if (!url.pathname.startsWith('/v1/')) return this.send(req, res, { status: 404, body: errorBody([]) });
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.slice('/v1/'.length));
    } catch {
      return this.send(req, res, { status: 400, body: errorBody([]) });
    }
    const method = req.method ?? 'GET';
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    const hdrToken = req.headers['x-vault-token'];
    const auth = req.headers['authorization'];
    const token = typeof hdrToken === 'string' && hdrToken !== '' ? hdrToken : typeof auth === 'string' && /^bearer /i.test(auth) ? auth.slice(7).trim() : '';
    const nsHeader = typeof req.headers['x-vault-namespace'] === 'string' ? req.headers['x-vault-namespace'] : undefined;

    if (SPECIAL_PATHS.has(path)) {
      const parsed = method === 'PUT' || method === 'POST' ? parseBody(text, contentType) : { ok: true as const, data: {} };
      if (!parsed.ok) return this.send(req, res, parsed.rendered);
      const resolved = this.core.resolveNamespace(nsHeader, '');
      return this.send(
        req,
        res,
        handleSpecial(this.core, { path, method, query: url.searchParams, body: parsed.data, token, inChildNamespace: !!resolved && !resolved.ns.isRoot }),
      );
    }

    let op: Operation;
    let data: Record<string, unknown> = {};
    switch (method) {
      case 'GET': {
        const list = url.searchParams.get('list');
        op = 'read';
        if (list !== null) {
          const b = parseGoBool(list);
          if (b === undefined) return this.send(req, res, { status: 400, body: errorBody([]) });
          if (b) op = 'list';
        }
        data = queryData(url.searchParams, ['list']);
        break;
      }
      case 'LIST':
        op = 'list';
        data = queryData(url.searchParams, ['list']);
        break;
      case 'DELETE':
        op = 'delete';
        data = queryData(url.searchParams, []);
        break;
      case 'POST':
      case 'PUT':
      case 'PATCH': {
        if (method === 'PATCH') {
          const ct = contentType.split(';')[0]?.trim() ?? '';
          if (ct !== 'application/merge-patch+json') {
            return this.send(req, res, { status: 415, body: errorBody([`PATCH requires Content-Type of application/merge-patch+json, provided ${req.headers['content-type'] ?? ''}`]) });
          }
        }
        const parsed = parseBody(text, contentType);
        if (!parsed.ok) return this.send(req, res, parsed.rendered);
        data = parsed.data;
        op = method === 'PATCH' ? 'patch' : 'update';
        break;
      }
      default:
        return this.send(req, res, { status: 405, body: errorBody([]) });
    }
    if (op === 'list' && !path.endsWith('/')) path += '/';

    const result = handleLogical(this.core, {
      path,
      op,
      data,
      rawBody: op === 'update' || op === 'patch' ? text : undefined,
      token,
      nsHeader,
      remoteAddr: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    });
    this.send(req, res, render(result.reply, { op: result.op, mountType: result.mountType }));
  }

  private async testApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const text = await readBody(req).catch(() => '');
    const reply = (status: number, body: unknown): void => this.send(req, res, { status, body: encode(body) + '\n' });
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /__test/faults':
        return reply(200, this.faults.state());
      case 'POST /__test/faults':
      case 'PUT /__test/faults': {
        let cmd: FaultCommand;
        try {
          cmd = (text.trim() ? JSON.parse(text) : {}) as FaultCommand;
        } catch {
          return reply(400, { errors: ['error parsing JSON'] });
        }
        this.faults.apply(cmd);
        return reply(200, this.faults.state());
      }
      case 'GET /__test/info':
        return reply(200, { root_token: this.core.rootToken, unseal_keys: this.core.seal.keys.map((k) => k.toString('hex')), flavor: this.core.flavor.name, now_ms: this.core.now() });
      case 'GET /__test/requests':
        return reply(200, { requests: this.requests });
      case 'DELETE /__test/requests':
        this.requests.length = 0;
        return this.send(req, res, { status: 204, body: '' });
      default:
        return reply(404, { errors: [] });
    }
  }
}
