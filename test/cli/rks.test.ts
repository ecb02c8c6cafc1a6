/** `keygate rks revoke-admin-tokens`: the compiled CLI against a server with an `rks:` section. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, keygate } from '../helpers/cli.js';
import { INIT_TOKEN, startRks, type RksClient } from '../rks/support.js';

let rks: RksClient;
let env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  ensureBuilt();
  rks = await startRks();
  env = { KEYGATE_SERVER: rks.s.url, KEYGATE_CA: rks.s.pki.caFile };
});
afterAll(() => rks?.s.close());

describe('keygate rks revoke-admin-tokens', () => {
  it('revokes every admin token with the init token or an admin token', async () => {
    const a = await rks.login();
    const b = await rks.login();
    const r = await keygate(['rks', 'revoke-admin-tokens', '--json'], { ...env, KEYGATE_RKS_TOKEN: a });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).revoked).toBeGreaterThanOrEqual(2);
    for (const t of [a, b]) expect((await rks.call('/rks/v1/group/none', { token: t })).status).toBe(403);
    const again = await keygate(['rks', 'revoke-admin-tokens', '--token', INIT_TOKEN], env);
    expect(again).toMatchObject({ code: 0, stdout: 'revoked 0 admin tokens\n' });
  });

  it("fails with the server's words and a non-zero status for a credential that is not an admin's", async () => {
    const r = await keygate(['rks', 'revoke-admin-tokens', '--token', 'not-the-init-token'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe('keygate: permission denied\n');
    expect((await keygate(['rks', 'revoke-admin-tokens'], env)).code).not.toBe(0);
  });
});
