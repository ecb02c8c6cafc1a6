/**
 * Groups of nodes: settings, the group token, and the bundles assigned to the
 * group. One entry per group, `group.<name>`, is the single source of truth:
 *
 * - its `bundles` list is the assignment (no second copy that can drift); it is
 *   changed only by conditional updates, retried on a lost race, so concurrent
 *   assigns and unassigns all land;
 * - its `generation` (random, replaced on rotation) is what every group and node
 *   token of the group was issued under: rotating or deleting the group
 *   invalidates all of them with that one write, without finding them;
 * - its `incarnation` (random, set on creation) ties node, ban and membership
 *   records to this life of the group, so a group deleted and re-created under
 *   the same name inherits nothing.
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError, BadRequestError, coded } from '../../errors.js';
import { EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import type { BundleAssignments, BundleCatalog } from '../access.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';
import { InvalidTokenError, type TokenService } from './tokens.js';
import { DEFAULT_SETTINGS, applySettings, checkSecretDestinations, type GroupSettings, type GroupSettingsUpdate } from './group-settings.js';
import { decode, encode, info, type GroupInfo, type GroupRecord } from './group-record.js';
import { DecodeMemo } from '../decode-memo.js';
import { listKind, pastDottedBlock, type EntryKind } from '../../../keystores/listing.js';

export type { GroupInfo, GroupRecord } from './group-record.js';

/** Called after a group entry is deleted, to drop what hangs off it (node records…). */
export type GroupDeleteListener = (record: GroupRecord) => Promise<void>;

/** 1–80 characters of [0-9A-Za-z_-]: never '.', so `group.<name>` and `node.<name>.…` cannot collide. */
export function isValidGroupName(name: string): boolean {
  return /^[0-9A-Za-z_-]{1,80}$/.test(name);
}

export const GROUP_PREFIX = 'group.';
/** `group.<name>` entries; anything else under the prefix (not written by keygate) is neither listed nor a cursor. */
const GROUP_ENTRIES: EntryKind = { owns: (e) => isValidGroupName(e.slice(GROUP_PREFIX.length)), skipTo: pastDottedBlock(GROUP_PREFIX) };
const MAX_BUNDLES = 10_000;
const MAX_ATTEMPTS = 100;
const texts: StoreErrorTexts = { exists: 'GROUP_EXISTS', notFound: 'GROUP_NOT_FOUND', failed: 'failed to access group' };

const randomId = (): string => randomBytes(16).toString('hex');

export class GroupService implements BundleAssignments {
  private readonly deleteListeners: GroupDeleteListener[] = [];
  /** Every node read through a group decodes its record: once per version is enough. */
  private readonly decoded = new DecodeMemo<GroupRecord>(1024);

  constructor(
    private readonly store: KeyStore,
    private readonly tokens: TokenService,
    private readonly catalog: BundleCatalog,
  ) {}

  /** Creates a group; returns its group token, the only time it is ever shown. @throws ExistsError (409), BadRequestError */
  async create(name: string, settings: GroupSettingsUpdate, createdBy: string): Promise<{ groupToken: string }> {
    checkGroupName(name);
    const full = applySettings(DEFAULT_SETTINGS, settings);
    const generation = randomId();
    // The token is inert until a group entry carries its generation, so mint it first:
    // a failure in between leaves no group without a token.
    const { token, record: tokenRecord } = await this.issueGroupToken(name, generation);
    await this.storeNew(name, generation, full, createdBy, tokenRecord.hash);
    return { groupToken: token };
  }

  /**
   * Creates a group whose group token is one minted elsewhere (an RKS group token, by `keygate
   * migrate --from-rks`): nodes provisioned with it keep registering. @throws ExistsError (409),
   * BadRequestError
   */
  async adopt(name: string, settings: GroupSettingsUpdate, createdBy: string, groupToken: string): Promise<void> {
    checkGroupName(name);
    const full = applySettings(DEFAULT_SETTINGS, settings);
    const generation = randomId();
    const tokenRecord = await this.tokens.adopt(groupToken, { kind: 'group', group: name, generation, ttl: null, renewable: false });
    await this.storeNew(name, generation, full, createdBy, tokenRecord.hash);
  }

