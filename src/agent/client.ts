/**
 * The agent's HTTPS client of the keygate server: mTLS with the node's certificate
 * (when configured), a bearer node token (when registered), keep-alive, a timeout
 * per request, and errors sorted into what the agent decides on: the server said
 * no (`ServerError` with its status and `{"message"}`), or the server could not be
 * reached (`UnreachableError`). Tokens are sent in headers only and never appear
 * in an error message.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { BundleSecret } from '../core/bundles/service.js';
import { ERROR_CODES } from '../error-codes.js';

export interface ClientSettings {
  server: string;
  tls: { ca?: string; cert?: string; key?: string; insecure: boolean };
  timeoutMs: number;
}

/** The server answered with an error status. */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }

  /**
   * 404 for an unknown path (the dispatcher's ROUTE_NOT_FOUND), as opposed to a missing bundle.
   * Error bodies carry only the message (KES's wire shape), so the catalogue's message of that
   * code is how a client tells the two apart, also on servers older than the catalogue.
   */
  get unknownRoute(): boolean {
    return (this.status === ERROR_CODES.ROUTE_NOT_FOUND.status && this.message === ERROR_CODES.ROUTE_NOT_FOUND.message) || this.status === 405;
  }
}

/** No answer: connection refused, TLS failure, timeout, a reset. */
export class UnreachableError extends Error {}

/** A bundle as the server sends it (`GET /v1/cert/get/<name>`), checked: the server's own shape. */
export type FetchedBundle = BundleSecret;

export interface NodeToken {
  token: string;
  ttl: number;
}

export type Json = Record<string, unknown>;

export class AgentClient {
  private readonly agent: https.Agent;
  private readonly base: URL;
  /** Bearer node token sent with reads; '' for certificate-only nodes. */
  token = '';
  private listPath = '/v1/node/bundles';

