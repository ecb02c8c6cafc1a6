/**
 * The key-version tag keygate puts in front of ciphertexts made with version 2 or
 * later of a rotated key:
 *
 *   0xC1 'k' 'g' 'v' || version (uint32, big-endian, ≥ 1) || raw KES envelope
 *
 * Version 1 is never tagged: a never-rotated key's ciphertexts are plain KES raw
 * envelopes, which KES itself can decrypt. An untagged ciphertext (every one KES
 * ever made, in any of its three envelopes) is version 1.
 *
 * KES's raw envelope starts with arbitrary ciphertext bytes, so no prefix can be
 * reserved outright: about one KES raw ciphertext in 2^32 starts with the four
 * magic bytes. Those still decrypt, because a tagged ciphertext that does not
 * authenticate under the version it names is tried again whole, as version 1
 * (see KeyRing.decrypt). 0xC1 is the one byte msgpack never uses, and it is not
 * '{', so a tag is never mistaken for KES's structured envelopes either.
 */

export const VERSION_MAGIC = Buffer.from([0xc1, 0x6b, 0x67, 0x76]);
/** Bytes the tag adds: magic and version. */
export const VERSION_TAG_SIZE = VERSION_MAGIC.length + 4;
/** Largest version a tag can carry. */
export const MAX_KEY_VERSION = 0xffffffff;

/** `raw` behind a tag naming `version` (≥ 2; version 1 is written untagged). */
export function tagCiphertext(version: number, raw: Buffer): Buffer {
  if (!Number.isInteger(version) || version < 2 || version > MAX_KEY_VERSION) throw new RangeError('key version out of range');
  const out = Buffer.allocUnsafe(VERSION_TAG_SIZE + raw.length);
  VERSION_MAGIC.copy(out, 0);
  out.writeUInt32BE(version, VERSION_MAGIC.length);
  raw.copy(out, VERSION_TAG_SIZE);
  return out;
}

/**
 * The version a ciphertext's tag names and the envelope after it; undefined when it
 * has no tag (or a tag naming version 0, which no writer makes). A tag may be a
 * coincidence: see the module comment.
 */
export function readCiphertextTag(b: Uint8Array): { version: number; body: Uint8Array } | undefined {
  if (b.length < VERSION_TAG_SIZE) return undefined;
  for (let i = 0; i < VERSION_MAGIC.length; i++) if (b[i] !== VERSION_MAGIC[i]) return undefined;
  const version = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(VERSION_MAGIC.length);
  if (version === 0) return undefined;
  return { version, body: b.subarray(VERSION_TAG_SIZE) };
}