  /** Writes a new group's record; when that fails, its token (minted first) is revoked again. */
  private async storeNew(name: string, generation: string, settings: GroupSettings, createdBy: string, tokenHash: string): Promise<void> {
    const now = this.tokens.now();
    const record: GroupRecord = {
      name,
      incarnation: randomId(),
      generation,
      createdAt: now,
      createdBy,
      updatedAt: now,
      settings,
      bundles: [],
      groupToken: tokenHash,
    };
    try {
      await this.store.create(entryName(name), encode(record));
    } catch (err) {
      await this.tokens.revokeHash(tokenHash).catch(() => undefined);
      throw translateStoreError(err, texts);
    }
  }

  /**
   * Changes the given settings, leaving the others (and the secret, unless given) as they are.
   * Moving where the stored secret or its access token goes needs the secret anew
   * (checkSecretDestinations). @throws BadRequestError, NotFoundError
   */
  async update(name: string, settings: GroupSettingsUpdate): Promise<GroupInfo> {
    const { record } = await this.modify(name, (r) => {
      checkSecretDestinations(r.settings, settings);
      return { ...r, settings: applySettings(r.settings, settings), updatedAt: this.tokens.now() };
    });
    return info(record);
  }

  async describe(name: string): Promise<GroupInfo> {
    return info(await this.record(name));
  }

  /** One page of group names starting with `prefix`, from `continueAt` on. */
  async list(prefix: string, continueAt: string, limit = 1000): Promise<{ names: string[]; continueAt: string }> {
    try {
      const page = await listKind(this.store, GROUP_PREFIX + prefix, continueAt === '' ? '' : GROUP_PREFIX + continueAt, limit, GROUP_ENTRIES);
      const strip = (n: string) => n.slice(GROUP_PREFIX.length);
      return { names: page.names.map(strip), continueAt: page.continueAt === '' ? '' : strip(page.continueAt) };
    } catch (err) {
      throw translateStoreError(err, texts);
    }
  }

  /**
   * Deletes the group. Its entry goes first, which invalidates every group and node token and
   * every enrollment at once; then the listeners drop node records and the old group token.
   */
  async delete(name: string): Promise<void> {
    const record = await this.record(name);
    try {
      await this.store.delete(entryName(name));
    } catch (err) {
      throw translateStoreError(err, texts);
    }
    await this.tokens.revokeHash(record.groupToken).catch(() => undefined);
    for (const listener of this.deleteListeners) await listener(record).catch(() => undefined);
  }

  /** Replaces the group token and the generation: every node token and enrollment of the group dies. */
  async rotate(name: string): Promise<{ groupToken: string }> {
    checkGroupName(name);
    const generation = randomId();
    const { token, record: tokenRecord } = await this.issueGroupToken(name, generation);
    let old: GroupRecord;
    try {
      ({ before: old } = await this.modify(name, (r) => ({ ...r, generation, groupToken: tokenRecord.hash, updatedAt: this.tokens.now() })));
    } catch (err) {
      await this.tokens.revokeHash(tokenRecord.hash).catch(() => undefined);
      throw err;
    }
    await this.tokens.revokeHash(old.groupToken).catch(() => undefined);
    return { groupToken: token };
  }

  /**
   * Assigns a bundle; false when it already was. Every node of the group can read it from
   * the moment this returns. @throws NotFoundError ('bundle does not exist' / 'group does not exist')
   */
  async assign(name: string, bundle: string): Promise<boolean> {
    checkBundleName(bundle);
    if (!(await this.catalog.exists(bundle))) throw coded('BUNDLE_NOT_FOUND');
    const { changed } = await this.modify(name, (r) => {
      if (r.bundles.includes(bundle)) return null;
      if (r.bundles.length >= MAX_BUNDLES) throw coded('GROUP_FULL', [MAX_BUNDLES]);
      return { ...r, bundles: [...r.bundles, bundle].sort(), updatedAt: this.tokens.now() };
    });
    return changed;
  }

  /** Unassigns a bundle (existing or not); false when it was not assigned. No node of the group can read it afterwards. */
  async unassign(name: string, bundle: string): Promise<boolean> {
    checkBundleName(bundle);
    const { changed } = await this.modify(name, (r) => {
      if (!r.bundles.includes(bundle)) return null;
      return { ...r, bundles: r.bundles.filter((b) => b !== bundle), updatedAt: this.tokens.now() };
    });
    return changed;
  }

  /** The bundles assigned to a group, sorted. */
  async bundlesOf(name: string): Promise<string[]> {
    return [...(await this.record(name)).bundles];
  }

  /** Names of the groups a bundle is assigned to. Reads every group: for administration, not for the read path. */
  async groupsOf(bundle: string): Promise<string[]> {
    return [...(await this.all()).values()].filter((r) => r.bundles.includes(bundle)).map((r) => r.name);
  }

