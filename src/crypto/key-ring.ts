/**
 * Key versions: a master key as a ring of versions 1…N, of which the latest
 * encrypts and every version from `minDecryptionVersion` on decrypts.
 *
 * Stored form. A key that was never rotated is one version and stays exactly what
 * KES wrote (decodeKey's forms; nothing here ever rewrites it), so a KES server can
 * still read it. A rotated key is stored as
 *
 *   keygate-key-ring:v1\n{"min_decryption_version":M,"versions":["<v1>","<v2>",…]}
 *
 * where each version is a KES-encoded key (encodeKeyAnyForm), version i at index
 * i-1. The first line makes it neither JSON nor base64, so neither keygate nor KES
 * can mistake it for a single KES key (KES refuses to read it instead).
 *
 * Ciphertexts of versions ≥ 2 carry a version tag (versioned-ciphertext.ts).
 */
import { SecretKey, DecryptionError } from './secret-key.js';
import { decodeKey, encodeKeyAnyForm, KeyEncodingError, type StoredKey } from './key-encoding.js';
import { MAX_KEY_VERSION, readCiphertextTag, tagCiphertext } from './versioned-ciphertext.js';

const RING_HEADER = 'keygate-key-ring:v1\n';

/** A decryption refused because the ciphertext's version is below min_decryption_version. */
export class RetiredVersionError extends Error {
  constructor() {
    super('decryption failed: key version is retired (below min_decryption_version)');
  }

  override get name(): string {
    return 'RetiredVersionError';
  }
}

/** A ring change that its rules refuse (a min_decryption_version out of range). */
export class KeyRingError extends Error {
  override get name(): string {
    return 'KeyRingError';
  }
}

export interface KeyVersionInfo extends StoredKey {
  /** 1 for the key as created or imported, +1 per rotation. */
  version: number;
}

/** Immutable: changes return a new ring. */
export class KeyRing {
  readonly #versions: readonly StoredKey[];
  readonly minDecryptionVersion: number;

  private constructor(versions: readonly StoredKey[], minDecryptionVersion: number) {
    if (versions.length === 0) throw new KeyRingError('a key has at least one version');
    if (versions.length > MAX_KEY_VERSION) throw new KeyRingError('too many key versions');
    if (!Number.isInteger(minDecryptionVersion) || minDecryptionVersion < 1 || minDecryptionVersion > versions.length) {
      throw new KeyRingError(`min_decryption_version must be an integer from 1 to the latest version (${versions.length})`);
    }
    this.#versions = versions;
    this.minDecryptionVersion = minDecryptionVersion;
  }

  /** A key as KES knows it: one version. */
  static of(key: StoredKey): KeyRing {
    return new KeyRing([key], 1);
  }

  get latestVersion(): number {
    return this.#versions.length;
  }

  /** The version encrypt, generate and hmac use. */
  get latest(): StoredKey {
    return this.#versions[this.#versions.length - 1]!;
  }

  /** Whether it is still a single KES key (stored in KES's own format). */
  get isSingle(): boolean {
    return this.#versions.length === 1;
  }

  /** Every version, oldest first, with its number; never key bytes outside SecretKey. */
  versions(): KeyVersionInfo[] {
    return this.#versions.map((v, i) => ({ ...v, version: i + 1 }));
  }

  /** This ring with `next` as a new latest version. */
  rotated(next: StoredKey): KeyRing {
    return new KeyRing([...this.#versions, next], this.minDecryptionVersion);
  }

  /** This ring with another min_decryption_version. @throws KeyRingError when out of range. */
  withMinDecryptionVersion(min: number): KeyRing {
    return new KeyRing(this.#versions, min);
  }

  /** Encrypts under the latest version: KES's raw envelope, tagged from version 2 on. */
  encrypt(plaintext: Uint8Array, context?: Uint8Array): Buffer {
    const raw = this.latest.key.encrypt(plaintext, context);
    return this.isSingle ? raw : tagCiphertext(this.latestVersion, raw);
  }

  /**
   * Decrypts a ciphertext of any version still allowed. An untagged ciphertext is
   * version 1; a tagged one that does not authenticate under the version it names
   * is tried as an untagged one (a KES raw ciphertext that starts like a tag).
   * @throws DecryptionError, RetiredVersionError
   */
  decrypt(ciphertext: Uint8Array, context?: Uint8Array): { plaintext: Buffer; version: number } {
    const tagged = readCiphertextTag(ciphertext);
    const named = tagged && this.#versions[tagged.version - 1];
    if (tagged && named) {
      // Retired: version 1 (the fallback) is retired as well, since tagged.version ≥ 1.
      if (tagged.version < this.minDecryptionVersion) throw new RetiredVersionError();
      try {
        return { plaintext: named.key.decrypt(tagged.body, context), version: tagged.version };
      } catch (err) {
        if (!(err instanceof DecryptionError)) throw err;
      }
    }
    if (this.minDecryptionVersion > 1) {
      // An untagged ciphertext is version 1, retired; a tag that failed is just not authentic.
      throw tagged ? new DecryptionError() : new RetiredVersionError();
    }
    return { plaintext: this.#versions[0]!.key.decrypt(ciphertext, context), version: 1 };
  }
}

/** The ring's stored form; a single-version ring is written as KES writes a key. */
export function encodeKeyRing(ring: KeyRing): Buffer {
  if (ring.isSingle && ring.minDecryptionVersion === 1) return encodeKeyAnyForm(ring.latest);
  const versions = ring.versions().map((v) => encodeKeyAnyForm(v).toString('utf8'));
  return Buffer.from(RING_HEADER + JSON.stringify({ min_decryption_version: ring.minDecryptionVersion, versions }), 'utf8');
}

/** Reads a stored key in any KES form, or a ring. @throws KeyEncodingError (never with key bytes) */
export function decodeKeyRing(stored: Uint8Array): KeyRing {
  const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (!startsWith(b, RING_HEADER)) return KeyRing.of(decodeKey(b));
  const fail = (why: string) => new KeyEncodingError(`invalid stored key ring: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(b.subarray(RING_HEADER.length).toString('utf8'));
  } catch {
    throw fail('not JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw fail('not a JSON object');
  const { min_decryption_version: min, versions } = doc as Record<string, unknown>;
  if (!Array.isArray(versions) || versions.length === 0) throw fail("'versions' is not a non-empty array");
  const keys = versions.map((v, i) => {
    if (typeof v !== 'string') throw fail(`version ${i + 1} is not a string`);
    try {
      return decodeKey(Buffer.from(v, 'utf8'));
    } catch (err) {
      throw fail(`version ${i + 1}: ${err instanceof Error ? err.message : 'undecodable'}`);
    }
  });
  if (typeof min !== 'number') throw fail("'min_decryption_version' is not a number");
  let ring = KeyRing.of(keys[0]!);
  for (const k of keys.slice(1)) ring = ring.rotated(k);
  try {
    return ring.withMinDecryptionVersion(min);
  } catch {
    throw fail("'min_decryption_version' is out of range");
  }
}

/** A fresh version for rotating `ring`: a random key of the latest version's cipher. */
export function nextVersion(ring: KeyRing, createdAt: Date, createdBy: string): StoredKey {
  const out: StoredKey = { key: SecretKey.generate(ring.latest.key.algorithm), createdAt };
  if (createdBy) out.createdBy = createdBy;
  return out;
}

function startsWith(b: Buffer, text: string): boolean {
  return b.length >= text.length && b.toString('latin1', 0, text.length) === text;
}
