/**
 * RKS's secrets (rks.md §2.3, §2.5): certificate bundles named by FQDN, in RKS's
 * `Secret` shape `{"data":{"meta":{"ttl"},"certificate","private_key"}}`.
 *
 * Unlike RKS, a secret is validated as every bundle is (PEM, key matches the leaf,
 * chain order, expiry): an invalid pair is a 400 that names the problem. `meta.ttl`
 * must be within the bundle TTL range. A replace overwrites the only copy, so no
 * old private key survives it. Nodes read only what their group is associated
 * with, and for them a secret they may not read and a missing one are the same 403.
 */
import { BadRequestError, ConflictError, ExistsError, NotFoundError, coded } from '../../errors.js';
import type { BundleInput } from '../../core/bundles/service.js';
import { isValidBundleName } from '../../core/bundles/names.js';
import { TTL_RANGE } from '../../core/bundles/record.js';
import { decodeBody, done, names, noContent, ok, rksError, secretNotFound, text, type RksHandler, type Shape } from './wire.js';

const SECRET: Shape = { data: { certificate: 'string', private_key: 'string', meta: { ttl: 'int32' } } };
const REPLACE_ATTEMPTS = 5;

/** The bundle a Secret body describes. @throws BadRequestError naming the field */
function secretInput(body: Buffer): BundleInput {
  const data = (decodeBody(body, SECRET)['data'] ?? {}) as Record<string, unknown>;
  const meta = (data['meta'] ?? {}) as Record<string, unknown>;
  const chainPem = text(data, 'certificate');
  const keyPem = text(data, 'private_key');
  if (chainPem === '') throw new BadRequestError('data.certificate is required: the PEM certificate chain, leaf first');
  if (keyPem === '') throw new BadRequestError('data.private_key is required: the PEM private key of the certificate');
  const ttl = typeof meta['ttl'] === 'number' ? meta['ttl'] : 0;
  if (ttl < TTL_RANGE.min || ttl > TTL_RANGE.max) {
    throw new BadRequestError(`data.meta.ttl must be a whole number of seconds from ${TTL_RANGE.min} to ${TTL_RANGE.max}`);
  }
  return { chainPem, keyPem, ttl };
}

/** Validation errors name the Secret's fields: `data.private_key: does not match …`. */
function withDataPrefix(err: unknown): unknown {
  if (err instanceof BadRequestError && (err.field === 'certificate' || err.field === 'private_key')) {
    return new BadRequestError('data.' + err.message, { code: err.code, field: 'data.' + err.field });
  }
  return err;
}

function secretJSON(b: { chainPem: string; keyPem: string; ttl: number }) {
  return { data: { meta: { ttl: b.ttl }, certificate: b.chainPem, private_key: b.keyPem } };
}

/** Runs `work`, answering 404 with RKS's wording of that endpoint when the secret does not exist. */
async function orNotFound<T>(fqdn: string, message: string, work: () => Promise<T>): Promise<T> {
  if (!isValidBundleName(fqdn)) throw secretNotFound(message);
  try {
    return await work();
  } catch (err) {
    throw err instanceof NotFoundError ? secretNotFound(message) : err;
  }
}

export function secretHandlers() {
  return {
    createSecret: async (ctx) => {
      const principal = ctx.caller.principal;
      const [fqdn] = names(ctx);
      try {
        await ctx.state.bundles.import(fqdn, secretInput(ctx.body), principal);
      } catch (err) {
        if (err instanceof ExistsError) throw rksError('RKS_SECRET_EXISTS');
        throw withDataPrefix(err);
      }
      return done(201);
    },

    // A full replacement; RKS has no versions, so the last writer wins (a lost race is retried).
    updateSecret: async (ctx) => {
      const principal = ctx.caller.principal;
      const [fqdn] = names(ctx);
      const version = () => orNotFound(fqdn, 'secret does not exist', () => ctx.state.bundles.version(fqdn));
      let current = await version();
      const input = secretInput(ctx.body);
      for (let attempt = 1; ; attempt++) {
        try {
          await ctx.state.bundles.replace(fqdn, input, current, principal);
          return done(200);
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt === REPLACE_ATTEMPTS) throw withDataPrefix(err);
          current = await version();
        }
      }
    },

    deleteSecret: async (ctx) => {
      const [fqdn] = names(ctx);
      try {
        await orNotFound(fqdn, 'Secret not found', () => ctx.state.bundles.delete(fqdn, false));
      } catch (err) {
        if (err instanceof ConflictError) throw rksError('RKS_SECRET_IN_USE', [fqdn]);
        throw err;
      }
      return noContent(ctx);
    },

    // Admins read any secret; a node only what its group is associated with (the route's grant), and
    // for a node a secret deleted since is refused as one it may not read.
    getSecret: async (ctx) => {
      const [fqdn] = names(ctx);
      if (ctx.caller.kind !== 'node') return ok(secretJSON(await orNotFound(fqdn, 'secret not found', () => ctx.state.bundles.get(fqdn))));
      try {
        return ok(secretJSON(await ctx.state.bundles.get(fqdn)));
      } catch (err) {
        throw err instanceof NotFoundError ? coded('RKS_READ_DENIED') : err;
      }
    },

    secretGroups: async (ctx) => {
      const [fqdn] = names(ctx);
      if (!isValidBundleName(fqdn) || !(await ctx.state.bundles.exists(fqdn))) throw secretNotFound();
      return ok(await ctx.state.groups.groupsOf(fqdn));
    },
  } satisfies Record<string, RksHandler>;
}
