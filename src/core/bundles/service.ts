/**
 * Certificate bundles: a validated PEM chain and its private key, with the TTL
 * nodes may keep them for. Each is one JSON entry `bundle.<name>` (see
 * names.ts for wildcard names); keystore updates replace and deletes
 * remove, so no old private key is kept anywhere. A SAN index (san-index.ts)
 * serves SNI lookups. Groups are another service's business: this one only asks
 * `BundleAssignments` which groups a bundle is assigned to.
 */
import { randomBytes } from 'node:crypto';
import { BadRequestError, NotFoundError, coded } from '../../errors.js';
import {
  EntryNotFoundError,
  VersionMismatchError,
  owned,
  peekOf,
  sameStoredValue,
  type Entry,
  type HeldEntry,
  type KeyStore,
  type Peek,
} from '../../../keystores/keystore.js';
import type { BundleAssignments } from '../access.js';
import { dnsKey, entryOf, ipKey, invalidBundleNameMessage, isValidBundleName, lookupKeys, parseServerName } from './names.js';
import { SanIndex, type IndexRef } from './san-index.js';
import { forEachLimited } from '../../concurrency.js';
import { describeRecord, type BundleDescription } from './describe.js';
import { listBundles, type BundleListOptions, type BundlePage } from './list.js';
import { decodeRecord, encodeRecord, checkLabels, checkTTL, type BundleRecord, type Stamp } from './record.js';
import { validateBundle } from './validate.js';
import { DecodeMemo } from '../decode-memo.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';

export type { BundleDescription } from './describe.js';
export type { BundleListOptions, BundlePage } from './list.js';

export interface BundleInput {
  chainPem: string;
  keyPem: string;
  /** Seconds a node may keep the bundle (60..31536000). */
  ttl: number;
  /** On replace, omitted labels keep the current ones; `{}` clears them. */
  labels?: Record<string, string>;
  allowExpired?: boolean;
  /** Accept a CA certificate (basicConstraints CA:TRUE) as the leaf: refused unless asked for. */
  allowCaLeaf?: boolean;
}

/** Turns a bundle into the bytes one API hands out; pure, so its result can be kept per stored version. */
export type SecretEncoder = (secret: BundleSecret) => Buffer;

/**
 * What a node fetches: everything it needs to serve TLS, and for how long. Frozen:
 * reads of unchanged bytes may return the same object.
 */
export interface BundleSecret {
  readonly name: string;
  readonly chainPem: string;
  readonly keyPem: string;
  readonly ttl: number;
  readonly version: string;
  readonly notAfter: Date;
}

export interface LookupMatch {
  name: string;
  match: 'exact' | 'wildcard';
  notAfter: Date;
  keyType: string;
  version: string;
}

export interface BundleServiceOptions {
  /** The clock for expiry checks (tests move it). */
  now?: () => Date;
  /**
   * Where walks over every bundle (expiry listings, the metrics census) read what the store
   * does not hold in memory: the store behind the read cache, so that a walk does not
   * displace the bundles nodes are reading. Default: the store.
   */
  walkStore?: KeyStore;
}

const texts = (op: string): StoreErrorTexts => ({ exists: 'BUNDLE_EXISTS', notFound: 'BUNDLE_NOT_FOUND', failed: `failed to ${op} bundle` });

export class BundleService {
  private readonly index: SanIndex;
  private readonly now: () => Date;
  /** The store's memory (the memory store, the read cache), when it has one: the fast path. */
  private readonly peekEntry: Peek;
  /** Decoded records of recently read bundles (the read path's JSON.parse, done once per version). */
  private readonly decoded = new DecodeMemo<Loaded>(DECODED_BUNDLES);
  private readonly walkStore: KeyStore;

  constructor(
    private readonly store: KeyStore,
    private readonly assignments: BundleAssignments,
    options: BundleServiceOptions = {},
  ) {
    this.peekEntry = peekOf(store);
    this.index = new SanIndex(store);
    this.now = options.now ?? (() => new Date());
    this.walkStore = options.walkStore ?? store;
  }

