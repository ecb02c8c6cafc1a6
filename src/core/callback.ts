/**
 * Asks a group's manager whether a node id may register, as RKS does (rks.md §3.7):
 * an OAuth client-credentials request for an access token, then
 * `GET <callbackUrl>/<nodeId>` with `Authorization: Bearer <token>`.
 * 200 allows; 403 and 404 refuse; anything else is an error.
 *
 * Unlike RKS: TLS is verified (against the group's CA, or the system roots) unless
 * the group opts out; the whole check has a deadline; the access token is cached
 * until `expires_in` says it ends; and no secret (client secret, access token)
 * ever reaches an error message, a cause or a log line.
 */
import https from 'node:https';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { KeygateError, NotAuthorizedError, UnavailableError } from '../errors.js';
import type { GroupSettings } from './group-settings.js';

/** Verifies a node id against a group's settings; resolves when allowed. */
export interface NodeVerifier {
  /** @throws CallbackRefusedError (403) when the manager refuses; UnavailableError (502/504) when it cannot answer. */
  verify(settings: GroupSettings, nodeId: string): Promise<void>;
}

/** The group manager said no: 403 (`refused`) or 404 (`unknown`). The RKS surface words the two differently. */
export class CallbackRefusedError extends NotAuthorizedError {
  constructor(readonly reason: 'refused' | 'unknown') {
    super(reason === 'refused' ? 'not authorized: node refused by the group manager' : 'not authorized: node unknown to the group manager');
  }
}

export interface CallbackClientOptions {
  /** Clock for access-token expiry, in milliseconds (tests inject one). */
  now?: () => number;
  /** Most access tokens kept (one per OAuth client). */
  maxCachedTokens?: number;
}

interface AccessToken {
  token: string;
  /** null: the server gave no lifetime, so the token is used once and not cached. */
  expiresAt: number | null;
}

interface Exchange {
  what: 'OAuth server' | 'callback server';
  settings: GroupSettings;
  /** performance.now() by which the whole check must be done. */
  deadline: number;
}

const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const MAX_ANSWER = 64 * 1024;

class DeadlineExceeded extends Error {}

export class CallbackClient implements NodeVerifier {
  private readonly cache = new Map<string, AccessToken>();
  private readonly inflight = new Map<string, Promise<AccessToken>>();
  private readonly now: () => number;
  private readonly maxCached: number;
  /** Access-token requests sent (tests check the cache with it). */
  oauthRequests = 0;

  constructor(options: CallbackClientOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxCached = options.maxCachedTokens ?? 1000;
  }

  async verify(settings: GroupSettings, nodeId: string): Promise<void> {
    if (settings.callbackUrl === '') return;
    const deadline = performance.now() + settings.callbackTimeout * 1000;
    const url = new URL(settings.callbackUrl.replace(/\/+$/, '') + '/' + encodeURIComponent(nodeId));
    const ex: Exchange = { what: 'callback server', settings, deadline };
    let access = await this.accessToken(settings, deadline, false);
    let status = await this.ask(url, access, ex);
    if (status === 401 && access?.fromCache) {
      // The manager may have revoked the cached token before its expiry: fetch a fresh one once.
      access = await this.accessToken(settings, deadline, true);
      status = await this.ask(url, access, ex);
    }
    if (status === 200) return;
    if (status === 403) throw new CallbackRefusedError('refused');
    if (status === 404) throw new CallbackRefusedError('unknown');
    throw new UnavailableError(`callback: the callback server answered ${status}`, 502);
  }

  private async ask(url: URL, access: { token: string } | null, ex: Exchange): Promise<number> {
    const headers: Record<string, string> = { 'User-Agent': 'keygate' };
    if (access) headers['Authorization'] = `Bearer ${access.token}`;
    return (await send(url, 'GET', headers, undefined, ex, false)).status;
  }

  /** The access token for the group's OAuth client, from the cache while it is valid; null without an OAuth URL. */
  private async accessToken(s: GroupSettings, deadline: number, fresh: boolean): Promise<{ token: string; fromCache: boolean } | null> {
    if (s.oauthUrl === '') return null;
    const key = cacheKey(s);
    const cached = this.cache.get(key);
    if (!fresh && cached && cached.expiresAt !== null && this.now() < cached.expiresAt) return { token: cached.token, fromCache: true };
    this.cache.delete(key);
    let pending = this.inflight.get(key);
    if (!pending) {
      // Concurrent registrations of one group share one token request.
      pending = this.requestToken(s, deadline).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const got = await pending;
    if (got.expiresAt !== null) {
      if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, got);
    }
    return { token: got.token, fromCache: false };
  }

