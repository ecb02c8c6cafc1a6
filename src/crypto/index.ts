/**
 * KES-compatible master keys: encryption with KES's ciphertext envelopes and
 * KES's keystore encoding. Pure: no I/O, no imports from other layers.
 */
export { SecretKey, DecryptionError, HMACUnavailableError, type Algorithm } from './secret-key.js';
export { encodeKey, decodeKey, KeyEncodingError, type StoredKey } from './key-encoding.js';
export { KeyRing, KeyRingError, RetiredVersionError, encodeKeyRing, decodeKeyRing, nextVersion, type KeyVersionInfo } from './key-ring.js';
export { VERSION_MAGIC, VERSION_TAG_SIZE } from './versioned-ciphertext.js';
export { freshRandom } from './random.js';
