/** KES's conformance vectors for ciphertexts and stored keys (test/vectors/kes/ciphertexts.json), typed once. */
import { readFileSync } from 'node:fs';

export interface DecryptVector {
  id: string;
  envelope: 'raw' | 'msgpack' | 'json';
  algorithm: 'AES256' | 'ChaCha20';
  /** base64 */
  master_key: string;
  ciphertext: string;
  context: string | null;
  plaintext: string | null;
  expect: 'plaintext' | 'error';
}

export interface EncodingVector {
  stored: string;
  expect: string;
  format: string;
}

export const kesCiphertexts = JSON.parse(readFileSync(new URL('../vectors/kes/ciphertexts.json', import.meta.url), 'utf8')) as {
  decrypt: DecryptVector[];
  key_encodings: { vectors: EncodingVector[] };
};

/** The decrypt vectors that open, with the plaintext they open to. */
export const openingVectors = kesCiphertexts.decrypt.filter((v): v is DecryptVector & { plaintext: string } => v.expect === 'plaintext');
