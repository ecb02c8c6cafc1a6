/** Raw HTTP helpers for the test-server's own tests (node:http so that LIST and custom CAs work). */
import http from 'node:http';
import https from 'node:https';

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed body, or undefined when empty. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface ReqOptions {
  body?: unknown;
  /** Sent verbatim instead of JSON-encoding `body`. */
  raw?: string;
  token?: string | null;
  ns?: string;
  headers?: Record<string, string>;
}

export class Client {
  constructor(
    readonly url: string,
    public token: string | null = null,
    private readonly ca?: string,
  ) {}

  with(token: string | null): Client {
    return new Client(this.url, token, this.ca);
  }

  request(method: string, path: string, o: ReqOptions = {}): Promise<Res> {
    const u = new URL(path, this.url);
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? this.token : o.token;
    if (token) headers['X-Vault-Token'] = token;
    if (o.ns !== undefined) headers['X-Vault-Namespace'] = o.ns;
    const payload = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(u, { method, headers, ...(this.ca ? { ca: this.ca } : {}), agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get = (p: string, o?: ReqOptions): Promise<Res> => this.request('GET', p, o);
  list = (p: string, o?: ReqOptions): Promise<Res> => this.request('LIST', p, o);
  post = (p: string, body?: unknown, o: ReqOptions = {}): Promise<Res> => this.request('POST', p, { ...o, body: body ?? o.body });
  put = (p: string, body?: unknown, o: ReqOptions = {}): Promise<Res> => this.request('PUT', p, { ...o, body: body ?? o.body });
  del = (p: string, o?: ReqOptions): Promise<Res> => this.request('DELETE', p, o);
  patch = (p: string, body: unknown, o: ReqOptions = {}): Promise<Res> =>
    this.request('PATCH', p, { ...o, body, headers: { 'Content-Type': 'application/merge-patch+json', ...(o.headers ?? {}) } });
}

export const ACL_DENIED = '1 error occurred:\n\t* permission denied\n\n';

/** Writes a policy and returns a token (child of `root`) holding exactly these policies. */
export async function tokenWith(root: Client, policies: Record<string, string>, extra: Record<string, unknown> = {}, ns?: string): Promise<string> {
  for (const [name, policy] of Object.entries(policies)) {
    const r = await root.put(`/v1/sys/policies/acl/${name}`, { policy }, ns !== undefined ? { ns } : {});
    if (r.status !== 204) throw new Error(`policy ${name}: ${r.status} ${r.text}`);
  }
  const r = await root.post('/v1/auth/token/create', { policies: Object.keys(policies), ...extra }, ns !== undefined ? { ns } : {});
  if (r.status !== 200) throw new Error(`token create: ${r.status} ${r.text}`);
  return r.json.auth.client_token as string;
}

/** A controllable clock for TTL tests. */
export function manualClock(start = Date.UTC(2025, 0, 1)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** RFC3339Nano as Go prints it: trailing fractional zeros trimmed. */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}
