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
 *
 * Callers learn only which step failed and how (one stable message per class:
 * unreachable, refused, invalid answer); what the network looked like (errno,
 * status, TLS error) goes to the error log through the error's `cause`, so the
 * check cannot be used to scan ports. The node id becomes exactly one path
 * segment of the callback URL, and the host a check connects to is decided on
 * the address it resolves to, whatever spelling the URL used.
 */
import https from 'node:https';
import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BadRequestError, KeygateError, NotAuthorizedError, UnavailableError, ERROR_CODES } from '../../errors.js';
import type { GroupSettings } from './group-settings.js';
import { checkNodeId } from './node-id.js';

/** Verifies a node id against a group's settings; resolves when allowed. */
export interface NodeVerifier {
  /** @throws CallbackRefusedError (403) when the manager refuses; UnavailableError (502/504) when it cannot answer. */
  verify(settings: GroupSettings, nodeId: string): Promise<void>;
}

/** The group manager said no: 403 (`refused`) or 404 (`unknown`). The RKS surface words the two differently. */
export class CallbackRefusedError extends NotAuthorizedError {
  constructor(readonly reason: 'refused' | 'unknown') {
    const code = reason === 'refused' ? 'CALLBACK_REFUSED' : 'CALLBACK_UNKNOWN_NODE';
    super(ERROR_CODES[code].message, 403, code);
  }
}

export interface CallbackClientOptions {
  /** Clock for access-token expiry, in milliseconds (tests inject one). */
  now?: () => number;
  /** Most access tokens kept (one per OAuth client). */
  maxCachedTokens?: number;
  /**
   * Whether the OAuth and callback servers may be on this host's loopback addresses
   * (127.0.0.0/8, ::1, in any spelling, or a name resolving there). Default false.
   * Unspecified addresses (0.0.0.0/8, ::) are refused either way: they reach this host too.
   */
  allowLoopback?: boolean;
}

/** Stable messages, one per failure class: all a caller learns of a failed check. */
export const CALLBACK_FAILURES = {
  managerUnreachable: 'callback: group manager unreachable',
  managerInvalid: 'callback: group manager gave an invalid answer',
  oauthUnreachable: 'callback: OAuth server unreachable',
  oauthRefused: 'callback: OAuth server refused the client credentials',
  oauthInvalid: 'callback: OAuth server gave an invalid answer',
} as const;

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
  allowLoopback: boolean;
}

const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const MAX_ANSWER = 64 * 1024;

class DeadlineExceeded extends Error {}
/** The destination resolved to an address no check may connect to. */
class AddressRefused extends Error {}

export class CallbackClient implements NodeVerifier {
  private readonly cache = new Map<string, AccessToken>();
  private readonly inflight = new Map<string, Promise<AccessToken>>();
  private readonly now: () => number;
  private readonly maxCached: number;
  private readonly allowLoopback: boolean;
  /** Access-token requests sent (tests check the cache with it). */
  oauthRequests = 0;

  constructor(options: CallbackClientOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxCached = options.maxCachedTokens ?? 1000;
    this.allowLoopback = options.allowLoopback ?? false;
  }

  async verify(settings: GroupSettings, nodeId: string): Promise<void> {
    if (settings.callbackUrl === '') return;
    const deadline = performance.now() + settings.callbackTimeout * 1000;
    const url = nodeCallbackURL(settings.callbackUrl, nodeId);
    const ex: Exchange = { what: 'callback server', settings, deadline, allowLoopback: this.allowLoopback };
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
    throw failed(ex, url, `answered ${status}`);
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
    const ex: Exchange = { what: 'OAuth server', settings: s, deadline, allowLoopback: this.allowLoopback };
    const answer = await send(url, 'POST', headers, body, ex, true);
    if (answer.status === 401) throw failed(ex, url, 'answered 401', CALLBACK_FAILURES.oauthRefused);
    if (answer.status < 200 || answer.status > 299) throw failed(ex, url, `answered ${answer.status}`);
    const token = parseTokenAnswer(answer.body, this.now());
    if (!token) throw failed(ex, url, 'answered without an access_token');
    return token;
  }
}

/**
 * `<callbackUrl>/<nodeId>`, the node id exactly one path segment that no URL parser rewrites:
 * percent-encoded (so '/', '?', '#', '%' and '\\' stay inside it), and refused when it is a dot
 * segment in any spelling, which a parser would resolve to the manager's collection or its
 * parent. The result is checked, not trusted: its path must end in that very segment.
 * @throws BadRequestError for a node id that is not one
 */
