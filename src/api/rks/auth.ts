/**
 * RKS's admin endpoints. Every credential travels in `X-Vault-Token` (or
 * `Authorization: Bearer`) and is checked by the dispatcher (auth/caller.ts):
 * the configured init token, which RKS calls the root token; admin tokens from
 * the login; group tokens, which only register nodes; node tokens, which read
 * their group's secrets and renew themselves.
 *
 * Admin tokens are ordinary keygate tokens (`kga_…`, stored as hashes, with the
 * configured TTL) carrying the generation of the admin credentials they were
 * issued under: a password change kills them all at the next reload.
 */
import { EntryExistsError } from '../../../keystores/keystore.js';
import { coded } from '../../errors.js';
import type { RequestContext } from '../../server/route.js';
import { translateStoreError } from '../../core/store-errors.js';
import { INIT_ENTRY } from '../../core/fleet/rks-init.js';
import { checkBodyHeaders, decodeBody, done, ok, rksError, text, type RksHandler } from './wire.js';

/** The login and password of an admin login body (RKS's `{"login","password"}`). */
export function loginCredentials(body: Buffer, req: RequestContext['req']): { login: string; password: string } {
  checkBodyHeaders(req, body);
  const creds = decodeBody(body, { login: 'string', password: 'string' });
  return { login: text(creds, 'login'), password: text(creds, 'password') };
}

export function adminHandlers() {
  return {
    /** `POST /rks/v1/admin/login` (the dispatcher checked the password): 200 `{"adminToken"}`. */
    login: async (ctx) => {
      const { admin, adminTokenTtl } = ctx.state.rks;
      if (admin === null) throw coded('RKS_ADMIN_NOT_CONFIGURED');
      const { token } = await ctx.state.tokens.issue({
        kind: 'admin',
        group: '',
        node: admin.login,
        generation: admin.generation,
        ttl: adminTokenTtl,
        renewable: true,
      });
      return ok({ adminToken: token });
    },

    /** `POST /rks/v1/init` with the init token: 201 once (the marker is created), 409 afterwards. */
    init: async (ctx) => {
      const marker = { initialized_at: new Date().toISOString() };
      try {
        await ctx.state.store.create(INIT_ENTRY, Buffer.from(JSON.stringify(marker)));
      } catch (err) {
        if (err instanceof EntryExistsError) throw rksError('RKS_ALREADY_INITIALIZED');
        throw translateStoreError(err, { exists: 'RKS_ALREADY_INITIALIZED', notFound: 'RKS_NOT_INITIALIZED', failed: 'failed to initialize RKS' });
      }
      return done(201);
    },

    /** `DELETE /rks/v1/admin/tokens`: revokes every admin token; 200 `{"revoked": n}`. */
    revokeAll: async (ctx) => ok({ revoked: await ctx.state.tokens.revokeKind('admin') }),
  } satisfies Record<string, RksHandler>;
}
