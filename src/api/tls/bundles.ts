/**
 * `/v1/cert/...`: certificate bundles, thin handlers over the BundleService.
 * Paths follow KES's `/v1/<resource>/<verb>/<name>`, so a path-glob policy can
 * allow describing (`/v1/cert/describe/*`) without reading keys (`/v1/cert/get/*`).
 * Nodes of a group read through the `grant` of the get and lookup routes.
 */
import { BadRequestError, coded } from '../../errors.js';
import { MAX_CRYPTO_BODY, route, type GrantContext, type Reply, type RequestContext, type Route } from '../../server/route.js';
import { allowedByPolicy } from '../../auth/caller.js';
import { BUNDLE_NAME, BUNDLE_PATTERN, SERVER_NAME } from '../params.js';
import type { BundleDescription, BundleInput, BundleSecret, LookupMatch } from '../../core/bundles/service.js';
import { jsonObject } from '../request.js';

const MAX_WAIT_SECONDS = 60;
const POLL_MS = 1000;

const IMPORT_FIELDS = new Set(['certificate', 'private_key', 'ttl', 'labels', 'allow_expired', 'allow_ca_leaf', 'version']);

/** Every bundle route takes one name after its verb: a bundle name, a pattern for list, a server name for lookup. */
const BUNDLE = { params: [BUNDLE_NAME] } as const;

export const bundleRoutes: Route[] = [
  route({
    ...BUNDLE,
    method: 'PUT',
    path: '/v1/cert/import/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, caller, body }) => {
      const { input, version } = importBody(jsonObject(body));
      const by = caller.principal;
      const r = version === undefined ? await state.bundles.import(resource, input, by) : await state.bundles.replace(resource, input, version, by);
      state.bundleChanges.notify(resource);
      return { json: r.version === null ? { name: resource } : { name: resource, version: r.version } };
    },
  }),

  route({
    ...BUNDLE,
    method: 'GET',
    path: '/v1/cert/describe/',
    handler: async ({ state, resource }) => ({ json: describeJSON(await state.bundles.describe(resource)) }),
  }),

  // A node's fetch, from memory when the bundle is there (the fleet's hot path).
  route({
    ...BUNDLE,
    method: 'GET',
    path: '/v1/cert/get/',
    grant: readGrant,
    handler: async ({ state, resource }) => secretReply(await state.bundles.getEncoded(resource, secretBody)),
    fast: ({ state, resource }) => {
      const body = state.bundles.peekEncoded(resource, secretBody);
      return body && secretReply(body);
    },
  }),

  route({
    method: 'GET',
    path: '/v1/cert/list/',
    params: [BUNDLE_PATTERN],
    handler: async ({ state, resource, query }) => {
      const days = query.get('expiring_within_days');
      if (days !== null && !/^\d{1,6}$/.test(days)) throw new BadRequestError('expiring_within_days must be a whole number of days');
      const page = await state.bundles.list({
        prefix: resource.endsWith('*') ? resource.slice(0, -1) : resource,
        continueAt: query.get('continue_at') ?? '',
        ...(days !== null ? { expiringWithinDays: Number(days) } : {}),
      });
      return { json: page.continueAt === '' ? { names: page.names } : { names: page.names, continue_at: page.continueAt } };
    },
  }),

  route({
    ...BUNDLE,
    method: 'DELETE',
    path: '/v1/cert/delete/',
    handler: async ({ state, resource, query }) => {
      const force = query.get('force');
      if (force !== null && force !== 'true' && force !== 'false') throw new BadRequestError("force must be 'true' or 'false'");
      await state.bundles.delete(resource, force === 'true');
      state.bundleChanges.notify(resource);
    },
  }),

  // Long-poll for agents: answers as soon as the bundle's version differs from `?version=`, or after `?wait=` seconds.
  route({
    ...BUNDLE,
    method: 'GET',
    path: '/v1/cert/watch/',
    timeoutMs: (MAX_WAIT_SECONDS + 15) * 1000,
    grant: watchGrant,
    handler: watchHandler,
  }),

  route({ method: 'GET', path: '/v1/cert/lookup/', params: [SERVER_NAME], grant: lookupGrant, handler: lookupHandler }),
];

/**
 * The JSON a node is handed. The service keeps it with the stored entry (peekEncoded), so
 * it is made once per bundle version however many nodes read it.
 */
export function secretBody(b: BundleSecret): Buffer {
  return Buffer.from(
    JSON.stringify({ name: b.name, certificate: b.chainPem, private_key: b.keyPem, ttl: b.ttl, version: b.version, not_after: b.notAfter.toISOString() }),
  );
}

function secretReply(body: Buffer): Reply {
  return { body, contentType: 'application/json' };
}

/** A node reads a bundle assigned to its group (the name was checked by the dispatcher). */
function readGrant(g: GrantContext): Promise<string | null> {
  return g.state.access.canReadBundle(g.identity, g.token, g.resource);
}

