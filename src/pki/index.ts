/** X.509 certificates for RSA, ECDSA and Ed25519 keys: key pairs, certificates, and a dev CA. */
export { generateKeyPair, keyTypes, type KeyPair, type KeyType } from './keys.js';
export { createCA, createCertificate, issueCertificate, privateKeyToPem, type CertificateOptions, type IssuedCertificate, type Issuer } from './certificate.js';
export type { ExtendedKeyUsage } from './extensions.js';
