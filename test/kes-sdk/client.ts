/**
 * A KES client that behaves like MinIO's Go SDK (`github.com/minio/kms-go/kes`,
 * v0.4–v0.5, the generation current KES and MinIO use), written from its documented
 * behaviour: which method each call uses, how it builds the path, which headers and
 * bodies it sends, and how it decodes every answer, refusals included. Tests drive
 * keygate with it to prove that an unchanged KES client works call for call.
 *
 * What it reproduces, because each of these broke or could break a real client:
 * - path segments escaped with Go's `url.PathEscape`, then `path.Join`ed (so an empty
 *   listing prefix sends `/v1/key/list` with no trailing slash, and `*` is `%2A`);
 * - POST for create, import, generate, encrypt and decrypt; PUT for HMAC;
 * - `[]byte` fields as standard base64, `omitempty` contexts, RFC 3339 times;
 * - errors: `{"message"}` or `{"error"}` JSON (by Content-Type) or the text body,
 *   compared by status and message, as `errors.Is(err, kes.ErrKeyExists)` does;
 * - `Status()`'s consistency check, `APIs()`'s sign checks, the listing's nd-json
 *   fallback, `Metrics()`'s one-series-per-family rule and the audit event shape.
 */
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { IncomingMessage } from 'node:http';

/** A KES API error, compared like kms-go's `kes.Error` (status and message). */
export class KesError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** kms-go's canonical errors (kes/error.go). */
export const ErrNotAllowed = { status: 403, message: 'not authorized: insufficient permissions' };
export const ErrKeyNotFound = { status: 404, message: 'key does not exist' };
export const ErrKeyExists = { status: 400, message: 'key already exists' };
export const ErrPolicyNotFound = { status: 404, message: 'policy does not exist' };
export const ErrIdentityNotFound = { status: 404, message: 'identity does not exist' };
export const ErrDecrypt = { status: 400, message: 'decryption failed: ciphertext is not authentic' };

