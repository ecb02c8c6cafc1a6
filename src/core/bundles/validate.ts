/**
 * Validation of a certificate bundle before anything is stored: the PEM parses,
 * the key is of a supported type and matches the leaf, the chain is ordered
 * leaf → issuers, and the validity periods make sense. Every refusal is a
 * BadRequestError whose message says what is wrong; none quotes key material.
 */
import { X509Certificate, createPrivateKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { BadRequestError } from '../../errors.js';
import { PemError, parsePem, toPem, type PemBlock } from '../../pki/pem.js';
import { subjectAltNames, type SubjectAltNames } from '../../pki/x509-names.js';

/** Limits that keep one bundle (and its index entries) small. */
export const BUNDLE_LIMITS = {
  chainCertificates: 10,
  chainBytes: 256 * 1024,
  keyBytes: 16 * 1024,
  subjectAltNames: 500,
  /** Longest leaf validity accepted: anything longer is a mistake (or 99991231235959Z). */
  validityDays: 100 * 366,
} as const;

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);
const SUPPORTED = 'supported: RSA 2048–4096 bits, ECDSA P-256/P-384, Ed25519';
const DAY_MS = 86_400_000;
/** A certificate issued a moment ago by a CA whose clock runs a little ahead is not "not yet valid". */
const CLOCK_SKEW_MS = 5 * 60_000;

export type KeyType = 'RSA' | 'ECDSA' | 'Ed25519';

export interface ValidatedBundle {
  /** The chain re-encoded as canonical PEM, leaf first (text around the blocks dropped). */
  chainPem: string;
  /** The key in the encoding it arrived in (PKCS#8, PKCS#1 or SEC1), re-encoded as canonical PEM. */
  keyPem: string;
  leaf: X509Certificate;
  keyType: KeyType;
  keySize: number;
  sans: SubjectAltNames;
  notBefore: Date;
  notAfter: Date;
}

export interface ValidateOptions {
  allowExpired?: boolean;
  /** Accept a leaf that is a CA certificate (basicConstraints CA:TRUE): an explicit opt-in. */
  allowCaLeaf?: boolean;
  now: Date;
}

/**
 * Why a CA certificate is refused as a leaf: its key is handed to every node of every group
 * the bundle is assigned to, and with a CA's key a node could issue certificates for any name
 * the CA is trusted for. Almost always a mistake (the CA file of a directory imported as a
 * bundle); the opt-in is for a deliberate self-signed CA:TRUE certificate.
 */
export const CA_LEAF_REFUSED =
  'certificate: the leaf certificate (the first of the chain) is a CA certificate (basicConstraints CA:TRUE): set allow_ca_leaf to import it anyway';

/** @throws BadRequestError naming the first problem found. */
export function validateBundle(chainText: string, keyText: string, options: ValidateOptions): ValidatedBundle {
  const chain = parseChain(chainText);
  const { key, pem: keyPem } = parseKey(keyText);
  const { keyType, keySize } = keyKind(key);
  const leaf = chain[0] as X509Certificate;
  if (!leaf.checkPrivateKey(key) || !signsFor(key, leaf))
    throw new BadRequestError('private_key: does not match the leaf certificate (the first of the chain)', { field: 'private_key' });
  checkOrder(chain);
  if (leaf.ca && !options.allowCaLeaf) throw new BadRequestError(CA_LEAF_REFUSED, { field: 'certificate' });
  const [notBefore, notAfter] = checkValidity(chain, options);
  let sans: SubjectAltNames;
  try {
    sans = subjectAltNames(leaf);
  } catch {
    throw new BadRequestError('certificate: cannot read the subject alternative names of the leaf certificate', { field: 'certificate' });
  }
  if (sans.dns.length + sans.ip.length > BUNDLE_LIMITS.subjectAltNames) {
    throw new BadRequestError(`certificate: the leaf certificate has more than ${BUNDLE_LIMITS.subjectAltNames} subject alternative names`, {
      field: 'certificate',
    });
  }
  const chainPem = chain.map((c) => c.toString()).join('');
  return { chainPem, keyPem, leaf, keyType, keySize, sans, notBefore, notAfter };
}

function blocksOf(text: string, field: string, maxBytes: number): PemBlock[] {
  if (Buffer.byteLength(text) > maxBytes) throw new BadRequestError(`${field}: larger than ${maxBytes} bytes`, { field });
  try {
    return parsePem(text);
  } catch (err) {
    if (err instanceof PemError) throw new BadRequestError(`${field}: ${err.message}`, { field });
    throw err;
  }
}

function parseChain(text: string): X509Certificate[] {
  const blocks = blocksOf(text, 'certificate', BUNDLE_LIMITS.chainBytes);
  if (blocks.length > BUNDLE_LIMITS.chainCertificates) {
    throw new BadRequestError(`certificate: the chain has ${blocks.length} certificates, at most ${BUNDLE_LIMITS.chainCertificates} are accepted`, {
      field: 'certificate',
    });
  }
  return blocks.map((b) => {
    if (b.label !== 'CERTIFICATE')
      throw new BadRequestError(`certificate: PEM block ${b.index} is a '${b.label}', not a 'CERTIFICATE'`, { field: 'certificate' });
    try {
      return new X509Certificate(b.der);
    } catch {
      throw new BadRequestError(`certificate: PEM block ${b.index} is not a valid X.509 certificate`, { field: 'certificate' });
    }
  });
}

