/**
 * Dashboard sessions (`/ui/`): the RKS admin login, made in a browser, gives a
 * session instead of a bearer token. A session is an ordinary admin token
 * (`kga_…`, stored only as its hash, of the configured admin's generation) that
 * lives in a cookie the page's script cannot read (`HttpOnly; Secure;
 * SameSite=Strict`, `__Host-` so no other host or path can set it) for
 * SESSION_TTL_SECONDS. It ends at logout, when it expires, when the admin
 * password changes, and with every admin token on `DELETE /rks/v1/admin/tokens`.
 *
 * The dispatcher turns a cookie into a Caller in auth/caller.ts like every other
 * credential; this module holds what is specific to cookies: reading one, the
 * origin check, the CSRF token every write must carry, and what a session may call
 * (SESSION_POLICY, by path, exactly as a certificate identity's policy).
 */
import { hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ERROR_CODES, NotAuthorizedError } from '../errors.js';
import { Policy } from '../policy/index.js';

/** `__Host-`: the browser keeps it only if Secure, without Domain and with Path=/. */
export const SESSION_COOKIE = '__Host-keygate-session';
/** The header that carries the CSRF token on every write of a session. */
export const CSRF_HEADER = 'x-keygate-csrf';
/** Short: a session left open on a shared screen dies soon. */
export const SESSION_TTL_SECONDS = 15 * 60;

/**
 * What an admin session may call: the RKS admin's domain — bundles, groups, nodes —
 * and the read-only views the dashboard shows (status, metrics, audit stream,
 * identities and policies, key names, certificates issued by keygate's PKI). Never a
 * key's material or crypto operation.
 */
export const SESSION_POLICY = new Policy(
  'ui-session',
  {
    allow: [
      '/v1/cert/*',
      '/v1/group/*',
      '/v1/node/revoke/*',
      '/v1/node/ban/*',
      '/v1/node/unban/*',
      '/v1/status',
      '/v1/metrics',
      '/v1/api',
      '/v1/log/audit',
      '/v1/log/error',
      '/v1/identity/list/*',
      '/v1/identity/describe/*',
      '/v1/policy/list/*',
      '/v1/policy/read/*',
      '/v1/policy/describe/*',
      '/v1/key/list/*',
      '/v1/key/describe/*',
      '/v1/pki/certs/*',
    ],
    deny: [],
  },
  'prefix',
);

/** The session cookie's value, or '' when the request carries none. */
export function sessionCookie(req: IncomingMessage): string {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return '';
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return '';
}

/**
 * The CSRF token of a session: derived from the session token (so every worker agrees
 * without sharing state), one-way (knowing it does not give the session).
 */
export function csrfToken(session: string): string {
  return hash('sha256', 'keygate ui csrf\0' + session, 'base64url');
}

/** The cookie lives exactly as long as the session's token (`rks.admin_token_ttl` may be shorter than 15 minutes). */
export function setSessionCookie(session: string, ttlSeconds: number): string {
  return `${SESSION_COOKIE}=${session}; Path=/; Max-Age=${ttlSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

export function clearSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;
}

/**
 * Refuses a cookie sent by a page of another origin. SameSite=Strict already keeps
 * browsers from sending it cross-site; this also covers another origin of the same
 * site (another port, another name of this host) and any client that says where it
 * comes from (`Origin`, `Sec-Fetch-Site`).
 * @throws NotAuthorizedError
 */
export function checkSameOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') throw crossOrigin();
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== `https://${req.headers.host ?? ''}`) throw crossOrigin();
}

/**
 * A session cookie that names no live session (forged, logged out, expired, revoked): refused
 * on every route that reads a cookie, the dashboard's own included, so every guess counts
 * towards `limits.auth_failures`; the answer clears the cookie, so a browser holding a dead
 * one is anonymous on its next request.
 */
export class SessionEndedError extends NotAuthorizedError {
  override readonly headers = { 'Set-Cookie': clearSessionCookie() };

  constructor() {
    super(ERROR_CODES.SESSION_ENDED.message, 403, 'SESSION_ENDED');
  }
}

function crossOrigin(): NotAuthorizedError {
  return new NotAuthorizedError(ERROR_CODES.SESSION_CROSS_ORIGIN.message, 403, 'SESSION_CROSS_ORIGIN');
}

/** Whether a request changes something (every method but GET and HEAD). */
export function isWrite(req: IncomingMessage): boolean {
  return req.method !== 'GET' && req.method !== 'HEAD';
}

/** The CSRF header a write must carry (compare it in constant time). */
export function presentedCsrf(req: IncomingMessage): string {
  const value = req.headers[CSRF_HEADER];
  return typeof value === 'string' ? value : '';
}
