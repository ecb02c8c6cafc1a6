/**
 * Thin typed helpers over node-forge's ASN.1 module. forge represents bytes as
 * "binary" strings (one char per byte); these helpers take and return Buffers
 * so nothing outside this file deals with that encoding.
 */
import forge from 'node-forge';

export type Node = forge.asn1.Asn1;

const { Class, Type } = forge.asn1;
const bin = (bytes: Buffer): string => bytes.toString('latin1');

export const seq = (...items: Node[]): Node => forge.asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
export const set = (...items: Node[]): Node => forge.asn1.create(Class.UNIVERSAL, Type.SET, true, items);
export const oid = (dotted: string): Node => forge.asn1.create(Class.UNIVERSAL, Type.OID, false, forge.asn1.oidToDer(dotted).getBytes());
export const octets = (bytes: Buffer): Node => forge.asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bin(bytes));
export const utf8 = (text: string): Node => forge.asn1.create(Class.UNIVERSAL, Type.UTF8, false, bin(Buffer.from(text, 'utf8')));
export const boolTrue = (): Node => forge.asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, '\xff');
export const nul = (): Node => forge.asn1.create(Class.UNIVERSAL, Type.NULL, false, '');

/** A BIT STRING holding whole bytes (signatures, keys). */
export const bits = (bytes: Buffer): Node => forge.asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, '\x00' + bin(bytes));

/** [tag] IMPLICIT, primitive: the universal tag is replaced, the content kept. */
export const implicit = (tag: number, bytes: Buffer): Node => forge.asn1.create(Class.CONTEXT_SPECIFIC, tag as forge.asn1.Type, false, bin(bytes));

/** [tag] EXPLICIT: a constructed wrapper around one value. */
export const explicit = (tag: number, inner: Node): Node => forge.asn1.create(Class.CONTEXT_SPECIFIC, tag as forge.asn1.Type, true, [inner]);

/**
 * A non-negative INTEGER from its big-endian magnitude, minimally encoded.
 * forge would otherwise emit a leading 0xff-byte magnitude as a negative number.
 */
export function unsignedInteger(magnitude: Buffer): Node {
  const first = magnitude.findIndex((b) => b !== 0);
  const trimmed = first === -1 ? Buffer.alloc(1) : magnitude.subarray(first);
  const content = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), trimmed]) : trimmed;
  return forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, bin(content));
}

/**
 * A named-bit BIT STRING (keyUsage). DER (X.690 §11.2.2) drops trailing zero
 * bits and counts them in the leading "unused bits" octet; OpenSSL accepts
 * either form, stricter parsers (Go's, BoringSSL's) do not.
 */
export function namedBits(positions: number[]): Node {
  const highest = Math.max(...positions);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const p of positions) bytes[p >> 3] = (bytes[p >> 3] ?? 0) | (0x80 >> (p & 7));
  const unused = 7 - (highest & 7);
  return forge.asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function time(date: Date): Node {
  const year = date.getUTCFullYear();
  // forge pads neither a 3-digit nor a 5-digit year; UTCTime cannot say 19xx before 1950.
  if (!(year >= 1950 && year <= 9999)) throw new RangeError(`pki: cannot encode the date ${String(date)} in a certificate`);
  return year < 2050
    ? forge.asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, forge.asn1.dateToUtcTime(date))
    : forge.asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, forge.asn1.dateToGeneralizedTime(date));
}

export const der = (node: Node): Buffer => Buffer.from(forge.asn1.toDer(node).getBytes(), 'latin1');

/**
 * Parses DER without forge's guess that a BIT STRING holds nested ASN.1, so
 * keys and signatures stay opaque bytes and re-encode unchanged.
 */
export function parse(bytes: Buffer): Node {
  // @types/node-forge knows only the boolean `strict` form, not the options object forge accepts.
  const fromDer = forge.asn1.fromDer as unknown as (input: string, options: { strict: boolean; decodeBitStrings: boolean }) => Node;
  return fromDer(bin(bytes), { strict: true, decodeBitStrings: false });
}

export function children(node: Node): Node[] {
  if (!Array.isArray(node.value)) throw new Error('pki: malformed DER: expected a constructed value');
  return node.value;
}

export function child(node: Node, index: number): Node {
  const found = children(node)[index];
  if (found === undefined) throw new Error('pki: malformed DER: a field is missing');
  return found;
}

/** Content octets of a primitive value (for a BIT STRING, without the unused-bits octet). */
export function content(node: Node): Buffer {
  if (Array.isArray(node.value)) throw new Error('pki: malformed DER: expected a primitive value');
  const bytes = Buffer.from(node.value, 'latin1');
  return node.tagClass === Class.UNIVERSAL && node.type === Type.BITSTRING ? bytes.subarray(1) : bytes;
}

export const oidOf = (node: Node): string => forge.asn1.derToOid(bin(content(node)));

export const isContext = (node: Node | undefined, tag: number): boolean => node !== undefined && node.tagClass === Class.CONTEXT_SPECIFIC && node.type === tag;
