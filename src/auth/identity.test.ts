import { createHash, createPublicKey, sign, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdentityError, identityOfCertificate, identityOfChain, isHexIdentity, parseAPIKey } from './identity.js';

interface CertVector {
  name: string;
  pem: string;
  is_ca: boolean;
  spki_der: string;
  identity: string;
}
interface ApiKeyVector {
  api_key: string;
  valid: boolean;
  seed_hex?: string;
  public_key_hex?: string;
  identity?: string;
  reason?: string;
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/kes/identity.json', import.meta.url), 'utf8')) as {
  ed25519_spki_prefix_hex: string;
  certificates: CertVector[];
  api_keys: ApiKeyVector[];
};

/**
 * Certificates made with openssl 3.0 for the cases the vectors lack. Expected
 * identities were computed outside this code base (a separate DER walk in
 * Python over the certificate bytes, cross-checked with
 * `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`
 * wherever OpenSSL can load the key).
 */
const FIXTURES = {
  /** self-signed CA: CA:TRUE, keyUsage keyCertSign+cRLSign */
  CA: {
    identity: '490134978bbf5e99215f94f14301e2a57100003d21e2c12a9e06fdcbfb9f0409',
    pem: `-----BEGIN CERTIFICATE-----
MIIBSjCB/aADAgECAhQzgHrHOlg2vNJyVISnNomgv2bdXzAFBgMrZXAwEjEQMA4G
A1UEAwwHdGVzdC1jYTAgFw0yNjExMjMxMzU0MDhaGA8yMTI2MTAzMDEzNTQwOFow
EjEQMA4GA1UEAwwHdGVzdC1jYTAqMAUGAytlcAMhAJQML0HXHYbWKy7yYV/kpJGf
pLzX92MFJWsgSEkrVi86o2MwYTAdBgNVHQ4EFgQUVhMa9xMqs7dBVVAOhvITk7Pz
KVswHwYDVR0jBBgwFoAUVhMa9xMqs7dBVVAOhvITk7PzKVswDwYDVR0TAQH/BAUw
AwEB/zAOBgNVHQ8BAf8EBAMCAQYwBQYDK2VwA0EAggjkQij/rIDrI6ZfF5Z4AsXB
88VgYa6J5IMTHGsU04thWrrv/AehDC34lcrcxKOHdEN2SjtQb5qXdJMw2aYKDQ==
-----END CERTIFICATE-----\n`,
  },
  /** same key as CA; CA:TRUE with pathLenConstraint 0 */
  CA_PATHLEN: {
    identity: '490134978bbf5e99215f94f14301e2a57100003d21e2c12a9e06fdcbfb9f0409',
    pem: `-----BEGIN CERTIFICATE-----
MIIBXjCCARCgAwIBAgIUQ2eEMpB4cN2J9WEPNhll9SBjfdgwBQYDK2VwMBoxGDAW
BgNVBAMMD3Rlc3QtY2EtcGF0aGxlbjAgFw0yNjExMjMxMzU5MDBaGA8yMTI2MTAz
MDEzNTkwMFowGjEYMBYGA1UEAwwPdGVzdC1jYS1wYXRobGVuMCowBQYDK2VwAyEA
lAwvQdcdhtYrLvJhX+SkkZ+kvNf3YwUlayBISStWLzqjZjBkMB0GA1UdDgQWBBRW
Exr3Eyqzt0FVUA6G8hOTs/MpWzAfBgNVHSMEGDAWgBRWExr3Eyqzt0FVUA6G8hOT
s/MpWzASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwICBDAFBgMrZXAD
QQDz4NkfhfqVaZfqKMuWgfhOdSnrqlvXtBdpKk+YeLRNCjlGUydLAbsitdVewqjG
Se01W6qUmejetfcJw/u18dUF
-----END CERTIFICATE-----\n`,
  },
  /** client certificate issued by CA: CA:FALSE, EKU clientAuth */
  LEAF: {
    identity: '1339f98149bcf5ed5daf52651f7542c0e526548d894c0007c193f02c10b62aab',
    pem: `-----BEGIN CERTIFICATE-----
MIIBSTCB/KADAgECAhRC7agTbmsjDF36psW9NlivUc7eYzAFBgMrZXAwEjEQMA4G
A1UEAwwHdGVzdC1jYTAgFw0yNjExMjMxMzU0MDhaGA8yMTI2MTAzMDEzNTQwOFow
DzENMAsGA1UEAwwEbGVhZjAqMAUGAytlcAMhAOtAr8byHDqqBJmjEpMXwKKD8cac
LX5BhDEc4QKdMKXzo2UwYzAMBgNVHRMBAf8EAjAAMBMGA1UdJQQMMAoGCCsGAQUF
BwMCMB0GA1UdDgQWBBTT8AWCSjKwV2w2Lmvi3qhWk7u1PDAfBgNVHSMEGDAWgBRW
Exr3Eyqzt0FVUA6G8hOTs/MpWzAFBgMrZXADQQDAx/fAsWCj0NN/1ui6YW+218Ah
JnPL+UNa879jaCsqAsN3gfujJVJFsuiLfJjRLDaSczdkjlBvVsme9MvD94wF
-----END CERTIFICATE-----\n`,
  },
  /** a second client certificate issued by CA */
  LEAF2: {
    identity: '1e14b73ab3471f90ee102522ad7920cb02454350b3acd402fa94424125cc4e48',
    pem: `-----BEGIN CERTIFICATE-----
MIIBSjCB/aADAgECAhRC7agTbmsjDF36psW9NlivUc7eZDAFBgMrZXAwEjEQMA4G
A1UEAwwHdGVzdC1jYTAgFw0yNjExMjMxMzU0MDhaGA8yMTI2MTAzMDEzNTQwOFow
EDEOMAwGA1UEAwwFbGVhZjIwKjAFBgMrZXADIQChFsnM2o+oKrPu8ZUB7Z2Wy2vW
oef6SSEN57ZRdh6LXKNlMGMwDAYDVR0TAQH/BAIwADATBgNVHSUEDDAKBggrBgEF
BQcDAjAdBgNVHQ4EFgQUtow63dwaBlSYCYrLGBYHe0soawgwHwYDVR0jBBgwFoAU
VhMa9xMqs7dBVVAOhvITk7PzKVswBQYDK2VwA0EAEdCrGlFjE92IjZThFH3/9kGk
21Jlbvj3XEffIwgP3Dx3SyaJ4xL5R7IdxSurOTvzujqO3lhfHfG2yntWycopAg==
-----END CERTIFICATE-----\n`,
  },
  /** CA:TRUE but keyUsage digitalSignature only: a CA to Go, not to OpenSSL */
  CA_TRUE_NO_CERTSIGN: {
    identity: '26a30a8ffadbf0418d0f994979b1323abbdc964263e901a7202e5385e2322402',
    pem: `-----BEGIN CERTIFICATE-----
MIIBYzCCARWgAwIBAgIUOnTEm7E51HqnVFFtLBtv5rHvb0kwBQYDK2VwMB4xHDAa
BgNVBAMME2NhLXRydWUtbm8tY2VydHNpZ24wIBcNMjYxMTIzMTM1NDA4WhgPMjEy
NjEwMzAxMzU0MDhaMB4xHDAaBgNVBAMME2NhLXRydWUtbm8tY2VydHNpZ24wKjAF
BgMrZXADIQAJgBmlmWgYwdczX21C64S1Wu8RZD+T/zRZhChncCY3t6NjMGEwHQYD
VR0OBBYEFBVcawP/dVCIeyh4ZNcI1yMywptrMB8GA1UdIwQYMBaAFBVcawP/dVCI
eyh4ZNcI1yMywptrMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgeAMAUG
AytlcANBAJBa5wHy5mDfEy/InoHOgS23BhcqNaZDxTMSmS4H0ynAqlztd5evfMR4
DV6rt0nr3bCSxDUJOWtMydHPlLp8Mgs=
-----END CERTIFICATE-----\n`,
  },
  /** X.509 v1, no extensions at all */
  V1_NO_EXTENSIONS: {
    identity: 'b362b3a45f8dd502ecf2922c8c96c32538c16c38a16c11aa97acc7485b199049',
    pem: `-----BEGIN CERTIFICATE-----
MIHcMIGPAhR1VHvwmQ1Qmw0c7r6vgh2fyV8jFzAFBgMrZXAwEDEOMAwGA1UEAwwF
bm9leHQwIBcNMjYxMTIzMTM1NDA4WhgPMjEyNjEwMzAxMzU0MDhaMBAxDjAMBgNV
BAMMBW5vZXh0MCowBQYDK2VwAyEAUc24fLYV0HBp6AFmJqoMqJUfpwmsw+LMyH7R
ImMw49QwBQYDK2VwA0EApnrIiHsH9l4+JYHSvkdHyOpnIQCdUOiz6CAUzAdDKfbK
2/TPqMpvm5+g1/wXcM6Z+2PU75BzxI3IMHg3wCAACg==
-----END CERTIFICATE-----\n`,
  },
  /** ECDSA P-256 key in compressed point form (59-byte SPKI) */
  EC_COMPRESSED: {
    identity: 'dd8c2a8773930393bfdc1be9b56da677202c05091d9170002cdd4cdd7c35dad7',
    pem: `-----BEGIN CERTIFICATE-----
MIIBZTCCARegAwIBAgIUQu2oE25rIwxd+qbFvTZYr1HO3mUwBQYDK2VwMBIxEDAO
BgNVBAMMB3Rlc3QtY2EwIBcNMjYxMTIzMTM1NDE3WhgPMjEyNjEwMzAxMzU0MTda
MBsxGTAXBgNVBAMMEGNvbXByZXNzZWQtcG9pbnQwOTATBgcqhkjOPQIBBggqhkjO
PQMBBwMiAAILCjK7xoYFrYkAkrLrk6ikbbYt89Oj6ZA1BZkz2GSPO6NlMGMwDAYD
VR0TAQH/BAIwADATBgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQUxVaHXI/8
5DLvKPKd6lLOJUPgRXIwHwYDVR0jBBgwFoAUVhMa9xMqs7dBVVAOhvITk7PzKVsw
BQYDK2VwA0EATAi/Lxm7OK/U4s/QnqLzb7NGmRyEj9GEhQFWU88FUP8HjJUBHRWX
wBo1KbJ3fkLWRz8B4DqgPbH6iUFDOpH3AQ==
-----END CERTIFICATE-----\n`,
  },
  /** LEAF with its key algorithm OID changed to unassigned 1.3.101.127 */
  UNKNOWN_KEY_ALG: {
    identity: '5c95736d3d42073c8a86ff2a90947c05ea287c1eacea6bcf3d1bbb8820504987',
    pem: `-----BEGIN CERTIFICATE-----
MIIBSTCB/KADAgECAhRC7agTbmsjDF36psW9NlivUc7eYzAFBgMrZXAwEjEQMA4G
A1UEAwwHdGVzdC1jYTAgFw0yNjExMjMxMzU0MDhaGA8yMTI2MTAzMDEzNTQwOFow
DzENMAsGA1UEAwwEbGVhZjAqMAUGAytlfwMhAOtAr8byHDqqBJmjEpMXwKKD8cac
LX5BhDEc4QKdMKXzo2UwYzAMBgNVHRMBAf8EAjAAMBMGA1UdJQQMMAoGCCsGAQUF
BwMCMB0GA1UdDgQWBBTT8AWCSjKwV2w2Lmvi3qhWk7u1PDAfBgNVHSMEGDAWgBRW
Exr3Eyqzt0FVUA6G8hOTs/MpWzAFBgMrZXADQQDAx/fAsWCj0NN/1ui6YW+218Ah
JnPL+UNa879jaCsqAsN3gfujJVJFsuiLfJjRLDaSczdkjlBvVsme9MvD94wF
-----END CERTIFICATE-----\n`,
  },
} as const;

