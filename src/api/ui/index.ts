/**
 * The operator's dashboard (`/ui/`): a page, its script and style sheet (shipped in
 * `src/api/ui/assets/`, no CDN), and three small routes of its own — who am I
 * (`/ui/session`), log in, log out. Everything the page shows or changes it does
 * through the public API, as the caller it is: a client certificate under its policy,
 * or an RKS admin session (auth/session.ts) under SESSION_POLICY.
 */
import { BadRequestError, coded } from '../../errors.js';
import { callerAllows } from '../../auth/caller.js';
import { checkSameOrigin, clearSessionCookie, csrfToken, SESSION_TTL_SECONDS, setSessionCookie } from '../../auth/session.js';
import { route, type Param, type Reply, type RequestContext, type Route } from '../../server/route.js';
import { matchesETag, type Asset } from '../docs/assets.js';
import { packageRoot } from '../docs/spec.js';
import { loginCredentials } from '../rks/auth.js';
import { loadUIAssets } from './assets.js';

/** Only this server's own resources; no inline script or style, no framing, no form posts. */
export const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

const REVALIDATE = 'no-cache';
const FOREVER = 'public, max-age=31536000, immutable';
/** At most this many `?may=` paths per question (a page asks about what it shows). */
const MAX_MAY = 200;

const ASSET_NAME: Param = { kind: 'asset name', optional: true, invalid: () => coded('ROUTE_NOT_FOUND'), canonical: (s) => s };

const PRIVATE = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export function uiRoutes(root: string = packageRoot()): Route[] {
  const { page, files } = loadUIAssets(root);
  const UI = { timeoutMs: 10_000 } as const;
  return [
    route({
      ...UI,
      method: 'GET',
      path: '/ui',
      auth: 'none',
      handler: () => ({ status: 308, text: '', contentType: 'text/plain; charset=utf-8', headers: { Location: '/ui/' } }),
    }),
    route({
      ...UI,
      method: 'GET',
      path: '/ui/',
      auth: 'none',
      params: [ASSET_NAME],
      handler: (ctx) => {
        if (ctx.resource === '') return send(ctx, page, REVALIDATE, { 'Content-Security-Policy': UI_CSP, 'X-Frame-Options': 'DENY' });
        const file = files.get(ctx.resource);
        if (!file) throw coded('ROUTE_NOT_FOUND');
        return send(ctx, file, ctx.query.get('v') === file.version ? FOREVER : REVALIDATE);
      },
    }),
    route({ ...UI, method: 'GET', path: '/ui/session', auth: 'identify', handler: whoAmI }),
    route({
      ...UI,
      method: 'POST',
      path: '/ui/login',
      maxBody: 4096,
      auth: 'rks-login',
      // A login posted by another origin's page is refused before the password is compared.
      login: (body, req) => (checkSameOrigin(req), loginCredentials(body, req)),
      handler: async ({ state }) => {
        const { admin } = state.rks;
        // The dispatcher checked the login and password; the configuration may have changed since.
        if (admin === null) throw coded('RKS_ADMIN_NOT_CONFIGURED');
        const ttl = Math.min(SESSION_TTL_SECONDS, state.rks.adminTokenTtl);
        const { token, record } = await state.tokens.issue({
          kind: 'admin',
          group: '',
          node: admin.login,
          generation: admin.generation,
          ttl,
          renewable: false,
        });
        return {
          json: {
            kind: 'session',
            principal: `session:${admin.login}`,
            csrf_token: csrfToken(token),
            expires_at: new Date(record.expiresAt ?? 0).toISOString(),
          },
          headers: { ...PRIVATE, 'Set-Cookie': setSessionCookie(token, ttl) },
        };
      },
    }),
    route({
      ...UI,
      method: 'POST',
      path: '/ui/logout',
      auth: 'identify',
      handler: async ({ state, caller }) => {
        // The dispatcher already refused a session write without its CSRF token.
        if (caller.kind === 'session') await state.tokens.revoke(caller.token);
        return { json: { logged_out: caller.kind === 'session' }, headers: { ...PRIVATE, 'Set-Cookie': clearSessionCookie() } };
      },
    }),
  ];
}

/**
 * `GET /ui/session[?may=<path>…]`: who the browser is (certificate identity, session or
 * nobody), whether the admin login is offered, the session's CSRF token, and for each
 * `may` path whether this caller's policy allows it — so the page shows only the
 * buttons that would work. The answer is the same decision the API makes.
 */
async function whoAmI(ctx: RequestContext): Promise<Reply> {
  const { state, caller } = ctx;
  const paths = ctx.query.getAll('may');
  if (paths.length > MAX_MAY) throw new BadRequestError(`at most ${MAX_MAY} 'may' paths`);
  const may: Record<string, boolean> = {};
  for (const p of paths) {
    if (!p.startsWith('/')) throw new BadRequestError("a 'may' path starts with '/'");
    may[p] = caller.kind !== 'anonymous' && callerAllows(state, caller, p);
  }
  const session = caller.kind === 'session';
  const record = session ? await state.tokens.lookup(caller.token) : null;
  return {
    json: {
      kind: session ? 'session' : caller.kind === 'anonymous' ? 'anonymous' : 'certificate',
      principal: caller.principal,
      admin: caller.kind === 'admin' || (caller.identity !== '' && caller.identity === state.admin),
      login_available: state.rks.admin !== null,
      ...(session ? { csrf_token: csrfToken(caller.token), expires_at: new Date(record?.expiresAt ?? 0).toISOString() } : {}),
      may,
    },
    headers: PRIVATE,
  };
}

/** 200 with the asset, or 304 when the client already holds this version. */
function send(ctx: RequestContext, file: Asset, cacheControl: string, extra: Record<string, string> = {}): Reply {
  const headers = { 'Cache-Control': cacheControl, ETag: file.etag, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', ...extra };
  if (!matchesETag(ctx.req.headers['if-none-match'], file.etag)) return { text: file.body, contentType: file.contentType, headers };
  ctx.res.writeHead(304, headers);
  ctx.res.end();
  return { streamed: true };
}
