/**
 * The one HTTPS client of keygate's server, under the CLI (`src/cli/client.ts`) and the agent
 * (`src/agent/client.ts`): the PEM files read once (an error names the file and its errno,
 * never its contents), one `https.Agent` (mTLS, CA, insecure, keep-alive), one `request` that
 * answers status, headers and body, and the failures sorted into what callers decide on: the
 * server said no (`ServerError`: status, message and the catalogue's code from the
 * `Keygate-Error-Code` header), or no answer came (`UnreachableError`: refused, TLS, timeout,
 * reset). Tokens go in headers only and never into an error message.
 *
 * This module imports only the leaves (see the layers in eslint.config.js).
 */
import https from 'node:https';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { ERROR_CODES, ERROR_CODE_HEADER, type ErrorCode } from '../error-codes.js';
import { readFileOr } from '../files/read.js';

export interface HttpsClientOptions {
  /** `https://host:port`; a bare `host:port` means https. */
  server: string;
  /** PEM files: the CA that signed the server's certificate, the client certificate and its key. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Do not verify the server's certificate (development only). */
  insecure?: boolean;
  /** Sent as `Authorization: Bearer` unless a request names its own; '' or absent: none. */
  token?: string;
  /** Per request, unless a request says otherwise. */
  timeoutMs: number;
  /** Keep connections open between requests (the agent); the CLI makes one call and ends. */
  keepAlive?: boolean;
}

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** This request's bearer token instead of the client's ('' for none). */
  token?: string;
  timeoutMs?: number;
  headers?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The server answered with an error status. */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The catalogue code the server named in `Keygate-Error-Code`; undefined from a server without the header. */
    readonly code?: string,
  ) {
    super(message);
  }

  /**
   * Whether this is the catalogue's `code`. A server without the `Keygate-Error-Code` header
   * (older than it) tells only the status, so there the status is all that is compared.
   */
  is(code: ErrorCode): boolean {
    return this.code !== undefined ? this.code === code : this.status === ERROR_CODES[code].status;
  }

  /** The server has no such route (a path it does not know, or another method): not a refusal of the thing asked for. */
  get unknownRoute(): boolean {
    if (this.code !== undefined) return this.code === 'ROUTE_NOT_FOUND' || this.code === 'METHOD_NOT_ALLOWED';
    // A server without the header (older than it): its dispatcher's 404 carries the catalogue's
    // message of ROUTE_NOT_FOUND, which is how an unknown route was told from a missing bundle.
    return (this.status === ERROR_CODES.ROUTE_NOT_FOUND.status && this.message === ERROR_CODES.ROUTE_NOT_FOUND.message) || this.status === 405;
  }
}

export type UnreachableReason = 'refused' | 'certificate' | 'timeout' | 'aborted' | 'other';