const der = (pem: string): Buffer => new X509Certificate(pem).raw;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an exception');
}

describe('identity.json certificates', () => {
  it.each(vectors.certificates.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    // The vector is self-consistent: its identity hashes its SPKI bytes.
    expect(sha256(Buffer.from(c.spki_der, 'base64'))).toBe(c.identity);

    const x = new X509Certificate(c.pem);
    expect(identityOfCertificate(c.pem)).toBe(c.identity);
    expect(identityOfCertificate(x)).toBe(c.identity);
    expect(identityOfCertificate(x.raw)).toBe(c.identity);
    expect(identityOfCertificate(Buffer.from(c.pem))).toBe(c.identity);
    expect(isHexIdentity(c.identity)).toBe(true);

    expect(c.is_ca).toBe(false);
    expect(identityOfChain([x.raw])).toBe(c.identity);
  });

  it('gives root.cert the identity kes.md states', () => {
    const root = vectors.certificates.find((c) => c.name === 'root.cert') as CertVector;
    expect(identityOfCertificate(root.pem)).toBe('3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22');
  });

  it('matches what node re-exports for every vector (so the DER walk is the same bytes)', () => {
    for (const c of vectors.certificates) {
      const spki = new X509Certificate(c.pem).publicKey.export({ type: 'spki', format: 'der' });
      expect(spki.toString('base64')).toBe(c.spki_der);
    }
  });
});

