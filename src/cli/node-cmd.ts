/**
 * `keygate node …`: a node's side (register, renew, enroll — authenticated by a
 * token from `--token` or KEYGATE_TOKEN) and an operator's (revoke, ban, unban —
 * authenticated by the client certificate). Flags and exit codes as `keygate key`.
 */
import { Command, Option } from 'commander';
import { action, client, enc, out, withConnection, type ConnectionFlags } from './connection.js';

function withToken(cmd: Command, what: string): Command {
  return cmd.addOption(new Option('--token <token>', what).env('KEYGATE_TOKEN').makeOptionMandatory());
}

export function nodeCommand(): Command {
  const node = new Command('node').description('register, renew and enroll nodes; revoke and ban them');

  withConnection(
    withToken(node.command('register').argument('<group>').argument('<node-id>').description('register a node; prints its node token'), 'the group token'),
  ).action(
    action(async (f, group, nodeId) => {
      const r = (await client(f, true).call('PUT', `/v1/node/register/${enc(group ?? '')}`, { node_id: nodeId })) as { node_token: string; ttl: number };
      out(f.json ? JSON.stringify(r) : r.node_token);
    }),
  );

  withConnection(withToken(node.command('renew').description('restore the full TTL of a node token'), 'the node token')).action(
    action(async (f) => {
      const r = (await client(f, true).call('PUT', '/v1/node/renew')) as { node_token: string; ttl: number };
      out(f.json ? JSON.stringify({ ttl: r.ttl }) : `renewed: valid for ${r.ttl}s`);
    }),
  );

  withConnection(
    withToken(
      node
        .command('enroll')
        .argument('<group>')
        .option('--node-id <id>', 'node id to enroll as (default: the certificate identity)')
        .description("enroll this client certificate into a group: it then reads the group's bundles with the certificate alone"),
      'the group token',
    ),
  ).action(
    action(async (f, group) => {
      const nodeId = (f as ConnectionFlags & { nodeId?: string }).nodeId;
      const r = (await client(f).call('PUT', `/v1/node/enroll/${enc(group ?? '')}`, nodeId === undefined ? {} : { node_id: nodeId })) as Record<string, string>;
      out(f.json ? JSON.stringify(r) : `enrolled ${r['identity']} into ${r['group']} as ${r['node_id']}`);
    }),
  );

  const operatorVerb = (verb: 'revoke' | 'ban' | 'unban', method: string, description: string, done: string) =>
    withConnection(node.command(verb).argument('<group>').argument('<node-id-or-identity>').description(description)).action(
      action(async (f, group, target) => {
        await client(f).call(method, `/v1/node/${verb}/${enc(group ?? '')}/${enc(target ?? '')}`);
        out(f.json ? '{}' : `${done} ${target ?? ''} in ${group ?? ''}`);
      }),
    );
  operatorVerb('revoke', 'DELETE', 'revoke a node: its token and enrollment die; it may register again', 'revoked');
  operatorVerb('ban', 'PUT', 'ban a node id or identity from the group, and revoke it', 'banned');
  operatorVerb('unban', 'DELETE', 'lift a ban', 'unbanned');

  return node;
}