export function nodeCallbackURL(callbackUrl: string, nodeId: string): URL {
  checkNodeId(nodeId);
  const url = new URL(callbackUrl);
  const path = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(nodeId)}`;
  url.pathname = path;
  if (url.pathname !== path || url.search !== '' || url.hash !== '')
    throw new BadRequestError('node id cannot be sent to the group manager as one path segment');
  return url;
}

/** null when the answer carries no usable access token. */
function parseTokenAnswer(body: Buffer, now: number): AccessToken | null {
  let o: unknown;
  try {
    o = JSON.parse(body.toString('utf8'));
  } catch {
    o = null;
  }
  const token = o && typeof o === 'object' ? (o as Record<string, unknown>)['access_token'] : undefined;
  if (typeof token !== 'string' || token === '' || /[\x00-\x1f\x7f]/.test(token)) return null; // eslint-disable-line no-control-regex
  const life = Number((o as Record<string, unknown>)['expires_in']);
  if (!Number.isFinite(life) || life <= 0) return { token, expiresAt: null };
  // Stop using the token a little before the server does (clock skew, time in flight).
  const margin = Math.min(30, life / 10);
  return { token, expiresAt: now + (life - margin) * 1000 };
}

function cacheKey(s: GroupSettings): string {
  const material = JSON.stringify([s.oauthUrl, s.oauthClientId, s.oauthClientSecret, s.oauthMode, s.callbackCa, s.callbackInsecure]);
  return hash('sha256', material, 'hex');
}

/** One HTTPS exchange within the deadline; errors are KeygateErrors without secrets. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  ex: Exchange,
  keepBody: boolean,
): Promise<{ status: number; body: Buffer }> {
  const left = ex.deadline - performance.now();
  if (left <= 0) return Promise.reject(failure(new DeadlineExceeded(), url, ex));
  const literal = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  // An IP literal is never looked up, so it is judged here; a name, on every address it resolves to.
  const refused = isIP(literal) !== 0 ? refusedAddress(literal, ex.allowLoopback) : null;
  if (refused) return Promise.reject(failure(new AddressRefused(refused), url, ex));
  const payload = body === undefined ? undefined : Buffer.from(body);
  if (payload) headers['Content-Length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      headers,
      agent: false,
      lookup: guardedLookup(ex.allowLoopback),
      rejectUnauthorized: !ex.settings.callbackInsecure,
      ...(ex.settings.callbackCa !== '' ? { ca: ex.settings.callbackCa } : {}),
    });
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(failure(err, url, ex));
    };
    const timer = setTimeout(() => fail(new DeadlineExceeded()), left);
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (!keepBody) return;
        if (size > MAX_ANSWER) return fail(failed(ex, url, `answer larger than ${MAX_ANSWER} bytes`));
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

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addSubnet('0.0.0.0', 8, 'ipv4');
// '::' and the deprecated IPv4-compatible addresses (::a.b.c.d), which some stacks still route.
UNSPECIFIED.addSubnet('::', 96, 'ipv6');

/**
 * Why a check may not connect to `address` (an IP address in any form Node accepts;
 * IPv4-mapped IPv6 addresses count as their IPv4 address), or null when it may.
 */
export function refusedAddress(address: string, allowLoopback: boolean): string | null {
  const family = isIP(address);
  if (family === 0) return null;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (LOOPBACK.check(address, type)) return allowLoopback ? null : 'a loopback address';
  if (UNSPECIFIED.check(address, type)) return 'an unspecified address';
  return null;
}

/** dns.lookup that refuses when any address the name resolves to is refused (no choosing the harmless one). */
function guardedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.map((a) => refusedAddress(a.address, allowLoopback)).find((r) => r !== null);
      if (bad) return callback(new AddressRefused(bad), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The client-safe error for a step that failed: its class's stable message (invalid answer
 * unless given), and the detail, for the error log only, in `cause`. The URL in the detail
 * is origin and path: the rks OAuth mode carries the client secret in the query.
 */
function failed(ex: Exchange, url: URL, detail: string, message?: string, status: 502 | 504 = 502): UnavailableError {
  const fallback = ex.what === 'OAuth server' ? CALLBACK_FAILURES.oauthInvalid : CALLBACK_FAILURES.managerInvalid;
  const cause = new Error(`callback: ${ex.what} ${url.origin}${url.pathname}: ${detail}`);
  return new UnavailableError(message ?? fallback, status, { cause, code: 'CALLBACK_FAILED' });
}

/** A failed exchange as failed() words it: anything that kept an answer from arriving is "unreachable". */
function failure(err: unknown, url: URL, ex: Exchange): KeygateError {
  if (err instanceof KeygateError) return err;
  const unreachable = ex.what === 'OAuth server' ? CALLBACK_FAILURES.oauthUnreachable : CALLBACK_FAILURES.managerUnreachable;
  if (err instanceof DeadlineExceeded) return failed(ex, url, `no answer within ${ex.settings.callbackTimeout}s`, unreachable, 504);
  if (err instanceof AddressRefused) return failed(ex, url, `refused to connect to ${err.message}`, unreachable);
  const code = String((err as NodeJS.ErrnoException).code ?? 'error');
  const hint = TLS_ERRORS.has(code) ? ": cannot verify the server's TLS certificate; set the group's callback_ca, or callback_insecure" : '';
  return failed(ex, url, code + hint, unreachable);
}
