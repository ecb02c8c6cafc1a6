/** Bundle validation: what is accepted, and every refusal with its message. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadRequestError } from '../../errors.js';
import { BUNDLE_LIMITS, CA_LEAF_REFUSED, validateBundle } from './validate.js';
import { parsePem, toPem } from '../../pki/pem.js';
import { issueCertificate } from '../../pki/index.js';
import { BundleCerts, ed448, p521, rsa1024 } from '../../../test/helpers/bundle-certs.js';

const certs = new BundleCerts();
const now = new Date();
const good = certs.bundle({ dnsNames: ['www.example.com', '*.example.com'], ipAddresses: ['192.0.2.1', '2001:db8::1'] });

function refusal(chain: string, key: string, options: { allowExpired?: boolean } = {}): string {
  try {
    validateBundle(chain, key, { now, ...options });
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('accepted bundles', () => {
  it.each(['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const)('a %s leaf with its chain', (keyType) => {
    const b = certs.bundle({ keyType, dnsNames: ['a.example.com'] });
    const v = validateBundle(b.chainPem, b.keyPem, { now });
    const expected = {
      ed25519: ['Ed25519', 256],
      'ecdsa-p256': ['ECDSA', 256],
      'ecdsa-p384': ['ECDSA', 384],
      'rsa-2048': ['RSA', 2048],
      'rsa-3072': ['RSA', 3072],
      'rsa-4096': ['RSA', 4096],
    }[keyType];
    expect([v.keyType, v.keySize]).toEqual(expected);
    expect(v.sans.dns).toEqual(['a.example.com']);
    expect(v.notAfter.getTime()).toBe(new Date(b.leaf.cert.validTo).getTime());
  });

  it('reads DNS and IP SANs, and re-encodes the chain without surrounding text', () => {
    const v = validateBundle(`subject=CN = www\n${good.chainPem}\ntrailing notes\n`, good.keyPem, { now });
    expect(v.sans.dns).toEqual(['www.example.com', '*.example.com']);
    expect(v.sans.ip.map((b) => b.toString('hex'))).toEqual(['c0000201', '20010db8000000000000000000000001']);
    expect(v.chainPem).toBe(good.chainPem);
  });

  it('accepts PKCS#1 and SEC1 keys and keeps their encoding', () => {
    const rsa = certs.bundle({ keyType: 'rsa-2048' });
    const pkcs1 = rsa.leaf.key.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(validateBundle(rsa.chainPem, pkcs1, { now }).keyPem).toBe(pkcs1);
    const ec = certs.bundle({ keyType: 'ecdsa-p384' });
    const sec1 = ec.leaf.key.export({ type: 'sec1', format: 'pem' }).toString();
    expect(validateBundle(ec.chainPem, sec1, { now }).keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    // `openssl ecparam -genkey` puts an EC PARAMETERS block first.
    const params = '-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n';
    expect(validateBundle(ec.chainPem, params + sec1, { now }).keyType).toBe('ECDSA');
  });

  it('accepts CRLF line endings and a full chain up to the root', () => {
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    expect(validateBundle(crlf(good.chainPem + certs.root.certPem), crlf(good.keyPem), { now }).leaf.subject).toBe('CN=www.example.com');
  });

  it('accepts an expired leaf only when allowed', () => {
    const old = certs.expiringIn(-1);
    expect(refusal(old.chainPem, old.keyPem)).toMatch(/^certificate: the leaf certificate expired on \d{4}-.*Z \(set allow_expired to import it anyway\)$/);
    expect(validateBundle(old.chainPem, old.keyPem, { now, allowExpired: true }).notAfter.getTime()).toBeLessThan(now.getTime());
  });
});

describe('refusals', () => {
  it('garbage, truncated and malformed PEM, naming the field and the block', () => {
    expect(refusal('hello', good.keyPem)).toBe('certificate: no PEM block found');
    expect(refusal(good.chainPem.slice(0, good.chainPem.length - 40), good.keyPem)).toBe('certificate: PEM block 2 is truncated (no END line)');
    const cut = good.keyPem.split('\n').slice(0, 3).join('\n');
    expect(refusal(good.chainPem, cut)).toBe('private_key: PEM block 1 is truncated (no END line)');
    expect(refusal(good.chainPem.replace(/^(-----BEGIN CERTIFICATE-----\n)./, '$1*'), good.keyPem)).toBe('certificate: PEM block 1 is not valid base64');
    expect(refusal(good.chainPem.replace('-----END CERTIFICATE-----', '-----END X509 CRL-----'), good.keyPem)).toBe(
      "certificate: PEM block 1 begins with 'CERTIFICATE' but ends with 'X509 CRL'",
    );
    const notDer = toPem('CERTIFICATE', Buffer.from('not a certificate at all'));
    expect(refusal(good.leaf.certPem + notDer, good.keyPem)).toBe('certificate: PEM block 2 is not a valid X.509 certificate');
    expect(refusal(good.chainPem, toPem('PRIVATE KEY', Buffer.from('junk junk junk')))).toBe('private_key: PEM block 1 is not a valid private key');
  });

  it('blocks of the wrong kind in either field', () => {
    expect(refusal(good.keyPem, good.keyPem)).toBe("certificate: PEM block 1 is a 'PRIVATE KEY', not a 'CERTIFICATE'");
    expect(refusal(good.chainPem, good.leaf.certPem)).toBe(
      "private_key: PEM block 1 is a 'CERTIFICATE', not a 'PRIVATE KEY', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY'",
    );
    expect(refusal(good.chainPem, good.keyPem + good.keyPem)).toBe('private_key: expected exactly one PEM block, found 2');
    const encrypted = good.leaf.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    expect(refusal(good.chainPem, encrypted)).toBe('private_key: encrypted private keys are not accepted; import the key unencrypted');
    const legacy = certs.bundle({ keyType: 'rsa-2048' });
    const legacyEncrypted = legacy.leaf.key.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    expect(refusal(legacy.chainPem, legacyEncrypted)).toBe('private_key: encrypted private keys are not accepted; import the key unencrypted');
  });

  it('a key that does not match the leaf', () => {
    const other = certs.bundle();
    expect(refusal(good.chainPem, other.keyPem)).toBe('private_key: does not match the leaf certificate (the first of the chain)');
  });

  it('a misordered chain, and an issuer that did not issue', () => {
    const reversed = certs.intermediate.certPem + good.leaf.certPem;
    expect(refusal(reversed, good.keyPem)).toBe('private_key: does not match the leaf certificate (the first of the chain)');
    expect(refusal(good.leaf.certPem + certs.root.certPem + certs.intermediate.certPem, good.keyPem)).toBe(
      'certificate: certificate 2 did not issue certificate 1; the chain must be ordered leaf first, then each issuer',
    );
    const stranger = new BundleCerts();
    expect(refusal(good.chainPem + stranger.root.certPem, good.keyPem)).toBe(
      'certificate: certificate 3 did not issue certificate 2; the chain must be ordered leaf first, then each issuer',
    );
  });

  it('expired intermediates, not-yet-valid and absurdly long-lived leaves', () => {
    const lapsed = issueUnder(certs, { notAfter: new Date(now.getTime() - 86_400_000) });
    expect(refusal(lapsed.chainPem, lapsed.keyPem)).toMatch(/^certificate: certificate 2 of the chain expired on .*\(set allow_expired to import it anyway\)$/);
    const future = certs.bundle({ notBefore: new Date(now.getTime() + 3_600_000) });
    expect(refusal(future.chainPem, future.keyPem)).toMatch(/^certificate: the leaf certificate is not valid before \d{4}-/);
    const forever = certs.bundle({ notAfter: new Date('9999-12-31T23:59:59Z') });
    expect(refusal(forever.chainPem, forever.keyPem)).toMatch(
      /^certificate: the leaf certificate is valid from .* to 9999-12-31T23:59:59.000Z, longer than 100 years: refused as a mistake$/,
    );
  });

  it('unsupported key types, naming them', () => {
    for (const [key, name] of [
      [rsa1024(), 'RSA 1024 bits'],
      [p521(), 'ECDSA P-521'],
      [ed448(), 'Ed448'],
    ] as const) {
      const b = certs.withKey(key);
      expect(refusal(b.chainPem, b.keyPem)).toBe(`private_key: unsupported key type ${name} (supported: RSA 2048–4096 bits, ECDSA P-256/P-384, Ed25519)`);
    }
  });

  it('too many certificates, too large fields', () => {
    const eleven = good.leaf.certPem + certs.intermediate.certPem.repeat(BUNDLE_LIMITS.chainCertificates);
    expect(refusal(eleven, good.keyPem)).toBe('certificate: the chain has 11 certificates, at most 10 are accepted');
    expect(refusal(good.chainPem + ' '.repeat(BUNDLE_LIMITS.chainBytes), good.keyPem)).toBe('certificate: larger than 262144 bytes');
    expect(refusal(good.chainPem, good.keyPem + '\n'.repeat(BUNDLE_LIMITS.keyBytes))).toBe('private_key: larger than 16384 bytes');
  });

  it('too many subject alternative names', () => {
    const many = certs.bundle({ dnsNames: Array.from({ length: BUNDLE_LIMITS.subjectAltNames + 1 }, (_, i) => `h${i}.example.com`) });
    expect(refusal(many.chainPem, many.keyPem)).toBe('certificate: the leaf certificate has more than 500 subject alternative names');
  });
});

describe('PEM files made by OpenSSL', () => {
  const openssl = (() => {
    try {
      execFileSync('openssl', ['version']);
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!openssl)('accepts a PKCS#1 RSA key and refuses a P-521 certificate from openssl req', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keygate-openssl-'));
    // `openssl req -x509` marks its certificate CA:TRUE unless told otherwise (see below).
    const req = (keyArgs: string[], name: string, ca = false) => {
      const notCA = ca ? [] : ['-addext', 'basicConstraints=critical,CA:FALSE'];
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          ...keyArgs,
          ...notCA,
          '-nodes',
          '-keyout',
          join(dir, `${name}.key`),
          '-out',
          join(dir, `${name}.crt`),
          '-days',
          '30',
          '-subj',
          `/CN=${name}.example.com`,
        ],
        { stdio: 'ignore' },
      );
      return [readFileSync(join(dir, `${name}.crt`), 'utf8'), readFileSync(join(dir, `${name}.key`), 'utf8')] as const;
    };
    const [caCert, caKey] = req(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'default', true);
    expect(refusal(caCert, caKey)).toBe(CA_LEAF_REFUSED);
    expect(validateBundle(caCert, caKey, { now, allowCaLeaf: true }).keyType).toBe('ECDSA');
    const [rsaCert, rsaKey] = req(['-newkey', 'rsa:2048'], 'rsa');
    const pkcs1 = execFileSync('openssl', ['rsa', '-in', join(dir, 'rsa.key'), '-traditional'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(pkcs1).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(validateBundle(rsaCert, rsaKey, { now }).keySize).toBe(2048);
    expect(validateBundle(rsaCert, pkcs1, { now }).keyPem).toBe(pkcs1);
    const [ecCert, ecKey] = req(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], 'p521');
    expect(refusal(ecCert, ecKey)).toMatch(/^private_key: unsupported key type ECDSA P-521 /);
  });
});

describe('parsePem', () => {
  it('reads RFC 1421 headers and ignores text between blocks', () => {
    const [block] = parsePem('junk\n-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END X-----\nmore junk');
    expect(block?.headers.get('proc-type')).toBe('4,ENCRYPTED');
    expect(block?.der).toEqual(Buffer.alloc(3));
  });
});

/** A leaf under an intermediate of `c`'s root that expired at `notAfter`. */
function issueUnder(c: BundleCerts, { notAfter }: { notAfter: Date }) {
  const mid = issueCertificate(c.root, { commonName: 'lapsed intermediate', isCA: true, notAfter, notBefore: new Date(notAfter.getTime() - 30 * 86_400_000) });
  // The leaf outlives its issuer: only the intermediate's expiry is wrong.
  const leaf = issueCertificate(mid, { commonName: 'under-lapsed.example.com', notBefore: new Date(notAfter.getTime() - 86_400_000) });
  return { chainPem: leaf.certPem + mid.certPem, keyPem: leaf.keyPem };
}
