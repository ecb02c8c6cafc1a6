/**
 * Changes to a key's versions (rotate, min_decryption_version) as conditional
 * keystore updates: read the entry, build the new ring, write it only if the entry
 * is still the one read, and start over when another writer (another replica
 * rotating the same key) got there first. So concurrent rotations each add a
 * version; none is lost.
 */
import { BadRequestError, coded } from '../../errors.js';
import { KeyRing, KeyRingError, decodeKeyRing, encodeKeyRing } from '../../crypto/index.js';
import { VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';

/**
 * Attempts before giving up with 409. Every lost attempt means another writer's
 * update landed, so this bounds only a storm of concurrent writers on one key.
 */
const MAX_ATTEMPTS = 64;

/**
 * Replaces `name`'s ring with `change(ring)`; returns the ring now stored. `change`
 * returning the same ring writes nothing (a key never rotated stays in KES's format).
 * @throws NotFoundError, BadRequestError (the change's rules), ConflictError, UnavailableError
 */
export async function changeRing(store: KeyStore, name: string, change: (ring: KeyRing) => KeyRing, texts: StoreErrorTexts): Promise<KeyRing> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    let ring: KeyRing;
    let version: string;
    try {
      const entry = await store.get(name);
      version = entry.version;
      ring = decodeKeyRing(entry.value);
    } catch (err) {
      throw translateStoreError(err, texts);
    }
    let next: KeyRing;
    try {
      next = change(ring);
    } catch (err) {
      if (err instanceof KeyRingError) throw new BadRequestError(err.message);
      throw err;
    }
    if (next === ring) return ring;
    try {
      await store.update(name, encodeKeyRing(next), version);
      return next;
    } catch (err) {
      if (err instanceof VersionMismatchError) continue;
      throw translateStoreError(err, texts);
    }
  }
  throw coded('KEY_VERSION_CONFLICT');
}
