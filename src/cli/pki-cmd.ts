/**
 * `keygate pki …`: short-lived certificates. sign, issue and revoke authenticate with
 * the client certificate or, for a node, its node token (`--token` or KEYGATE_TOKEN);
 * ca and crl are public; ls is policy-checked. Flags and exit codes as `keygate key`.
 */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { action, client, enc, out, withConnection, type ConnectionFlags } from './connection.js';
import { readPem } from '../client/https.js';

interface PkiFlags extends ConnectionFlags {
  ttl?: string;
  out?: string;
  keyOut?: string;
  alt?: string[];
  keyType?: string;
  issuer?: string;
  pem?: boolean;
}

interface Issued {
  certificate: string;
  chain: string[];
  serial: string;
  not_after: string;
  private_key?: string;
}

function withToken(cmd: Command): Command {
  return cmd.addOption(new Option('--token <token>', 'a node token instead of the client certificate').env('KEYGATE_TOKEN'));
}

const flagsOf = (f: ConnectionFlags) => f as PkiFlags;
/** With a token, the call is the node's: no client certificate goes with it (the admin's in the environment would win). */
function connect(f: ConnectionFlags) {
  if (f.token === undefined) return client(f);
  const { cert: _cert, key: _key, ...rest } = f;
  return client(rest, true);
}

const readText = (what: string, path: string): string => readPem(what, path).toString('utf8');

/** The certificate then its chain to `--out` (and the key to `--key-out`, 0600), or all of it to stdout. */
function deliver(f: PkiFlags, r: Issued): void {
  if (f.json) return out(JSON.stringify(r));
  const pem = [r.certificate, ...r.chain].join('');
  if (f.out === undefined) {
    process.stdout.write(pem + (r.private_key ?? ''));
    return;
  }
  if (r.private_key !== undefined) writeFileSync(f.keyOut as string, r.private_key, { mode: 0o600 });
  writeFileSync(f.out, pem, { mode: 0o644 });
  out(`serial ${r.serial}, valid until ${r.not_after}`);
}

/** GET of a public route without a credential, the body as bytes (the CRL is DER). */
async function getPublic(f: PkiFlags, path: string): Promise<Buffer> {
  const { cert: _cert, key: _key, token: _token, ...rest } = f;
  return (await client(rest, true).request('GET', path)).body;
}

const issuerQuery = (f: PkiFlags, more = ''): string => {
  const q = [f.issuer !== undefined ? `issuer=${enc(f.issuer)}` : '', more].filter(Boolean).join('&');
  return q === '' ? '' : `?${q}`;
};

export function pkiCommand(): Command {
  const pki = new Command('pki').description('short-lived certificates: sign CSRs, issue, revoke; the CA and the CRL');
  addIssuing(pki);
  addReading(pki);
  return pki;
}

/** sign, issue, revoke: what a caller's credential is needed for. */
function addIssuing(pki: Command): void {
  withConnection(
    withToken(
      pki
        .command('sign')
        .argument('<role>')
        .argument('<csr-file>', 'PEM certificate request (the key stays with you)')
        .option('--ttl <duration>', "lifetime, e.g. 1h (default: the role's)")
        .option('--out <file>', 'write the certificate and its chain here instead of stdout')
        .description('have a CSR signed under a role'),
    ),
  ).action(
    action(async (f, role, csrFile) => {
      const flags = flagsOf(f);
      const body = { csr: readText('CSR', csrFile ?? ''), ...(flags.ttl !== undefined ? { ttl: flags.ttl } : {}) };
      deliver(flags, (await connect(f).call('PUT', `/v1/pki/sign/${enc(role ?? '')}`, body)) as Issued);
    }),
  );

  withConnection(
    withToken(
      pki
        .command('issue')
        .argument('<role>')
        .argument('<common-name>')
        .option('--alt <name>', 'another DNS name or IP address (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
        .option('--ttl <duration>', "lifetime, e.g. 1h (default: the role's)")
        .option('--key-type <type>', 'ed25519, ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096')
        .option('--out <file>', 'write the certificate and its chain here (needs --key-out)')
        .option('--key-out <file>', 'write the private key here (0600)')
        .description('issue a certificate with a key made on the server (returned once, never stored)'),
    ),
  ).action(
    action(async (f, role, commonName) => {
      const flags = flagsOf(f);
      if ((flags.out === undefined) !== (flags.keyOut === undefined)) throw new Error('--out and --key-out go together');
      const body = {
        common_name: commonName,
        ...(flags.alt !== undefined ? { alt_names: flags.alt } : {}),
        ...(flags.ttl !== undefined ? { ttl: flags.ttl } : {}),
        ...(flags.keyType !== undefined ? { key_type: flags.keyType } : {}),
      };
      deliver(flags, (await connect(f).call('PUT', `/v1/pki/issue/${enc(role ?? '')}`, body)) as Issued);
    }),
  );

  withConnection(withToken(pki.command('revoke').argument('<serial>').description('revoke a certificate you were issued (the admin: any)'))).action(
    action(async (f, serial) => {
      const r = (await connect(f).call('PUT', '/v1/pki/revoke', { serial })) as { serial: string; revoked_at: string };
      out(f.json ? JSON.stringify(r) : `revoked ${r.serial}`);
    }),
  );
}

/** ca, crl (public) and ls. */
function addReading(pki: Command): void {
  withConnection(
    pki.command('ca').option('--issuer <name>', 'an issuer other than the default').description("print the issuing CA's certificate and chain (PEM)"),
  ).action(
    action(async (f) => {
      process.stdout.write(await getPublic(flagsOf(f), `/v1/pki/ca${issuerQuery(flagsOf(f))}`));
    }),
  );

  withConnection(
    pki
      .command('crl')
      .option('--issuer <name>', 'an issuer other than the default')
      .option('--pem', 'PEM instead of DER')
      .description('print the certificate revocation list (DER, or PEM)'),
  ).action(
    action(async (f) => {
      const flags = flagsOf(f);
      process.stdout.write(await getPublic(flags, `/v1/pki/crl${issuerQuery(flags, flags.pem ? 'format=pem' : '')}`));
    }),
  );

  withConnection(pki.command('ls').argument('[serial-prefix]').description('certificates issued and not yet expired')).action(
    action(async (f, prefix) => {
      const r = (await client(f).call('GET', `/v1/pki/certs/${enc(prefix ?? '')}`)) as {
        certificates: Array<{ serial: string; role: string; names: string[]; caller: string; not_after: string; revoked_at: string | null }>;
      };
      if (f.json) return out(JSON.stringify(r));
      const rows = r.certificates.map((c) => [
        c.serial,
        c.role,
        c.names.join(','),
        c.caller.length > 20 ? `${c.caller.slice(0, 17)}...` : c.caller,
        c.not_after,
        c.revoked_at ?? '-',
      ]);
      const header = ['SERIAL', 'ROLE', 'NAMES', 'CALLER', 'NOT AFTER', 'REVOKED'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
      for (const row of [header, ...rows])
        out(
          row
            .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] as number) + 2)))
            .join('')
            .trimEnd(),
        );
    }),
  );
}
