/**
 * HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the key-derivation half of
 * XChaCha20. Node ships ChaCha20-Poly1305 but not XChaCha20, and KES derives
 * its per-message ChaCha20 subkey as HChaCha20(masterKey, iv[0:16]), so this
 * is the one primitive we have to carry ourselves.
 */

// "expand 32-byte k", little-endian.
const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;

/** Returns the 32-byte subkey. `key` must be 32 bytes, `nonce` 16. */
export function hchacha20(key: Uint8Array, nonce: Uint8Array): Buffer {
  if (key.length !== 32) throw new RangeError(`hchacha20: key must be 32 bytes, got ${key.length}`);
  if (nonce.length !== 16) throw new RangeError(`hchacha20: nonce must be 16 bytes, got ${nonce.length}`);

  const kv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const nv = new DataView(nonce.buffer, nonce.byteOffset, nonce.byteLength);
  const s = new Uint32Array(16);
  s.set(SIGMA, 0);
  for (let i = 0; i < 8; i++) s[4 + i] = kv.getUint32(i * 4, true);
  for (let i = 0; i < 4; i++) s[12 + i] = nv.getUint32(i * 4, true);

  // Local copies: indexed access on a typed array would otherwise be
  // `number | undefined` under noUncheckedIndexedAccess in every round.
  // prettier-ignore
  let x0 = s[0]!, x1 = s[1]!, x2 = s[2]!, x3 = s[3]!,
    x4 = s[4]!, x5 = s[5]!, x6 = s[6]!, x7 = s[7]!,
    x8 = s[8]!, x9 = s[9]!, x10 = s[10]!, x11 = s[11]!,
    x12 = s[12]!, x13 = s[13]!, x14 = s[14]!, x15 = s[15]!;
  s.fill(0);

  const rotl = (v: number, n: number): number => ((v << n) | (v >>> (32 - n))) >>> 0;

  // The quarter rounds laid out as the draft writes them, four steps a line.
  // prettier-ignore
  for (let round = 0; round < 10; round++) {
    // Column round.
    x0 = (x0 + x4) >>> 0; x12 = rotl(x12 ^ x0, 16); x8 = (x8 + x12) >>> 0; x4 = rotl(x4 ^ x8, 12);
    x0 = (x0 + x4) >>> 0; x12 = rotl(x12 ^ x0, 8); x8 = (x8 + x12) >>> 0; x4 = rotl(x4 ^ x8, 7);
    x1 = (x1 + x5) >>> 0; x13 = rotl(x13 ^ x1, 16); x9 = (x9 + x13) >>> 0; x5 = rotl(x5 ^ x9, 12);
    x1 = (x1 + x5) >>> 0; x13 = rotl(x13 ^ x1, 8); x9 = (x9 + x13) >>> 0; x5 = rotl(x5 ^ x9, 7);
    x2 = (x2 + x6) >>> 0; x14 = rotl(x14 ^ x2, 16); x10 = (x10 + x14) >>> 0; x6 = rotl(x6 ^ x10, 12);
    x2 = (x2 + x6) >>> 0; x14 = rotl(x14 ^ x2, 8); x10 = (x10 + x14) >>> 0; x6 = rotl(x6 ^ x10, 7);
    x3 = (x3 + x7) >>> 0; x15 = rotl(x15 ^ x3, 16); x11 = (x11 + x15) >>> 0; x7 = rotl(x7 ^ x11, 12);
    x3 = (x3 + x7) >>> 0; x15 = rotl(x15 ^ x3, 8); x11 = (x11 + x15) >>> 0; x7 = rotl(x7 ^ x11, 7);
    // Diagonal round.
    x0 = (x0 + x5) >>> 0; x15 = rotl(x15 ^ x0, 16); x10 = (x10 + x15) >>> 0; x5 = rotl(x5 ^ x10, 12);
    x0 = (x0 + x5) >>> 0; x15 = rotl(x15 ^ x0, 8); x10 = (x10 + x15) >>> 0; x5 = rotl(x5 ^ x10, 7);
    x1 = (x1 + x6) >>> 0; x12 = rotl(x12 ^ x1, 16); x11 = (x11 + x12) >>> 0; x6 = rotl(x6 ^ x11, 12);
    x1 = (x1 + x6) >>> 0; x12 = rotl(x12 ^ x1, 8); x11 = (x11 + x12) >>> 0; x6 = rotl(x6 ^ x11, 7);
    x2 = (x2 + x7) >>> 0; x13 = rotl(x13 ^ x2, 16); x8 = (x8 + x13) >>> 0; x7 = rotl(x7 ^ x8, 12);
    x2 = (x2 + x7) >>> 0; x13 = rotl(x13 ^ x2, 8); x8 = (x8 + x13) >>> 0; x7 = rotl(x7 ^ x8, 7);
    x3 = (x3 + x4) >>> 0; x14 = rotl(x14 ^ x3, 16); x9 = (x9 + x14) >>> 0; x4 = rotl(x4 ^ x9, 12);
    x3 = (x3 + x4) >>> 0; x14 = rotl(x14 ^ x3, 8); x9 = (x9 + x14) >>> 0; x4 = rotl(x4 ^ x9, 7);
  }

  // Unlike the ChaCha20 block function there is no feed-forward addition:
  // HChaCha20 outputs rows 0 and 3 of the permuted state directly.
  const out = Buffer.alloc(32);
  const words = [x0, x1, x2, x3, x12, x13, x14, x15];
  for (let i = 0; i < 8; i++) out.writeUInt32LE(words[i]!, i * 4);
  words.fill(0);
  return out;
}