  /** Stores a new bundle; returns its version. @throws BadRequestError (invalid input), ExistsError 409. */
  async import(name: string, input: BundleInput, createdBy: string): Promise<{ version: string | null }> {
    checkName(name);
    const stamp = { at: this.now().toISOString(), by: createdBy };
    const record = this.build(input, input.labels ?? {}, stamp, stamp);
    // Checked first so the common mistake leaves no stale index pairs behind (the create below still decides).
    if (await this.exists(name)) throw coded('BUNDLE_EXISTS');
    await this.index.add(sanKeys(record), { name, id: record.id });
    try {
      await this.store.create(entryOf(name), encodeRecord(record));
    } catch (err) {
      throw translateStoreError(err, texts('create'));
    }
    // create() returns no version; read it back, unless someone replaced the bundle in between.
    const stored = await this.load(name).catch(() => null);
    return { version: stored?.record.id === record.id ? stored.version : null };
  }

  /**
   * Replaces a bundle only if it is still at `expectedVersion`; returns the new version.
   * @throws NotFoundError, ConflictError 'bundle was changed concurrently'.
   */
  async replace(name: string, input: BundleInput, expectedVersion: string, updatedBy: string): Promise<{ version: string }> {
    checkName(name);
    const { record: old, version } = await this.load(name);
    const record = this.build(input, input.labels ?? old.labels, old.created, { at: this.now().toISOString(), by: updatedBy });
    // Go on only with the record being replaced (its labels, its index pairs); the update's
    // compare-and-set below is what guarantees it. A read cache a little behind answers
    // 409 too, and the client's next describe/replace round converges.
    if (version !== expectedVersion) throw coded('VERSION_CONFLICT', ['bundle']);
    await this.index.add(sanKeys(record), { name, id: record.id });
    let next: string;
    try {
      next = await this.store.update(entryOf(name), encodeRecord(record), expectedVersion);
    } catch (err) {
      if (err instanceof VersionMismatchError) throw coded('VERSION_CONFLICT', ['bundle']);
      throw translateStoreError(err, texts('replace'));
    }
    await this.forget(name, old);
    return { version: next };
  }

  async describe(name: string): Promise<BundleDescription> {
    checkName(name);
    const { record, version } = await this.load(name);
    return describeRecord(name, record, version, await this.assignments.groupsOf(name));
  }

  /** The bundle's current version only (what a watching node compares). @throws NotFoundError */
  async version(name: string): Promise<string> {
    return (await this.load(name)).version;
  }

  /** The bundle with its private key: the node's fetch. */
  async get(name: string): Promise<BundleSecret> {
    checkName(name);
    return (await this.load(name)).secret;
  }

  /**
   * What `encode` makes of the bundle, from memory (the memory keystore or a fresh cache
   * slot), synchronously; undefined when that would take I/O: then call `getEncoded`.
   * The encoding is kept with the held entry and lives exactly as long as the store keeps
   * that entry: a read of an unchanged bundle neither parses nor serialises, whether it is
   * one bundle read by a whole fleet or 100 000 read at random (which the decode memo
   * does not keep). `encode` must be pure. @throws BadRequestError (name)
   */
  peekEncoded(name: string, encode: SecretEncoder): Buffer | undefined {
    checkName(name);
    const entry = this.peekEntry(entryOf(name));
    if (!entry) return undefined;
    let body = memoOf(entry)?.encoded(encode);
    if (body === undefined) {
      try {
        body = this.encodeHeld(entry, this.decode(name, entry), encode);
      } catch {
        return undefined; // a corrupt entry: let `getEncoded` report it
      }
    }
    return body;
  }

  /** `peekEncoded`, or else a read of the keystore (which the read cache then holds, with this encoding). @throws NotFoundError */
  async getEncoded(name: string, encode: SecretEncoder): Promise<Buffer> {
    const held = this.peekEncoded(name, encode);
    if (held) return held;
    const { entry, bundle } = await this.read(name);
    // `get` hands out copies: keep the encoding with the entry the store now holds, if it is this one.
    const now = this.peekEntry(entryOf(name), false);
    if (now && sameStoredValue(now, entry)) return this.encodeHeld(now, bundle, encode);
    return encode(bundle.secret);
  }

  /** Encodes a held entry's bundle and keeps the encoding, and its expiry for walks, with the entry. */
  private encodeHeld(entry: HeldEntry, bundle: Loaded, encode: SecretEncoder): Buffer {
    // Kept as long as the entry is: in a buffer of its own, not a slice of Node's shared pool.
    const body = owned(encode(bundle.secret));
    memoOn(entry, bundle.secret.notAfter.getTime()).keep(encode, body);
    return body;
  }

  /** One page of names; see listBundles. */
  list(options: BundleListOptions): Promise<BundlePage> {
    return listBundles(this.store, (n) => this.expiryOf(n), this.now(), options);
  }