function parseKey(text: string): { key: KeyObject; pem: string } {
  // `openssl ecparam -genkey` writes the curve as its own block before the key; the key names it too.
  const blocks = blocksOf(text, 'private_key', BUNDLE_LIMITS.keyBytes).filter((b) => b.label !== 'EC PARAMETERS');
  if (blocks.length !== 1) throw new BadRequestError(`private_key: expected exactly one PEM block, found ${blocks.length}`, { field: 'private_key' });
  const block = blocks[0] as PemBlock;
  if (block.label === 'ENCRYPTED PRIVATE KEY' || block.headers.get('proc-type')?.includes('ENCRYPTED')) {
    throw new BadRequestError('private_key: encrypted private keys are not accepted; import the key unencrypted', { field: 'private_key' });
  }
  if (!KEY_LABELS.has(block.label) || block.headers.size > 0) {
    throw new BadRequestError(`private_key: PEM block 1 is a '${block.label}', not a 'PRIVATE KEY', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY'`, {
      field: 'private_key',
    });
  }
  const pem = toPem(block.label, block.der);
  try {
    return { key: createPrivateKey({ key: pem, format: 'pem' }), pem };
  } catch {
    throw new BadRequestError(`private_key: PEM block 1 is not a valid ${block.label.toLowerCase()}`, { field: 'private_key' });
  }
}

/** The key's type and size if keygate serves it. @throws BadRequestError naming the unsupported type. */
export function keyKind(key: KeyObject): { keyType: KeyType; keySize: number } {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      if (bits >= 2048 && bits <= 4096) return { keyType: 'RSA', keySize: bits };
      throw new BadRequestError(`private_key: unsupported key type RSA ${bits} bits (${SUPPORTED})`, { field: 'private_key' });
    }
    case 'ec': {
      if (details.namedCurve === 'prime256v1') return { keyType: 'ECDSA', keySize: 256 };
      if (details.namedCurve === 'secp384r1') return { keyType: 'ECDSA', keySize: 384 };
      const curve = details.namedCurve === 'secp521r1' ? 'P-521' : (details.namedCurve ?? 'unknown curve');
      throw new BadRequestError(`private_key: unsupported key type ECDSA ${curve} (${SUPPORTED})`, { field: 'private_key' });
    }
    case 'ed25519':
      return { keyType: 'Ed25519', keySize: 256 };
    default: {
      const names: Record<string, string> = { 'rsa-pss': 'RSA-PSS', dsa: 'DSA', ed448: 'Ed448', x25519: 'X25519', x448: 'X448', dh: 'DH' };
      const kind = key.asymmetricKeyType ?? 'unknown';
      throw new BadRequestError(`private_key: unsupported key type ${names[kind] ?? kind} (${SUPPORTED})`, { field: 'private_key' });
    }
  }
}

/**
 * Whether the key really signs for the leaf. checkPrivateKey compares only the public
 * key a PKCS#8 or SEC1 key carries beside its private part, so a key whose private
 * part is corrupted would pass it and then fail every TLS handshake on the nodes.
 */
function signsFor(key: KeyObject, leaf: X509Certificate): boolean {
  const challenge = randomBytes(32);
  const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  try {
    return verify(digest, challenge, leaf.publicKey, sign(digest, challenge, key));
  } catch {
    return false;
  }
}

/** Each certificate must be issued, and signed, by the next one, which must be a CA. */
function checkOrder(chain: X509Certificate[]): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    const issuer = chain[i + 1] as X509Certificate;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new BadRequestError(
        `certificate: certificate ${i + 2} did not issue certificate ${i + 1}; the chain must be ordered leaf first, then each issuer`,
        { field: 'certificate' },
      );
    }
    if (!issuer.ca)
      throw new BadRequestError(`certificate: certificate ${i + 2} issues certificate ${i + 1} but is not a CA certificate`, { field: 'certificate' });
  }
}

/** Returns the leaf's validity. @throws BadRequestError for an absurd, expired or not-yet-valid certificate. */
function checkValidity(chain: X509Certificate[], options: ValidateOptions): [Date, Date] {
  const now = options.now.getTime();
  const [notBefore, notAfter] = validityOf(chain[0] as X509Certificate, 1);
  if (notAfter.getTime() - notBefore.getTime() > BUNDLE_LIMITS.validityDays * DAY_MS) {
    throw new BadRequestError(
      `certificate: the leaf certificate is valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}, longer than 100 years: refused as a mistake`,
      { field: 'certificate' },
    );
  }
  if (notBefore.getTime() > now + CLOCK_SKEW_MS) {
    throw new BadRequestError(`certificate: the leaf certificate is not valid before ${notBefore.toISOString()}`, { field: 'certificate' });
  }
  chain.forEach((cert, i) => {
    const [, until] = i === 0 ? [notBefore, notAfter] : validityOf(cert, i + 1);
    if (until.getTime() <= now && !options.allowExpired) {
      const which = i === 0 ? 'the leaf certificate' : `certificate ${i + 1} of the chain`;
      throw new BadRequestError(`certificate: ${which} expired on ${until.toISOString()} (set allow_expired to import it anyway)`, { field: 'certificate' });
    }
  });
  return [notBefore, notAfter];
}

function validityOf(cert: X509Certificate, position: number): [Date, Date] {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from.getTime() >= to.getTime()) {
    throw new BadRequestError(`certificate: certificate ${position} has an absurd validity period (not before ${cert.validFrom}, not after ${cert.validTo})`, {
      field: 'certificate',
    });
  }
  return [from, to];
}
