/**
 * The keystore interface: everything keygate stores durably goes through it.
 *
 * A keystore stores named byte values and knows nothing of keys, certificates
 * or groups. Adapters translate their backend's failures into the errors below
 * at their edge, so nothing above this interface ever sees an errno or a
 * Vault status code.
 */

/** A stored value and an opaque version string for conditional updates. */
export interface Entry {
  readonly value: Buffer;
  /** Changes on every write; compare only for equality. */
  readonly version: string;
}

/** One page of a listing, sorted by name. */
export interface ListPage {
  readonly names: string[];
  /** The first name of the next page, or '' when this is the last page. */
  readonly continueAt: string;
}

export interface StoreStatus {
  /** Round-trip time of the health probe in milliseconds. */
  readonly latencyMs: number;
}

export interface KeyStore {
  /** Stores a new entry. Throws EntryExistsError if the name is taken (atomic where the backend allows). */
  create(name: string, value: Uint8Array): Promise<void>;
  /** Throws EntryNotFoundError. */
  get(name: string): Promise<Entry>;
  /**
   * Replaces an entry only if its current version is `expectedVersion`; returns the new version.
   * Throws EntryNotFoundError if missing, VersionMismatchError if someone else wrote first.
   */
  update(name: string, value: Uint8Array, expectedVersion: string): Promise<string>;
  /** Removes an entry and every old version of it. Throws EntryNotFoundError if missing. */
  delete(name: string): Promise<void>;
  /**
   * Names that start with `prefix`, sorted, starting at `continueAt` (inclusive; '' = from the start),
   * at most `limit` of them.
   */
  list(prefix: string, continueAt: string, limit: number): Promise<ListPage>;
  /** Probes the backend. Throws StoreUnreachableError (or StoreError) when it cannot serve. */
  status(): Promise<StoreStatus>;
  /** Releases connections, timers and file handles. Idempotent. */
  close(): Promise<void>;
}

/**
 * A copy of `value` in a buffer of its own, exactly its size. For values kept in memory
 * for long (a store's entries, the read cache): `Buffer.from` puts small values in Node's
 * shared 8 KiB pool, where one long-lived value keeps the whole slab, and whatever else
 * was carved from it, alive; 100 000 cached bundles held 1 GB of slabs for 385 MiB of values.
 */
export function ownedCopy(value: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(value.byteLength);
  copy.set(value);
  return copy;
}

/** `value` itself when it is the whole of its buffer, else an `ownedCopy`: for bytes about to be kept long. */
export function owned(value: Buffer): Buffer {
  return value.byteLength === value.buffer.byteLength ? value : ownedCopy(value);
}

/** Whether two reads of an entry hold the same stored value: the very object, or the same version with identical bytes. */
export function sameStoredValue(a: Entry, b: Entry): boolean {
  return a === b || (a.version === b.version && a.value.equals(b.value));
}

/**
 * An entry as a Peekable store holds it, with room for what a service derives from its
 * value (an expiry, an answer already encoded). On the held object itself, a memo lives
 * exactly as long as the store holds this version of the entry, and costs the garbage
 * collector nothing: a WeakMap keyed by 100 000 held entries made each full collection
 * clear that many ephemerons in its pause (measured: 35 ms). Copies handed out by `get`
 * never carry one. Each service writes memos only on the names it owns.
 */
export interface HeldEntry extends Entry {
  memo: unknown;
}

/** A held entry; every one is made here, so all have one shape. */
export function heldEntry(value: Buffer, version: string): HeldEntry {
  return { value, version, memo: undefined };
}

/**
 * A fast-path capability, not part of KeyStore: the stores that hold entries in
 * memory (the memory store, the read cache's fresh slots) offer it, and a backend
 * adapter never needs to know it exists.
 */
export interface Peekable {
  /**
   * The entry, synchronously, if it is held in memory and `get` would return it now;
   * otherwise undefined, which means "ask `get`", never "missing". Never touches a
   * backend. Unlike `get`, this hands out the held Entry itself, not a copy: callers
   * must never modify it, and the same object comes back until the entry changes.
   * `asRead: false` asks for the held object of an entry the caller has just read
   * through `get`: not counted as a read (a cache hit) and not moved up the eviction order.
   */
  peek(name: string, asRead?: boolean): HeldEntry | undefined;
}

export type Peek = Peekable['peek'];

export function isPeekable(store: object): store is Peekable {
  return typeof (store as Partial<Peekable>).peek === 'function';
}

const NOTHING_IN_MEMORY: Peek = () => undefined;

/** The store's `peek` when it offers one; else one that always says "ask `get`". */
export function peekOf(store: KeyStore): Peek {
  return isPeekable(store) ? (name, asRead) => store.peek(name, asRead) : NOTHING_IN_MEMORY;
}

/** Base class of every keystore failure. */
export class StoreError extends Error {
  override get name(): string {
    return this.constructor.name;
  }
}
export class EntryExistsError extends StoreError {
  constructor(name: string) {
    super(`keystore: entry '${name}' already exists`);
  }
}
export class EntryNotFoundError extends StoreError {
  constructor(name: string) {
    super(`keystore: entry '${name}' does not exist`);
  }
}
export class VersionMismatchError extends StoreError {
  constructor(name: string) {
    super(`keystore: entry '${name}' was changed concurrently`);
  }
}
export class InvalidEntryNameError extends StoreError {
  constructor(name: string) {
    super(`keystore: invalid entry name '${name.slice(0, 100)}'`);
  }
}
/**
 * Errors that are answers, not failures: the entry exists, does not, changed meanwhile,
 * or the name is invalid. The backend is fine and nothing was written.
 */
export function isRefusal(err: unknown): boolean {
  return err instanceof EntryNotFoundError || err instanceof EntryExistsError || err instanceof VersionMismatchError || err instanceof InvalidEntryNameError;
}

/** The backend cannot be reached, is sealed or timed out: /v1/ready answers 503/504. */
export class StoreUnreachableError extends StoreError {}

/**
 * The backend answers, but refuses this keygate's credentials the access it needs (a
 * Vault policy for another folder or tenant): every operation would fail, so `status()`
 * throws this, and /v1/ready and /v1/status say why.
 */
export class StoreAccessDeniedError extends StoreError {}

/** Longest entry name any adapter must accept. */
export const MAX_ENTRY_NAME = 255;

const ENTRY_NAME = /^[0-9A-Za-z_-][0-9A-Za-z_.-]*$/;

/**
 * Entry names are 1–255 characters of [0-9A-Za-z_.-], never starting with '.' and
 * never holding '..' (Vault's KV v1 refuses such paths: a name must work on every
 * adapter). KES key names never contain '.', so services namespace other kinds of
 * entries as `<kind>.<name>` without any chance of collision.
 */
export function isValidEntryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_ENTRY_NAME && ENTRY_NAME.test(name) && !name.includes('..');
}

/** Largest page an adapter returns, whatever `limit` asks for. */
export const MAX_LIST_PAGE = 1000;
