/**
 * Helpers of the RKS-surface tests: a real keygate server with an `rks:` section,
 * and a client that calls it as RKS clients do (no client certificate, the
 * credential in `X-Vault-Token`, JSON bodies with `Content-Type: application/json`),
 * checking every answer against the OpenAPI document unless told not to.
 */
import { expect } from 'vitest';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';
import type { TestResponse } from '../helpers/http.js';
import { expectResponseMatchesSpec } from '../helpers/openapi.js';
import type { TestBundle } from '../helpers/bundle-certs.js';

export const INIT_TOKEN = 'init-Zr7QpX2v';
export const ADMIN = { login: 'admin-rks', password: 'pw-Hq4Lm8Tc' };

export interface RksCall {
  method?: string;
  /** Sent as `X-Vault-Token`. */
  token?: string;
  /** JSON-encoded, with `Content-Type: application/json` unless `headers` says otherwise. */
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  /** Skip the OpenAPI check (paths no operation documents, e.g. `No Route` for unknown paths). */
  spec?: false;
}

export interface RksClient {
  s: TestServer;
  call(path: string, opts?: RksCall): Promise<TestResponse>;
  /** Logs in with ADMIN and returns the admin token. */
  login(): Promise<string>;
}

export async function startRks(options: TestServerOptions = {}): Promise<RksClient> {
  const s = await startTestServer({
    ...options,
    config: { rks: { init_token: INIT_TOKEN, admin: ADMIN }, ...options.config },
  });
  const call = async (path: string, opts: RksCall = {}): Promise<TestResponse> => {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.token !== undefined) headers['X-Vault-Token'] = opts.token;
    const r = await s.call(null, path, {
      method: opts.method ?? 'GET',
      headers: { ...headers, ...opts.headers },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      ...(opts.raw !== undefined ? { raw: opts.raw } : {}),
    });
    if (opts.spec !== false) expectResponseMatchesSpec(opts.method ?? 'GET', path, r);
    return r;
  };
  const login = async () => {
    const r = await call('/rks/v1/admin/login', { method: 'POST', body: ADMIN });
    expect(r.status).toBe(200);
    return r.json.adminToken as string;
  };
  return { s, call, login };
}

/** RKS's Secret body for a test bundle. */
export function secret(b: TestBundle, ttl = 600) {
  return { data: { certificate: b.chainPem, private_key: b.keyPem, meta: { ttl } } };
}

/** RKS's GroupRegInfo with every field empty: no callback. */
export const NO_CALLBACK = { callbackURL: '', oauthURL: '', oauthClientID: '', oauthClientSecret: '' };

/** Asserts an RKS error: status, the exact text line and its plain-text headers. */
export function expectError(r: TestResponse, status: number, message: string): void {
  expect({ status: r.status, text: r.text }).toEqual({ status, text: message + '\n' });
  expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(r.headers['x-content-type-options']).toBe('nosniff');
}

/** Asserts an RKS JSON answer: status, body, Go's Content-Type and trailing newline. */
export function expectJSON(r: TestResponse, status: number, body: unknown): void {
  expect({ status: r.status, json: r.json }).toEqual({ status, json: body });
  expect(r.headers['content-type']).toBe('application/json; charset=UTF-8');
  expect(r.text.endsWith('}\n') || r.text.endsWith(']\n')).toBe(true);
}
