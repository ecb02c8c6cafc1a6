/**
 * The subject alternative names of a certificate, read from its DER rather
 * than from X509Certificate.subjectAltName, whose text form quotes and escapes
 * unusual values and cannot be split reliably.
 */
import type { X509Certificate } from 'node:crypto';
import { child, children, content, isContext, oidOf, parse, type Node } from './asn1.js';

export interface SubjectAltNames {
  /** dNSName entries as written (wildcards keep their `*.`). */
  dns: string[];
  /** iPAddress entries as 4 or 16 bytes. */
  ip: Buffer[];
}

const SUBJECT_ALT_NAME = '2.5.29.17';
const DNS_NAME = 2;
const IP_ADDRESS = 7;

/** @throws Error when the certificate's DER or its SAN extension is malformed. */
export function subjectAltNames(cert: X509Certificate): SubjectAltNames {
  const out: SubjectAltNames = { dns: [], ip: [] };
  const extension = findExtension(cert.raw, SUBJECT_ALT_NAME);
  if (!extension) return out;
  for (const name of children(parse(extension))) {
    if (isContext(name, DNS_NAME)) out.dns.push(content(name).toString('latin1'));
    else if (isContext(name, IP_ADDRESS)) {
      const bytes = content(name);
      if (bytes.length === 4 || bytes.length === 16) out.ip.push(bytes);
    }
  }
  return out;
}

/** The extnValue octets of extension `id`, or undefined. */
function findExtension(der: Buffer, id: string): Buffer | undefined {
  const tbs = child(parse(der), 0);
  const list = children(tbs).find((f: Node) => isContext(f, 3));
  if (!list) return undefined;
  for (const ext of children(child(list, 0))) {
    const parts = children(ext);
    const value = parts[parts.length - 1];
    if (value && oidOf(child(ext, 0)) === id) return content(value);
  }
  return undefined;
}

/** The text form of an iPAddress SAN: dotted IPv4, or IPv6 in canonical compressed form. */
export function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser applies RFC 5952 (longest run of zero groups becomes '::').
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
