/**
 * Remembers what a stored value decoded to, so an entry read again and again
 * (a bundle every node of a fleet fetches) is parsed once, not on every read.
 * A hit needs the very Entry object seen before (what `peek` hands out until the
 * entry changes), or the same version with byte-identical value (copies from
 * `get`), so the memo never answers with anything but what the keystore has
 * just returned.
 */
import type { Entry } from '../../keystores/keystore.js';

export class DecodeMemo<T> {
  private readonly slots = new Map<string, { entry: Entry; decoded: T }>();

  /** @param capacity entries kept; the least recently used one goes first. */
  constructor(private readonly capacity: number) {}

  /** `decode(entry.value)`, or the earlier result for the same name, version and bytes. */
  decode(name: string, entry: Entry, decode: (value: Buffer) => T): T {
    const slot = this.slots.get(name);
    this.slots.delete(name);
    if (slot && (slot.entry === entry || (slot.entry.version === entry.version && slot.entry.value.equals(entry.value)))) {
      this.slots.set(name, slot);
      return slot.decoded;
    }
    const decoded = decode(entry.value);
    this.slots.set(name, { entry, decoded });
    if (this.slots.size > this.capacity) this.slots.delete(this.slots.keys().next().value as string);
    return decoded;
  }

  forget(name: string): void {
    this.slots.delete(name);
  }
}
