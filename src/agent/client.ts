/**
 * The agent's client of the keygate server: the shared HTTPS client (src/client/https.ts)
 * with the node's certificate (when configured), a bearer node token (when registered),
 * keep-alive and a timeout per request, plus the calls the agent makes. Its failures are
 * what the agent decides on: the server said no (`ServerError`: status, message, code), or
 * the server could not be reached (`UnreachableError`). Tokens are sent in headers only and
 * never appear in an error message.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { BundleSecret } from '../core/bundles/service.js';
import { HttpsClient, ServerError, type HttpsClientOptions, type RequestOptions } from '../client/https.js';

export { ServerError, UnreachableError } from '../client/https.js';

/** A bundle as the server sends it (`GET /v1/cert/get/<name>`), checked: the server's own shape. */
export type FetchedBundle = BundleSecret;

export interface NodeToken {
  token: string;
  ttl: number;
}

export type Json = Record<string, unknown>;

/** The bearer node token (`token`, '' for certificate-only nodes) is set once the node registers. */
export class AgentClient extends HttpsClient {
  private listPath = '/v1/node/bundles';

  constructor(options: Omit<HttpsClientOptions, 'keepAlive'>) {
    super({ ...options, keepAlive: true });
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

  /** The answer's JSON object ({} for none): what every call of the agent reads. */
  override async call(method: string, path: string, body?: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<Json> {
    const json = await super.call(method, path, body, opts);
    return json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Json) : {};
  }
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
