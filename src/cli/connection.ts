/**
 * What every client command shares: the connection flags (with their environment
 * variables), the HTTPS client they make, output helpers, and paging through a
 * `{names, continue_at}` listing.
 */
import { Command, Option } from 'commander';
import { Client, type ClientOptions } from './client.js';

export interface ConnectionFlags {
  server: string;
  cert?: string;
  key?: string;
  ca?: string;
  insecure?: boolean;
  json?: boolean;
  token?: string;
}

export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(new Option('--server <url>', 'server address').env('KEYGATE_SERVER').default('https://127.0.0.1:7373'))
    .addOption(new Option('--cert <file>', 'client certificate (PEM)').env('KEYGATE_CLIENT_CERT'))
    .addOption(new Option('--key <file>', 'client private key (PEM)').env('KEYGATE_CLIENT_KEY'))
    .addOption(new Option('--ca <file>', 'CA certificate that signed the server certificate').env('KEYGATE_CA'))
    .option('-k, --insecure', 'do not verify the server certificate (development only)')
    .option('--json', 'print machine-readable JSON');
}

/** A client; the certificate is required unless `tokenOnly` (the call authenticates by token). */
export function client(flags: ConnectionFlags, tokenOnly = false): Client {
  if (!tokenOnly && (!flags.cert || !flags.key)) {
    throw new Error('a client certificate is required: pass --cert and --key (or set KEYGATE_CLIENT_CERT and KEYGATE_CLIENT_KEY)');
  }
  const options: ClientOptions = { server: flags.server };
  if (flags.cert && flags.key) Object.assign(options, { cert: flags.cert, key: flags.key });
  if (flags.ca !== undefined) options.ca = flags.ca;
  if (flags.insecure) options.insecure = true;
  if (flags.token !== undefined) options.token = flags.token;
  return new Client(options);
}

export const out = (line: string): void => {
  process.stdout.write(line + '\n');
};
export const enc = encodeURIComponent;

/** Runs `work` with the command's flags (the last argument commander passes is the Command). */
export function action(work: (flags: ConnectionFlags, ...args: string[]) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const positional = args.slice(0, -2).map((a) => (a === undefined ? '' : String(a)));
    await work(cmd.opts<ConnectionFlags>(), ...positional);
  };
}

/**
 * Every item of a paged listing: follows `continue_at` until the last page.
 * `query` is added to each page's request (e.g. `expiring_within_days=30`).
 */
export async function listAll<T = string>(c: Client, path: string, field = 'names', query = ''): Promise<T[]> {
  const items: T[] = [];
  let cursor = '';
  do {
    const q = [query, cursor ? `continue_at=${enc(cursor)}` : ''].filter(Boolean).join('&');
    const page = (await c.call('GET', q ? `${path}?${q}` : path)) as Record<string, unknown>;
    items.push(...((page[field] as T[] | undefined) ?? []));
    cursor = typeof page['continue_at'] === 'string' ? page['continue_at'] : '';
  } while (cursor !== '');
  return items;
}

/** A bare prefix lists everything that starts with it ('app-' is not a valid name, 'app-*' is). */
export function listPattern(prefix: string | undefined): string {
  return prefix && !prefix.endsWith('*') ? `${prefix}*` : (prefix ?? '');
}
