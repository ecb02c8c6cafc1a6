/** `keygate dev-certs`: used by `make run` to create development certificates once. */
import { Command } from 'commander';

export function devCertsCommand(): Command {
  return new Command('dev-certs')
    .description('create development certificates in a folder, if missing, and print their identities')
    .option('--dir <dir>', 'folder', 'certs')
    .option('--env', 'print shell variable assignments only')
    .action(async (flags: { dir: string; env?: boolean }) => {
      // Loaded on use: certificate generation pulls in node-forge.
      const { ensureDevCertificates, curlExample } = await import('./dev.js');
      const certs = ensureDevCertificates(flags.dir);
      if (flags.env) {
        process.stdout.write(`KEYGATE_ADMIN_IDENTITY=${certs.adminIdentity}\nKEYGATE_APP_IDENTITY=${certs.appIdentity}\n`);
        return;
      }
      process.stdout.write(
        [
          `Development certificates in ${certs.dir}/`,
          `  admin identity: ${certs.adminIdentity}  (${certs.adminCert}, ${certs.adminKey})`,
          `  app identity:   ${certs.appIdentity}  (${certs.appCert}, ${certs.appKey})`,
          `Try, once the server is up:`,
          `  ${curlExample('https://localhost:7373', certs)}`,
          '',
        ].join('\n'),
      );
    });
}