describe('identityOfCertificate', () => {
  it.each(Object.entries(FIXTURES))('%s', (_name, f) => {
    expect(identityOfCertificate(f.pem)).toBe(f.identity);
    expect(identityOfCertificate(der(f.pem))).toBe(f.identity);
  });

  it('hashes the SPKI as encoded, even for key types node cannot load', () => {
    const x = new X509Certificate(FIXTURES.UNKNOWN_KEY_ALG.pem);
    expect(() => x.publicKey).toThrow();
    expect(identityOfCertificate(x)).toBe(FIXTURES.UNKNOWN_KEY_ALG.identity);
    expect(identityOfCertificate(FIXTURES.UNKNOWN_KEY_ALG.pem)).not.toBe(FIXTURES.LEAF.identity);
  });

  it('keeps a compressed EC point compressed', () => {
    const x = new X509Certificate(FIXTURES.EC_COMPRESSED.pem);
    expect(identityOfCertificate(x)).toBe(FIXTURES.EC_COMPRESSED.identity);
    expect(x.publicKey.export({ type: 'spki', format: 'der' }).length).toBe(59);
  });

  it('ignores everything but the key: same key, different certificate, same identity', () => {
    expect(FIXTURES.CA.identity).toBe(FIXTURES.CA_PATHLEN.identity);
    expect(identityOfCertificate(FIXTURES.CA.pem)).toBe(identityOfCertificate(FIXTURES.CA_PATHLEN.pem));
  });

  it('uses the first certificate of a PEM bundle and skips other PEM blocks', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs\n-----END PRIVATE KEY-----\n';
    expect(identityOfCertificate(FIXTURES.LEAF.pem + FIXTURES.CA.pem)).toBe(FIXTURES.LEAF.identity);
    expect(identityOfCertificate(key + FIXTURES.CA.pem)).toBe(FIXTURES.CA.identity);
  });

  it.each<[string, () => string | Buffer]>([
    ['an empty string', () => ''],
    ['text that is not PEM', () => 'hello'],
    ['a PEM private key', () => '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs\n-----END PRIVATE KEY-----\n'],
    ['an empty buffer', () => Buffer.alloc(0)],
    ['random bytes', () => Buffer.from('3003020100', 'hex')],
    ['DER with trailing bytes', () => Buffer.concat([der(FIXTURES.LEAF.pem), Buffer.from([0])])],
    ['truncated DER', () => der(FIXTURES.LEAF.pem).subarray(0, 100)],
  ])('rejects %s with IdentityError', (_what, input) => {
    expect(thrown(() => identityOfCertificate(input()))).toBeInstanceOf(IdentityError);
  });
});

