/**
 * Loads the server's TLS material from the configuration and checks it before
 * the listener exists, so a bad file is one clear start-up line, not a stack trace.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { ServerTls } from '../server/listener.js';
import { readFileOr } from '../files/read.js';

/** Environment variable through which cluster workers receive shared session-ticket keys. */
export const TICKET_KEYS_ENV = 'KEYGATE_TICKET_KEYS';

/** Session-ticket keys shared by all workers (48 bytes), or undefined outside a cluster. */
function sharedTicketKeys(): Buffer | undefined {
  const hex = process.env[TICKET_KEYS_ENV];
  return hex && hex.length === 96 ? Buffer.from(hex, 'hex') : undefined;
}

function readFile(what: string, path: string): Buffer {
  return readFileOr(path, (code) => new ConfigError(`tls: cannot read ${what} '${path}' (${code})`));
}

/** PEM CA certificates from a file, or from every file of a directory. */
export function readCAs(path: string): Buffer[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new ConfigError(`tls: cannot read CA '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const files = isDir
    ? readdirSync(path)
        .filter((f) => !f.startsWith('.'))
        .map((f) => join(path, f))
    : [path];
  const cas = files.map((f) => readFile('CA certificate', f));
  for (const [i, pem] of cas.entries()) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(`tls: '${files[i]}' is not a PEM certificate`);
    }
  }
  return cas;
}

export function loadServerTls(tls: Config['tls']): ServerTls {
  const certPem = readFile('certificate', tls.cert);
  const keyPem = readFile('private key', tls.key);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new ConfigError(`tls: '${tls.cert}' is not a PEM certificate`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.password === undefined ? keyPem : { key: keyPem, passphrase: tls.password });
  } catch {
    throw new ConfigError(
      `tls: cannot parse private key '${tls.key}'${tls.password === undefined ? ' (encrypted keys need tls.password)' : ' (wrong password?)'}`,
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new ConfigError(`tls: private key '${tls.key}' does not match certificate '${tls.cert}'`);
  }
  const options: ServerTls = {
    cert: certPem,
    key: key.export({ type: 'pkcs8', format: 'pem' }),
    minVersion: 'TLSv1.2',
    requestCert: true,
    rejectUnauthorized: tls.auth === 'on',
  };
  if (tls.ca !== undefined) options.ca = readCAs(tls.ca);
  // Resumed sessions skip the full handshake; workers must share the keys for that to work across them.
  const ticketKeys = sharedTicketKeys();
  if (ticketKeys) options.ticketKeys = ticketKeys;
  return options;
}