/** Go's `url.PathEscape`: everything but unreserved characters and `$&+:=@` is %XX (upper case). */
export function pathEscape(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~$&+:=@]/.test(c)) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Go's `path.Join` for the SDK's use: join, then clean `//`, `.` and `..`. */
export function pathJoin(...parts: string[]): string {
  const joined = parts.filter((p) => p !== '').join('/');
  const out: string[] = [];
  for (const seg of joined.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

/** The SDK's `join(api, args...)`. */
export const join = (api: string, ...args: string[]): string => args.reduce((p, a) => pathJoin(p, pathEscape(a)), api);

interface Raw {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface State {
  version: string;
  os: string;
  arch: string;
  upTimeSeconds: number;
  cpus: number;
  usableCPUs: number;
  heapAlloc: number;
  keyStoreReachable: boolean;
  keyStoreAvailable: boolean;
}

export interface KeyInfo {
  name: string;
  algorithm: string;
  createdAt: Date;
  createdBy: string;
}

export interface Metric {
  requestOK: number;
  requestErr: number;
  requestFail: number;
  requestActive: number;
  auditEvents: number;
  errorEvents: number;
  latencyHistogram: Map<number, number>;
  upTimeSeconds: number;
  cpus: number;
  usableCPUs: number;
  threads: number;
  heapAlloc: number;
  heapObjects: number;
  stackAlloc: number;
}

export interface AuditEvent {
  time: Date;
  apiPath: string;
  clientIP: string;
  clientIdentity: string;
  statusCode: number;
  responseTimeMs: number;
}

export interface Credentials {
  cert: string;
  key: string;
}

const b64 = (b: Buffer | undefined): string | undefined => (b === undefined || b.length === 0 ? undefined : b.toString('base64'));

/** Go's json.Unmarshal into []byte: null and absent are empty; anything but a base64 string fails. */
function bytesField(v: unknown, name: string): Buffer {
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new Error(`json: cannot unmarshal ${name} into []byte`);
  return Buffer.from(v, 'base64');
}

/** Go's time.Time UnmarshalJSON: RFC 3339 strings only. */
function timeField(v: unknown, name: string): Date {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw new Error(`parsing time ${JSON.stringify(v)} (${name}) as RFC 3339 failed`);
  }
  return new Date(v);
}

export class KesClient {
  constructor(
    private readonly endpoint: string,
    private readonly ca: string,
    private readonly creds: Credentials,
  ) {}

  private send(method: string, path: string, body?: string, headers: Record<string, string> = {}, redirects = 0): Promise<Raw & { stream: IncomingMessage }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(path, this.endpoint),
        {
          method,
          ca: this.ca,
          cert: this.creds.cert,
          key: this.creds.key,
          agent: false,
          headers: { ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers },
        },
        (res) => {
          // Go's http.Client follows redirects for GET (and re-sends no body for 301-303).
          const location = res.headers.location;
          if (res.statusCode !== undefined && [301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined && redirects < 10) {
            res.resume();
            this.send(method, location, body, headers, redirects + 1).then(resolve, reject);
            return;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0), stream: res });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  private async call(method: string, path: string, body?: unknown, contentType = true): Promise<Raw> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const r = await this.send(method, path, text, text !== undefined && contentType ? { 'Content-Type': 'application/json' } : {});
    const chunks: Buffer[] = [];
    for await (const c of r.stream) chunks.push(c as Buffer);
    return { status: r.status, headers: r.headers, body: Buffer.concat(chunks) };
  }

  /** kms-go's parseErrorResponse. */
  private static error(r: Raw): KesError {
    const ct = String(r.headers['content-type'] ?? '').trim();
    if (ct.startsWith('application/json')) {
      const j = JSON.parse(r.body.toString('utf8')) as { message?: unknown; error?: unknown };
      let message = typeof j.message === 'string' ? j.message : '';
      if (typeof j.error === 'string' && j.error !== '') message = j.error;
      if (r.status === 400 && message === 'key does already exist') return new KesError(ErrKeyExists.status, ErrKeyExists.message);
      if (r.status === 403 && message === 'prohibited by policy') return new KesError(ErrNotAllowed.status, ErrNotAllowed.message);
      return new KesError(r.status, message);
    }
    return new KesError(r.status, r.body.toString('utf8'));
  }

  private async json<T>(method: string, path: string, body?: unknown, contentType = true): Promise<T> {
    const r = await this.call(method, path, body, contentType);
    if (r.status !== 200) throw KesClient.error(r);
    return JSON.parse(r.body.toString('utf8')) as T;
  }

  private async empty(method: string, path: string, body?: unknown): Promise<void> {
    const r = await this.call(method, path, body);
    if (r.status !== 200) throw KesClient.error(r);
  }

  async version(): Promise<string> {
    return (await this.json<{ version: string }>('GET', '/version')).version;
  }

  async isReady(): Promise<boolean> {
    const r = await this.call('GET', '/v1/ready');
    if (r.status >= 400) throw KesClient.error(r);
    return r.status === 200;
  }

  async status(): Promise<State> {
    const v = await this.json<Record<string, unknown>>('GET', '/v1/status');
    const num = (k: string) => {
      const x = v[k] ?? 0;
      if (typeof x !== 'number') throw new Error(`json: cannot unmarshal ${k}`);
      return x;
    };
    if (num('num_cpu') < 0 || num('num_cpu_used') < 0) throw new Error('kes: invalid number of CPUs');
    const unreachable = v['keystore_unreachable'] === true;
    const unavailable = v['keystore_unavailable'] === true;
    if (unreachable && !unavailable) throw new Error('kes: keystore is unreachable but not unavailable');
    return {
      version: String(v['version'] ?? ''),
      os: String(v['os'] ?? ''),
      arch: String(v['arch'] ?? ''),
      upTimeSeconds: num('uptime'),
      cpus: num('num_cpu'),
      usableCPUs: num('num_cpu_used'),
      heapAlloc: num('mem_heap_used'),
      keyStoreReachable: !unreachable,
      keyStoreAvailable: !unavailable,
    };
  }

  async apis(): Promise<Array<{ method: string; path: string; maxBody: number; timeoutSeconds: number }>> {
    const list = await this.json<Array<{ method: string; path: string; max_body: number; timeout: number }>>('GET', '/v1/api');
    return list.map((a) => {
      if (!Number.isInteger(a.timeout) || a.timeout < 0) throw new Error(`kes: invalid API timeout '${a.timeout}s'`);
      if (!Number.isInteger(a.max_body) || a.max_body < 0) throw new Error(`kes: invalid API max body '${a.max_body}'`);
      return { method: a.method, path: a.path, maxBody: a.max_body, timeoutSeconds: a.timeout };
    });
  }

  createKey(name: string): Promise<void> {
    return this.empty('POST', join('/v1/key/create', name));
  }

  importKey(name: string, key: Buffer, cipher: 'AES256' | 'ChaCha20'): Promise<void> {
    return this.empty('POST', join('/v1/key/import', name), { key: key.toString('base64'), cipher });
  }

  async describeKey(name: string): Promise<KeyInfo> {
    const r = await this.json<Record<string, unknown>>('GET', join('/v1/key/describe', name));
    // kms-go's KeyAlgorithm.UnmarshalJSON knows these names (and the 2022 ones).
    const algorithm = String(r['algorithm']);
    if (!['AES256', 'ChaCha20', 'AES256-GCM_SHA256', 'XCHACHA20-POLY1305'].includes(algorithm)) throw new Error(`kes: invalid key algorithm '${algorithm}'`);
    return { name: String(r['name']), algorithm, createdAt: timeField(r['created_at'], 'created_at'), createdBy: String(r['created_by'] ?? '') };
  }

  deleteKey(name: string): Promise<void> {
    return this.empty('DELETE', join('/v1/key/delete', name));
  }

  async generateKey(name: string, context?: Buffer): Promise<{ plaintext: Buffer; ciphertext: Buffer }> {
    const r = await this.json<Record<string, unknown>>('POST', join('/v1/key/generate', name), { context: b64(context) });
    return { plaintext: bytesField(r['plaintext'], 'plaintext'), ciphertext: bytesField(r['ciphertext'], 'ciphertext') };
  }

  async encrypt(name: string, plaintext: Buffer, context?: Buffer): Promise<Buffer> {
    const r = await this.json<Record<string, unknown>>('POST', join('/v1/key/encrypt', name), {
      plaintext: plaintext.toString('base64'),
      context: b64(context),
    });
    return bytesField(r['ciphertext'], 'ciphertext');
  }

  async decrypt(name: string, ciphertext: Buffer, context?: Buffer): Promise<Buffer> {
    const r = await this.json<Record<string, unknown>>('POST', join('/v1/key/decrypt', name), {
      ciphertext: ciphertext.toString('base64'),
      context: b64(context),
    });
    return bytesField(r['plaintext'], 'plaintext');
  }

  /** HMAC is sent with PUT and without a Content-Type header. */
  async hmac(name: string, message: Buffer): Promise<Buffer> {
    const r = await this.json<Record<string, unknown>>('PUT', join('/v1/key/hmac', name), { message: message.toString('base64') }, false);
    return bytesField(r['hmac'], 'hmac');
  }

  private async listing(api: string, prefix: string, field: 'names' | 'identities'): Promise<{ names: string[]; continueAt: string }> {
    const r = await this.call('GET', join(api, prefix));
    if (r.status !== 200) throw KesClient.error(r);
    if (r.headers['content-type'] === 'application/x-ndjson') throw new Error('legacy nd-json listing: not expected from a current server');
    const j = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    const names = j[field] ?? [];
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new Error(`json: cannot unmarshal ${field}`);
    const continueAt = j['continue_at'] ?? '';
    if (typeof continueAt !== 'string') throw new Error('json: cannot unmarshal continue_at');
    return { names: names as string[], continueAt };
  }

  listKeys(prefix: string): Promise<{ names: string[]; continueAt: string }> {
    return this.listing('/v1/key/list', prefix, 'names');
  }

  listPolicies(prefix: string): Promise<{ names: string[]; continueAt: string }> {
    return this.listing('/v1/policy/list', prefix, 'names');
  }

  listIdentities(prefix: string): Promise<{ names: string[]; continueAt: string }> {
    return this.listing('/v1/identity/list', prefix, 'identities');
  }

  async describePolicy(name: string): Promise<{ name: string; createdAt: Date; createdBy: string }> {
    const r = await this.json<Record<string, unknown>>('GET', join('/v1/policy/describe', name));
    return { name, createdAt: timeField(r['created_at'], 'created_at'), createdBy: String(r['created_by'] ?? '') };
  }

  async getPolicy(name: string): Promise<{ allow: string[]; deny: string[]; createdAt: Date }> {
    const r = await this.json<Record<string, unknown>>('GET', join('/v1/policy/read', name));
    return { allow: ruleSet(r['allow'], 'allow'), deny: ruleSet(r['deny'], 'deny'), createdAt: timeField(r['created_at'], 'created_at') };
  }

  async describeIdentity(identity: string): Promise<{ policy: string; isAdmin: boolean; createdAt: Date }> {
    const r = await this.json<Record<string, unknown>>('GET', join('/v1/identity/describe', identity));
    return { policy: stringOrEmpty(r['policy'], 'policy'), isAdmin: r['admin'] === true, createdAt: timeField(r['created_at'], 'created_at') };
  }

  /** `policy` is a string and allow/deny sit beside it (the SDK's shape, not KES HEAD's nested object). */
  async describeSelf(): Promise<{ identity: string; policy: string; isAdmin: boolean; allow: string[]; deny: string[]; createdAt: Date }> {
    const r = await this.json<Record<string, unknown>>('GET', '/v1/identity/self/describe');
    return {
      identity: String(r['identity'] ?? ''),
      policy: stringOrEmpty(r['policy'], 'policy'),
      isAdmin: r['admin'] === true,
      allow: ruleSet(r['allow'], 'allow'),
      deny: ruleSet(r['deny'], 'deny'),
      createdAt: timeField(r['created_at'], 'created_at'),
    };
  }

  /** kms-go's Metrics(): expfmt's text decoding, then its one-series rule for every family but the request counters. */
  async metrics(): Promise<Metric> {
    const r = await this.call('GET', '/v1/metrics');
    if (r.status !== 200) throw KesClient.error(r);
    return decodeMetrics(r.body.toString('utf8'));
  }

  /** An open audit stream: `next()` resolves with each decoded event; `close()` ends it. */
  async auditLog(): Promise<LogStream<AuditEvent>> {
    return this.logStream('/v1/log/audit', decodeAuditEvent);
  }

  async errorLog(): Promise<LogStream<{ message: string }>> {
    return this.logStream('/v1/log/error', (line) => {
      const j = JSON.parse(line) as { message?: unknown };
      return { message: typeof j.message === 'string' ? j.message : '' };
    });
  }

  private async logStream<T>(path: string, decode: (line: string) => T): Promise<LogStream<T>> {
    const r = await this.send('GET', path);
    if (r.status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of r.stream) chunks.push(c as Buffer);
      throw KesClient.error({ ...r, body: Buffer.concat(chunks) });
    }
    return new LogStream(r.stream, decode);
  }
}

