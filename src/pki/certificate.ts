/**
 * X.509 v3 certificates for any key node:crypto makes (RSA, ECDSA, Ed25519):
 * node-forge only builds RSA certificates, so the DER is assembled here with
 * forge's ASN.1 module and signed with crypto.sign.
 */
import { X509Certificate, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { bits, child, children, content, der, explicit, isContext, oidOf, parse, seq, set, time, unsignedInteger, utf8, oid, type Node } from './asn1.js';
import { SUBJECT_KEY_IDENTIFIER, extensions, keyIdentifier, subjectPublicKeyInfo, type ExtendedKeyUsage } from './extensions.js';
import { generateKeyPair, signerFor, type KeyType } from './keys.js';

export interface CertificateOptions {
  commonName: string;
  organization?: string;
  dnsNames?: string[];
  /** IPv4 and IPv6 literals; zone ids are refused. */
  ipAddresses?: string[];
  /** Default: a minute ago, for clock skew (or 30 days before a notAfter that is already past). */
  notBefore?: Date;
  /** Default: notBefore + 30 days. */
  notAfter?: Date;
  /** CA:TRUE with keyCertSign and cRLSign; otherwise CA:FALSE with digitalSignature (+ keyEncipherment for RSA). */
  isCA?: boolean;
  /** Default: both for leaves, none for CAs. An empty list leaves the extension out. */
  extKeyUsage?: ExtendedKeyUsage[];
  /** Big-endian magnitude, at most 20 octets once encoded. Default: 16 random bytes, high bit cleared. */
  serialNumber?: Buffer;
}

export interface Issuer {
  privateKey: KeyObject;
  certificate: X509Certificate;
}

const MINUTE_MS = 60_000;
const DEFAULT_LIFETIME_MS = 30 * 24 * 3600 * 1000;
const X509_V3 = Buffer.from([2]);
const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';

function validity(options: CertificateOptions): [Date, Date] {
  const skewed = Date.now() - MINUTE_MS;
  const notAfter = options.notAfter ?? new Date((options.notBefore?.getTime() ?? skewed) + DEFAULT_LIFETIME_MS);
  // An already-expired certificate (for tests) still needs notBefore < notAfter.
  const notBefore = options.notBefore ?? new Date(notAfter.getTime() > skewed ? skewed : notAfter.getTime() - DEFAULT_LIFETIME_MS);
  if (!(notBefore.getTime() < notAfter.getTime())) throw new RangeError('pki: notBefore must be before notAfter');
  return [notBefore, notAfter];
}

function serialNumber(options: CertificateOptions): Node {
  let serial = options.serialNumber;
  if (serial === undefined) {
    serial = randomBytes(16);
    serial[0] = (serial[0] ?? 0) & 0x7f;
  }
  const node = unsignedInteger(serial);
  // RFC 5280 §4.1.2.2: positive, and no longer than 20 octets.
  if (content(node).length > 20 || serial.every((b) => b === 0)) throw new RangeError('pki: the serial number must be positive and at most 20 octets');
  return node;
}

function distinguishedName(options: CertificateOptions): Node {
  if (!options.commonName) throw new TypeError('pki: a certificate needs a common name');
  const rdn = (type: string, value: string): Node => set(seq(oid(type), utf8(value)));
  return seq(...(options.organization ? [rdn(OID_ORGANIZATION, options.organization)] : []), rdn(OID_COMMON_NAME, options.commonName));
}

/**
 * The issuer's subject, as the exact DER node from its certificate (name
 * matching in path validation is byte-sensitive in some verifiers), and its key identifier.
 */
export function issuerDetails(certificate: X509Certificate): { name: Node; keyId: Buffer } {
  const root = parse(certificate.raw);
  // Re-using the parsed name is byte-exact only if forge re-encodes this certificate unchanged.
  if (!der(root).equals(certificate.raw)) throw new Error('pki: the issuer certificate is not canonical DER');
  const fields = children(child(root, 0));
  const at = isContext(fields[0], 0) ? 1 : 0; // the version field is optional (absent in v1)
  const name = fields[at + 4];
  if (name === undefined) throw new Error('pki: malformed issuer certificate');
  const extensionList = fields.find((f) => isContext(f, 3));
  for (const ext of extensionList ? children(child(extensionList, 0)) : []) {
    const parts = children(ext);
    const value = parts[parts.length - 1];
    if (value && oidOf(child(ext, 0)) === SUBJECT_KEY_IDENTIFIER) return { name, keyId: content(parse(content(value))) };
  }
  // Without an SKI to copy, compute it the way this module would have.
  return { name, keyId: keyIdentifier(certificate.publicKey) };
}

/**
 * Creates and signs a certificate for `key` and returns it as PEM.
 * `key` may be a private key, in which case its public half is certified; with
 * no `issuer` (or only an issuer private key) the certificate is self-signed.
 * @throws TypeError/RangeError for invalid options, Error when the issuer key does not
 *         match its certificate (or the subject key, when self-signing) or the issuer is not a CA.
 */
export function createCertificate(key: KeyObject, options: CertificateOptions, issuer?: Issuer | { privateKey: KeyObject }): string {
  const subjectKey = key.type === 'private' ? createPublicKey(key) : key;
  const signingKey = issuer?.privateKey ?? (key.type === 'private' ? key : undefined);
  if (signingKey === undefined) throw new TypeError('pki: a self-signed certificate needs the private key, as `key` or `issuer.privateKey`');
  const subject = distinguishedName(options);
  let issuerName = subject;
  let authorityKeyId: Buffer | undefined;
  if (issuer && 'certificate' in issuer) {
    if (!issuer.certificate.ca) throw new Error('pki: the issuer certificate is not a CA');
    if (!issuer.certificate.checkPrivateKey(signingKey)) throw new Error('pki: the issuer private key does not match its certificate');
    ({ name: issuerName, keyId: authorityKeyId } = issuerDetails(issuer.certificate));
  } else if (!createPublicKey(signingKey).equals(subjectKey)) {
    throw new Error('pki: a self-signed certificate must be signed with the subject key');
  }

  const isCA = options.isCA ?? false;
  const [notBefore, notAfter] = validity(options);
  const signer = signerFor(signingKey);
  const tbs = seq(
    explicit(0, unsignedInteger(X509_V3)),
    serialNumber(options),
    signer.identifier,
    issuerName,
    seq(time(notBefore), time(notAfter)),
    subject,
    subjectPublicKeyInfo(subjectKey),
    explicit(
      3,
      extensions({
        isCA,
        subjectKey,
        authorityKeyId,
        dnsNames: options.dnsNames ?? [],
        ipAddresses: options.ipAddresses ?? [],
        extKeyUsage: options.extKeyUsage ?? (isCA ? [] : ['serverAuth', 'clientAuth']),
      }),
    ),
  );
  const tbsDer = der(tbs);
  const certificate = der(seq(tbs, signer.identifier, bits(signer.sign(tbsDer))));
  // X509Certificate both proves the result parses and writes the PEM.
  return new X509Certificate(certificate).toString();
}

/** PKCS#8 PEM, unencrypted. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A key, its PKCS#8 PEM, and its certificate as PEM and parsed. */
export interface IssuedCertificate {
  key: KeyObject;
  keyPem: string;
  certPem: string;
  cert: X509Certificate;
}

const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';

/**
 * Generates a key and a certificate for it, signed by `ca` or self-signed when `ca` is null.
 * @throws as createCertificate.
 */
export function issueCertificate(ca: IssuedCertificate | null, options: CertificateOptions & { keyType?: KeyType }): IssuedCertificate {
  const { privateKey } = generateKeyPair(options.keyType ?? DEFAULT_KEY_TYPE);
  const certPem = createCertificate(privateKey, options, ca ? { privateKey: ca.key, certificate: ca.cert } : undefined);
  return { key: privateKey, keyPem: privateKeyToPem(privateKey), certPem, cert: new X509Certificate(certPem) };
}

/** A self-signed CA (CA:TRUE, keyCertSign, cRLSign), ready to pass to issueCertificate. */
export function createCA(commonName: string, opts: { keyType?: KeyType; notAfter?: Date } = {}): IssuedCertificate {
  return issueCertificate(null, { ...opts, commonName, isCA: true });
}
