/**
 * Throwaway certificates for tests: one CA per test file, a server certificate
 * for the loopback names, and client certificates made on demand.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, issueCertificate, type IssuedCertificate, type CertificateOptions, type KeyType } from '../../src/pki/index.js';
import { identityOfCertificate } from '../../src/auth/identity.js';

export interface TestClient extends IssuedCertificate {
  identity: string;
  certFile: string;
  keyFile: string;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'keygate-test-'));
  readonly ca = createCA('keygate test CA');
  readonly caFile = this.file('ca.crt', this.ca.certPem);
  readonly server = issueCertificate(this.ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    extKeyUsage: ['serverAuth'],
  });
  readonly serverCertFile = this.file('server.crt', this.server.certPem);
  readonly serverKeyFile = this.file('server.key', this.server.keyPem);
  private count = 0;

  /** A client certificate signed by this CA (or self-signed with `selfSigned`). */
  client(options: Partial<CertificateOptions> & { selfSigned?: boolean; keyType?: KeyType } = {}): TestClient {
    const name = `client-${++this.count}`;
    const issued = issueCertificate(options.selfSigned ? null : this.ca, {
      commonName: name,
      extKeyUsage: ['clientAuth'],
      ...options,
    });
    return {
      ...issued,
      identity: identityOfCertificate(issued.certPem),
      certFile: this.file(`${name}.crt`, issued.certPem),
      keyFile: this.file(`${name}.key`, issued.keyPem),
    };
  }

  file(name: string, content: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }
}
