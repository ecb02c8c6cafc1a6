/**
 * How RKS admin tokens die: when the admin password changes (at the reload that
 * brings the new password), when the token revokes itself, and all at once on
 * `DELETE /rks/v1/admin/tokens`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { workerMode } from '../helpers/server.js';
import { ADMIN, INIT_TOKEN, startRks, type RksClient } from './support.js';

let rks: RksClient;

beforeAll(async () => {
  rks = await startRks();
});
afterAll(() => rks?.s.close());

/** What an admin token may still do: renew itself, create a group, read the group. */
async function works(token: string): Promise<boolean> {
  const r = await rks.call('/rks/v1/group/probe', { token });
  return r.status !== 403;
}

describe('RKS admin tokens', () => {
  it('revoke themselves (revoke-self), and only themselves', async () => {
    const a = await rks.login();
    const b = await rks.login();
    expect(await works(a)).toBe(true);
    const r = await rks.call('/rks/v1/auth/token/revoke-self', { method: 'POST', token: a });
    expect(r.status).toBe(204);
    expect(await works(a)).toBe(false);
    expect((await rks.call('/rks/v1/auth/token/renew-self', { method: 'POST', token: a })).status).toBe(403);
    expect(await works(b)).toBe(true);
  });

  it('are all revoked by DELETE /rks/v1/admin/tokens (the init token or an admin token)', async () => {
    const tokens = [await rks.login(), await rks.login()];
    const r = await rks.call('/rks/v1/admin/tokens', { method: 'DELETE', token: tokens[0] as string });
    expect(r.status).toBe(200);
    expect(r.json.revoked).toBeGreaterThanOrEqual(2);
    for (const t of tokens) expect(await works(t)).toBe(false);
    // The init token is configuration: it still works, and may do the same.
    expect((await rks.call('/rks/v1/admin/tokens', { method: 'DELETE', token: INIT_TOKEN })).json).toEqual({ revoked: 0 });
    expect(await works(await rks.login())).toBe(true);
  });

  it('are refused the route to revoke them all without an admin credential', async () => {
    const g = await rks.call('/rks/v1/group/holder', { method: 'POST', token: INIT_TOKEN, body: { callbackURL: '' } });
    expect(g.status).toBe(201);
    const admin = await rks.login();
    expect((await rks.call('/rks/v1/admin/tokens', { method: 'DELETE', token: g.json.groupToken })).status).toBe(403);
    expect(await works(admin)).toBe(true);
  });

  // Reloads the in-process server (with workers, SIGHUP reaches every worker the same way).
  it.skipIf(workerMode)('die when the admin password changes, at the reload that brings it', async () => {
    const before = await rks.login();
    expect(await works(before)).toBe(true);
    const s = rks.s;
    const config = (password: string) =>
      parseConfig(
        stringify({
          address: '127.0.0.1:0',
          admin: { identity: s.admin.identity },
          tls: { key: s.pki.serverKeyFile, cert: s.pki.serverCertFile },
          keystore: { memory: {} },
          rks: { init_token: INIT_TOKEN, admin: { login: ADMIN.login, password } },
        }),
        'reload.yml',
      );
    // Same password: a reload alone kills nothing.
    await s.running.reload(config(ADMIN.password));
    expect(await works(before)).toBe(true);
    await s.running.reload(config('a-new-password-3x'));
    expect(await works(before)).toBe(false);
    expect((await rks.call('/rks/v1/auth/token/renew-self', { method: 'POST', token: before })).status).toBe(403);
    const after = await rks.call('/rks/v1/admin/login', { method: 'POST', body: { login: ADMIN.login, password: 'a-new-password-3x' } });
    expect(await works(after.json.adminToken)).toBe(true);
    // The old password no longer logs in, and switching back does not revive tokens of the other one.
    expect((await rks.call('/rks/v1/admin/login', { method: 'POST', body: ADMIN })).status).toBe(400);
    await s.running.reload(config(ADMIN.password));
    expect(await works(after.json.adminToken)).toBe(false);
  });
});
