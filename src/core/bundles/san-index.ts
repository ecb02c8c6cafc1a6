/**
 * The SAN index: for every DNS name or IP address a bundle's leaf names, an
 * entry `san.<sha256 hex of the key>` lists the bundles filed under it, so an
 * SNI lookup reads two index entries (exact, wildcard) and the bundles they
 * name instead of every bundle.
 *
 * Why in the keystore and not in memory: replicas and cluster workers share
 * the keystore, not memory, and a reload builds new services; an in-memory
 * index would be stale on every replica but the writer's.
 *
 * Consistency without transactions: each stored bundle carries a random
 * generation `id`, and the index holds (name, id) pairs. Writers add the new
 * pairs BEFORE writing the bundle and remove the old generation's pairs AFTER,
 * so the index is always a superset of the truth; readers keep a pair only if
 * the bundle's current id equals it. A crash or a lost race leaves stale pairs,
 * never a missing one, and a stale pair can never match a later generation.
 * Index entries are never deleted (the keystore has no conditional delete,
 * and an unconditional one could drop a pair added concurrently); an emptied
 * entry stays as `{"refs":[]}`. Index entries hold names, never key material.
 */
import { hash } from 'node:crypto';
import { coded } from '../../errors.js';
import { EntryExistsError, EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';
import { forEachLimited } from '../../concurrency.js';

export interface IndexRef {
  /** Bundle name (API form). */
  name: string;
  /** Generation id of the bundle record the pair was filed for. */
  id: string;
}

interface IndexEntry {
  san: string;
  refs: IndexRef[];
}

/** Compare-and-set attempts before giving up on a hot index entry. */
const MAX_ATTEMPTS = 20;

const TEXTS: StoreErrorTexts = { exists: 'INDEX_ENTRY_EXISTS', notFound: 'INDEX_ENTRY_NOT_FOUND', failed: 'failed to update the bundle index' };

export const indexEntryName = (key: string): string => 'san.' + hash('sha256', key, 'hex');

export class SanIndex {
  constructor(private readonly store: KeyStore) {}

  /** The pairs filed under `key` ([] when none). */
  async refs(key: string): Promise<IndexRef[]> {
    try {
      return decode((await this.store.get(indexEntryName(key))).value).refs;
    } catch (err) {
      if (err instanceof EntryNotFoundError) return [];
      throw translateStoreError(err, { ...TEXTS, failed: 'failed to read the bundle index' });
    }
  }

  /** Files (name, id) under every key. */
  async add(keys: readonly string[], ref: IndexRef): Promise<void> {
    await forEachLimited(keys, (key) => this.mutate(key, (refs) => [...refs, ref]));
  }

  /** Removes (name, id) from every key; other generations of the same name stay. */
  async remove(keys: readonly string[], ref: IndexRef): Promise<void> {
    const keep = (r: IndexRef) => r.name !== ref.name || r.id !== ref.id;
    await forEachLimited(keys, (key) => this.mutate(key, (refs) => (refs.every(keep) ? null : refs.filter(keep))));
  }

  /** Read-modify-write with compare-and-set; `change` returns null for "nothing to do". */
  private async mutate(key: string, change: (refs: IndexRef[]) => IndexRef[] | null): Promise<void> {
    const name = indexEntryName(key);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        let current: { refs: IndexRef[]; version: string | null };
        try {
          const entry = await this.store.get(name);
          current = { refs: decode(entry.value).refs, version: entry.version };
        } catch (err) {
          if (!(err instanceof EntryNotFoundError)) throw err;
          current = { refs: [], version: null };
        }
        const next = change(current.refs);
        if (next === null) return;
        const value = Buffer.from(JSON.stringify({ san: key, refs: next } satisfies IndexEntry));
        if (current.version === null) await this.store.create(name, value);
        else await this.store.update(name, value, current.version);
        return;
      } catch (err) {
        // Someone else wrote the entry first: read it again and re-apply.
        if (err instanceof EntryExistsError || err instanceof VersionMismatchError || err instanceof EntryNotFoundError) continue;
        throw translateStoreError(err, TEXTS);
      }
    }
    throw coded('RETRIES_EXHAUSTED', ['bundle index']);
  }
}

function decode(value: Buffer): IndexEntry {
  const parsed = JSON.parse(value.toString('utf8')) as IndexEntry;
  if (!Array.isArray(parsed.refs)) throw new Error('bundles: malformed index entry');
  return parsed;
}
