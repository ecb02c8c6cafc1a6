/**
 * The in-memory keystore: the embedded default for `--dev` and tests.
 *
 * Nothing survives the process. Values are copied on the way in and out, so a
 * caller that reuses or scrubs its buffer never changes what is stored.
 */
import {
  EntryExistsError,
  EntryNotFoundError,
  InvalidEntryNameError,
  MAX_LIST_PAGE,
  StoreError,
  VersionMismatchError,
  isValidEntryName,
  heldEntry,
  ownedCopy,
  type Entry,
  type HeldEntry,
  type KeyStore,
  type ListPage,
  type Peekable,
  type StoreStatus,
} from './keystore.js';
import { checkListArgs, compare, lowerBound, pageFrom } from './listing.js';

/**
 * Up to this many names changed since the last listing are spliced into the
 * sorted index one by one (a native memmove each); beyond it one linear merge
 * is cheaper than that many memmoves over a large index.
 */
const SPLICE_LIMIT = 32;

export class MemoryKeyStore implements KeyStore, Peekable {
  private entries = new Map<string, HeldEntry>();
  /** Versions come from one counter, so a deleted and re-created entry never reuses a version. */
  private counter = 0;
  private closed = false;

  /**
   * The listing index, kept sorted lazily so bulk writes cost nothing until
   * the next list:
   * - `sorted` holds every name in sorted order, plus the names in `removed`;
   * - `added` holds live names that are not in `sorted` yet;
   * - `removed` holds names in `sorted` that no longer exist.
   * A name deleted and re-created before the next list simply leaves `removed`.
   */
  private sorted: string[] = [];
  private added = new Set<string>();
  private removed = new Set<string>();

  async create(name: string, value: Uint8Array): Promise<void> {
    this.check(name);
    if (this.entries.has(name)) throw new EntryExistsError(name);
    this.entries.set(name, this.fresh(value));
    if (!this.removed.delete(name)) this.added.add(name);
  }

  async get(name: string): Promise<Entry> {
    this.check(name);
    const entry = this.entries.get(name);
    if (!entry) throw new EntryNotFoundError(name);
    return { value: Buffer.from(entry.value), version: entry.version };
  }

  peek(name: string): HeldEntry | undefined {
    return this.closed ? undefined : this.entries.get(name);
  }

  async update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    this.check(name);
    const entry = this.entries.get(name);
    if (!entry) throw new EntryNotFoundError(name);
    if (entry.version !== expectedVersion) throw new VersionMismatchError(name);
    const next = this.fresh(value);
    this.entries.set(name, next);
    return next.version;
  }

  async delete(name: string): Promise<void> {
    this.check(name);
    if (!this.entries.delete(name)) throw new EntryNotFoundError(name);
    if (!this.added.delete(name)) this.removed.add(name);
  }

  async list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    this.open();
    checkListArgs(prefix, continueAt, limit);
    return pageFrom(this.index(), prefix, continueAt, Math.min(limit, MAX_LIST_PAGE));
  }

  async status(): Promise<StoreStatus> {
    this.open();
    return { latencyMs: 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.entries = new Map();
    this.sorted = [];
    this.added = new Set();
    this.removed = new Set();
  }

  private fresh(value: Uint8Array): HeldEntry {
    if (!(value instanceof Uint8Array)) throw new TypeError('keystore: value must be a Uint8Array');
    return heldEntry(ownedCopy(value), String(++this.counter));
  }

  private open(): void {
    if (this.closed) throw new StoreError('keystore: closed');
  }

  private check(name: string): void {
    this.open();
    if (!isValidEntryName(name)) throw new InvalidEntryNameError(name);
  }

  /** Brings `sorted` up to date with every write since the last listing and returns it. */
  private index(): string[] {
    const changes = this.added.size + this.removed.size;
    if (changes === 0) return this.sorted;
    if (changes <= SPLICE_LIMIT) {
      for (const name of this.removed) this.sorted.splice(lowerBound(this.sorted, name), 1);
      for (const name of this.added) this.sorted.splice(lowerBound(this.sorted, name), 0, name);
    } else {
      const fresh = [...this.added].sort(compare);
      const merged: string[] = new Array<string>(this.sorted.length - this.removed.size + fresh.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < this.sorted.length || j < fresh.length) {
        const a = this.sorted[i];
        const b = fresh[j];
        if (a !== undefined && (b === undefined || a < b)) {
          i++;
          if (!this.removed.has(a)) merged[k++] = a;
        } else if (b !== undefined) {
          j++;
          merged[k++] = b;
        }
      }
      this.sorted = merged;
    }
    this.added.clear();
    this.removed.clear();
    return this.sorted;
  }
}
