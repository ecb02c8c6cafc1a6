/**
 * PKCS#10 certificate signing requests (RFC 2986) for the keys node:crypto makes
 * (ECDSA P-256/P-384, Ed25519, RSA): the subject's common name, the names asked
 * for as a subjectAltName in an extensionRequest attribute (RFC 2985 §5.4.2), and
 * the signature by the private key, which proves the requester holds it. Built
 * with src/pki's ASN.1 helpers and signed with crypto.sign (node-forge makes RSA
 * requests only). The private key never leaves this process.
 */
import { createPublicKey, generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { bits, der, explicit, implicit, octets, oid, seq, set, unsignedInteger, utf8, type Node } from '../pki/asn1.js';
import { ipAddressBytes, subjectPublicKeyInfo } from '../pki/extensions.js';
import { signerFor, type KeyType } from '../pki/keys.js';

const OID_COMMON_NAME = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

export interface CsrSubject {
  commonName: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

const generate = promisify(generateKeyPairCb);

/**
 * A new private key of `type`, made off the event loop (an RSA-4096 key takes seconds,
 * during which the agent keeps answering its status endpoint and its timers).
 */
export async function newPrivateKey(type: KeyType): Promise<KeyObject> {
  switch (type) {
    case 'ed25519':
      return (await generate('ed25519')).privateKey;
    case 'ecdsa-p256':
      return (await generate('ec', { namedCurve: 'P-256' })).privateKey;
    case 'ecdsa-p384':
      return (await generate('ec', { namedCurve: 'P-384' })).privateKey;
    case 'rsa-2048':
      return (await generate('rsa', { modulusLength: 2048 })).privateKey;
    case 'rsa-3072':
      return (await generate('rsa', { modulusLength: 3072 })).privateKey;
    case 'rsa-4096':
      return (await generate('rsa', { modulusLength: 4096 })).privateKey;
  }
}

/** The request for `subject`, signed with `privateKey`, as PEM (`CERTIFICATE REQUEST`). */
export function createCsr(privateKey: KeyObject, subject: CsrSubject): string {
  if (subject.commonName === '') throw new TypeError('csr: a request needs a common name');
  const names: Node[] = [
    ...subject.dnsNames.map((name) => {
      // dNSName is an IA5String: international names must arrive already in punycode.
      if (!/^[\x21-\x7e]+$/.test(name)) throw new TypeError(`csr: '${name}' is not an ASCII DNS name`);
      return implicit(2, Buffer.from(name, 'latin1'));
    }),
    ...subject.ipAddresses.map((ip) => implicit(7, ipAddressBytes(ip))),
  ];
  const attributes = names.length
    ? [seq(oid(OID_EXTENSION_REQUEST), set(seq(seq(oid(OID_SUBJECT_ALT_NAME), octets(der(seq(...names)))))))]
    : [];
  const info = seq(
    unsignedInteger(Buffer.from([0])), // version 1
    seq(set(seq(oid(OID_COMMON_NAME), utf8(subject.commonName)))),
    subjectPublicKeyInfo(createPublicKey(privateKey)),
    // attributes [0] IMPLICIT SET OF Attribute: the SET's tag replaced, its elements kept.
    explicitSetOf(attributes),
  );
  const signer = signerFor(privateKey);
  const request = der(seq(info, signer.identifier, bits(signer.sign(der(info)))));
  const body = request.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body}-----END CERTIFICATE REQUEST-----\n`;
}

/** `[0]` constructed around the elements of a SET OF (zero or one here, so no DER sorting is needed). */
function explicitSetOf(items: Node[]): Node {
  const [only, ...rest] = items;
  if (rest.length) throw new Error('csr: one attribute at most');
  if (only) return explicit(0, only);
  const empty = explicit(0, seq());
  empty.value = [];
  return empty;
}