export class LogStream<T> {
  private readonly lines: AsyncIterator<string>;

  constructor(
    private readonly res: IncomingMessage,
    private readonly decode: (line: string) => T,
  ) {
    this.lines = createInterface({ input: res })[Symbol.asyncIterator]();
  }

  async next(): Promise<T> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error('log stream ended');
    return this.decode(value);
  }

  /** Reads events until one satisfies `match` (other requests may be logged in between). */
  async until(match: (e: T) => boolean): Promise<T> {
    for (;;) {
      const e = await this.next();
      if (match(e)) return e;
    }
  }

  close(): void {
    this.res.destroy();
  }
}

/** The KES audit event (kms-go's AuditEvent UnmarshalJSON): nested request and response. */
export function decodeAuditEvent(line: string): AuditEvent {
  const j = JSON.parse(line) as { time?: unknown; request?: Record<string, unknown>; response?: Record<string, unknown> };
  const req = j.request ?? {};
  const res = j.response ?? {};
  const code = res['code'] ?? 0;
  const time = res['time'] ?? 0;
  if (typeof code !== 'number' || typeof time !== 'number') throw new Error('json: cannot unmarshal response');
  return {
    time: timeField(j.time, 'time'),
    apiPath: String(req['path'] ?? ''),
    clientIP: String(req['ip'] ?? ''),
    clientIdentity: String(req['identity'] ?? ''),
    statusCode: code,
    responseTimeMs: time,
  };
}