  /** Deletes a bundle. @throws NotFoundError, ConflictError while assigned to a group (unless `force`). */
  async delete(name: string, force: boolean): Promise<void> {
    checkName(name);
    const { record } = await this.load(name);
    const groups = await this.assignments.groupsOf(name);
    if (groups.length > 0 && !force) {
      throw coded('BUNDLE_IN_USE', [groups.join(', ')]);
    }
    // A forced deletion takes the bundle out of its groups too: an assignment left behind
    // would hand a future bundle of the same name to those nodes without anyone deciding so.
    // Before (so a failure leaves the bundle, not a dangling grant) and after (an assignment
    // that raced the deletion).
    if (groups.length > 0) await this.assignments.unassignEverywhere(name);
    try {
      await this.store.delete(entryOf(name));
    } catch (err) {
      throw translateStoreError(err, texts('delete'));
    }
    await this.forget(name, record);
    if (force) await this.assignments.unassignEverywhere(name);
  }

  /**
   * Bundles whose leaf names `sni`, that `canRead` admits: exact SAN matches
   * first, then the one-label wildcard; within each, the latest expiry first.
   */
  async lookup(serverName: string, canRead: (bundle: string) => boolean | Promise<boolean>): Promise<LookupMatch[]> {
    const sni = parseServerName(serverName);
    if (!sni) throw new BadRequestError('invalid server name: expected a DNS name or an IP address');
    const keys = lookupKeys(sni);
    const [exact, wildcard] = await Promise.all([this.index.refs(keys.exact), keys.wildcard ? this.index.refs(keys.wildcard) : []]);
    const exactMatches = await this.resolve(exact, 'exact', canRead);
    const byName = new Set(exactMatches.map((m) => m.name));
    // A bundle naming both `a.example.com` and `*.example.com` is an exact match, listed once.
    const wildcardMatches = await this.resolve(
      wildcard.filter((r) => !byName.has(r.name)),
      'wildcard',
      canRead,
    );
    return [...exactMatches, ...wildcardMatches];
  }

