/**
 * `GET /v1/openapi.json`, `GET /docs` and `GET /docs/<asset>`: the OpenAPI
 * document and the page that renders it, all served by keygate itself (no CDN,
 * no third-party script or font; the page's CSP allows only this origin).
 *
 * These routes are public (`auth: 'none'`, like `/version`): they describe the
 * API and carry no secret, configuration or data — nothing a client could not
 * read in the project's repository.
 */
import { coded } from '../../errors.js';
import { route, type Param, type Reply, type RequestContext, type Route } from '../../server/route.js';
import { asset, loadDocsAssets, matchesETag, type Asset } from './assets.js';
import { loadOpenAPI, packageRoot } from './spec.js';

/** Only this server's own resources; no inline script or style, no framing, no forms. */
export const DOCS_CSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

const REVALIDATE = 'no-cache';
const FOREVER = 'public, max-age=31536000, immutable';

/** A file of the page: looked up by exact name among the assets, so any other name is a 404. */
const ASSET_NAME: Param = { kind: 'asset name', optional: true, invalid: () => coded('ROUTE_NOT_FOUND'), canonical: (s) => s };

/** What the documentation routes share: public reads with a short timeout. */
const DOCS = { method: 'GET', timeoutMs: 10_000, auth: 'none' } as const;

/**
 * The documentation routes. The page's files are read when the server starts; the
 * document is built from its YAML on the first request for it (parsing it takes
 * longer than the rest of the start-up), then kept encoded.
 */
export function docsRoutes(root: string = packageRoot()): Route[] {
  let spec: Asset | undefined;
  const { page, files } = loadDocsAssets(root);
  return [
    route({
      ...DOCS,
      path: '/v1/openapi.json',
      handler: (ctx) => send(ctx, (spec ??= asset(JSON.stringify(loadOpenAPI(root)), 'application/json')), REVALIDATE),
    }),
    route({
      ...DOCS,
      path: '/docs',
      handler: (ctx) => send(ctx, page, REVALIDATE, { 'Content-Security-Policy': DOCS_CSP, 'X-Frame-Options': 'DENY' }),
    }),
    route({
      ...DOCS,
      path: '/docs/',
      params: [ASSET_NAME],
      handler: (ctx) => {
        const file = files.get(ctx.resource);
        if (!file) throw coded('ROUTE_NOT_FOUND');
        // Only a link that names this exact content may be cached for good.
        return send(ctx, file, ctx.query.get('v') === file.version ? FOREVER : REVALIDATE);
      },
    }),
  ];
}

/** 200 with the asset, or 304 when the client already holds this version. */
function send(ctx: RequestContext, file: Asset, cacheControl: string, extra: Record<string, string> = {}): Reply {
  const headers = {
    'Cache-Control': cacheControl,
    ETag: file.etag,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...extra,
  };
  const ifNoneMatch = ctx.req.headers['if-none-match'];
  if (!matchesETag(ifNoneMatch, file.etag)) return { text: file.body, contentType: file.contentType, headers };
  // Written here: the generic reply would add `Content-Length: 0`, which a 304 must not claim.
  ctx.res.writeHead(304, headers);
  ctx.res.end();
  return { streamed: true };
}