  /** Removes a bundle from every group it is assigned to (a forced bundle delete); returns those groups. */
  async unassignEverywhere(bundle: string): Promise<string[]> {
    const groups = await this.groupsOf(bundle);
    for (const g of groups) {
      try {
        await this.unassign(g, bundle);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err; // deleted meanwhile: nothing left to unassign
      }
    }
    return groups;
  }

  /**
   * The group a group token belongs to, if the token is live and of the group's current
   * generation, and (when `group` is given) of that group. @throws InvalidTokenError (403)
   */
  async authenticate(token: string, group?: string): Promise<GroupRecord> {
    const t = await this.tokens.lookup(token);
    if (!t || t.kind !== 'group' || (group !== undefined && t.group !== group)) throw new InvalidTokenError();
    const record = await this.find(t.group);
    if (!record || record.generation !== t.generation) throw new InvalidTokenError();
    return record;
  }

  /** The full record (secret included). @throws NotFoundError 'group does not exist' */
  async record(name: string): Promise<GroupRecord> {
    const r = await this.find(name);
    if (!r) throw coded('GROUP_NOT_FOUND');
    return r;
  }

  /** The full record, or null when there is no such group (or the name is not a group name). */
  async find(name: string): Promise<GroupRecord | null> {
    if (!isValidGroupName(name)) return null;
    return (await this.read(name))?.record ?? null;
  }

  /** Every group's record by name (the metrics census; reads every group). */
  async all(): Promise<Map<string, GroupRecord>> {
    const out = new Map<string, GroupRecord>();
    let cursor = '';
    do {
      const page = await this.list('', cursor, 1000);
      for (const r of await Promise.all(page.names.map((n) => this.find(n)))) if (r) out.set(r.name, r);
      cursor = page.continueAt;
    } while (cursor !== '');
    return out;
  }

  onDelete(listener: GroupDeleteListener): void {
    this.deleteListeners.push(listener);
  }

  private issueGroupToken(group: string, generation: string) {
    // Group tokens do not expire: they live until rotation or deletion, as RKS keeps its alive.
    return this.tokens.issue({ kind: 'group', group, generation, ttl: null, renewable: false });
  }

  /**
   * Read-modify-write with the keystore's conditional update, retried when another writer
   * got in first. `change` returns null for "nothing to do".
   */
  private async modify(name: string, change: (r: GroupRecord) => GroupRecord | null): Promise<{ record: GroupRecord; before: GroupRecord; changed: boolean }> {
    checkGroupName(name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const found = await this.read(name);
      if (!found) throw coded('GROUP_NOT_FOUND');
      const next = change(found.record);
      if (next === null) return { record: found.record, before: found.record, changed: false };
      try {
        await this.store.update(entryName(name), encode(next), found.version);
        return { record: next, before: found.record, changed: true };
      } catch (err) {
        if (err instanceof EntryNotFoundError) throw coded('GROUP_NOT_FOUND');
        if (!(err instanceof VersionMismatchError)) throw translateStoreError(err, texts);
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt + 1, 10)));
      }
    }
    throw coded('RETRIES_EXHAUSTED', ['group']);
  }

  private async read(name: string): Promise<{ record: GroupRecord; version: string } | null> {
    try {
      const entry = await this.store.get(entryName(name));
      return { record: this.decoded.decode(name, entry, decodeFrozen), version: entry.version };
    } catch (err) {
      if (err instanceof EntryNotFoundError) return null;
      throw translateStoreError(err, texts);
    }
  }
}

/** A decoded record, frozen: the memo hands the same object to every reader. */
function decodeFrozen(value: Buffer): GroupRecord {
  const r = decode(value);
  Object.freeze(r.bundles);
  Object.freeze(r.settings);
  return Object.freeze(r);
}

/** @throws BadRequestError with the stable rule text. */
export function checkGroupName(name: string): void {
  if (!isValidGroupName(name)) throw new BadRequestError('group name must be 1–80 characters of [0-9A-Za-z_-]');
}

function checkBundleName(bundle: string): void {
  // The bundle service owns the exact rules; this only keeps junk out of group entries.
  if (bundle.length === 0 || bundle.length > 255 || !/^[\x21-\x7e]+$/.test(bundle) || bundle.includes('/')) {
    throw new BadRequestError('invalid bundle name');
  }
}

function entryName(name: string): string {
  return GROUP_PREFIX + name;
}
