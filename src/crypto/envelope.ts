/**
 * Ciphertext envelopes. Current KES (2024-01 on) writes the raw form
 *   sealed (ciphertext || tag(16)) || iv(16) || nonce(12)
 * and still reads the two older structured forms by converting them to it:
 * msgpack (v0.19.2 … 2024-01, first byte 0x95) and JSON (≤ v0.19.1, first
 * byte '{'). The old algorithm name and key ID are deliberately ignored: the
 * key's own type picks the cipher, exactly as KES HEAD does.
 */
import { goJSONBytes, goJSONField, goJSONString, isJSONObject } from './go-compat.js';

export const IV_SIZE = 16;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
/** Bytes a raw envelope adds to the plaintext. */
export const OVERHEAD = TAG_SIZE + IV_SIZE + NONCE_SIZE;

/** The parts of a structured (legacy) envelope. */
export interface EnvelopeParts {
  /** Algorithm name as written; validated but otherwise ignored. */
  algorithm: string;
  /** Key ID as written (may be empty); never checked, as in KES HEAD. */
  keyId: string;
  iv: Buffer;
  nonce: Buffer;
  /** ciphertext || tag */
  sealed: Buffer;
}

/** Names KES's key-algorithm parser accepts in the msgpack envelope. */
const MSGPACK_ALGORITHMS = new Set(['AES256', 'AES256-GCM_SHA256', 'ChaCha20', 'XCHACHA20-POLY1305']);
/** The JSON envelope accepts only the two names v0.8.0 … v0.19.1 wrote. */
const JSON_ALGORITHMS = new Set(['AES-256-GCM-HMAC-SHA-256', 'ChaCha20Poly1305']);

/**
 * Converts any envelope KES accepts into the raw form. Input that is not a
 * well-formed structured envelope is returned as is, to be tried as raw; that
 * is KES's rule, and it means a malformed legacy envelope fails later, at
 * authentication, with the same error as any other bad ciphertext.
 */
export function toRawCiphertext(b: Uint8Array): Uint8Array {
  let parts: EnvelopeParts | undefined;
  if (b[0] === 0x95) parts = parseMsgpackEnvelope(b);
  else if (b[0] === 0x7b) parts = parseJSONEnvelope(b);
  return parts ? Buffer.concat([parts.sealed, parts.iv, parts.nonce]) : b;
}

/**
 * A msgpack fixarray(5): [algorithm str, keyID str, iv bin(16), nonce bin(12),
 * sealed bin], nothing after it. Undefined when it is anything else. The wire
 * types are strict (str for the names, bin for the bytes) because the Go
 * decoder KES uses is.
 */
export function parseMsgpackEnvelope(b: Uint8Array): EnvelopeParts | undefined {
  if (b[0] !== 0x95) return undefined;
  const r = new MsgpackReader(b, 1);
  const algorithm = r.str();
  const keyId = r.str();
  const iv = r.bin();
  const nonce = r.bin();
  const sealed = r.bin();
  if (algorithm === undefined || keyId === undefined || !iv || !nonce || !sealed) return undefined;
  if (!r.atEnd()) return undefined;
  if (iv.length !== IV_SIZE || nonce.length !== NONCE_SIZE) return undefined;
  if (!MSGPACK_ALGORITHMS.has(algorithm)) return undefined;
  return { algorithm, keyId, iv: Buffer.from(iv), nonce: Buffer.from(nonce), sealed: Buffer.from(sealed) };
}

/**
 * {"aead", "id"?, "iv", "nonce", "bytes"} with Go's encoding/json semantics:
 * case-insensitive keys, unknown keys ignored, base64 byte fields, null as
 * the zero value, any type mismatch an error. Undefined when invalid.
 */
export function parseJSONEnvelope(b: Uint8Array): EnvelopeParts | undefined {
  if (b[0] !== 0x7b) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isJSONObject(doc)) return undefined;
  const algorithm = goJSONString(goJSONField(doc, 'aead'));
  const keyId = goJSONString(goJSONField(doc, 'id'));
  const iv = goJSONBytes(goJSONField(doc, 'iv'));
  const nonce = goJSONBytes(goJSONField(doc, 'nonce'));
  const sealed = goJSONBytes(goJSONField(doc, 'bytes'));
  if (algorithm === undefined || keyId === undefined || !iv || !nonce || !sealed) return undefined;
  if (!JSON_ALGORITHMS.has(algorithm)) return undefined;
  if (iv.length !== IV_SIZE || nonce.length !== NONCE_SIZE) return undefined;
  return { algorithm, keyId, iv, nonce, sealed };
}

/** Just enough msgpack for the envelope: str and bin, bounds-checked. */
class MsgpackReader {
  constructor(
    private readonly b: Uint8Array,
    private pos: number,
  ) {}

  atEnd(): boolean {
    return this.pos === this.b.length;
  }

  str(): string | undefined {
    const lead = this.b[this.pos];
    if (lead === undefined) return undefined;
    let len: number | undefined;
    if (lead >= 0xa0 && lead <= 0xbf) {
      len = lead & 0x1f;
      this.pos += 1;
    } else if (lead === 0xd9) len = this.length(1);
    else if (lead === 0xda) len = this.length(2);
    else if (lead === 0xdb) len = this.length(4);
    const bytes = len === undefined ? undefined : this.take(len);
    return bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }

  bin(): Uint8Array | undefined {
    const lead = this.b[this.pos];
    let len: number | undefined;
    if (lead === 0xc4) len = this.length(1);
    else if (lead === 0xc5) len = this.length(2);
    else if (lead === 0xc6) len = this.length(4);
    return len === undefined ? undefined : this.take(len);
  }

  /** Reads the big-endian length after a one-byte lead. */
  private length(width: 1 | 2 | 4): number | undefined {
    if (this.pos + 1 + width > this.b.length) return undefined;
    let n = 0;
    for (let i = 0; i < width; i++) n = n * 256 + this.b[this.pos + 1 + i]!;
    this.pos += 1 + width;
    return n;
  }

  private take(len: number): Uint8Array | undefined {
    if (this.pos + len > this.b.length) return undefined;
    const out = this.b.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}