/** Whoever may read the bundle may watch it: a path policy on `/v1/cert/get/<name>` or a group grant. */
function watchGrant(g: GrantContext): Promise<string | null> | string | null {
  if (allowedByPolicy(g.state, g.identity, `/v1/cert/get/${g.resource}`)) return g.identity;
  return readGrant(g);
}

async function watchHandler({ state, resource, query, res, closing }: RequestContext) {
  const known = query.get('version') ?? '';
  const waitText = query.get('wait') ?? '30';
  if (!/^\d{1,4}$/.test(waitText)) throw new BadRequestError('wait must be a whole number of seconds');
  const deadline = Date.now() + Math.min(Number(waitText), MAX_WAIT_SECONDS) * 1000;
  let current = await state.bundles.version(resource);
  while (current === known && Date.now() < deadline && !res.destroyed && !closing.aborted) {
    await state.bundleChanges.next(resource, Math.min(POLL_MS, deadline - Date.now()), closing);
    current = await state.bundles.version(resource);
  }
  return { json: { name: resource, version: current } };
}

/**
 * Admin and policy callers see every match. A caller let in by the grant (a node)
 * sees only the bundles its group may read; it is let in only if there is at
 * least one, so for a node "no match" and "nothing of yours" are the same 403.
 */
async function lookupHandler(ctx: RequestContext) {
  const { identity, token } = ctx.caller;
  const canRead = ctx.allows(ctx.path) ? () => true : async (b: string) => (await ctx.state.access.canReadBundle(identity, token, b)) !== null;
  const matches = await ctx.state.bundles.lookup(ctx.resource, canRead);
  if (matches.length === 0) throw coded('NO_BUNDLE_FOR_SERVER_NAME');
  return { json: { server_name: ctx.resource, bundles: matches.map(matchJSON) } };
}

async function lookupGrant(g: GrantContext): Promise<string | null> {
  const canRead = async (b: string) => (await g.state.access.canReadBundle(g.identity, g.token, b)) !== null;
  const [first] = await g.state.bundles.lookup(g.resource, canRead);
  return first ? g.state.access.canReadBundle(g.identity, g.token, first.name) : null;
}

function importBody(req: Record<string, unknown>): { input: BundleInput; version: string | undefined } {
  for (const field of Object.keys(req)) {
    if (!IMPORT_FIELDS.has(field)) throw new BadRequestError(`unknown field '${field.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}'`);
  }
  const text = (field: string): string => {
    const v = req[field];
    if (typeof v !== 'string' || v === '') throw new BadRequestError(`field '${field}' is required: a PEM string`);
    return v;
  };
  const ttl = req['ttl'];
  if (typeof ttl !== 'number') throw new BadRequestError("field 'ttl' is required: seconds a node may keep the bundle");
  const input: BundleInput = { chainPem: text('certificate'), keyPem: text('private_key'), ttl };
  const labels = req['labels'];
  if (labels !== undefined) {
    if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) throw new BadRequestError("field 'labels' must be an object of strings");
    input.labels = labels as Record<string, string>;
  }
  const allow = req['allow_expired'];
  if (allow !== undefined && typeof allow !== 'boolean') throw new BadRequestError("field 'allow_expired' must be true or false");
  if (allow === true) input.allowExpired = true;
  // A CA certificate as the leaf would be served as a site's certificate: only on purpose.
  const caLeaf = req['allow_ca_leaf'];
  if (caLeaf !== undefined && typeof caLeaf !== 'boolean') throw new BadRequestError("field 'allow_ca_leaf' must be true or false");
  if (caLeaf === true) input.allowCaLeaf = true;
  const version = req['version'];
  if (version !== undefined && (typeof version !== 'string' || version === ''))
    throw new BadRequestError("field 'version' must be the version string from describe");
  return { input, version: version as string | undefined };
}

function describeJSON(d: BundleDescription) {
  return {
    name: d.name,
    version: d.version,
    subject: d.subject,
    issuer: d.issuer,
    dns_names: d.dnsNames,
    ip_addresses: d.ipAddresses,
    serial: d.serial,
    not_before: d.notBefore.toISOString(),
    not_after: d.notAfter.toISOString(),
    fingerprint_sha256: d.fingerprintSHA256,
    key_type: d.keyType,
    key_size: d.keySize,
    chain_length: d.chainLength,
    ttl: d.ttl,
    labels: d.labels,
    groups: d.groups,
    created_at: d.createdAt.toISOString(),
    created_by: d.createdBy,
    updated_at: d.updatedAt.toISOString(),
    updated_by: d.updatedBy,
  };
}

function matchJSON(m: LookupMatch) {
  return { name: m.name, match: m.match, not_after: m.notAfter.toISOString(), key_type: m.keyType, version: m.version };
}