  /** Keeps the index pairs whose bundle still has that generation and that the caller may read. */
  private async resolve(refs: IndexRef[], match: LookupMatch['match'], canRead: (b: string) => boolean | Promise<boolean>): Promise<LookupMatch[]> {
    const ids = new Map<string, Set<string>>();
    for (const r of refs) ids.set(r.name, (ids.get(r.name) ?? new Set()).add(r.id));
    const out: LookupMatch[] = [];
    await forEachLimited([...ids.keys()], async (name) => {
      if (!isValidBundleName(name) || !(await canRead(name))) return;
      const loaded = await this.load(name).catch((err) => (err instanceof NotFoundError ? null : Promise.reject(err)));
      if (!loaded || !ids.get(name)?.has(loaded.record.id)) return;
      const { record, version } = loaded;
      out.push({ name, match, notAfter: new Date(record.not_after), keyType: record.key_type, version });
    });
    return out.sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime() || (a.name < b.name ? -1 : 1));
  }

  private build(input: BundleInput, labels: Record<string, string>, created: Stamp, updated: Stamp): BundleRecord {
    checkTTL(input.ttl);
    checkLabels(labels);
    const valid = validateBundle(input.chainPem, input.keyPem, {
      now: this.now(),
      ...(input.allowExpired ? { allowExpired: true } : {}),
      ...(input.allowCaLeaf ? { allowCaLeaf: true } : {}),
    });
    return {
      format: 1,
      id: randomBytes(16).toString('hex'),
      certificate: valid.chainPem,
      private_key: valid.keyPem,
      ttl: input.ttl,
      labels: { ...labels },
      key_type: valid.keyType,
      key_size: valid.keySize,
      sans: { dns: valid.sans.dns, ip: valid.sans.ip.map((b) => b.toString('hex')) },
      not_after: valid.notAfter.toISOString(),
      created,
      updated,
    };
  }

  /** Whether a bundle of that name exists (for the groups service: no private key is handed out). */
  async exists(name: string): Promise<boolean> {
    checkName(name);
    try {
      await this.load(name);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /**
   * A bundle's leaf expiry for a walk over bundles: from the entry the store holds in memory
   * (not counted as a read, decoded at most once), else read from `walkStore`.
   * @throws NotFoundError (deleted meanwhile), ServiceUnavailableError
   */
  private async expiryOf(name: string): Promise<Date> {
    const held = this.peekEntry(entryOf(name), false);
    let at = held && memoOf(held)?.expiry;
    if (at === undefined) {
      const entry = held ?? (await this.readFrom(this.walkStore, name));
      try {
        at = Date.parse(decodeRecord(entry.value).not_after);
      } catch (err) {
        throw translateStoreError(err, texts('read'));
      }
      if (held) memoOn(held, at);
    }
    return new Date(at);
  }

  private async load(name: string): Promise<Loaded> {
    return (await this.read(name)).bundle;
  }

  /** The stored entry (a copy) and what it decodes to. @throws NotFoundError, ServiceUnavailableError */
  private async read(name: string): Promise<{ entry: Entry; bundle: Loaded }> {
    const entry = await this.readFrom(this.store, name);
    try {
      return { entry, bundle: this.decode(name, entry) };
    } catch (err) {
      // A corrupt entry is a keystore problem, not the client's.
      throw translateStoreError(err, texts('read'));
    }
  }

  private async readFrom(store: KeyStore, name: string): Promise<Entry> {
    try {
      return await store.get(entryOf(name));
    } catch (err) {
      if (err instanceof EntryNotFoundError) throw coded('BUNDLE_NOT_FOUND');
      throw translateStoreError(err, texts('read'));
    }
  }

  /** The entry as a bundle, decoded once per stored version. @throws Error for a corrupt entry */
  private decode(name: string, entry: Entry): Loaded {
    return this.decoded.decode(name, entry, (value) => loaded(name, decodeRecord(value), entry.version));
  }

  /**
   * Drops an old generation's index pairs. Best effort: the bundle write already
   * happened, and a pair left behind is ignored by lookups (its id is stale).
   */
  private async forget(name: string, old: Readonly<BundleRecord>): Promise<void> {
    this.decoded.forget(name); // the old private key does not linger in the memo either
    await this.index.remove(sanKeys(old), { name, id: old.id }).catch(() => undefined);
  }
}

/** Bundles whose decoded record is kept (a few MiB: a record and its secret are a few KiB each). */
const DECODED_BUNDLES = 1024;

/** A bundle as read: its record (shared between reads: never mutated) and what a node is handed. */
interface Loaded {
  readonly record: Readonly<BundleRecord>;
  readonly version: string;
  readonly secret: BundleSecret;
}

function loaded(name: string, record: BundleRecord, version: string): Loaded {
  Object.freeze(record.labels);
  Object.freeze(record);
  const secret: BundleSecret = Object.freeze({
    name,
    chainPem: record.certificate,
    keyPem: record.private_key,
    ttl: record.ttl,
    version,
    notAfter: new Date(record.not_after),
  });
  return { record, version, secret };
}

function checkName(name: string): void {
  if (!isValidBundleName(name)) throw new BadRequestError(invalidBundleNameMessage(name));
}

/** The distinct index keys of a record's SANs. */
function sanKeys(record: BundleRecord): string[] {
  return [...new Set([...record.sans.dns.map(dnsKey), ...record.sans.ip.map((hex) => ipKey(Buffer.from(hex, 'hex')))])];
}

/**
 * What the service keeps on a held bundle entry (HeldEntry.memo): the leaf's expiry, so a
 * walk over bundles in memory decodes nothing twice, and the answers encoded from it, per
 * encoder (one per API surface; nearly always just the one).
 */
class BundleMemo {
  private encoder: SecretEncoder | undefined = undefined;
  private body: Buffer | undefined = undefined;
  private others: Map<SecretEncoder, Buffer> | undefined = undefined;

  constructor(readonly expiry: number) {}

  encoded(encode: SecretEncoder): Buffer | undefined {
    return this.encoder === encode ? this.body : this.others?.get(encode);
  }

  keep(encode: SecretEncoder, body: Buffer): void {
    if (this.encoder === undefined || this.encoder === encode) {
      this.encoder = encode;
      this.body = body;
    } else {
      (this.others ??= new Map()).set(encode, body);
    }
  }
}

function memoOf(entry: HeldEntry): BundleMemo | undefined {
  return entry.memo instanceof BundleMemo ? entry.memo : undefined;
}

/** The entry's memo, made with `expiry` if it has none yet. */
function memoOn(entry: HeldEntry, expiry: number): BundleMemo {
  const memo = memoOf(entry);
  if (memo) return memo;
  return (entry.memo = new BundleMemo(expiry));
}
