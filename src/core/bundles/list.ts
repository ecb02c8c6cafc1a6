/** Paged listing of bundle names, like the KES key list, with an optional expiry filter. */
import { BadRequestError, NotFoundError } from '../../errors.js';
import { MAX_LIST_PAGE, type KeyStore } from '../../../keystores/keystore.js';
import { BUNDLE_ENTRY_PREFIX, BUNDLE_NAME_RULES, entryOf, entryPrefixOf, isValidBundleName, isValidBundlePrefix, nameOfEntry } from './names.js';
import { listKind, type EntryKind } from '../../../keystores/listing.js';
import { forEachLimited } from '../../concurrency.js';
import { translateStoreError } from '../store-errors.js';

export interface BundleListOptions {
  /** Names starting with this ('' for all). */
  prefix: string;
  /** Name to start at (inclusive), from the previous page's `continueAt`; '' to start at the beginning. */
  continueAt?: string;
  /** Page size, at most 1000 (the keystore's page). */
  limit?: number;
  /** Only bundles whose leaf expires within this many days (already expired ones included). */
  expiringWithinDays?: number;
}

export interface BundlePage {
  names: string[];
  /** The first name of the next page, or '' on the last page. */
  continueAt: string;
}

export const MAX_EXPIRING_DAYS = 36_500;

/**
 * One page: the keystore's page of `bundle.` entries, turned back into names.
 * With `expiringWithinDays` each bundle of the page is read to check its expiry,
 * so a page may hold fewer names than `limit` (even none) while `continueAt`
 * still points further; clients page until `continueAt` is ''.
 * @param notAfter reads a bundle's expiry (NotFoundError when it vanished meanwhile: skipped).
 */
export async function listBundles(store: KeyStore, notAfter: (name: string) => Promise<Date>, now: Date, options: BundleListOptions): Promise<BundlePage> {
  const { prefix, continueAt = '', limit = MAX_LIST_PAGE, expiringWithinDays } = options;
  if (!isValidBundlePrefix(prefix)) throw new BadRequestError(`invalid bundle name prefix: use ${BUNDLE_NAME_RULES}, or a leading part of such a name`);
  if (continueAt !== '' && !isValidBundleName(continueAt)) throw new BadRequestError(`invalid continue_at: use ${BUNDLE_NAME_RULES}`);
  if (expiringWithinDays !== undefined && !(Number.isInteger(expiringWithinDays) && expiringWithinDays >= 0 && expiringWithinDays <= MAX_EXPIRING_DAYS)) {
    throw new BadRequestError(`expiring_within_days must be a whole number from 0 to ${MAX_EXPIRING_DAYS}`);
  }
  let page;
  try {
    page = await listKind(
      store,
      entryPrefixOf(prefix),
      continueAt === '' ? '' : entryOf(continueAt),
      Math.min(Math.max(1, limit), MAX_LIST_PAGE),
      bundleEntries(prefix),
    );
  } catch (err) {
    throw translateStoreError(err, { exists: 'BUNDLE_EXISTS', notFound: 'BUNDLE_NOT_FOUND', failed: 'failed to list bundles' });
  }
  let names = page.names.map(nameOfEntry);
  if (expiringWithinDays !== undefined) names = await expiring(names, notAfter, now.getTime() + expiringWithinDays * 86_400_000);
  return { names, continueAt: page.continueAt === '' ? '' : nameOfEntry(page.continueAt) };
}

/**
 * Bundle entries whose names start with `prefix`. Listing '_' also finds the wildcard entries
 * ('_.…' is how '*.…' is stored): they are skipped as one block, and never become the cursor.
 */
function bundleEntries(prefix: string): EntryKind {
  const wildcards = BUNDLE_ENTRY_PREFIX + '_.';
  return {
    owns: (entry) => {
      const name = nameOfEntry(entry);
      return isValidBundleName(name) && name.startsWith(prefix);
    },
    skipTo: (entry) => (entry.startsWith(wildcards) ? BUNDLE_ENTRY_PREFIX + '_0' : null),
  };
}

async function expiring(names: string[], notAfter: (name: string) => Promise<Date>, before: number): Promise<string[]> {
  const keep = new Set<string>();
  await forEachLimited(names, async (name) => {
    try {
      if ((await notAfter(name)).getTime() <= before) keep.add(name);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // deleted while we listed
    }
  });
  return names.filter((n) => keep.has(n));
}