/** No answer: connection refused, TLS failure, timeout, a reset, an abort. */
export class UnreachableError extends Error {
  constructor(
    message: string,
    readonly reason: UnreachableReason = 'other',
    /** `host:port` of the server. */
    readonly host = '',
    /** Node's error code (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT, …) and message, for callers that word their own. */
    readonly errno?: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** The certificate errors of an unverifiable server (`--ca` or `--insecure` is the remedy). */
const CERTIFICATE_ERRORS = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']);

/** A JSON error's message is kept up to this many characters, a text error's first line up to LINE_LIMIT. */
const MESSAGE_LIMIT = 1000;
const LINE_LIMIT = 200;
const CODE_SHAPE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** A PEM file's bytes; the error names the file and its errno, never what is in it. */
export function readPem(what: string, path: string): Buffer {
  return readFileOr(path, (code, cause) => new Error(`cannot read ${what} '${path}' (${code})`, { cause }));
}

export class HttpsClient {
  protected readonly base: URL;
  private readonly agent: https.Agent;
  private readonly timeoutMs: number;
  /** The PEM files' names, for an error about them. */
  private readonly files: string;
  /** Bearer token sent with requests that name none; '' for none. */
  token: string;

  constructor(options: HttpsClientOptions) {
    this.base = new URL(/^https?:\/\//.test(options.server) ? options.server : `https://${options.server}`);
    this.token = options.token ?? '';
    this.timeoutMs = options.timeoutMs;
    const { ca, cert, key } = options;
    this.files = [cert, key, ca]
      .filter((f) => f !== undefined)
      .map((f) => `'${f}'`)
      .join(', ');
    this.agent = new https.Agent({
      keepAlive: options.keepAlive === true,
      ...(options.keepAlive === true ? { maxSockets: 8 } : {}),
      ...(ca !== undefined ? { ca: readPem('CA certificate', ca) } : {}),
      ...(cert !== undefined ? { cert: readPem('client certificate', cert) } : {}),
      ...(key !== undefined ? { key: readPem('client key', key) } : {}),
      rejectUnauthorized: options.insecure !== true,
    });
  }

  /** Sends a request; resolves for a 2xx answer. @throws ServerError (another status), UnreachableError */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<Answer> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const token = opts.token ?? this.token;
    const headers: Record<string, string | number> = {
      ...opts.headers,
      ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
      ...(token !== '' ? { Authorization: `Bearer ${token}` } : {}),
    };
    const url = new URL(path, this.base);
    const timeout = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const onAnswer = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) => reject(new UnreachableError(`${url.host}: ${err.message}`, 'other', url.host, err.code, err.message)));
        res.on('end', () => {
          const answer = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
          if (answer.status >= 200 && answer.status < 300) resolve(answer);
          else reject(serverError(answer));
        });
      };
      let req: ClientRequest;
      try {
        req = https.request(url, { method, agent: this.agent, headers, timeout, ...(opts.signal ? { signal: opts.signal } : {}) }, onAnswer);
      } catch (err) {
        // The TLS files are parsed when a connection is made: one that is not PEM, or a key of another certificate.
        reject(new Error(`cannot use the TLS files ${this.files}: ${(err as { reason?: string }).reason ?? (err as Error).message}`, { cause: err }));
        return;
      }
      req.on('timeout', () => req.destroy(new UnreachableError(`${url.host}: request timed out`, 'timeout', url.host)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof UnreachableError ? err : unreachable(err, url)));
      req.end(payload);
    });
  }

  /** `request` with the answer's body decoded as JSON: null when empty or not JSON. */
  async call(method: string, path: string, body?: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<unknown> {
    const { body: bytes } = await this.request(method, path, { ...opts, ...(body !== undefined ? { body } : {}) });
    return parseJSON(bytes.toString('utf8'));
  }

  /** Closes the kept connections. */
  close(): void {
    this.agent.destroy();
  }
}

function parseJSON(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * The error of a non-2xx answer: keygate's `{"message"}` JSON, or the RKS surface's one
 * plain-text line, else `HTTP <status>`; the code from the header when it is one's shape.
 */
function serverError({ status, headers, body }: Answer): ServerError {
  const text = body.toString('utf8');
  const json = parseJSON(text);
  const said: unknown = json !== null && typeof json === 'object' ? (json as { message?: unknown }).message : undefined;
  let message = `HTTP ${status}`;
  if (typeof said === 'string') {
    message = said.slice(0, MESSAGE_LIMIT);
  } else if (json === null && /^text\/plain\b/i.test(headers['content-type'] ?? '')) {
    const line = text.trim().split('\n')[0]?.slice(0, LINE_LIMIT) ?? '';
    if (line !== '') message = line;
  }
  const code = headers[ERROR_CODE_HEADER.toLowerCase()];
  return new ServerError(status, message, typeof code === 'string' && CODE_SHAPE.test(code) ? code : undefined);
}

function unreachable(err: NodeJS.ErrnoException, url: URL): UnreachableError {
  const host = url.host;
  if (err.name === 'AbortError') return new UnreachableError('aborted', 'aborted', host, err.code, err.message);
  if (err.code === 'ECONNREFUSED') return new UnreachableError(`cannot connect to ${host}: connection refused`, 'refused', host, err.code, err.message);
  const reason = err.code !== undefined && CERTIFICATE_ERRORS.has(err.code) ? 'certificate' : 'other';
  return new UnreachableError(`cannot reach ${host}: ${err.code ?? err.message}`, reason, host, err.code, err.message);
}
