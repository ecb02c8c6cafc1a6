/**
 * KES identities: the lowercase hex SHA-256 of a DER SubjectPublicKeyInfo
 * (kes.md §1.1). Certificates, TLS peer chains and `kes:v1:` API keys all
 * reduce to one, and a certificate and an API key for the same Ed25519 key
 * share it.
 */
import { hash, createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';

/** A certificate, chain or API key that yields no identity. The message is safe to show a client. */
export class IdentityError extends Error {
  override get name(): string {
    return 'IdentityError';
  }
}

/** Whether `s` has the shape of a computed identity: exactly 64 lowercase hex characters. */
export function isHexIdentity(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

function identityOfSpki(spki: Uint8Array): string {
  return hash('sha256', spki, 'hex');
}

// ---------------------------------------------------------------------------
// Minimal DER reading. Go hashes RawSubjectPublicKeyInfo — the bytes exactly
// as they sit in the certificate — and decides "CA" from basicConstraints
// alone. Node offers neither: X509Certificate.publicKey re-encodes the key
// (and throws for key types OpenSSL cannot load), and `.ca` is OpenSSL's
// X509_check_ca, which also says "not a CA" when keyUsage lacks keyCertSign.

interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  body: number;
  /** Offset just past the content. */
  end: number;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
const OID = 0x06;
const BIT_STRING = 0x03;
const VERSION = 0xa0; // [0] EXPLICIT
const EXTENSIONS = 0xa3; // [3] EXPLICIT
const OID_BASIC_CONSTRAINTS = [0x55, 0x1d, 0x13]; // 2.5.29.19

const invalid = (what: string): IdentityError => new IdentityError(`invalid certificate: ${what}`);

/** Reads one DER element starting at `pos` that must end by `limit`. */
function readTlv(der: Uint8Array, pos: number, limit: number, what: string): Tlv {
  if (pos + 2 > limit) throw invalid(`truncated ${what}`);
  const tag = der[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw invalid(`unsupported tag in ${what}`);
  let len = der[pos + 1] as number;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw invalid(`bad length in ${what}`);
    if (body + n > limit) throw invalid(`truncated ${what}`);
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + (der[body + k] as number);
    if (len < 0x80 || der[body] === 0) throw invalid(`non-minimal length in ${what}`);
    body += n;
  }
  const end = body + len;
  if (end > limit) throw invalid(`truncated ${what}`);
  return { tag, start: pos, body, end };
}

function expectTag(el: Tlv, tag: number, what: string): Tlv {
  if (el.tag !== tag) throw invalid(`expected ${what}`);
  return el;
}

interface ParsedCertificate {
  spki: Uint8Array;
  isCA: boolean;
}

/**
 * Walks Certificate → TBSCertificate far enough to slice out the SPKI and
 * read basicConstraints (RFC 5280 §4.1). Anything structurally off throws
 * IdentityError; fields it does not need are skipped, not checked.
 */
function parseCertificate(der: Uint8Array): ParsedCertificate {
  const cert = expectTag(readTlv(der, 0, der.length, 'certificate'), SEQUENCE, 'certificate SEQUENCE');
  if (cert.end !== der.length) throw invalid('trailing data after certificate');
  const tbs = expectTag(readTlv(der, cert.body, cert.end, 'TBSCertificate'), SEQUENCE, 'TBSCertificate SEQUENCE');
  const sigAlg = expectTag(readTlv(der, tbs.end, cert.end, 'signatureAlgorithm'), SEQUENCE, 'signatureAlgorithm');
  const sig = expectTag(readTlv(der, sigAlg.end, cert.end, 'signature'), BIT_STRING, 'signature BIT STRING');
  if (sig.end !== cert.end) throw invalid('trailing data in certificate');

  let pos = tbs.body;
  const next = (what: string, tag: number): Tlv => {
    const el = expectTag(readTlv(der, pos, tbs.end, what), tag, what);
    pos = el.end;
    return el;
  };
  if (pos < tbs.end && der[pos] === VERSION) next('version', VERSION);
  next('serialNumber', INTEGER);
  next('signature', SEQUENCE);
  next('issuer', SEQUENCE);
  next('validity', SEQUENCE);
  next('subject', SEQUENCE);
  const spki = next('subjectPublicKeyInfo', SEQUENCE);

  let isCA = false;
  // Optional issuerUniqueID [1], subjectUniqueID [2], extensions [3].
  while (pos < tbs.end) {
    const el = readTlv(der, pos, tbs.end, 'TBSCertificate field');
    pos = el.end;
    if (el.tag === EXTENSIONS) isCA = basicConstraintsCA(der, el);
  }
  return { spki: der.subarray(spki.start, spki.end), isCA };
}

function basicConstraintsCA(der: Uint8Array, wrapper: Tlv): boolean {
  const list = expectTag(readTlv(der, wrapper.body, wrapper.end, 'extensions'), SEQUENCE, 'extensions SEQUENCE');
  for (let pos = list.body; pos < list.end;) {
    const ext = expectTag(readTlv(der, pos, list.end, 'extension'), SEQUENCE, 'extension SEQUENCE');
    pos = ext.end;
    const oid = expectTag(readTlv(der, ext.body, ext.end, 'extension id'), OID, 'extension OID');
    const id = der.subarray(oid.body, oid.end);
    if (id.length !== OID_BASIC_CONSTRAINTS.length || !OID_BASIC_CONSTRAINTS.every((b, k) => id[k] === b)) continue;

    let field = readTlv(der, oid.end, ext.end, 'extension');
    if (field.tag === BOOLEAN) field = readTlv(der, field.end, ext.end, 'extension'); // critical
    expectTag(field, OCTET_STRING, 'extension value');
    const bc = expectTag(readTlv(der, field.body, field.end, 'basicConstraints'), SEQUENCE, 'basicConstraints SEQUENCE');
    if (bc.body === bc.end) return false; // cA DEFAULT FALSE
    const first = readTlv(der, bc.body, bc.end, 'basicConstraints');
    if (first.tag !== BOOLEAN) return false; // only pathLenConstraint present
    // Go (cryptobyte) accepts only DER booleans and rejects the certificate otherwise.
    const value = first.end - first.body === 1 ? der[first.body] : undefined;
    if (value === 0xff) return true;
    if (value === 0x00) return false;
    throw invalid('basicConstraints cA is not a DER BOOLEAN');
  }
  return false;
}

// ---------------------------------------------------------------------------

/**
 * The identity of a certificate: SHA-256 over its SubjectPublicKeyInfo
 * exactly as encoded in the certificate. Accepts a parsed certificate, DER
 * bytes, or PEM (text or bytes; the first CERTIFICATE block is used).
 * Validity dates, subject and CA flag play no part. Throws IdentityError if
 * the input is not a certificate.
 */
export function identityOfCertificate(cert: X509Certificate | Buffer | string): string {
  if (cert instanceof X509Certificate) return identityOfSpki(parseCertificate(cert.raw).spki);
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch (err) {
    throw new IdentityError(`invalid certificate: ${(err as Error).message}`, { cause: err });
  }
  // Walk DER input itself rather than OpenSSL's re-serialization of it, so
  // the hashed bytes are provably the ones that were handed in.
  const der = typeof cert !== 'string' && cert[0] === SEQUENCE ? cert : parsed.raw;
  return identityOfSpki(parseCertificate(der).spki);
}

/**
 * The identity of a TLS client from the DER certificates it presented, in
 * order. Only the first certificate counts: the handshake proves possession of
 * its key and of no other, so whatever follows it (intermediates, or anyone's
 * public certificate) says nothing about who is calling. KES skips CA
 * certificates and takes the one non-CA certificate that remains; that lets a
 * client present [its own CA, a victim's certificate] and be the victim, so
 * keygate refuses to do it. A first certificate with basicConstraints CA:TRUE
 * is refused rather than skipped. Throws IdentityError: 'tls: client
 * certificate is required' for an empty chain, 'tls: client certificate is a
 * CA certificate' for a CA leaf, or 'invalid certificate: …' for undecodable DER.
 */
export function identityOfChain(chainDer: readonly Uint8Array[]): string {
  const first = chainDer[0];
  if (first === undefined) throw new IdentityError('tls: client certificate is required');
  const leaf = parseCertificate(first);
  if (leaf.isCA) throw new IdentityError('tls: client certificate is a CA certificate');
  return identityOfSpki(leaf.spki);
}

// ---------------------------------------------------------------------------

const API_KEY_PREFIX = 'kes:v1:';
const API_KEY_TYPE_ED25519 = 0x00;
const ED25519_SEED_LENGTH = 32;
// PKCS#8 PrivateKeyInfo for Ed25519 up to the 32-byte seed (RFC 8410 §7).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Parses a KES API key: optional 'kes:v1:' prefix, then standard padded
 * base64 of a 0x00 type byte (Ed25519) and the 32-byte seed. As in Go's
 * decoder, CR and LF inside the base64 are ignored. Returns the key pair and
 * its identity, which equals that of any certificate for the same key.
 * Throws IdentityError for anything else.
 */
export function parseAPIKey(apiKey: string): { privateKey: KeyObject; publicKey: KeyObject; identity: string } {
  const body = (apiKey.startsWith(API_KEY_PREFIX) ? apiKey.slice(API_KEY_PREFIX.length) : apiKey).replace(/[\r\n]/g, '');
  if (body.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
    throw new IdentityError('kes: invalid API key: not valid base64');
  }
  const raw = Buffer.from(body, 'base64');
  try {
    if (raw.length !== 1 + ED25519_SEED_LENGTH) throw new IdentityError('kes: invalid API key: invalid length');
    if (raw[0] !== API_KEY_TYPE_ED25519) throw new IdentityError('kes: invalid API key: unsupported type');
    const pkcs8 = Buffer.concat([ED25519_PKCS8_PREFIX, raw.subarray(1)]);
    try {
      const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      const publicKey = createPublicKey(privateKey);
      const identity = identityOfSpki(publicKey.export({ type: 'spki', format: 'der' }));
      return { privateKey, publicKey, identity };
    } finally {
      pkcs8.fill(0);
    }
  } finally {
    // The seed is the whole secret; don't leave copies for the GC to keep.
    raw.fill(0);
  }
}
