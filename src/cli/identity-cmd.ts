/** `keygate identity new|of`: make a client key + certificate, or print a certificate's identity. */
import { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hash, randomBytes } from 'node:crypto';
import { identityOfCertificate, parseAPIKey } from '../auth/identity.js';
import { parseDuration } from '../config/duration.js';

const collect = (value: string, previous: string[]) => [...previous, value];

interface NewFlags {
  key?: string;
  cert?: string;
  ip: string[];
  dns: string[];
  expiry: string;
  force?: boolean;
}

export function identityCommand(): Command {
  const identity = new Command('identity').description("client identities (SHA-256 of a certificate's public key)");

  identity
    .command('new')
    .description('create an Ed25519 key and a self-signed client certificate, or an API key when no files are named')
    .argument('[subject]', 'certificate common name (default: the identity)')
    .option('--key <file>', 'write the private key here (mode 0600)')
    .option('--cert <file>', 'write the certificate here')
    .option('--ip <ip>', 'IP subject alternative name (repeatable)', collect, [])
    .option('--dns <name>', 'DNS subject alternative name (repeatable)', collect, [])
    .option('--expiry <duration>', 'certificate lifetime', '720h')
    .option('-f, --force', 'overwrite existing files')
    .action(async (subject: string | undefined, flags: NewFlags) => {
      if ((flags.key === undefined) !== (flags.cert === undefined)) throw new Error('--key and --cert must be given together');
      if (flags.key === undefined || flags.cert === undefined) {
        if (flags.ip.length || flags.dns.length) throw new Error('--ip and --dns need --key and --cert');
        // Like KES: an API key is an Ed25519 seed; its identity equals that of any certificate for the key.
        const apiKey = `kes:v1:${Buffer.concat([Buffer.from([0]), randomBytes(32)]).toString('base64')}`;
        const { identity: id } = parseAPIKey(apiKey);
        process.stdout.write(`API key:  ${apiKey}\nIdentity: ${id}\n\nThe API key is shown only once: keep it secret.\n`);
        return;
      }
      for (const file of [flags.key, flags.cert]) {
        if (existsSync(file) && !flags.force) throw new Error(`'${file}' exists: pass --force to overwrite it`);
      }
      const lifetime = parseDuration(flags.expiry);
      if (lifetime <= 0) throw new Error('--expiry must be positive');
      // Loaded on use: certificate generation pulls in node-forge.
      const { generateKeyPair, createCertificate, privateKeyToPem } = await import('../pki/index.js');
      const { privateKey, publicKey } = generateKeyPair('ed25519');
      const spkiId = hash('sha256', publicKey.export({ type: 'spki', format: 'der' }), 'hex');
      const now = Date.now();
      const certPem = createCertificate(
        publicKey,
        {
          commonName: subject ?? spkiId,
          ipAddresses: flags.ip,
          dnsNames: flags.dns,
          notBefore: new Date(now - 60_000),
          notAfter: new Date(now + lifetime),
          extKeyUsage: ['clientAuth', 'serverAuth'],
        },
        { privateKey },
      );
      writeFileSync(flags.key, privateKeyToPem(privateKey), { mode: 0o600, flag: flags.force ? 'w' : 'wx' });
      writeFileSync(flags.cert, certPem, { mode: 0o644, flag: flags.force ? 'w' : 'wx' });
      const id = identityOfCertificate(certPem);
      process.stdout.write(`Identity:    ${id}\nPrivate key: ${flags.key}\nCertificate: ${flags.cert}\n`);
    });

  identity
    .command('of')
    .description('print the identity of a certificate (PEM) or a KES API key')
    .argument('<cert-or-api-key>')
    .action((arg: string) => {
      const id = arg.startsWith('kes:v1:') ? parseAPIKey(arg).identity : identityOf(arg);
      process.stdout.write(process.stdout.isTTY ? `Identity: ${id}\n` : `${id}\n`);
    });

  return identity;
}

function identityOf(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read '${file}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  try {
    return identityOfCertificate(pem);
  } catch (err) {
    throw new Error(`'${file}' does not contain a PEM certificate`, { cause: err });
  }
}
