/**
 * `keygate cert …`: client commands for certificate bundles (`/v1/cert/...`).
 *
 * Connection flags, environment and exit codes are those of `keygate key`, with
 * one exception: in `cert import`, `--cert`/`--key` name the bundle's files, so
 * the client certificate comes from `--client-cert`/`--client-key` or the
 * environment (those two spellings work on every `cert` command).
 */
import { Command, Option } from 'commander';
import { statSync } from 'node:fs';
import { Client, type ClientOptions } from './client.js';
import { enc, listAll, listPattern, out } from './connection.js';
import { importDirectory, importOne, read, type ImportSettings } from './cert-import.js';

export interface CertFlags {
  server: string;
  cert?: string;
  key?: string;
  clientCert?: string;
  clientKey?: string;
  ca?: string;
  insecure?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Adds the connection flags; with `bundleFiles`, `--cert`/`--key` are left to the command. */
function withConnection(cmd: Command, bundleFiles = false): Command {
  cmd.addOption(new Option('--server <url>', 'server address').env('KEYGATE_SERVER').default('https://127.0.0.1:7373'));
  if (!bundleFiles) {
    cmd
      .addOption(new Option('--cert <file>', 'client certificate (PEM)').env('KEYGATE_CLIENT_CERT'))
      .addOption(new Option('--key <file>', 'client private key (PEM)').env('KEYGATE_CLIENT_KEY'));
  }
  const clientCert = new Option('--client-cert <file>', 'client certificate (PEM)');
  const clientKey = new Option('--client-key <file>', 'client private key (PEM)');
  return cmd
    .addOption(bundleFiles ? clientCert.env('KEYGATE_CLIENT_CERT') : clientCert)
    .addOption(bundleFiles ? clientKey.env('KEYGATE_CLIENT_KEY') : clientKey)
    .addOption(new Option('--ca <file>', 'CA certificate that signed the server certificate').env('KEYGATE_CA'))
    .option('-k, --insecure', 'do not verify the server certificate (development only)')
    .option('--json', 'print machine-readable JSON');
}

export function client(flags: CertFlags, bundleFiles = false): Client {
  const cert = flags.clientCert ?? (bundleFiles ? undefined : flags.cert);
  const key = flags.clientKey ?? (bundleFiles ? undefined : flags.key);
  if (!cert || !key) {
    const how = bundleFiles ? '--client-cert and --client-key' : '--cert and --key';
    throw new Error(`a client certificate is required: pass ${how} (or set KEYGATE_CLIENT_CERT and KEYGATE_CLIENT_KEY)`);
  }
  const options: ClientOptions = { server: flags.server, cert, key };
  if (flags.ca !== undefined) options.ca = flags.ca;
  if (flags.insecure) options.insecure = true;
  return new Client(options);
}

export function certCommand(): Command {
  const cert = new Command('cert').description('manage certificate bundles (PEM chain + private key + TTL) and look them up');
  cert.addCommand(importCommand());

  withConnection(cert.command('describe').alias('info').argument('<name>').description('show a bundle without its private key')).action(
    async (name: string, f: CertFlags) => {
      const d = (await client(f).call('GET', `/v1/cert/describe/${enc(name)}`)) as Record<string, unknown>;
      if (f.json) return out(JSON.stringify(d));
      const rows: Array<[string, unknown]> = [
        ['Name', d['name']],
        ['Subject', d['subject']],
        ['Issuer', d['issuer']],
        ['DNS names', (d['dns_names'] as string[]).join(', ')],
        ['IP addresses', (d['ip_addresses'] as string[]).join(', ')],
        ['Serial', d['serial']],
        ['Not before', d['not_before']],
        ['Not after', d['not_after']],
        ['SHA-256', d['fingerprint_sha256']],
        ['Key', `${String(d['key_type'])} ${String(d['key_size'])}`],
        ['Chain', `${String(d['chain_length'])} certificate(s)`],
        ['TTL', `${String(d['ttl'])}s`],
        [
          'Labels',
          Object.entries(d['labels'] as Record<string, string>)
            .map(([k, v]) => `${k}=${v}`)
            .join(', '),
        ],
        ['Groups', (d['groups'] as string[]).join(', ')],
        ['Version', d['version']],
        ['Created', `${String(d['created_at'])} by ${String(d['created_by'])}`],
        ['Updated', `${String(d['updated_at'])} by ${String(d['updated_by'])}`],
      ];
      for (const [k, v] of rows) out(`${k.padEnd(13)}${String(v)}`);
    },
  );

  withConnection(cert.command('get').argument('<name>').description('print the certificate chain and the private key (PEM)')).action(
    async (name: string, f: CertFlags) => {
      const b = (await client(f).call('GET', `/v1/cert/get/${enc(name)}`)) as Record<string, string>;
      process.stdout.write(f.json ? JSON.stringify(b) + '\n' : `${b['certificate'] ?? ''}${b['private_key'] ?? ''}`);
    },
  );

  withConnection(
    cert
      .command('ls')
      .argument('[prefix]', 'name prefix', '')
      .option('--expiring-within <days>', 'only bundles that expire within this many days (expired ones included)')
      .description('list bundles'),
  ).action(async (prefix: string, f: CertFlags & { expiringWithin?: string }) => {
    const filter = f.expiringWithin !== undefined ? `expiring_within_days=${enc(f.expiringWithin)}` : '';
    const names = await listAll(client(f), `/v1/cert/list/${enc(listPattern(prefix))}`, 'names', filter);
    if (f.json) return out(JSON.stringify({ names }));
    for (const n of names) out(n);
  });

  withConnection(cert.command('rm').argument('<name>').option('--force', 'delete even while assigned to groups').description('delete a bundle')).action(
    async (name: string, f: CertFlags & { force?: boolean }) => {
      await client(f).call('DELETE', `/v1/cert/delete/${enc(name)}${f.force ? '?force=true' : ''}`);
      if (f.json) out('{}');
    },
  );

  withConnection(
    cert.command('lookup').argument('<server-name>', 'SNI host name or IP address').description('find the bundles whose certificate names a host'),
  ).action(async (sni: string, f: CertFlags) => {
    const r = (await client(f).call('GET', `/v1/cert/lookup/${enc(sni)}`)) as { bundles: Array<Record<string, string>> };
    if (f.json) return out(JSON.stringify(r));
    for (const b of r.bundles) out(`${b['name'] ?? ''}\t${b['match'] ?? ''}\t${b['key_type'] ?? ''}\t${b['not_after'] ?? ''}`);
  });
  // Usage mistakes in subcommands reach main() as CommanderErrors (exit code 2), not process.exit(1).
  for (const sub of cert.commands) sub.exitOverride();
  return cert;
}

function importCommand(): Command {
  const cmd = new Command('import')
    .argument('<name|dir>', 'bundle name, or a directory of NAME.crt|NAME.pem + NAME.key pairs')
    .option('--cert <file>', 'certificate chain (PEM, leaf first)')
    .option('--key <file>', 'private key (PEM: PKCS#8, PKCS#1 or SEC1)')
    .requiredOption('--ttl <seconds>', 'how long a node may keep the bundle')
    .option('--label <key=value>', 'label (repeatable)', collect, [])
    .option('--replace', 'replace the bundle if it exists (safely: only the version just read)')
    .option('--allow-expired', 'accept an expired certificate')
    .option('--allow-ca-leaf', 'accept a CA certificate (basicConstraints CA:TRUE) as the leaf')
    .description('import a bundle, or every PEM pair of a directory');
  return withConnection(cmd, true).action(async (target: string, f: CertFlags & ImportFlags, command: Command) => {
    const settings = importSettings(f, command);
    const c = client(f, true);
    if (isDirectory(target)) {
      if (f.cert !== undefined || f.key !== undefined) command.error('error: --cert and --key name one bundle; a directory is imported pair by pair');
      await importDirectory(c, target, settings, f.json === true);
      return;
    }
    if (f.cert === undefined || f.key === undefined) command.error(`error: '${target}' is not a directory: pass --cert and --key`);
    const version = await importOne(c, target, read(f.cert as string), read(f.key as string), settings);
    out(f.json ? JSON.stringify({ name: target, ...(version ? { version } : {}) }) : `imported ${target}${version ? ` (version ${version})` : ''}`);
  });
}

interface ImportFlags {
  ttl: string;
  label: string[];
  replace?: boolean;
  allowExpired?: boolean;
  allowCaLeaf?: boolean;
}

function importSettings(f: ImportFlags, command: Command): ImportSettings {
  if (!/^\d+$/.test(f.ttl)) command.error(`error: --ttl must be a whole number of seconds, not '${f.ttl}'`);
  const labels: Record<string, string> = {};
  for (const l of f.label) {
    const eq = l.indexOf('=');
    if (eq <= 0) command.error(`error: --label must be key=value, not '${l}'`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return {
    ttl: Number(f.ttl),
    labels: f.label.length ? labels : undefined,
    replace: f.replace === true,
    allowExpired: f.allowExpired === true,
    allowCaLeaf: f.allowCaLeaf === true,
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
