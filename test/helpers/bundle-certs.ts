/**
 * Certificate bundles for tests: a root and an intermediate CA, and leaves of
 * every key type issued under them, made fresh per test file.
 */
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createCA, createCertificate, issueCertificate, privateKeyToPem, type CertificateOptions, type IssuedCertificate } from '../../src/pki/index.js';
import type { KeyType } from '../../src/pki/keys.js';

export interface TestBundle {
  /** Leaf, then intermediate (not the root). */
  chainPem: string;
  keyPem: string;
  leaf: IssuedCertificate;
}

const DAY = 86_400_000;

export class BundleCerts {
  readonly root = createCA('bundle test root');
  readonly intermediate = issueCertificate(this.root, { commonName: 'bundle test intermediate', isCA: true });

  /** A leaf under the intermediate, with its chain (leaf + intermediate). */
  bundle(options: Partial<CertificateOptions> & { keyType?: KeyType } = {}): TestBundle {
    const leaf = issueCertificate(this.intermediate, { commonName: options.dnsNames?.[0] ?? 'leaf.example.com', ...options });
    return { chainPem: leaf.certPem + this.intermediate.certPem, keyPem: leaf.keyPem, leaf };
  }

  /** A leaf valid until `days` from now (negative: already expired). */
  expiringIn(days: number, options: Partial<CertificateOptions> = {}): TestBundle {
    const notAfter = new Date(Date.now() + days * DAY);
    return this.bundle({ ...options, notAfter, notBefore: new Date(notAfter.getTime() - 365 * DAY) });
  }

  /** A leaf for a key pki cannot make (RSA-1024, P-521, Ed448…), signed by the intermediate. */
  withKey(privateKey: KeyObject, commonName = 'odd.example.com'): TestBundle {
    const certPem = createCertificate(privateKey, { commonName }, { privateKey: this.intermediate.key, certificate: this.intermediate.cert });
    const keyPem = privateKeyToPem(privateKey);
    return { chainPem: certPem + this.intermediate.certPem, keyPem, leaf: { key: privateKey, keyPem, certPem, cert: new X509Certificate(certPem) } };
  }
}

export const rsa1024 = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
export const p521 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
export const ed448 = (): KeyObject => generateKeyPairSync('ed448').privateKey;

/** Every base64 body line of a PEM text: what a log must never contain. */
export function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
}
