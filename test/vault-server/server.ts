/**
 * The HTTP(S) listener: Vault's HTTP layer (http/handler.go, http/logical.go) —
 * verb mapping, body parsing, response headers — plus fault injection and the
 * test-only `/__test/` control API.
 */
import type { Core } from './core.js';
import type { FaultCommand, FaultControls } from './faults.js';
import { createHttp1Server, type Http1Server, type RawRequest, type RawResponse } from './http1.js';
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
  private readonly server: Http1Server;

  constructor(
    private readonly core: Core,
    private readonly faults: FaultControls,
    tls: { cert: string; key: string } | undefined,
  ) {
    this.server = createHttp1Server(
      async (req) => {
        try {
          return await this.handle(req);
        } catch (err) {
          return this.send(req, { status: 500, body: errorBody([String((err as Error)?.message ?? err)]) });
        }
      },
      {
        ...(tls ? { tls } : {}),
        maxBody: MAX_BODY,
        onTooLarge: () => ({
          status: 413,
          headers: { 'Cache-Control': 'no-store', 'Content-Type': 'application/json' },
          body: errorBody(['http: request body too large']),
        }),
      },
    );
  }

  listen(host: string, port: number): Promise<number> {
    return this.server.listen(port, host);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private send(req: RawRequest, r: Rendered): RawResponse {
    const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'Content-Type': 'application/json' };
    const ns = req.headers['x-vault-namespace'];
    if (ns !== undefined) headers['X-Vault-Namespace'] = ns;
    if (!req.url.startsWith(TEST_PREFIX)) {
      this.requests.push({ method: req.method, path: req.url, namespace: ns, status: r.status, at: this.core.now() });
    }
    return { status: r.status, headers, body: r.status === 204 ? '' : r.body };
  }

  private async handle(req: RawRequest): Promise<RawResponse | 'drop'> {
    const url = new URL(req.url, 'http://vault.invalid');
    if (url.pathname.startsWith(TEST_PREFIX)) return this.testApi(req, url);

    if (this.faults.takeDrop()) return 'drop';
    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
    const injected = this.faults.takeFailure();
    if (injected) return this.send(req, { status: injected.status, body: errorBody([injected.message]) });

    const text = req.body.toString('utf8');
    if (!url.pathname.startsWith('/v1/')) return this.send(req, { status: 404, body: errorBody([]) });
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.slice('/v1/'.length));
    } catch {
      return this.send(req, { status: 400, body: errorBody([]) });
    }
    const method = req.method;
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    const hdrToken = req.headers['x-vault-token'];
    const auth = req.headers['authorization'];
    // X-Vault-Token wins over Authorization: Bearer when both are present.
    const token = hdrToken ? hdrToken : auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : '';
    const nsHeader = req.headers['x-vault-namespace'];

    if (SPECIAL_PATHS.has(path)) {
      const parsed = method === 'PUT' || method === 'POST' ? parseBody(text, contentType) : { ok: true as const, data: {} };
      if (!parsed.ok) return this.send(req, parsed.rendered);
      const resolved = this.core.resolveNamespace(nsHeader, '');
      return this.send(
        req,
        handleSpecial(this.core, { path, method, query: url.searchParams, body: parsed.data, token, inChildNamespace: !!resolved && !resolved.ns.isRoot }),
      );
    }

    let op: Operation;
    let data: Record<string, unknown>;
    switch (method) {
      case 'GET': {
        const list = url.searchParams.get('list');
        op = 'read';
        if (list !== null) {
          const b = parseGoBool(list);
          if (b === undefined) return this.send(req, { status: 400, body: errorBody([]) });
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
            return this.send(req, {
              status: 415,
              body: errorBody([`PATCH requires Content-Type of application/merge-patch+json, provided ${req.headers['content-type'] ?? ''}`]),
            });
          }
        }
        const parsed = parseBody(text, contentType);
        if (!parsed.ok) return this.send(req, parsed.rendered);
        data = parsed.data;
        op = method === 'PATCH' ? 'patch' : 'update';
        break;
      }
      default:
        return this.send(req, { status: 405, body: errorBody([]) });
    }
    if (op === 'list' && !path.endsWith('/')) path += '/';

    const result = await handleLogical(this.core, {
      path,
      op,
      data,
      rawBody: op === 'update' || op === 'patch' ? text : undefined,
      token,
      nsHeader,
      remoteAddr: req.remoteAddress.replace(/^::ffff:/, ''),
    });
    return this.send(req, render(result.reply, { op: result.op, mountType: result.mountType }));
  }

  private testApi(req: RawRequest, url: URL): RawResponse {
    const text = req.body.toString('utf8');
    const reply = (status: number, body: unknown): RawResponse => this.send(req, { status, body: encode(body) + '\n' });
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
        return reply(200, {
          root_token: this.core.rootToken,
          unseal_keys: this.core.seal.keys.map((k) => k.toString('hex')),
          flavor: this.core.flavor.name,
          now_ms: this.core.now(),
        });
      case 'GET /__test/requests':
        return reply(200, { requests: this.requests });
      case 'DELETE /__test/requests':
        this.requests.length = 0;
        return this.send(req, { status: 204, body: '' });
      default:
        return reply(404, { errors: [] });
    }
  }
}
