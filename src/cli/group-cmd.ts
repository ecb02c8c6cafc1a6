/**
 * `keygate group …`: client commands for groups of nodes (`/v1/group/...`).
 * Connection flags, environment, `--json` and exit codes are those of `keygate key`.
 * Tokens are printed alone on stdout, so `TOKEN=$(keygate group create edge)` works.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { action, client, enc, listAll, listPattern, out, withConnection } from './connection.js';
import { readFileOr } from '../files/read.js';

const seconds = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number of seconds');
  return n;
};

/** The settings flags of create and update; only those given are sent. */
function withSettings(cmd: Command): Command {
  return cmd
    .option('--token-ttl <seconds>', 'lifetime of node tokens, restored by each renewal (default 600)', seconds)
    .option('--callback-url <url>', "group manager callback: GET <url>/<node-id> must answer 200 ('' for none)")
    .option('--oauth-url <url>', 'OAuth token endpoint of the group manager')
    .option('--oauth-client-id <id>', 'OAuth client id')
    .addOption(new Option('--oauth-client-secret <secret>', 'OAuth client secret').env('KEYGATE_OAUTH_CLIENT_SECRET'))
    .addOption(new Option('--oauth-mode <mode>', "'form' (RFC 6749) or 'rks' (credentials in the query, as RKS)").choices(['rks', 'form']))
    .option('--callback-ca <file>', 'PEM CA certificates trusted for the group manager')
    .option('--callback-insecure', "do not verify the group manager's TLS certificate")
    .option('--no-callback-insecure', "verify the group manager's TLS certificate (default)")
    .option('--callback-timeout <seconds>', 'time the OAuth request and the callback may take together (default 5)', seconds);
}

interface SettingsFlags {
  tokenTtl?: number;
  callbackUrl?: string;
  oauthUrl?: string;
  oauthClientId?: string;
  oauthClientSecret?: string;
  oauthMode?: string;
  callbackCa?: string;
  callbackInsecure?: boolean;
  callbackTimeout?: number;
}

function settingsOf(f: SettingsFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const put = (field: string, v: unknown): void => {
    if (v !== undefined) body[field] = v;
  };
  put('token_ttl', f.tokenTtl);
  put('callback_url', f.callbackUrl);
  put('oauth_url', f.oauthUrl);
  put('oauth_client_id', f.oauthClientId);
  put('oauth_client_secret', f.oauthClientSecret);
  put('oauth_mode', f.oauthMode);
  if (f.callbackCa !== undefined) body['callback_ca'] = f.callbackCa === '' ? '' : readCA(f.callbackCa);
  put('callback_insecure', f.callbackInsecure);
  put('callback_timeout', f.callbackTimeout);
  return body;
}

/** The file named by --callback-ca, or an error that names the flag and the file (not Node's errno text). */
function readCA(file: string): string {
  return readFileOr(file, (code, cause) => new Error(`cannot read --callback-ca '${file}' (${code})`, { cause })).toString('utf8');
}

function printGroup(d: Record<string, unknown>): void {
  const rows: Array<[string, unknown]> = [
    ['Name', d['name']],
    ['Token TTL', `${String(d['token_ttl'])}s`],
    ['Callback', d['callback_url'] || '(none)'],
    [
      'OAuth',
      d['oauth_url']
        ? `${String(d['oauth_url'])} (${String(d['oauth_mode'])}, client ${String(d['oauth_client_id'])}, secret ${d['oauth_client_secret_set'] ? 'set' : 'not set'})`
        : '(none)',
    ],
    ['TLS', d['callback_insecure'] ? 'NOT VERIFIED (callback_insecure)' : d['callback_ca'] ? 'verified with the group CA' : 'verified with the system roots'],
    ['Timeout', `${String(d['callback_timeout'])}s`],
    ['Bundles', (d['bundles'] as string[]).join(', ') || '(none)'],
    ['Created', `${String(d['created_at'])} by ${String(d['created_by'])}`],
  ];
  for (const [k, v] of rows) out(`${k.padEnd(10)}${String(v)}`);
}

