/**
 * The records hanging off a group, and their entry names:
 *
 * - `node.<group>.<sha256(nodeId)>`: one per node id — node ids may hold characters
 *   entry names cannot, so they are stored under a hash (the id itself is inside);
 * - `member.<identity>`: the groups a certificate identity is enrolled in, one entry
 *   per identity, so a read by certificate costs one (cacheable) keystore read;
 * - `ban.<group>.<sha256(value)>`: a banned node id or identity.
 *
 * Each carries the group's incarnation: a record of an earlier group of the same
 * name is treated as absent.
 */
import { hash } from 'node:crypto';
import { coded } from '../../errors.js';
import { EntryExistsError, EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { translateStoreError } from '../store-errors.js';

export interface NodeRecord {
  readonly nodeId: string;
  readonly incarnation: string;
  readonly registeredAt: number | null;
  readonly lastSeen: number | null;
  /** Hash of the node's current token: re-registration and revocation delete it. */
  readonly tokenHash: string | null;
  readonly identity: string | null;
  readonly enrolledAt: number | null;
  /** Group generation of the enrollment: valid only while it is the group's current one. */
  readonly enrollmentGeneration: string | null;
  readonly revokedAt: number | null;
}

/** One enrollment of an identity, inside its `member.<identity>` entry. */
export interface MemberRecord {
  readonly nodeId: string;
  readonly incarnation: string;
  readonly generation: string;
  readonly enrolledAt: number;
}

export interface BanRecord {
  readonly value: string;
  readonly incarnation: string;
  readonly bannedAt: number;
  readonly bannedBy: string;
}

const sha256 = (s: string): string => hash('sha256', s, 'hex');

export const nodePrefix = (group: string): string => `node.${group}.`;
export const nodeEntry = (group: string, nodeId: string): string => nodePrefix(group) + sha256(nodeId);
/** All enrollments of an identity, by group name. */
export interface MembershipRecord {
  readonly groups: Readonly<Record<string, MemberRecord>>;
}

export const memberEntry = (identity: string): string => `member.${identity}`;
export const banPrefix = (group: string): string => `ban.${group}.`;
export const banEntry = (group: string, value: string): string => banPrefix(group) + sha256(value);

const MAX_ATTEMPTS = 50;

/**
 * JSON records in the keystore with conditional read-modify-write. Records are stored
 * as their plain objects (camelCase fields) with a format version.
 */
export class Records<T extends object> {
  constructor(
    private readonly store: KeyStore,
    private readonly kind: string,
  ) {}

  async get(name: string): Promise<{ record: T; version: string } | null> {
    try {
      const entry = await this.store.get(name);
      const o = JSON.parse(entry.value.toString('utf8')) as { v?: number; r?: T };
      if (o.v !== 1 || typeof o.r !== 'object' || o.r === null) throw new Error(`${this.kind}: malformed record`);
      return { record: o.r, version: entry.version };
    } catch (err) {
      if (err instanceof EntryNotFoundError) return null;
      throw this.translate(err);
    }
  }

  /**
   * Creates or replaces `name` with `change(current)` (current is null when absent),
   * retrying when another writer got in first; `change` returning null writes nothing.
   * Returns the record before and after.
   */
  async upsert(name: string, change: (current: T | null) => T | null): Promise<{ before: T | null; after: T | null }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const found = await this.get(name);
      const next = change(found?.record ?? null);
      if (next === null) return { before: found?.record ?? null, after: found?.record ?? null };
      const value = Buffer.from(JSON.stringify({ v: 1, r: next }));
      try {
        if (found) await this.store.update(name, value, found.version);
        else await this.store.create(name, value);
        return { before: found?.record ?? null, after: next };
      } catch (err) {
        const lost = err instanceof VersionMismatchError || err instanceof EntryExistsError || err instanceof EntryNotFoundError;
        if (!lost) throw this.translate(err);
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt + 1, 10)));
      }
    }
    throw coded('RETRIES_EXHAUSTED', [this.kind]);
  }

  /** Deletes `name`; false when it did not exist. */
  async remove(name: string): Promise<boolean> {
    try {
      await this.store.delete(name);
      return true;
    } catch (err) {
      if (err instanceof EntryNotFoundError) return false;
      throw this.translate(err);
    }
  }

  /** Every entry name under `prefix`, page by page. */
  async *names(prefix: string, pageSize = 100): AsyncGenerator<string[]> {
    let cursor = '';
    do {
      const page = await this.store.list(prefix, cursor, pageSize).catch((err: unknown) => Promise.reject(this.translate(err)));
      yield page.names;
      cursor = page.continueAt;
    } while (cursor !== '');
  }

  /** One page of names under `prefix` from `continueAt`. */
  async page(prefix: string, continueAt: string, limit: number): Promise<{ names: string[]; continueAt: string }> {
    try {
      return await this.store.list(prefix, continueAt, limit);
    } catch (err) {
      throw this.translate(err);
    }
  }

  private translate(err: unknown) {
    return translateStoreError(err, { exists: 'RECORD_EXISTS', notFound: 'RECORD_NOT_FOUND', args: [this.kind], failed: `failed to access ${this.kind}` });
  }
}
