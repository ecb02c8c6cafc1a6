/**
 * KES master keys and the encryption done with them (KES `internal/crypto`).
 *
 * Every encryption draws a fresh 16-byte IV and 12-byte nonce and derives a
 * one-time subkey from the IV, so random nonces never repeat under one AEAD
 * key, whatever the message count:
 *   AES256:   subkey = HMAC-SHA256(master, iv),  AES-256-GCM(subkey, nonce)
 *   ChaCha20: subkey = HChaCha20(master, iv),    ChaCha20-Poly1305(subkey, nonce)
 * with the request's context as associated data (absent and empty are the same
 * AAD, as in Go). Output is the raw envelope, see envelope.ts.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { hchacha20 } from './hchacha20.js';
import { IV_SIZE, NONCE_SIZE, OVERHEAD, TAG_SIZE, toRawCiphertext } from './envelope.js';
import { freshRandom } from './random.js';

export type Algorithm = 'AES256' | 'ChaCha20';

export const KEY_SIZE = 32;
export const HMAC_KEY_SIZE = 32;

/**
 * Any decryption failure: malformed input, wrong key, wrong context, tampered
 * bytes. One message for all of them (KES's), so a caller learns nothing
 * about which check failed.
 */
export class DecryptionError extends Error {
  constructor() {
    super('decryption failed: ciphertext is not authentic');
  }

  override get name(): string {
    return 'DecryptionError';
  }
}

/** hmac() on a key created before KES had HMAC subkeys (legacy JSON keys). */
export class HMACUnavailableError extends Error {
  constructor() {
    super('key does not support HMAC');
  }

  override get name(): string {
    return 'HMACUnavailableError';
  }
}

/** Raw key material, for the storage encoder only; see secretKeyMaterial. */
export interface SecretKeyMaterial {
  key: Buffer;
  hmacKey: Buffer | undefined;
}

let readMaterial: (k: SecretKey) => SecretKeyMaterial;

export class SecretKey {
  readonly algorithm: Algorithm;
  readonly hasHMAC: boolean;
  // #private so the bytes stay out of util.inspect, JSON.stringify and
  // property enumeration: a logged StoredKey must not leak its key.
  readonly #key: Buffer;
  readonly #hmacKey: Buffer | undefined;

  static {
    readMaterial = (k) => ({ key: k.#key, hmacKey: k.#hmacKey });
  }

  constructor(algorithm: Algorithm, key: Uint8Array, hmacKey?: Uint8Array) {
    if (algorithm !== 'AES256' && algorithm !== 'ChaCha20') {
      throw new TypeError(`unsupported key algorithm '${String(algorithm).slice(0, 40)}'`);
    }
    if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) {
      throw new RangeError(`invalid key length: must be ${KEY_SIZE} bytes`);
    }
    if (hmacKey !== undefined && (!(hmacKey instanceof Uint8Array) || hmacKey.length !== HMAC_KEY_SIZE)) {
      throw new RangeError(`invalid HMAC key length: must be ${HMAC_KEY_SIZE} bytes`);
    }
    this.algorithm = algorithm;
    // Own copies (Buffer.alloc, never the shared allocUnsafe pool): the
    // caller may reuse or wipe its buffer.
    this.#key = copy(key);
    this.#hmacKey = hmacKey === undefined ? undefined : copy(hmacKey);
    this.hasHMAC = hmacKey !== undefined;
  }

  /** A new random key, always with an HMAC subkey (as KES creates them). */
  static generate(algorithm: Algorithm = 'AES256'): SecretKey {
    const key = randomBytes(KEY_SIZE);
    const hmacKey = randomBytes(HMAC_KEY_SIZE);
    try {
      return new SecretKey(algorithm, key, hmacKey);
    } finally {
      key.fill(0);
      hmacKey.fill(0);
    }
  }

  /** Raw envelope: ciphertext || tag(16) || iv(16) || nonce(12). */
  encrypt(plaintext: Uint8Array, context?: Uint8Array): Buffer {
    const random = freshRandom(IV_SIZE + NONCE_SIZE);
    const iv = random.subarray(0, IV_SIZE);
    const nonce = random.subarray(IV_SIZE);
    const subkey = this.#subkey(iv);
    try {
      const cipher =
        this.algorithm === 'AES256'
          ? createCipheriv('aes-256-gcm', subkey, nonce, { authTagLength: TAG_SIZE })
          : createCipheriv('chacha20-poly1305', subkey, nonce, { authTagLength: TAG_SIZE });
      cipher.setAAD(context ?? EMPTY);
      const body = cipher.update(plaintext);
      const final = cipher.final();
      return Buffer.concat([body, final, cipher.getAuthTag(), random], plaintext.length + OVERHEAD);
    } finally {
      subkey.fill(0);
    }
  }

  /**
   * Opens a raw, msgpack or JSON envelope (KES's current decrypt rules). Every
   * failure, from a short input to a bad tag, is a DecryptionError.
   */
  decrypt(ciphertext: Uint8Array, context?: Uint8Array): Buffer {
    const raw = toRawCiphertext(ciphertext);
    // KES rejects anything not longer than iv || nonce; a remainder shorter
    // than a tag is not a ciphertext either (Go's AEAD.Open refuses it too).
    if (raw.length < OVERHEAD) throw new DecryptionError();
    const sealedEnd = raw.length - IV_SIZE - NONCE_SIZE;
    const body = raw.subarray(0, sealedEnd - TAG_SIZE);
    const tag = raw.subarray(sealedEnd - TAG_SIZE, sealedEnd);
    const iv = raw.subarray(sealedEnd, sealedEnd + IV_SIZE);
    const nonce = raw.subarray(sealedEnd + IV_SIZE);

    const subkey = this.#subkey(iv);
    let out: Buffer | undefined;
    try {
      const decipher =
        this.algorithm === 'AES256'
          ? createDecipheriv('aes-256-gcm', subkey, nonce, { authTagLength: TAG_SIZE })
          : createDecipheriv('chacha20-poly1305', subkey, nonce, { authTagLength: TAG_SIZE });
      // The AEAD verifies the tag in constant time inside final(); nothing
      // here compares secret bytes itself.
      decipher.setAuthTag(tag);
      decipher.setAAD(context ?? EMPTY);
      out = decipher.update(body);
      const final = decipher.final();
      return final.length === 0 ? out : Buffer.concat([out, final]);
    } catch {
      // update() hands out plaintext before the tag is checked; wipe it.
      out?.fill(0);
      throw new DecryptionError();
    } finally {
      subkey.fill(0);
    }
  }

  /** HMAC-SHA256 of message under the key's HMAC subkey. */
  hmac(message: Uint8Array): Buffer {
    if (!this.#hmacKey) throw new HMACUnavailableError();
    return createHmac('sha256', this.#hmacKey).update(message).digest();
  }

  #subkey(iv: Uint8Array): Buffer {
    // The key's own bytes, not a KeyObject made of them: createHmac takes a Buffer key faster (once a request).
    return this.algorithm === 'AES256' ? createHmac('sha256', this.#key).update(iv).digest() : hchacha20(this.#key, iv);
  }
}

/**
 * The key's raw bytes, for the storage encoder in this folder. Deliberately
 * not exported from index.ts: outside src/crypto nothing needs key bytes.
 * The buffers are the key's own; callers must not modify them.
 */
export function secretKeyMaterial(k: SecretKey): SecretKeyMaterial {
  return readMaterial(k);
}

const EMPTY = Buffer.alloc(0);

function copy(b: Uint8Array): Buffer {
  const out = Buffer.alloc(b.length);
  out.set(b);
  return out;
}