describe('identityOfChain', () => {
  const { CA, CA_PATHLEN, LEAF, LEAF2, CA_TRUE_NO_CERTSIGN, V1_NO_EXTENSIONS } = FIXTURES;
  const chain = (...certs: { pem: string }[]): Buffer[] => certs.map((c) => der(c.pem));

  it.each<[string, Buffer[], string]>([
    ['leaf alone', chain(LEAF), LEAF.identity],
    ['leaf then CA', chain(LEAF, CA), LEAF.identity],
    // Only the first certificate's key is proven by the handshake: whatever follows is ignored.
    ['leaf then another leaf', chain(LEAF, LEAF2), LEAF.identity],
    ['leaf then a v1 certificate', chain(LEAF, V1_NO_EXTENSIONS), LEAF.identity],
    ['v1 certificate (no basicConstraints: not a CA)', chain(V1_NO_EXTENSIONS), V1_NO_EXTENSIONS.identity],
  ])('%s', (_what, certs, identity) => {
    expect(identityOfChain(certs)).toBe(identity);
  });

  it.each<[string, Buffer[], string]>([
    ['an empty chain', [], 'tls: client certificate is required'],
    ['only a CA', chain(CA), 'tls: client certificate is a CA certificate'],
    // KES skips CA certificates here and takes LEAF: a client holding only CA's key would be LEAF.
    ['a CA then a leaf', chain(CA, LEAF), 'tls: client certificate is a CA certificate'],
    ['a leaf between CAs', chain(CA_PATHLEN, LEAF, CA), 'tls: client certificate is a CA certificate'],
    ['CA:TRUE without keyCertSign first', chain(CA_TRUE_NO_CERTSIGN, LEAF), 'tls: client certificate is a CA certificate'],
  ])('rejects %s', (_what, certs, message) => {
    const err = thrown(() => identityOfChain(certs));
    expect(err).toBeInstanceOf(IdentityError);
    expect(err.message).toBe(message);
    expect(err.name).toBe('IdentityError');
  });

  it('decides "CA" from basicConstraints like Go, not like OpenSSL', () => {
    // OpenSSL's X509_check_ca also demands keyCertSign; Go's IsCA does not.
    expect(new X509Certificate(CA_TRUE_NO_CERTSIGN.pem).ca).toBe(false);
    expect(new X509Certificate(CA.pem).ca).toBe(true);
  });

  it('rejects a basicConstraints cA that is not a DER boolean (Go refuses the certificate)', () => {
    const good = der(CA.pem);
    const at = good.indexOf(Buffer.from('30030101ff', 'hex'));
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(good);
    bad[at + 4] = 0x01;
    const err = thrown(() => identityOfChain([bad]));
    expect(err).toBeInstanceOf(IdentityError);
    expect(err.message).toMatch(/^invalid certificate: /);
  });

  it('rejects undecodable DER with IdentityError', () => {
    for (const bad of [Buffer.alloc(0), Buffer.from('300100', 'hex'), Buffer.from('3080', 'hex'), der(LEAF.pem).subarray(1)]) {
      expect(thrown(() => identityOfChain([bad]))).toBeInstanceOf(IdentityError);
    }
  });

  it('never throws anything but IdentityError on arbitrary bytes', () => {
    const base = der(LEAF.pem);
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), (i, b) => {
        const mutated = Buffer.from(base);
        mutated[i] = b;
        let identity: string;
        try {
          identity = identityOfChain([mutated]);
        } catch (err) {
          expect(err).toBeInstanceOf(IdentityError);
          return;
        }
        expect(isHexIdentity(identity)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let identity: string;
        try {
          identity = identityOfChain([Buffer.from(bytes)]);
        } catch (err) {
          expect(err).toBeInstanceOf(IdentityError);
          return;
        }
        expect(isHexIdentity(identity)).toBe(true);
      }),
    );
  });
});

