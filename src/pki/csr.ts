/**
 * PKCS#10 certificate signing requests (RFC 2986): parsed and their signature checked
 * (the request proves its key), and made (the CLI, tests, the agent). The subject's
 * common name and the subjectAltName of the extension request are all keygate reads;
 * every other attribute is ignored, as Vault's sign endpoint does with `use_csr_sans`.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import {
  child,
  children,
  content,
  der,
  explicit,
  implicit,
  octets,
  oid,
  oidOf,
  parse,
  seq,
  set,
  unsignedInteger,
  utf8,
  isContext,
  bits,
  type Node,
} from './asn1.js';
import { ipAddressBytes, subjectPublicKeyInfo } from './extensions.js';
import { signerFor } from './keys.js';

export interface ParsedCsr {
  publicKey: KeyObject;
  /** The subject's CN, or '' when it has none. */
  commonName: string;
  dnsNames: string[];
  /** In the URL parser's normal form. */
  ipAddresses: string[];
}

/** A CSR that cannot be used; the message is safe to answer with. */
export class CsrError extends Error {}

const OID_COMMON_NAME = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const MAX_CSR_BYTES = 64 * 1024;

/** Signature algorithms a CSR may be signed with, and the digest crypto.verify needs (null: Ed25519). */
const DIGESTS: Record<string, string | null> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
};

/** The DER of one PEM block of `label` (either CSR label), or a CsrError. */
function pemBody(pem: string): Buffer {
  if (typeof pem !== 'string' || pem.length > MAX_CSR_BYTES) throw new CsrError('csr must be a PEM certificate request');
  const m = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (NEW )?CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new CsrError('csr must be a PEM certificate request');
  return Buffer.from((m[2] as string).replace(/\s+/g, ''), 'base64');
}

/** Offset and total length of the TLV that starts at `at` (definite lengths only, as DER). */
function tlv(bytes: Buffer, at: number): { start: number; end: number; body: number } {
  const first = bytes[at + 1];
  if (first === undefined) throw new CsrError('csr: malformed DER');
  let length = first;
  let body = at + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new CsrError('csr: malformed DER');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (bytes[body + i] ?? 0);
    body += n;
  }
  if (body + length > bytes.length) throw new CsrError('csr: malformed DER');
  return { start: at, end: body + length, body };
}

function ipToString(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  }
  throw new CsrError('csr: malformed IP address in subjectAltName');
}

function text(node: Node): string {
  return content(node).toString('utf8');
}

/**
 * Parses a PEM CSR and checks its signature with the key it carries.
 * @throws CsrError naming what is wrong
 */
export function parseCsr(pem: string): ParsedCsr {
  const bytes = pemBody(pem);
  let root: Node;
  try {
    root = parse(bytes);
  } catch {
    throw new CsrError('csr: malformed DER');
  }
  try {
    const outer = tlv(bytes, 0);
    const infoBytes = bytes.subarray(outer.body, tlv(bytes, outer.body).end);
    const [info, algorithm, signature] = children(root);
    if (!info || !algorithm || !signature) throw new CsrError('csr: malformed DER');
    const fields = children(info);
    const [version, subject, spki, attributes] = fields;
    if (!version || !subject || !spki || content(version).toString('hex') !== '00') throw new CsrError('csr: not a version 1 certificate request');
    const algorithmId = oidOf(child(algorithm, 0));
    const digest = DIGESTS[algorithmId];
    if (digest === undefined)
      throw new CsrError(`csr: signature algorithm ${algorithmId} is not supported (use RSA PKCS#1 v1.5, ECDSA or Ed25519 with SHA-256 or better)`);
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: der(spki), format: 'der', type: 'spki' });
    } catch {
      throw new CsrError('csr: the public key cannot be read');
    }
    let valid = false;
    try {
      valid = verify(digest, infoBytes, publicKey, content(signature));
    } catch {
      valid = false;
    }
    if (!valid) throw new CsrError('csr: the signature does not verify with the key it carries');

    let commonName = '';
    for (const rdn of children(subject)) {
      for (const atv of children(rdn)) if (oidOf(child(atv, 0)) === OID_COMMON_NAME) commonName = text(child(atv, 1));
    }
    const dnsNames: string[] = [];
    const ipAddresses: string[] = [];
    if (attributes && isContext(attributes, 0)) {
      for (const attr of children(attributes)) {
        if (oidOf(child(attr, 0)) !== OID_EXTENSION_REQUEST) continue;
        for (const ext of children(child(child(attr, 1), 0))) {
          if (oidOf(child(ext, 0)) !== OID_SUBJECT_ALT_NAME) continue;
          const parts = children(ext);
          const names = parse(content(parts[parts.length - 1] as Node));
          for (const name of children(names)) {
            if (isContext(name, 2)) dnsNames.push(content(name).toString('latin1'));
            else if (isContext(name, 7)) ipAddresses.push(ipToString(content(name)));
            else throw new CsrError('csr: subjectAltName may hold only DNS names and IP addresses');
          }
        }
      }
    }
    return { publicKey, commonName, dnsNames, ipAddresses };
  } catch (err) {
    if (err instanceof CsrError) throw err;
    throw new CsrError('csr: malformed DER');
  }
}

/** Makes a CSR for `privateKey` (PEM): CN plus the names as subjectAltName. */
export function createCsr(privateKey: KeyObject, options: { commonName: string; dnsNames?: string[]; ipAddresses?: string[] }): string {
  const publicKey = createPublicKey(privateKey);
  const subject = seq(set(seq(oid(OID_COMMON_NAME), utf8(options.commonName))));
  const san = [
    ...(options.dnsNames ?? []).map((n) => implicit(2, Buffer.from(n, 'latin1'))),
    ...(options.ipAddresses ?? []).map((ip) => implicit(7, ipAddressBytes(ip))),
  ];
  const attributes =
    san.length === 0
      ? forge.asn1.create(forge.asn1.Class.CONTEXT_SPECIFIC, 0 as forge.asn1.Type, true, [])
      : explicit(0, seq(oid(OID_EXTENSION_REQUEST), set(seq(seq(oid(OID_SUBJECT_ALT_NAME), octets(der(seq(...san))))))));
  const info = seq(unsignedInteger(Buffer.alloc(1)), subject, subjectPublicKeyInfo(publicKey), attributes);
  const signer = signerFor(privateKey);
  const request = der(seq(info, signer.identifier, bits(signer.sign(der(info)))));
  const b64 = request.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}-----END CERTIFICATE REQUEST-----\n`;
}