/** One tab-separated line per node, under a header; '-' for what a node does not have yet. */
function printNodes(nodes: readonly Record<string, string | null>[]): void {
  const cell = (v: string | null | undefined) => v ?? '-';
  out(['NODE', 'IDENTITY', 'REGISTERED', 'LAST SEEN', 'TOKEN EXPIRES', 'ENROLLED', 'REVOKED'].join('\t'));
  for (const n of nodes) {
    const id = n['identity'] ? `${String(n['identity']).slice(0, 16)}…` : null;
    out([n['node_id'], id, n['registered_at'], n['last_seen'], n['token_expires_at'], n['enrolled_at'], n['revoked_at']].map(cell).join('\t'));
  }
}

export function groupCommand(): Command {
  const group = new Command('group').description('manage groups of nodes: settings, tokens, bundle assignments');

  withConnection(withSettings(group.command('create').argument('<name>').description('create a group; prints its group token (shown only once)'))).action(
    action(async (f, name) => {
      const r = (await client(f).call('PUT', `/v1/group/create/${enc(name ?? '')}`, settingsOf(f as SettingsFlags))) as { group_token: string };
      if (f.json) return out(JSON.stringify(r));
      out(r.group_token);
      process.stderr.write('keygate: keep this group token: it is shown only once (rotate the group to get a new one)\n');
    }),
  );

  withConnection(withSettings(group.command('update').argument('<name>').description('change some settings of a group'))).action(
    action(async (f, name) => {
      const d = (await client(f).call('PUT', `/v1/group/update/${enc(name ?? '')}`, settingsOf(f as SettingsFlags))) as Record<string, unknown>;
      if (f.json) return out(JSON.stringify(d));
      printGroup(d);
    }),
  );

  withConnection(group.command('describe').alias('info').argument('<name>').description("show a group's settings and bundles")).action(
    action(async (f, name) => {
      const d = (await client(f).call('GET', `/v1/group/describe/${enc(name ?? '')}`)) as Record<string, unknown>;
      if (f.json) return out(JSON.stringify(d));
      printGroup(d);
    }),
  );

  withConnection(group.command('ls').argument('[prefix]', 'name prefix', '').description('list groups')).action(
    action(async (f, prefix) => {
      const names = await listAll(client(f), `/v1/group/list/${enc(listPattern(prefix))}`);
      if (f.json) return out(JSON.stringify({ names }));
      for (const n of names) out(n);
    }),
  );

  withConnection(group.command('rm').argument('<name>').description('delete a group: every group and node token of it dies')).action(
    action(async (f, name) => {
      await client(f).call('DELETE', `/v1/group/delete/${enc(name ?? '')}`);
      out(f.json ? '{}' : `deleted group ${name ?? ''}`);
    }),
  );

  withConnection(group.command('rotate').argument('<name>').description('replace the group token; every node token of the group dies')).action(
    action(async (f, name) => {
      const r = (await client(f).call('PUT', `/v1/group/rotate/${enc(name ?? '')}`)) as { group_token: string };
      out(f.json ? JSON.stringify(r) : r.group_token);
    }),
  );

  for (const [verb, method, what] of [
    ['assign', 'PUT', 'assigned'],
    ['unassign', 'DELETE', 'unassigned'],
  ] as const) {
    withConnection(
      group
        .command(verb)
        .argument('<group>')
        .argument('<bundle>')
        .description(`${verb} a certificate bundle ${verb === 'assign' ? 'to' : 'from'} a group`),
    ).action(
      action(async (f, name, bundle) => {
        await client(f).call(method, `/v1/group/${verb}/${enc(name ?? '')}/${enc(bundle ?? '')}`);
        out(f.json ? '{}' : `${what} ${bundle ?? ''} ${verb === 'assign' ? 'to' : 'from'} ${name ?? ''}`);
      }),
    );
  }

  withConnection(group.command('nodes').argument('<group>').description('list the nodes of a group')).action(
    action(async (f, name) => {
      const nodes = await listAll<Record<string, string | null>>(client(f), `/v1/group/nodes/${enc(name ?? '')}`, 'nodes');
      if (f.json) return out(JSON.stringify({ nodes }));
      printNodes(nodes);
    }),
  );

  return group;
}