describe('identity.json API keys', () => {
  const prefix = Buffer.from(vectors.ed25519_spki_prefix_hex, 'hex');

  it.each(vectors.api_keys.filter((k) => k.valid).map((k) => [k.api_key, k] as const))('%s', (apiKey, k) => {
    const parsed = parseAPIKey(apiKey);
    expect(parsed.identity).toBe(k.identity);
    expect(isHexIdentity(parsed.identity)).toBe(true);

    const pub = Buffer.from(parsed.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    expect(pub.toString('hex')).toBe(k.public_key_hex);
    const seed = Buffer.from(parsed.privateKey.export({ format: 'jwk' }).d as string, 'base64url');
    expect(seed.toString('hex')).toBe(k.seed_hex);
    expect(parsed.privateKey.type).toBe('private');
    expect(parsed.publicKey.type).toBe('public');
    expect(parsed.privateKey.asymmetricKeyType).toBe('ed25519');

    // The identity is that of the Ed25519 SPKI, i.e. of any certificate for the key.
    expect(parsed.publicKey.export({ type: 'spki', format: 'der' })).toEqual(Buffer.concat([prefix, pub]));
    expect(sha256(Buffer.concat([prefix, pub]))).toBe(k.identity);

    // The pair works together.
    const msg = Buffer.from('keygate');
    expect(verify(null, msg, parsed.publicKey, sign(null, msg, parsed.privateKey))).toBe(true);

    // The 'kes:v1:' prefix is optional (strings.TrimPrefix).
    expect(parseAPIKey(apiKey.slice('kes:v1:'.length)).identity).toBe(k.identity);
  });

  it.each(vectors.api_keys.filter((k) => !k.valid).map((k) => [k.api_key, k] as const))('rejects %s', (apiKey) => {
    expect(thrown(() => parseAPIKey(apiKey))).toBeInstanceOf(IdentityError);
  });

  it('gives the root API key the identity of root.cert', () => {
    const root = vectors.certificates.find((c) => c.name === 'root.cert') as CertVector;
    expect(parseAPIKey('kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc').identity).toBe(identityOfCertificate(root.pem));
  });
});

describe('parseAPIKey', () => {
  const valid = 'kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs';
  const identity = 'ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6';

  it.each<[string, string, string]>([
    ['the prefix alone', 'kes:v1:', 'invalid length'],
    ['an empty string', '', 'invalid length'],
    ['a key one byte short', `kes:v1:${Buffer.alloc(32).toString('base64')}`, 'invalid length'],
    ['a key one byte long', `kes:v1:${Buffer.alloc(34).toString('base64')}`, 'invalid length'],
    ['unpadded base64', `kes:v1:${Buffer.alloc(34).toString('base64').replace(/=+$/, '')}`, 'not valid base64'],
    ['URL-safe base64', 'kes:v1:AD9E7FSYWrMD-VjhI6q545cYT9YOyFxZb7UnjEepYDRc', 'not valid base64'],
    ['a doubled prefix', `kes:v1:${valid}`, 'not valid base64'],
    ['an upper-case prefix', valid.replace('kes:v1:', 'KES:V1:'), 'not valid base64'],
    ['surrounding spaces', ` ${valid}`, 'not valid base64'],
    ['type byte 0x01', `kes:v1:${Buffer.concat([Buffer.from([1]), Buffer.alloc(32)]).toString('base64')}`, 'unsupported type'],
  ])('rejects %s', (_what, apiKey, reason) => {
    const err = thrown(() => parseAPIKey(apiKey));
    expect(err).toBeInstanceOf(IdentityError);
    expect(err.message).toBe(`kes: invalid API key: ${reason}`);
  });

  it("ignores CR and LF inside the base64, as Go's decoder does", () => {
    expect(parseAPIKey(`${valid}\n`).identity).toBe(identity);
    expect(parseAPIKey(`${valid.slice(0, 20)}\r\n${valid.slice(20)}`).identity).toBe(identity);
  });

  it('round-trips any seed', () => {
    const prefix = Buffer.from(vectors.ed25519_spki_prefix_hex, 'hex');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const key = `kes:v1:${Buffer.concat([Buffer.from([0]), seed]).toString('base64')}`;
        const parsed = parseAPIKey(key);
        const pub = createPublicKey(parsed.privateKey).export({ type: 'spki', format: 'der' });
        expect(pub.subarray(0, prefix.length)).toEqual(prefix);
        expect(parsed.identity).toBe(sha256(pub));
      }),
      { numRuns: 200 },
    );
  });
});

describe('isHexIdentity', () => {
  it.each<[string, boolean]>([
    ['3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22', true],
    ['0'.repeat(64), true],
    ['3ECFCDF38FCBE141AE26A1030F81E96B753365A46760AE6B578698A97C59FD22', false],
    ['3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd2', false],
    ['3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd221', false],
    ['3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd2g', false],
    ['3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22\n', false],
    ['disabled', false],
    ['', false],
  ])('%j -> %j', (s, expected) => {
    expect(isHexIdentity(s)).toBe(expected);
  });
});
