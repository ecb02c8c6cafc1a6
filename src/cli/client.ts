/**
 * A small HTTPS client for the CLI's client commands: mTLS with the caller's
 * certificate, JSON in and out, and API errors surfaced as ClientError.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface ClientOptions {
  server: string;
  /** Client certificate and key (PEM files); optional only for token-authenticated calls. */
  cert?: string;
  key?: string;
  ca?: string;
  insecure?: boolean;
  /** Sent as `Authorization: Bearer` (group and node tokens). */
  token?: string;
}

export class ClientError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function readOrFail(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ClientError(`cannot read ${what} '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 0);
  }
}

export class Client {
  private readonly agent: https.Agent;
  private readonly base: URL;
  private readonly token: string | undefined;

  constructor(options: ClientOptions) {
    const server = /^https?:\/\//.test(options.server) ? options.server : `https://${options.server}`;
    this.base = new URL(server);
    this.token = options.token;
    this.agent = new https.Agent({
      ...(options.cert !== undefined ? { cert: readOrFail('client certificate', options.cert) } : {}),
      ...(options.key !== undefined ? { key: readOrFail('client key', options.key) } : {}),
      ...(options.ca !== undefined ? { ca: readOrFail('CA certificate', options.ca) } : {}),
      rejectUnauthorized: options.insecure !== true,
      keepAlive: false,
    });
  }

  /** Sends a request and returns the decoded JSON body (or null for empty bodies). */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
            ...(this.token !== undefined ? { Authorization: `Bearer ${this.token}` } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text === '' ? null : JSON.parse(text);
            } catch {
              json = null;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(json);
            // keygate's errors are {"message"}; the RKS surface's are one plain-text line.
            const line = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
            const message =
              json && typeof json === 'object' && 'message' in json ? String((json as { message: unknown }).message) : line !== '' && json === null ? line : `HTTP ${status}`;
            reject(new ClientError(message, status));
          });
        },
      );
      req.on('timeout', () => req.destroy(new ClientError('request timed out', 0)));
      req.on('error', (err) => reject(err instanceof ClientError ? err : new ClientError(connectionMessage(err, url), 0)));
      req.end(payload);
    });
  }
}

function connectionMessage(err: NodeJS.ErrnoException, url: URL): string {
  if (err.code === 'ECONNREFUSED') return `cannot connect to ${url.host}: connection refused (is the server running?)`;
  if (err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || err.code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return `cannot verify the server certificate of ${url.host} (${err.code}): pass --ca FILE or --insecure`;
  }
  return `cannot reach ${url.host}: ${err.message}`;
}
