/**
 * Development certificates: a throwaway CA, a server certificate for the
 * loopback names, and client certificates for an admin and an application.
 * Used by `make run` (persistent, in certs/) and `keygate server --dev` (temporary).
 */
import { existsSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCA, issueCertificate, type IssuedCertificate } from '../pki/index.js';
import { identityOfCertificate } from '../auth/identity.js';
import { mkdirAllSync } from '../files/mkdir-all.js';

export interface DevCertificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  appCert: string;
  appKey: string;
  adminIdentity: string;
  appIdentity: string;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

function write(dir: string, name: string, issued: IssuedCertificate): void {
  writeFileSync(join(dir, `${name}.key`), issued.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.crt`), issued.certPem, { mode: 0o644 });
}

/** Creates any missing certificate in `dir` (never overwrites) and returns the paths and identities. */
export function ensureDevCertificates(dir: string): DevCertificates {
  mkdirAll(resolve(dir), 0o700);
  chmodSync(dir, 0o700);
  const paths = {
    dir,
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    appCert: join(dir, 'app.crt'),
    appKey: join(dir, 'app.key'),
  };
  const complete = Object.values(paths).every((p) => p === dir || existsSync(p));
  if (!complete) {
    const notAfter = new Date(Date.now() + YEAR_MS);
    const ca = createCA('keygate development CA', { notAfter });
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    writeFileSync(paths.ca, ca.certPem, { mode: 0o644 });
    write(
      dir,
      'server',
      issueCertificate(ca, {
        commonName: 'localhost',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1', '::1'],
        extKeyUsage: ['serverAuth'],
        notAfter,
      }),
    );
    write(dir, 'admin', issueCertificate(ca, { commonName: 'admin', extKeyUsage: ['clientAuth'], notAfter }));
    write(dir, 'app', issueCertificate(ca, { commonName: 'app', extKeyUsage: ['clientAuth'], notAfter }));
  }
  return {
    ...paths,
    adminIdentity: identityOfCertificate(readFileSync(paths.adminCert, 'utf8')),
    appIdentity: identityOfCertificate(readFileSync(paths.appCert, 'utf8')),
  };
}

/** `mkdir -p` that fails at once, naming the folder and the errno (see files/mkdir-all.ts). */
function mkdirAll(path: string, mode: number): void {
  try {
    mkdirAllSync(path, mode);
  } catch (err) {
    // Node's error names the level that failed, which says more than the folder asked for.
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot create '${e.path ?? path}' (${e.code ?? 'error'})`, { cause: err });
  }
}

/** Where the operator's dashboard is, and how to get in (printed at start-up, e.g. by `make run`). */
export function dashboardLine(url: string, adminLogin: string | undefined): string {
  const how = adminLogin ? `client certificate, or the RKS admin login '${adminLogin}'` : 'client certificate (no rks.admin login configured)';
  return `${url.replace('//127.0.0.1:', '//localhost:')}/ui/ (${how})`;
}

/** The curl command a new user can paste to talk to the server as admin. */
export function curlExample(url: string, certs: { ca: string; adminCert: string; adminKey: string }): string {
  return `curl --cacert ${certs.ca} --cert ${certs.adminCert} --key ${certs.adminKey} -X PUT ${url}/v1/key/create/my-key`;
}

/**
 * `--dev`'s certificate issuer: a built-in CA made on first use, and role `dev` for names
 * under dev.test, server and client usage, at most 24 h. The admin may use it (any role).
 */
export const DEV_PKI = {
  issuers: { dev: { builtin: { common_name: 'keygate dev CA', key_type: 'ecdsa-p256' } } },
  roles: {
    dev: { issuer: 'dev', allowed_names: ['dev.test', '*.dev.test'], usage: ['server', 'client'], ttl: '1h', max_ttl: '24h', allow_ip_sans: true },
  },
};