function stringOrEmpty(v: unknown, name: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Error(`json: cannot unmarshal ${name} into Go value of type string`);
  return v;
}

/** `map[string]kes.Rule`: a JSON object (KES's sets), null or absent. */
function ruleSet(v: unknown, name: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`json: cannot unmarshal ${name} into map[string]kes.Rule`);
  return Object.keys(v).sort();
}

interface Family {
  name: string;
  type: string;
  /** One entry per distinct label set (without `le`, `quantile`): expfmt's dto.Metric. */
  series: Map<string, { value?: number; buckets: Map<number, number> }>;
}

/**
 * Prometheus text exposition (0.0.4), decoded the way expfmt's TextParser builds
 * MetricFamilies: TYPE before samples, a family's samples together, histogram samples
 * (`_bucket`, `_sum`, `_count`) folded into one series per label set. Families without
 * samples are dropped, as TextToMetricFamilies does.
 */
export function parseExposition(text: string): Family[] {
  const families = new Map<string, Family>();
  const order: string[] = [];
  let current: Family | undefined;
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', series: new Map() };
      families.set(name, f);
      order.push(name);
    } else if (current !== f) {
      throw new Error(`text format parsing error: second TYPE/HELP or samples for metric ${name} out of order`);
    }
    current = f;
    return f;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(.*)$/.exec(line);
      if (!m) continue;
      const f = family(m[2] as string);
      if (m[1] === 'TYPE') {
        if (f.series.size > 0) throw new Error(`text format parsing error: TYPE for ${f.name} after samples`);
        f.type = (m[3] as string).trim();
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`text format parsing error: invalid sample line '${line}'`);
    const sampleName = m[1] as string;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1] as string, l[2] as string] as const);
    const value = Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
    let base = sampleName;
    const hist = current && (current.type === 'histogram' || current.type === 'summary') ? current.name : undefined;
    if (hist !== undefined && [`${hist}_bucket`, `${hist}_sum`, `${hist}_count`].includes(sampleName)) base = hist;
    const f = family(base);
    const key = labels
      .filter(([k]) => k !== 'le' && k !== 'quantile')
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(',');
    let s = f.series.get(key);
    if (!s) {
      s = { buckets: new Map() };
      f.series.set(key, s);
    }
    if (sampleName.endsWith('_bucket') && base !== sampleName) {
      const le = labels.find(([k]) => k === 'le')?.[1];
      s.buckets.set(le === '+Inf' ? Infinity : Number(le), value);
    } else if (base === sampleName) {
      s.value = value;
    }
  }
  return order.map((n) => families.get(n) as Family).filter((f) => f.series.size > 0);
}

