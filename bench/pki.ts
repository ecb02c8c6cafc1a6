/**
 * Certificates for one bench run: a client CA (what keygate's `tls.auth: on`,
 * nginx's `ssl_verify_client on` and the bare node server all verify against),
 * the server certificate, an admin, 1000 client identities (one P-256 key
 * each), and the certificate bundles keygate serves (an RSA-2048 leaf plus its
 * intermediate: a 3–4 KB JSON answer, in the issue's 2–5 KB range).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCA, createCertificate, generateKeyPair, issueCertificate, privateKeyToPem, type IssuedCertificate } from '../src/pki/index.js';
import { identityOfCertificate } from '../src/auth/identity.js';
import type { ClientIdentity } from './loadgen-types.js';

export interface BenchClient extends ClientIdentity {
  identity: string;
}

export interface BenchPKI {
  caPem: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  admin: BenchClient;
  clients: BenchClient[];
  /** A fresh leaf for `name` (DNS SAN = name) under the bundle intermediate: chain PEM (leaf first) and key PEM. */
  bundle(name: string): { chainPem: string; keyPem: string };
}

function client(ca: IssuedCertificate, name: string): BenchClient {
  const issued = issueCertificate(ca, { commonName: name, extKeyUsage: ['clientAuth'] });
  return { certPem: issued.certPem, keyPem: issued.keyPem, identity: identityOfCertificate(issued.certPem) };
}

export function createBenchPKI(dir: string, clients: number): BenchPKI {
  const ca = createCA('keygate bench client CA');
  const server = issueCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], extKeyUsage: ['serverAuth'] });
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };

  // The bundles' own little web PKI; one RSA key is shared by every leaf (key generation is the slow part).
  const root = createCA('keygate bench web root');
  const intermediate = issueCertificate(root, { commonName: 'keygate bench web intermediate', isCA: true });
  const leafKey = generateKeyPair('rsa-2048').privateKey;
  const leafKeyPem = privateKeyToPem(leafKey);
  const issuer = { privateKey: intermediate.key, certificate: intermediate.cert };

  return {
    caPem: ca.certPem,
    caFile: file('client-ca.crt', ca.certPem),
    serverCertFile: file('server.crt', server.certPem),
    serverKeyFile: file('server.key', server.keyPem),
    admin: client(ca, 'bench-admin'),
    clients: Array.from({ length: clients }, (_, i) => client(ca, `bench-client-${i}`)),
    bundle(name) {
      const leaf = createCertificate(leafKey, { commonName: name, dnsNames: [name], extKeyUsage: ['serverAuth'] }, issuer);
      return { chainPem: leaf + intermediate.certPem, keyPem: leafKeyPem };
    },
  };
}
