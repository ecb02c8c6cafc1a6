/**
 * `/v1/pki/...`: short-lived certificates from the configured issuers.
 *
 * Sign and issue are policy routes with a second way in: a node (node token or
 * enrolled certificate) of a group the role lists. Revoke is open to every node
 * credential too, and the service lets a caller revoke only what it was issued
 * (the admin anything). The CA and the CRL are public, as Vault's are.
 */
import { BadRequestError } from '../../errors.js';
import { DEFAULT_TIMEOUT_MS, route, type GrantContext, type Param, type RequestContext, type Route } from '../../server/route.js';
import type { Caller } from '../../auth/caller.js';
import { nodeOfPrincipal, type IssuedView, type PkiCaller } from '../../core/pki/service.js';
import { crlToPem } from '../../pki/crl.js';
import { jsonObject } from '../request.js';
import { rejectUnknown } from '../tls/fields.js';

const CSR_BODY = 64 * 1024;
const SMALL_BODY = 4096;
/** Signing with an RSA-4096 CA, or a round trip to Vault, stays well inside this. */
const PKI_TIMEOUT_MS = DEFAULT_TIMEOUT_MS;

const ROLE_NAME: Param = {
  kind: 'role name',
  canonical: (s) => {
    if (!/^[0-9A-Za-z_-]{1,80}$/.test(s)) throw new BadRequestError('invalid role name');
    return s;
  },
};

const SERIAL_PREFIX: Param = {
  kind: 'serial prefix',
  optional: true,
  canonical: (s) => {
    const p = s.toLowerCase();
    if (!/^[0-9a-f]{0,40}$/.test(p)) throw new BadRequestError('serial prefix must be hex');
    return p;
  },
};

function pkiCaller(caller: Caller): PkiCaller {
  const node = caller.kind === 'node' ? nodeOfPrincipal(caller.principal) : undefined;
  return {
    principal: caller.principal,
    admin: caller.kind === 'admin',
    identity: caller.identity,
    ...(node ? { nodeId: node.nodeId, group: node.group } : {}),
  };
}

/** The caller's node, by node token or enrolled certificate: its audit name, or null. */
async function nodePrincipal(g: GrantContext): Promise<string | null> {
  const found = await g.state.nodes.readableBundles(g.identity, g.token);
  return found && nodeOfPrincipal(found.principal) ? found.principal : null;
}

/** A node of a group the role lists. */
async function roleGrant(g: GrantContext): Promise<string | null> {
  const principal = await nodePrincipal(g);
  const node = principal === null ? undefined : nodeOfPrincipal(principal);
  return node && g.state.pki.groupMayUse(g.resource, node.group) ? principal : null;
}

function issuedJSON(i: IssuedView): Record<string, unknown> {
  return {
    certificate: i.certificate,
    chain: i.chain,
    serial: i.serial,
    not_after: i.notAfter.toISOString(),
    ...(i.privateKey !== undefined ? { private_key: i.privateKey } : {}),
  };
}

/** `alt_names`: a list of names, or Vault's comma-separated string. */
function altNames(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  if (Array.isArray(value) && value.length <= 100 && value.every((v) => typeof v === 'string')) return value as string[];
  throw new BadRequestError('alt_names must be a list of names (or one comma-separated string)');
}

function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new BadRequestError(`${key} must be a string`);
  return v;
}

function issuerQuery(ctx: RequestContext): string | null {
  const name = ctx.query.get('issuer');
  if (name === null) return null;
  if (!/^[0-9A-Za-z_-]{1,80}$/.test(name)) throw new BadRequestError('invalid issuer name');
  return name;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

export const pkiRoutes: Route[] = [
  route({
    method: 'PUT',
    path: '/v1/pki/sign/',
    maxBody: CSR_BODY,
    timeoutMs: PKI_TIMEOUT_MS,
    auth: 'policy',
    params: [ROLE_NAME],
    grant: roleGrant,
    handler: async ({ state, resource, body, caller }) => {
      const req = jsonObject(body);
      rejectUnknown(req, { csr: true, ttl: true });
      const signed = await state.pki.sign(resource, pkiCaller(caller), req['csr'], req['ttl']);
      return { json: issuedJSON(signed) };
    },
  }),
  route({
    method: 'PUT',
    path: '/v1/pki/issue/',
    maxBody: SMALL_BODY,
    timeoutMs: PKI_TIMEOUT_MS,
    auth: 'policy',
    params: [ROLE_NAME],
    grant: roleGrant,
    handler: async ({ state, resource, body, caller }) => {
      const req = jsonObject(body);
      rejectUnknown(req, { common_name: true, alt_names: true, ttl: true, key_type: true });
      const commonName = optionalString(req, 'common_name');
      if (commonName === undefined || commonName === '') throw new BadRequestError('common_name is required');
      const ttl = optionalString(req, 'ttl');
      const keyType = optionalString(req, 'key_type');
      const issued = await state.pki.issue(resource, pkiCaller(caller), {
        commonName,
        altNames: altNames(req['alt_names']),
        ...(ttl !== undefined ? { ttl } : {}),
        ...(keyType !== undefined ? { keyType } : {}),
      });
      return { json: issuedJSON(issued), headers: NO_STORE };
    },
  }),
  route({
    method: 'PUT',
    path: '/v1/pki/revoke',
    maxBody: SMALL_BODY,
    timeoutMs: PKI_TIMEOUT_MS,
    auth: 'policy',
    grant: nodePrincipal,
    handler: async ({ state, body, caller }) => {
      const req = jsonObject(body);
      rejectUnknown(req, { serial: true });
      const r = await state.pki.revoke(req['serial'], pkiCaller(caller));
      return { json: { serial: r.serial, revoked_at: r.revokedAt.toISOString() } };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/pki/ca',
    timeoutMs: PKI_TIMEOUT_MS,
    auth: 'none',
    handler: async (ctx) => ({ text: await ctx.state.pki.ca(issuerQuery(ctx)), contentType: 'application/x-pem-file' }),
  }),
  route({
    method: 'GET',
    path: '/v1/pki/crl',
    timeoutMs: PKI_TIMEOUT_MS,
    auth: 'none',
    handler: async (ctx) => {
      const format = ctx.query.get('format') ?? 'der';
      if (format !== 'der' && format !== 'pem') throw new BadRequestError('format must be der or pem');
      const der = await ctx.state.pki.crl(issuerQuery(ctx));
      return format === 'pem' ? { text: crlToPem(der), contentType: 'application/x-pem-file' } : { body: der, contentType: 'application/pkix-crl' };
    },
  }),
  route({
    method: 'GET',
    path: '/v1/pki/certs/',
    timeoutMs: PKI_TIMEOUT_MS,
    auth: 'policy',
    params: [SERIAL_PREFIX],
    handler: async ({ state, resource }) => {
      const list = await state.pki.list(resource);
      return {
        json: {
          certificates: list.map((c) => ({
            serial: c.serial,
            issuer: c.issuer,
            role: c.role,
            names: c.names,
            caller: c.caller,
            not_after: c.notAfter.toISOString(),
            revoked_at: c.revokedAt === null ? null : c.revokedAt.toISOString(),
          })),
        },
      };
    },
  }),
];