/** kms-go's Metrics() over decoded families. */
export function decodeMetrics(text: string): Metric {
  const m: Metric = {
    requestOK: 0,
    requestErr: 0,
    requestFail: 0,
    requestActive: 0,
    auditEvents: 0,
    errorEvents: 0,
    latencyHistogram: new Map(),
    upTimeSeconds: 0,
    cpus: 0,
    usableCPUs: 0,
    threads: 0,
    heapAlloc: 0,
    heapObjects: 0,
    stackAlloc: 0,
  };
  const sums: Record<string, 'requestOK' | 'requestErr' | 'requestFail'> = {
    kes_http_request_success: 'requestOK',
    kes_http_request_error: 'requestErr',
    kes_http_request_failure: 'requestFail',
  };
  const gauges: Record<string, keyof Metric> = {
    kes_http_request_active: 'requestActive',
    kes_system_up_time: 'upTimeSeconds',
    kes_system_num_cpu: 'cpus',
    kes_system_num_cpu_used: 'usableCPUs',
    kes_system_num_threads: 'threads',
    kes_system_mem_heap_used: 'heapAlloc',
    kes_system_mem_heap_objects: 'heapObjects',
    kes_system_mem_stack_used: 'stackAlloc',
  };
  for (const f of parseExposition(text)) {
    const sum = sums[f.name];
    if (f.type === 'counter' && sum !== undefined) {
      for (const s of f.series.values()) m[sum] += s.value ?? 0;
      continue;
    }
    if (f.series.size !== 1) throw new Error('kes: server response contains more than one metric');
    const s = [...f.series.values()][0] as { value?: number; buckets: Map<number, number> };
    const gauge = gauges[f.name];
    if (f.type === 'gauge' && gauge !== undefined) (m as unknown as Record<string, number>)[gauge] = s.value ?? 0;
    else if (f.type === 'counter' && f.name === 'kes_log_audit_events') m.auditEvents = s.value ?? 0;
    else if (f.type === 'counter' && f.name === 'kes_log_error_events') m.errorEvents = s.value ?? 0;
    else if (f.type === 'histogram' && f.name === 'kes_http_response_time') {
      for (const [le, n] of s.buckets) if (Number.isFinite(le) && le > 0) m.latencyHistogram.set(Math.round(le * 1000), n);
    }
  }
  return m;
}
