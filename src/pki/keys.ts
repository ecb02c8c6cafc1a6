/** Key pairs by name, and the X.509 signature algorithm that goes with each private key. */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { nul, oid, seq, type Node } from './asn1.js';

export type KeyType = 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export const keyTypes: readonly KeyType[] = ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateKeyPair(type: KeyType): KeyPair {
  switch (type) {
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa-3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
    case 'rsa-4096':
      return generateKeyPairSync('rsa', { modulusLength: 4096 });
  }
}

interface SignatureAlgorithm {
  identifier: Node;
  /** Digest name for crypto.sign; null where the scheme hashes internally (Ed25519). */
  digest: string | null;
}

/** @throws Error for key kinds a certificate here cannot be signed with (RSA-PSS, other curves). */
function signatureAlgorithm(key: KeyObject): SignatureAlgorithm {
  const kind = key.asymmetricKeyType;
  if (kind === 'rsa') {
    // RFC 4055: the parameters of sha256WithRSAEncryption are an explicit NULL.
    return { identifier: seq(oid('1.2.840.113549.1.1.11'), nul()), digest: 'sha256' };
  }
  if (kind === 'ed25519') return { identifier: seq(oid('1.3.101.112')), digest: null };
  if (kind === 'ec') {
    // RFC 5758: ECDSA identifiers carry no parameters; the hash follows the curve size.
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { identifier: seq(oid('1.2.840.10045.4.3.2')), digest: 'sha256' };
    if (curve === 'secp384r1') return { identifier: seq(oid('1.2.840.10045.4.3.3')), digest: 'sha384' };
    throw new Error(`pki: unsupported EC curve ${curve ?? 'unknown'}`);
  }
  throw new Error(`pki: unsupported signing key type ${kind ?? 'unknown'}`);
}

/** The AlgorithmIdentifier to embed, and a signer producing the matching signature value. */
export function signerFor(privateKey: KeyObject): { identifier: Node; sign: (data: Buffer) => Buffer } {
  const { identifier, digest } = signatureAlgorithm(privateKey);
  // ECDSA signatures default to DER (r, s), which is what X.509 wants.
  return { identifier, sign: (data) => sign(digest, data, privateKey) };
}
