/**
 * Certificate revocation lists (RFC 5280 §5): a v2 CRL signed by the issuing CA,
 * with the authority key identifier and a CRL number.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { bits, der, explicit, implicit, octets, oid, seq, time, unsignedInteger, type Node } from './asn1.js';
import { issuerDetails } from './certificate.js';
import { signerFor } from './keys.js';

export interface RevokedEntry {
  /** Lowercase hex, as keygate spells serials. */
  serial: string;
  revokedAt: Date;
}

export interface CrlOptions {
  ca: { privateKey: KeyObject; certificate: X509Certificate };
  revoked: readonly RevokedEntry[];
  /** Increases with every CRL the CA issues (RFC 5280 §5.2.3). */
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
}

const V2 = Buffer.from([1]);

function extension(id: string, value: Node): Node {
  return seq(oid(id), octets(der(value)));
}

function integer(n: number): Node {
  const hex = n.toString(16);
  return unsignedInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
}

/** The DER CRL. */
export function createCrl(options: CrlOptions): Buffer {
  const { name, keyId } = issuerDetails(options.ca.certificate);
  const signer = signerFor(options.ca.privateKey);
  const revoked = options.revoked.map((r) => seq(unsignedInteger(Buffer.from(r.serial.length % 2 ? `0${r.serial}` : r.serial, 'hex')), time(r.revokedAt)));
  const tbs = seq(
    unsignedInteger(V2),
    signer.identifier,
    name,
    time(options.thisUpdate),
    time(options.nextUpdate),
    ...(revoked.length > 0 ? [seq(...revoked)] : []),
    explicit(0, seq(extension('2.5.29.35', seq(implicit(0, keyId))), extension('2.5.29.20', integer(options.number)))),
  );
  return der(seq(tbs, signer.identifier, bits(signer.sign(der(tbs)))));
}

/** PEM of a DER CRL. */
export function crlToPem(crl: Buffer): string {
  return `-----BEGIN X509 CRL-----\n${crl.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`;
}
