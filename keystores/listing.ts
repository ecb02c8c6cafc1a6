/**
 * Listing helpers every adapter shares, so `list` validates its arguments and
 * pages the same way whatever the backend.
 */
import { InvalidEntryNameError, MAX_LIST_PAGE, isValidEntryName, type ListPage } from './keystore.js';

/**
 * Validates `list` arguments the same way in every adapter: `prefix` and
 * `continueAt` are '' or valid entry names (every non-empty prefix of a valid
 * name is itself valid), `limit` a positive integer. A bad limit is a
 * programming error, not a store failure, hence RangeError.
 */
export function checkListArgs(prefix: string, continueAt: string, limit: number): void {
  if (prefix !== '' && !isValidEntryName(prefix)) throw new InvalidEntryNameError(prefix);
  if (continueAt !== '' && !isValidEntryName(continueAt)) throw new InvalidEntryNameError(continueAt);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`keystore: list limit must be a positive integer, not ${limit}`);
}

/**
 * One page out of a sorted array of names: those starting with `prefix`, from
 * `continueAt` on (inclusive), at most `max`; `continueAt` of the page is the
 * next matching name or ''. Every name with a prefix sorts at or after the
 * prefix itself, so the page starts at the larger of the two bounds.
 */
export function pageFrom(sorted: readonly string[], prefix: string, continueAt: string, max: number): ListPage {
  let i = lowerBound(sorted, continueAt > prefix ? continueAt : prefix);
  const names: string[] = [];
  for (; i < sorted.length; i++) {
    const name = sorted[i] as string;
    if (!name.startsWith(prefix)) break;
    if (names.length === max) return { names, continueAt: name };
    names.push(name);
  }
  return { names, continueAt: '' };
}

/** Code-unit order: the order `list` promises, identical to byte order for entry names (all ASCII). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first element of `sorted` that is >= `key`. */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Which entries under a listing prefix belong to one kind (keys, groups, bundles…). */
export interface EntryKind {
  /** Whether the entry is one of this kind: only those are listed, and only they become cursors. */
  owns(entry: string): boolean;
  /**
   * For an entry that is not of the kind, the first entry name after the whole block of
   * foreign entries it opens (e.g. past every `group.…` for keys), so the block is skipped in
   * one step rather than paged through; null to skip just this entry.
   */
  skipTo?(entry: string): string | null;
}

/**
 * One page of the entries of `kind` under `prefix`, from `continueAt` on: at most `limit`,
 * and `continueAt` the next entry of the kind, or '' when there is none. Entries of other
 * kinds sharing the range are skipped however many there are, so a page is never cut short
 * by them, and the cursor is always a name the caller's own rules accept.
 */
export async function listKind(
  store: { list(prefix: string, continueAt: string, limit: number): Promise<ListPage> },
  prefix: string,
  continueAt: string,
  limit: number,
  kind: EntryKind,
): Promise<ListPage> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`keystore: list limit must be a positive integer, not ${limit}`);
  const names: string[] = [];
  let cursor = continueAt;
  for (;;) {
    const page = await store.list(prefix, cursor, MAX_LIST_PAGE);
    let skipUntil = '';
    for (const name of page.names) {
      if (name < skipUntil) continue;
      if (!kind.owns(name)) {
        const next = kind.skipTo?.(name) ?? null;
        if (next !== null && next > name) skipUntil = next;
        continue;
      }
      if (names.length === limit) return { names, continueAt: name };
      names.push(name);
    }
    if (page.continueAt === '') return { names, continueAt: '' };
    // Never step backwards: each round starts past everything already seen.
    cursor = skipUntil > page.continueAt ? skipUntil : page.continueAt;
  }
}

/**
 * skipTo for kinds whose names never contain '.' below `prefix`: an entry `<prefix>X.…` opens
 * a block of another kind's entries, which ends before `<prefix>X0` ('/' is the only
 * character between '.' and '0', and no entry name contains it).
 */
export function pastDottedBlock(prefix: string): (entry: string) => string | null {
  return (entry) => {
    const dot = entry.indexOf('.', prefix.length);
    return dot > 0 ? entry.slice(0, dot) + '0' : null;
  };
}
