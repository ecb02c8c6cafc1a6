/**
 * `keygate rks …`: administration of the RKS-compatible surface that RKS itself had
 * no command for. Authenticated by an RKS credential — the init token or an admin
 * token — from `--token` or KEYGATE_RKS_TOKEN, never by a client certificate.
 */
import { Command, Option } from 'commander';
import { action, client, out, withConnection } from './connection.js';

export function rksCommand(): Command {
  const rks = new Command('rks').description('administer the RKS-compatible API (with the init token or an admin token)');
  withConnection(
    rks
      .command('revoke-admin-tokens')
      .description('revoke every RKS admin token now (they also end when rks.admin.password changes and the server reloads)')
      .addOption(new Option('--token <token>', 'the RKS init token, or an admin token').env('KEYGATE_RKS_TOKEN').makeOptionMandatory()),
  ).action(
    action(async (f) => {
      const r = (await client(f, true).call('DELETE', '/rks/v1/admin/tokens')) as { revoked: number };
      out(f.json ? JSON.stringify(r) : `revoked ${r.revoked} admin token${r.revoked === 1 ? '' : 's'}`);
    }),
  );
  return rks;
}