  constructor(private readonly settings: ClientSettings) {
    this.base = new URL(settings.server);
    const read = (what: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`cannot read ${what} '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
      }
    };
    const { ca, cert, key, insecure } = settings.tls;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 8,
      ...(ca !== undefined ? { ca: read('CA certificate', ca) } : {}),
      ...(cert !== undefined && key !== undefined ? { cert: read('client certificate', cert), key: read('client key', key) } : {}),
      rejectUnauthorized: !insecure,
    });
  }

  /** The bundle with its key. @throws ServerError (403/404: not readable), UnreachableError */
  async getBundle(name: string): Promise<FetchedBundle> {
    return parseBundle(name, await this.call('GET', `/v1/cert/get/${encodeURIComponent(name)}`));
  }

  /**
   * Every bundle this caller may read: the node listing (`GET /v1/node/bundles`) when
   * the server has it, else the bundle listing, which a policy must allow.
   */
  async listReadable(): Promise<string[]> {
    try {
      return await this.listAll(this.listPath);
    } catch (err) {
      if (!(err instanceof ServerError) || this.listPath !== '/v1/node/bundles') throw err;
      // An old server without the node listing: use the bundle listing from now on.
      if (err.unknownRoute) {
        this.listPath = '/v1/cert/list/';
        return this.listAll(this.listPath);
      }
      // Not a node (an identity with a path policy): its policy may allow the bundle listing.
      if (err.status === 403) return this.listAll('/v1/cert/list/');
      throw err;
    }
  }

  /** Every name of a `{names, continue_at}` listing, all pages. */
  private async listAll(path: string): Promise<string[]> {
    const names: string[] = [];
    let cursor = '';
    do {
      const page = await this.call('GET', cursor === '' ? path : `${path}?continue_at=${encodeURIComponent(cursor)}`);
      const list = page['names'];
      if (!Array.isArray(list) || !list.every((n) => typeof n === 'string')) throw new Error(`${path}: unexpected answer from the server`);
      names.push(...(list as string[]));
      const next = page['continue_at'];
      cursor = typeof next === 'string' ? next : '';
    } while (cursor !== '');
    return names;
  }

  /**
   * Waits (server-side, up to `waitSeconds`) until the bundle's version differs from
   * `version`; returns the current version. ServerError.unknownRoute when the server
   * has no such endpoint.
   */
  async watchBundle(name: string, version: string, waitSeconds: number, signal: AbortSignal): Promise<string> {
    const path = `/v1/cert/watch/${encodeURIComponent(name)}?version=${encodeURIComponent(version)}&wait=${waitSeconds}`;
    const r = await this.call('GET', path, undefined, { timeoutMs: (waitSeconds + 15) * 1000, signal });
    if (typeof r['version'] !== 'string') throw new Error('watch: unexpected answer from the server');
    return r['version'];
  }

  /** Registers with the group token: a node token. */
  async register(group: string, groupToken: string, nodeId: string): Promise<NodeToken> {
    return parseToken(await this.call('PUT', `/v1/node/register/${encodeURIComponent(group)}`, { node_id: nodeId }, { token: groupToken }));
  }

  /** Restores the node token's full TTL. */
  async renew(): Promise<NodeToken> {
    return parseToken(await this.call('PUT', '/v1/node/renew', undefined, { token: this.token }));
  }

  /** Enrolls the client certificate's identity into the group. */
  async enroll(group: string, groupToken: string, nodeId: string | undefined): Promise<void> {
    await this.call('PUT', `/v1/node/enroll/${encodeURIComponent(group)}`, nodeId === undefined ? {} : { node_id: nodeId }, { token: groupToken });
  }

  /** Has the CSR signed under `role` (`PUT /v1/pki/sign/<role>`); the answer is checked by the caller (src/agent/issue.ts). */
  async signCertificate(role: string, csr: string, ttl: string): Promise<Json> {
    return this.call('PUT', `/v1/pki/sign/${encodeURIComponent(role)}`, { csr, ttl });
  }

  /** Revokes a certificate this caller was issued (`PUT /v1/pki/revoke`). */
  async revokeCertificate(serial: string): Promise<void> {
    await this.call('PUT', '/v1/pki/revoke', { serial });
  }

  close(): void {
    this.agent.destroy();
  }

  private call(method: string, path: string, body?: unknown, opts: { token?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Json> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const token = opts.token ?? this.token;
    const headers: Record<string, string | number> = {
      ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
      ...(token !== '' ? { Authorization: `Bearer ${token}` } : {}),
    };
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, agent: this.agent, headers, timeout: opts.timeoutMs ?? this.settings.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new UnreachableError(`${url.host}: ${err.message}`)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const json = parseJSON(Buffer.concat(chunks).toString('utf8'));
          if (status >= 200 && status < 300) return resolve(json ?? {});
          const message = typeof json?.['message'] === 'string' ? json['message'].slice(0, 300) : `HTTP ${status}`;
          reject(new ServerError(status, message));
        });
      });
      req.on('timeout', () => req.destroy(new UnreachableError(`${url.host}: request timed out`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof UnreachableError ? err : new UnreachableError(describeNetworkError(err, url))));
      req.end(payload);
    });
  }
}

function parseJSON(text: string): Json | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

function describeNetworkError(err: NodeJS.ErrnoException, url: URL): string {
  if (err.name === 'AbortError') return 'aborted';
  if (err.code === 'ECONNREFUSED') return `cannot connect to ${url.host}: connection refused`;
  return `cannot reach ${url.host}: ${err.code ?? err.message}`;
}

function parseToken(r: Json): NodeToken {
  const token = r['node_token'];
  const ttl = r['ttl'];
  if (typeof token !== 'string' || token === '' || typeof ttl !== 'number' || !(ttl > 0)) throw new Error('node token: unexpected answer from the server');
  return { token, ttl };
}

/**
 * Checks what the server sent before anything is written: the fields, and that the
 * key belongs to the first certificate of the chain (a mismatched pair never reaches disk).
 */
export function parseBundle(name: string, r: Json): FetchedBundle {
  const { certificate, private_key: keyPem, ttl, version } = r;
  if (typeof certificate !== 'string' || typeof keyPem !== 'string' || typeof ttl !== 'number' || !(ttl > 0) || typeof version !== 'string') {
    throw new Error(`bundle '${name}': unexpected answer from the server`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificate);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('mismatch');
  } catch {
    throw new Error(`bundle '${name}': the server sent a certificate and key that do not match`);
  }
  return { name, chainPem: certificate, keyPem, ttl, version, notAfter: new Date(leaf.validTo) };
}
