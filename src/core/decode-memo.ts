/**
 * Remembers what a stored value decoded to, so an entry read again and again
 * (a bundle every node of a fleet fetches) is parsed once, not on every read.
 * A hit needs the very Entry object seen before (what `peek` hands out until the
 * entry changes), or the same version with byte-identical value (copies from
 * `get`), so the memo never answers with anything but what the keystore has
 * just returned.
 *
 * Once full, a name is admitted only on its second read within the last few
 * thousand (a "doorkeeper": a table of name hashes, no objects): reads spread
 * over far more names than the memo holds (100 000 bundles read at random) would
 * otherwise keep every decoded value alive just long enough to be copied by the
 * young-generation collector and promoted, only to be evicted unread. Decoded
 * values of such reads die young, which costs the collector nothing.
 */
import { sameStoredValue, type Entry } from '../../keystores/keystore.js';

export class DecodeMemo<T> {
  private readonly slots = new Map<string, { entry: Entry; decoded: T }>();
  /** Hashes of names read once and not admitted, by hash slot (0 = empty). */
  private readonly seen: Int32Array;

  /** @param capacity entries kept; the least recently used one goes first. */
  constructor(private readonly capacity: number) {
    let size = 64;
    while (size < capacity * 4) size *= 2;
    this.seen = new Int32Array(size);
  }

  /** `decode(entry.value)`, or the earlier result for the same name, version and bytes. */
  decode(name: string, entry: Entry, decode: (value: Buffer) => T): T {
    const slot = this.slots.get(name);
    // Deleted either way: a hit is re-inserted (the Map's order is least recently used first),
    // and a stale value (an old private key) does not linger if the new one fails to decode.
    this.slots.delete(name);
    if (slot && sameStoredValue(slot.entry, entry)) {
      this.slots.set(name, slot);
      return slot.decoded;
    }
    const decoded = decode(entry.value);
    // A name that had a slot was read before: it keeps one.
    if (slot || this.slots.size < this.capacity || this.admit(name)) {
      this.slots.set(name, { entry, decoded });
      if (this.slots.size > this.capacity) this.slots.delete(this.slots.keys().next().value as string);
    }
    return decoded;
  }

  forget(name: string): void {
    this.slots.delete(name);
  }

  /** Whether `name` was read recently (then it is admitted), remembering it otherwise. */
  private admit(name: string): boolean {
    const h = hash(name);
    const at = h & (this.seen.length - 1);
    if (this.seen[at] === h) {
      this.seen[at] = 0;
      return true;
    }
    this.seen[at] = h;
    return false;
  }
}

/** FNV-1a over the UTF-16 code units, never 0 (the empty slot). */
function hash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0 || 1;
}
