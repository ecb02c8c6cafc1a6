/**
 * Housekeeping: removes what keygate otherwise removes only when it is presented again, or
 * never —
 *
 * - expired token records (`token.<hash>` past `expires_at`);
 * - SAN index pairs (`san.<hash>`) that name a bundle deleted or replaced since: a pair is
 *   removed only once this process has seen it stale for `grace` (writers add pairs before
 *   writing the bundle, so a pair newer than its bundle may be a write in flight), and by a
 *   conditional update, so a pair added meanwhile is never lost. An emptied index entry stays
 *   (`{"refs":[]}`): the keystore has no conditional delete, and an unconditional one could
 *   drop a pair added concurrently;
 * - node records and bans (`node.<group>.…`, `ban.<group>.…`) of groups deleted (or deleted
 *   and re-created: another incarnation), and such groups' enrollments in `member.<identity>`
 *   entries (by conditional update).
 *
 * Bounded: one run reads at most `batch` entries, continuing where the previous run stopped
 * (the cursor is kept in the lease), so a large keystore is covered over several runs.
 *
 * One replica at a time: a run first takes the lease entry `sweeper.lease` (owner, expiry,
 * cursor) by create-only create or by conditional update of an expired or own lease. A replica
 * that loses the race, or finds another's live lease, does nothing this time.
 */
