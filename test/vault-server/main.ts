/**
 * CLI: npm run vault-test-server -- --listen 127.0.0.1:8200 --root-token root
 *        [--tls-cert cert.pem --tls-key key.pem] [--flavor vault|vault-ce|openbao] [--no-dev-secret]
 * Prints one line with the address, then serves until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { startVaultTestServer, type FlavorName, type VaultTestServerOptions } from './index.js';

function usage(msg: string): never {
  process.stderr.write(`vault-test-server: ${msg}\n`);
  process.stderr.write(
    'usage: vault-test-server --listen HOST:PORT [--root-token TOKEN] [--tls-cert FILE --tls-key FILE] [--flavor vault|vault-ce|openbao] [--no-dev-secret]\n',
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const opts: VaultTestServerOptions = {};
  let cert: string | undefined;
  let key: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--listen': {
        const v = value();
        const m = /^(.*):(\d+)$/.exec(v);
        if (!m || m[1] === undefined || m[2] === undefined) usage(`bad --listen ${v}`);
        opts.host = m[1].replace(/^\[|\]$/g, '');
        opts.port = Number(m[2]);
        break;
      }
      case '--root-token':
        opts.rootToken = value();
        break;
      case '--tls-cert':
        cert = readFileSync(value(), 'utf8');
        break;
      case '--tls-key':
        key = readFileSync(value(), 'utf8');
        break;
      case '--flavor':
        opts.flavor = value() as FlavorName;
        if (!['vault', 'vault-ce', 'openbao'].includes(opts.flavor)) usage(`unknown flavor ${opts.flavor}`);
        break;
      case '--no-dev-secret':
        opts.devSecretMount = false;
        break;
      case '-h':
      case '--help':
        usage('help');
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  if ((cert === undefined) !== (key === undefined)) usage('--tls-cert and --tls-key go together');
  if (cert !== undefined && key !== undefined) opts.tls = { cert, key };
  const server = await startVaultTestServer(opts);
  process.stdout.write(`vault-test-server listening on ${server.url}\n`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`vault-test-server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
