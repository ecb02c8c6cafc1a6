/** What `describe` tells about a bundle: everything but the private key. */
import { X509Certificate } from 'node:crypto';
import { ipText, subjectAltNames } from '../../pki/x509-names.js';
import type { BundleRecord } from './record.js';

export interface BundleDescription {
  name: string;
  version: string;
  /** Distinguished names in OpenSSL's one-line order, e.g. `O=Example, CN=www.example.com`. */
  subject: string;
  issuer: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** Upper-case hex, as OpenSSL prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the leaf's DER, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`). */
  fingerprintSHA256: string;
  keyType: string;
  keySize: number;
  /** Number of certificates in the chain, leaf included. */
  chainLength: number;
  ttl: number;
  labels: Record<string, string>;
  groups: string[];
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  updatedBy: string;
}

/** Builds the description from the stored record (the leaf is parsed again; the key is never touched). */
export function describeRecord(name: string, record: BundleRecord, version: string, groups: string[]): BundleDescription {
  const leaf = new X509Certificate(record.certificate);
  const sans = subjectAltNames(leaf);
  return {
    name,
    version,
    subject: oneLine(leaf.subject),
    issuer: oneLine(leaf.issuer),
    dnsNames: sans.dns,
    ipAddresses: sans.ip.map(ipText),
    serial: leaf.serialNumber.toUpperCase(),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprintSHA256: leaf.fingerprint256,
    keyType: record.key_type,
    keySize: record.key_size,
    chainLength: record.certificate.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 1,
    ttl: record.ttl,
    labels: record.labels,
    groups: [...groups].sort(),
    createdAt: new Date(record.created.at),
    createdBy: record.created.by,
    updatedAt: new Date(record.updated.at),
    updatedBy: record.updated.by,
  };
}

/** Node prints one RDN per line; a description wants one line. */
function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}