  private async requestToken(s: GroupSettings, deadline: number): Promise<AccessToken> {
    this.oauthRequests++;
    const url = new URL(s.oauthUrl);
    const headers: Record<string, string> = { 'User-Agent': 'keygate', Accept: 'application/json' };
    let body: string;
    if (s.oauthMode === 'rks') {
      // RKS: Basic auth and the same credentials in the query string, empty body, no Content-Type.
      url.searchParams.append('client_id', s.oauthClientId);
      url.searchParams.append('client_secret', s.oauthClientSecret);
      url.searchParams.append('grant_type', 'client_credentials');
      headers['Authorization'] = 'Basic ' + Buffer.from(`${s.oauthClientId}:${s.oauthClientSecret}`).toString('base64');
      body = '';
    } else {
      const form = (v: string) => new URLSearchParams({ v }).toString().slice(2);
      headers['Authorization'] = 'Basic ' + Buffer.from(`${form(s.oauthClientId)}:${form(s.oauthClientSecret)}`).toString('base64');
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = 'grant_type=client_credentials';
    }
    const answer = await send(url, 'POST', headers, body, { what: 'OAuth server', settings: s, deadline }, true);
    if (answer.status === 401) throw new UnavailableError('callback: the OAuth server refused the client credentials (401)', 502);
    if (answer.status < 200 || answer.status > 299) throw new UnavailableError(`callback: the OAuth server answered ${answer.status}`, 502);
    return parseTokenAnswer(answer.body, this.now());
  }
}

function parseTokenAnswer(body: Buffer, now: number): AccessToken {
  let o: unknown;
  try {
    o = JSON.parse(body.toString('utf8'));
  } catch {
    o = null;
  }
  const token = o && typeof o === 'object' ? (o as Record<string, unknown>)['access_token'] : undefined;
  if (typeof token !== 'string' || token === '' || /[\x00-\x1f\x7f]/.test(token)) { // eslint-disable-line no-control-regex
    throw new UnavailableError('callback: the OAuth server answered without an access_token', 502);
  }
  const life = Number((o as Record<string, unknown>)['expires_in']);
  if (!Number.isFinite(life) || life <= 0) return { token, expiresAt: null };
  // Stop using the token a little before the server does (clock skew, time in flight).
  const margin = Math.min(30, life / 10);
  return { token, expiresAt: now + (life - margin) * 1000 };
}

function cacheKey(s: GroupSettings): string {
  const material = JSON.stringify([s.oauthUrl, s.oauthClientId, s.oauthClientSecret, s.oauthMode, s.callbackCa, s.callbackInsecure]);
  return createHash('sha256').update(material).digest('hex');
}

/** One HTTPS exchange within the deadline; errors are KeygateErrors without secrets. */
function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, ex: Exchange, keepBody: boolean): Promise<{ status: number; body: Buffer }> {
  const left = ex.deadline - performance.now();
  if (left <= 0) return Promise.reject(failure(new DeadlineExceeded(), ex));
  const payload = body === undefined ? undefined : Buffer.from(body);
  if (payload) headers['Content-Length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      headers,
      agent: false,
      rejectUnauthorized: !ex.settings.callbackInsecure,
      ...(ex.settings.callbackCa !== '' ? { ca: ex.settings.callbackCa } : {}),
    });
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(failure(err, ex));
    };
    const timer = setTimeout(() => fail(new DeadlineExceeded()), left);
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (!keepBody) return;
        if (size > MAX_ANSWER) return fail(new UnavailableError(`callback: the ${ex.what}'s answer is too large`, 502));
        chunks.push(c);
      });
      res.on('error', fail);
      res.on('close', () => fail(Object.assign(new Error('answer cut short'), { code: 'ECONNRESET' })));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
    });
    req.end(payload);
  });
}

/** A client-safe error for a failed exchange; the cause names only the error code. */
function failure(err: unknown, ex: Exchange): KeygateError {
  if (err instanceof KeygateError) return err;
  if (err instanceof DeadlineExceeded) {
    return new UnavailableError(`callback: the ${ex.what} did not answer within ${ex.settings.callbackTimeout}s`, 504);
  }
  const code = String((err as NodeJS.ErrnoException).code ?? 'error');
  const cause = new Error(`callback: ${ex.what}: ${code}`);
  if (TLS_ERRORS.has(code)) {
    return new UnavailableError(
      `callback: cannot verify the TLS certificate of the ${ex.what} (${code}): set the group's callback_ca, or callback_insecure`,
      502,
      { cause },
    );
  }
  return new UnavailableError(`callback: cannot reach the ${ex.what} (${code})`, 502, { cause });
}