import { randomBytes } from 'node:crypto';
import { entryOf, isValidBundleName } from './bundles/names.js';
import { EntryExistsError, EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../keystores/keystore.js';

export const LEASE_ENTRY = 'sweeper.lease';

export interface SweepResult {
  /** Entries read this run. */
  scanned: number;
  expiredTokens: number;
  /** SAN index pairs removed. */
  sanPairs: number;
  nodeRecords: number;
  bans: number;
  enrollments: number;
  /** Where the next run starts ('' = from the beginning: this run finished a pass). */
  cursor: string;
}

export interface SweeperOptions {
  /** Most entries one run reads. Default 1000. */
  batch?: number;
  /** How long a lease holds; a run must end well within it. Default 5 minutes. */
  leaseMs?: number;
  /** How long a SAN pair must have been seen stale before it is removed. Default 5 minutes. */
  graceMs?: number;
  now?: () => number;
  /** Identifies this replica in the lease. Default random. */
  owner?: string;
  /**
   * Where to read from when `store` is a cache: the backend itself. A cached group entry may be
   * stale by up to the cache's expiry, and a decision to delete must not rest on it. Writes go
   * through `store`, so its cache (and its replicas') drop what is deleted.
   */
  backend?: () => KeyStore;
}

interface Lease {
  owner: string;
  expires_at: number;
  cursor: string;
}

interface IndexRef {
  name: string;
  id: string;
}

export class Sweeper {
  readonly owner: string;
  private readonly batch: number;
  private readonly leaseMs: number;
  private readonly graceMs: number;
  private readonly now: () => number;
  /** SAN pairs seen stale, by `<entry>\n<bundle>\n<id>`, with when they were first seen so. */
  private readonly staleSince = new Map<string, number>();

  private readonly backend: () => KeyStore;

  constructor(
    private readonly store: () => KeyStore,
    options: SweeperOptions = {},
  ) {
    this.backend = options.backend ?? store;
    this.owner = options.owner ?? randomBytes(8).toString('hex');
    this.batch = options.batch ?? 1000;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.graceMs = options.graceMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** One bounded run; null when another replica holds the lease (nothing done). */
  async runOnce(): Promise<SweepResult | null> {
    const store = this.store();
    const lease = await this.acquire(store);
    if (lease === null) return null;
    const result: SweepResult = { scanned: 0, expiredTokens: 0, sanPairs: 0, nodeRecords: 0, bans: 0, enrollments: 0, cursor: '' };
    const page = await this.backend().list('', lease.cursor, this.batch);
    const deadGroups = new Map<string, boolean>();
    for (const name of page.names) {
      if (name === LEASE_ENTRY) continue;
      result.scanned++;
      if (name.startsWith('token.')) result.expiredTokens += await this.sweepToken(store, name);
      else if (name.startsWith('san.')) result.sanPairs += await this.sweepIndex(store, name);
      else if (name.startsWith('node.') || name.startsWith('ban.')) {
        const removed = await this.sweepGroupRecord(store, name, deadGroups);
        if (name.startsWith('node.')) result.nodeRecords += removed;
        else result.bans += removed;
      } else if (name.startsWith('member.')) result.enrollments += await this.sweepMembership(store, name, deadGroups);
    }
    result.cursor = page.continueAt;
    await this.release(store, result.cursor);
    return result;
  }

  /** Takes the lease (create, or take over an expired or own one); null when another replica holds it. */
  private async acquire(store: KeyStore): Promise<{ cursor: string; version: string } | null> {
    const now = this.now();
    const mine = (cursor: string): Buffer => Buffer.from(JSON.stringify({ owner: this.owner, expires_at: now + this.leaseMs, cursor } satisfies Lease));
    try {
      const entry = await this.backend().get(LEASE_ENTRY);
      const lease = parseLease(entry.value);
      if (lease.owner !== this.owner && now < lease.expires_at) return null;
      const version = await store.update(LEASE_ENTRY, mine(lease.cursor), entry.version);
      return { cursor: lease.cursor, version };
    } catch (err) {
      if (err instanceof VersionMismatchError) return null; // another replica took it first
      if (!(err instanceof EntryNotFoundError)) throw err;
    }
    try {
      await store.create(LEASE_ENTRY, mine(''));
      return { cursor: '', version: '' };
    } catch (err) {
      if (err instanceof EntryExistsError) return null;
      throw err;
    }
  }

  /** Stores the cursor and ends the lease, unless someone took it over meanwhile (a run that outlived it). */
  private async release(store: KeyStore, cursor: string): Promise<void> {
    try {
      const entry = await this.backend().get(LEASE_ENTRY);
      if (parseLease(entry.value).owner !== this.owner) return;
      await store.update(LEASE_ENTRY, Buffer.from(JSON.stringify({ owner: this.owner, expires_at: 0, cursor } satisfies Lease)), entry.version);
    } catch (err) {
      if (!(err instanceof VersionMismatchError || err instanceof EntryNotFoundError)) throw err;
    }
  }

  private async sweepToken(store: KeyStore, name: string): Promise<number> {
    const record = await readJSON<{ expires_at?: unknown }>(this.backend(), name);
    if (record === null || typeof record.value.expires_at !== 'number' || this.now() < record.value.expires_at) return 0;
    // An expired token is never renewed (renewal refuses it), so nothing can revive it before this delete.
    return (await remove(store, name)) ? 1 : 0;
  }

  private async sweepIndex(store: KeyStore, name: string): Promise<number> {
    const entry = await readJSON<{ san?: unknown; refs?: unknown }>(this.backend(), name);
    if (entry === null || !Array.isArray(entry.value.refs)) return 0;
    const refs = entry.value.refs as IndexRef[];
    const now = this.now();
    const drop = new Set<IndexRef>();
    for (const ref of refs) {
      const key = `${name}\n${ref.name}\n${ref.id}`;
      const bundle = isValidBundleName(ref.name) ? await readJSON<{ id?: unknown }>(this.backend(), entryOf(ref.name)) : null;
      if (bundle !== null && bundle.value.id === ref.id) {
        this.staleSince.delete(key);
        continue;
      }
      const since = this.staleSince.get(key);
      if (since === undefined) this.staleSince.set(key, now);
      else if (now - since >= this.graceMs) drop.add(ref);
    }
    if (drop.size === 0) return 0;
    try {
      await store.update(name, Buffer.from(JSON.stringify({ san: entry.value.san, refs: refs.filter((r) => !drop.has(r)) })), entry.version);
    } catch (err) {
      if (err instanceof VersionMismatchError || err instanceof EntryNotFoundError) return 0; // changed meanwhile: next pass
      throw err;
    }
    for (const ref of drop) this.staleSince.delete(`${name}\n${ref.name}\n${ref.id}`);
    return drop.size;
  }

  /** A node record or ban whose group is gone or is another incarnation: deleted. */
  private async sweepGroupRecord(store: KeyStore, name: string, deadGroups: Map<string, boolean>): Promise<number> {
    const group = name.slice(name.indexOf('.') + 1, name.lastIndexOf('.'));
    const record = await readJSON<{ v?: unknown; r?: { incarnation?: unknown } }>(this.backend(), name);
    if (record === null || typeof record.value.r?.incarnation !== 'string') return 0;
    if (!(await this.groupGone(group, record.value.r.incarnation, deadGroups))) return 0;
    // No conditional delete: read again just before, so a record rewritten meanwhile (a group of
    // that name created again and the node registered into it) is left alone.
    const again = await this.backend()
      .get(name)
      .catch(() => null);
    if (again === null || again.version !== record.version) return 0;
    return (await remove(store, name)) ? 1 : 0;
  }

  /** Drops the enrollments of deleted groups from a `member.<identity>` entry (conditional update). */
  private async sweepMembership(store: KeyStore, name: string, deadGroups: Map<string, boolean>): Promise<number> {
    const record = await readJSON<{ v?: unknown; r?: { groups?: Record<string, { incarnation?: unknown }> } }>(this.backend(), name);
    const groups = record?.value.r?.groups;
    if (record === null || groups === undefined || groups === null || typeof groups !== 'object') return 0;
    const keep: Record<string, unknown> = {};
    let dropped = 0;
    for (const [g, m] of Object.entries(groups)) {
      if (typeof m?.incarnation === 'string' && (await this.groupGone(g, m.incarnation, deadGroups))) dropped++;
      else keep[g] = m;
    }
    if (dropped === 0) return 0;
    try {
      await store.update(name, Buffer.from(JSON.stringify({ ...record.value, r: { ...record.value.r, groups: keep } })), record.version);
      return dropped;
    } catch (err) {
      if (err instanceof VersionMismatchError || err instanceof EntryNotFoundError) return 0;
      throw err;
    }
  }

  /** Whether group `g` no longer exists in incarnation `incarnation` (memoised per run). */
  private async groupGone(g: string, incarnation: string, memo: Map<string, boolean>): Promise<boolean> {
    const key = `${g}\n${incarnation}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const group = await readJSON<{ incarnation?: unknown }>(this.backend(), 'group.' + g).catch(() => null);
    const gone = group === null || group.value.incarnation !== incarnation;
    memo.set(key, gone);
    return gone;
  }
}

function parseLease(value: Buffer): Lease {
  try {
    const o = JSON.parse(value.toString('utf8')) as Partial<Lease>;
    return { owner: String(o.owner ?? ''), expires_at: Number(o.expires_at ?? 0), cursor: typeof o.cursor === 'string' ? o.cursor : '' };
  } catch {
    return { owner: '', expires_at: 0, cursor: '' };
  }
}

async function readJSON<T>(store: KeyStore, name: string): Promise<{ value: T; version: string } | null> {
  let entry;
  try {
    entry = await store.get(name);
  } catch (err) {
    if (err instanceof EntryNotFoundError) return null;
    throw err;
  }
  try {
    return { value: JSON.parse(entry.value.toString('utf8')) as T, version: entry.version };
  } catch {
    return null; // not keygate's JSON: not ours to judge
  }
}

async function remove(store: KeyStore, name: string): Promise<boolean> {
  try {
    await store.delete(name);
    return true;
  } catch (err) {
    if (err instanceof EntryNotFoundError) return false;
    throw err;
  }
}
