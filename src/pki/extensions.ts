/** The X.509 v3 extensions keygate puts in its certificates (RFC 5280 §4.2). */
import { hash, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { boolTrue, children, content, der, implicit, namedBits, octets, oid, parse, seq, type Node } from './asn1.js';

export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth';

const EKU_OIDS: Record<ExtendedKeyUsage, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

// keyUsage bit positions (RFC 5280 §4.2.1.3).
const DIGITAL_SIGNATURE = 0;
const KEY_ENCIPHERMENT = 2;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

export const SUBJECT_KEY_IDENTIFIER = '2.5.29.14';

function extension(id: string, critical: boolean, value: Node): Node {
  // DER omits a BOOLEAN that equals its DEFAULT (FALSE), so non-critical means absent.
  return seq(oid(id), ...(critical ? [boolTrue()] : []), octets(der(value)));
}

/** The DER SubjectPublicKeyInfo of `publicKey`, as a node to embed. */
export const subjectPublicKeyInfo = (publicKey: KeyObject): Node => parse(publicKey.export({ type: 'spki', format: 'der' }));

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bytes. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const [, keyBits] = children(subjectPublicKeyInfo(publicKey));
  if (keyBits === undefined) throw new Error('pki: malformed SubjectPublicKeyInfo');
  return hash('sha1', content(keyBits), 'buffer');
}

/** An iPAddress GeneralName's bytes: 4 for IPv4, 16 for IPv6. @throws TypeError for anything else. */
export function ipAddressBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family === 6) {
    let canonical: string;
    try {
      // The URL parser canonicalises IPv6 (one "::", embedded IPv4 as hex groups) and refuses zone ids,
      // which mean nothing outside the host that wrote them.
      canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    } catch {
      throw new TypeError(`pki: '${ip}' is not an IP address that a certificate can name`);
    }
    const groups = (part: string | undefined): string[] => (part ? part.split(':') : []);
    const [head, tail] = canonical.split('::');
    const left = groups(head);
    const right = groups(tail);
    const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
    const bytes = Buffer.alloc(16);
    all.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
    return bytes;
  }
  throw new TypeError(`pki: '${ip}' is not an IP address`);
}

function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[]): Node {
  const dns = dnsNames.map((name) => {
    // dNSName is an IA5String: international names must arrive already in punycode.
    if (!/^[\x21-\x7e]+$/.test(name)) throw new TypeError(`pki: '${name}' is not an ASCII DNS name`);
    return implicit(2, Buffer.from(name, 'latin1'));
  });
  return seq(...dns, ...ipAddresses.map((ip) => implicit(7, ipAddressBytes(ip))));
}

export interface ExtensionInputs {
  isCA: boolean;
  subjectKey: KeyObject;
  /** The issuer's key identifier; absent for self-signed certificates. */
  authorityKeyId: Buffer | undefined;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  extKeyUsage: readonly ExtendedKeyUsage[];
}

/** The `extensions` SEQUENCE, ready to wrap in [3] EXPLICIT. */
export function extensions(inputs: ExtensionInputs): Node {
  const { isCA, subjectKey } = inputs;
  const usage = isCA
    ? [KEY_CERT_SIGN, CRL_SIGN]
    : // TLS 1.2 RSA key exchange encrypts to the certificate's key.
      subjectKey.asymmetricKeyType === 'rsa'
      ? [DIGITAL_SIGNATURE, KEY_ENCIPHERMENT]
      : [DIGITAL_SIGNATURE];
  const list = [
    extension('2.5.29.19', true, isCA ? seq(boolTrue()) : seq()),
    extension('2.5.29.15', true, namedBits(usage)),
    extension(SUBJECT_KEY_IDENTIFIER, false, octets(keyIdentifier(subjectKey))),
  ];
  if (inputs.authorityKeyId) list.push(extension('2.5.29.35', false, seq(implicit(0, inputs.authorityKeyId))));
  if (inputs.extKeyUsage.length) list.push(extension('2.5.29.37', false, seq(...inputs.extKeyUsage.map((u) => oid(EKU_OIDS[u])))));
  if (inputs.dnsNames.length || inputs.ipAddresses.length) {
    list.push(extension('2.5.29.17', false, subjectAltName(inputs.dnsNames, inputs.ipAddresses)));
  }
  return seq(...list);
}
