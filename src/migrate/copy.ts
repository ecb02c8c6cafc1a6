/**
 * `keygate migrate --from <config> --to <config>`: copies every entry of one keystore to
 * another, whatever its kind (keys, bundles, the SAN index, groups, tokens as their hashes,
 * nodes, enrollments, bans, markers, and entries of kinds added later), by listing the
 * source's whole namespace (all but the housekeeping sweeper's lease, which is run-time state).
 * Values are copied byte for byte; nothing is decoded except token
 * records, whose expiry decides whether they are still worth copying.
 *
 * Three passes:
 * 1. plan: list the source, read every entry, compare with the target. An entry is `new`
 *    (absent from the target), `same` (identical bytes: a previous run copied it), a
 *    `conflict` (different bytes), or `expired` (a token record past its expiry: skipped).
 *    Target entries the source does not hold are `foreign`.
 * 2. copy: create every `new` entry (create-only, so a concurrent writer is never
 *    overwritten). Without `merge`, any conflict or foreign entry refuses the whole run
 *    before anything is written; an interrupted run leaves only identical copies behind, so
 *    running it again is allowed and copies the rest. With `merge`, foreign entries stay,
 *    SAN index entries present on both sides get the union of their pairs, and other
 *    conflicts are listed and left alone.
 * 3. verify: read every migrated entry back from the target and compare it with what was
 *    read from the source (by SHA-256).
 *
 * Only entry names and counts are ever reported, never a value.
 */
import { hash } from 'node:crypto';
import { EntryExistsError, EntryNotFoundError, MAX_LIST_PAGE, VersionMismatchError, type KeyStore } from '../../keystores/keystore.js';
import { LEASE_ENTRY } from '../core/sweeper.js';

export interface MigrateOptions {
  /** Only entries whose name matches one of these globs (`*` any run, `?` one character); [] = all. */
  filters?: readonly string[];
  /** Count and compare, write nothing. */
  dryRun?: boolean;
  /** Accept a target that already holds other entries (see above). */
  merge?: boolean;
  /** Entries read or written at once. */
  concurrency?: number;
  /** Milliseconds since the epoch, for token expiry. */
  now?: () => number;
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  phase: 'plan' | 'copy' | 'verify';
  done: number;
  /** 0 while the total is not known yet (planning lists as it goes). */
  total: number;
}

export interface MigrateReport {
  /** Source entries that passed the filters. */
  considered: number;
  /** Entries written by this run (or, in a dry run, that would be). */
  copied: number;
  /** Entries already identical in the target. */
  unchanged: number;
  /** SAN index entries merged (union of pairs) into an existing target entry. */
  merged: number;
  /** Token records past their expiry, not copied. */
  expired: number;
  /** Names present on both sides with different values (left as they are). */
  conflicts: string[];
  /** Target entries the source does not hold (how many). */
  foreign: number;
  /** Entries read back from the target and found identical. */
  verified: number;
  /** Names whose read-back differed or was missing. */
  mismatched: string[];
  dryRun: boolean;
}

/** Thrown when the target holds entries the run would not write, and `merge` was not given. */
export class TargetNotEmptyError extends Error {
  constructor(
    readonly foreign: number,
    readonly conflicts: readonly string[],
  ) {
    super(
      `the target keystore already holds ${foreign} other entr${foreign === 1 ? 'y' : 'ies'} and ${conflicts.length} conflicting one${conflicts.length === 1 ? '' : 's'}` +
        `${conflicts.length > 0 ? ` (${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ', …' : ''})` : ''}: nothing was written; use --merge to add to it`,
    );
  }
}

type Plan = 'new' | 'same' | 'conflict' | 'expired' | 'merge-san';

const digest = (b: Uint8Array): string => hash('sha256', b, 'hex');

/** A glob over entry names: `*` any run of characters, `?` one character, everything else literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Every entry name of a keystore, in order. */
export async function* allNames(store: KeyStore): AsyncGenerator<string[]> {
  let cursor = '';
  do {
    const page = await store.list('', cursor, MAX_LIST_PAGE);
    yield page.names;
    cursor = page.continueAt;
  } while (cursor !== '');
}

/** Whether a value is a token record whose expiry has passed (tokens.ts's stored form). */
export function isExpiredToken(name: string, value: Uint8Array, now: number): boolean {
  if (!name.startsWith('token.')) return false;
  try {
    const o = JSON.parse(Buffer.from(value).toString('utf8')) as { expires_at?: unknown };
    return typeof o.expires_at === 'number' && now >= o.expires_at;
  } catch {
    return false;
  }
}

async function read(store: KeyStore, name: string): Promise<Buffer | null> {
  try {
    return (await store.get(name)).value;
  } catch (err) {
    if (err instanceof EntryNotFoundError) return null;
    throw err;
  }
}

/** Runs `work` on each item with at most `limit` at once; the first failure rejects (the others finish their item). */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async (): Promise<void> => {
    while (failed === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== null) throw failed;
}

interface SanEntry {
  san: string;
  refs: Array<{ name: string; id: string }>;
}

function decodeSan(value: Uint8Array): SanEntry | null {
  try {
    const o = JSON.parse(Buffer.from(value).toString('utf8')) as SanEntry;
    return typeof o.san === 'string' && Array.isArray(o.refs) ? o : null;
  } catch {
    return null;
  }
}

/** The target's SAN index entry with the source's pairs added (conditional update, retried). */
async function mergeSan(target: KeyStore, name: string, source: Uint8Array): Promise<void> {
  const from = decodeSan(source);
  if (!from) throw new Error(`migrate: ${name}: not a SAN index entry`);
  for (let attempt = 0; attempt < 20; attempt++) {
    const entry = await target.get(name);
    const to = decodeSan(entry.value);
    if (!to) throw new Error(`migrate: ${name}: not a SAN index entry in the target`);
    const have = new Set(to.refs.map((r) => `${r.name}\n${r.id}`));
    const add = from.refs.filter((r) => !have.has(`${r.name}\n${r.id}`));
    if (add.length === 0) return;
    try {
      await target.update(name, Buffer.from(JSON.stringify({ san: to.san, refs: [...to.refs, ...add] })), entry.version);
      return;
    } catch (err) {
      if (!(err instanceof VersionMismatchError)) throw err;
    }
  }
  throw new Error(`migrate: ${name} was changed concurrently too often; run again`);
}

/** One run's inputs and what it has found so far. */
interface Run {
  source: KeyStore;
  target: KeyStore;
  wanted: (name: string) => boolean;
  now: () => number;
  concurrency: number;
  progress: NonNullable<MigrateOptions['onProgress']>;
  report: MigrateReport;
  /** Only digests are kept: values are read again when copied. */
  plan: Map<string, { plan: Plan; digest: string }>;
}

export async function migrate(source: KeyStore, target: KeyStore, options: MigrateOptions = {}): Promise<MigrateReport> {
  const filters = (options.filters ?? []).map(globToRegExp);
  const run: Run = {
    source,
    target,
    // The sweeper's lease is this deployment's run-time state, not data: never carried over.
    wanted: (name: string) => name !== LEASE_ENTRY && (filters.length === 0 || filters.some((re) => re.test(name))),
    now: options.now ?? Date.now,
    concurrency: options.concurrency ?? 16,
    progress: options.onProgress ?? (() => {}),
    report: {
      considered: 0,
      copied: 0,
      unchanged: 0,
      merged: 0,
      expired: 0,
      conflicts: [],
      foreign: 0,
      verified: 0,
      mismatched: [],
      dryRun: options.dryRun === true,
    },
    plan: new Map(),
  };
  const { report, plan } = run;
  await planAll(run);
  const todo: string[] = [];
  for (const [name, { plan: p }] of plan) {
    report.considered++;
    if (p === 'expired') report.expired++;
    else if (p === 'same') report.unchanged++;
    else if (p === 'conflict') report.conflicts.push(name);
    else todo.push(name);
  }
  const mergeSans = todo.filter((n) => plan.get(n)?.plan === 'merge-san');
  if (options.merge !== true && (report.foreign > 0 || report.conflicts.length > 0 || mergeSans.length > 0)) {
    throw new TargetNotEmptyError(report.foreign, [...report.conflicts, ...mergeSans].sort());
  }
  if (options.dryRun === true) {
    report.copied = todo.length - mergeSans.length;
    report.merged = mergeSans.length;
    return report;
  }
  await copyAll(run, todo);
  await verifyAll(run);
  return report;
}

/** 1. Plan: what each wanted source entry needs, and how many target entries the source does not have. */
async function planAll(run: Run): Promise<void> {
  const { source, target, plan, report } = run;
  for await (const names of allNames(source)) {
    const mine = names.filter(run.wanted);
    const planned: Array<[string, { plan: Plan; digest: string }]> = [];
    await pool(mine, run.concurrency, async (name) => {
      const value = await read(source, name);
      if (value === null) return; // deleted since the listing
      const d = digest(value);
      let p: Plan;
      if (isExpiredToken(name, value, run.now())) p = 'expired';
      else {
        const there = await read(target, name);
        if (there === null) p = 'new';
        else if (digest(there) === d) p = 'same';
        else p = name.startsWith('san.') && decodeSan(there) !== null && decodeSan(value) !== null ? 'merge-san' : 'conflict';
      }
      planned.push([name, { plan: p, digest: d }]);
    });
    for (const [name, entry] of planned.sort((a, b) => (a[0] < b[0] ? -1 : 1))) plan.set(name, entry);
    run.progress({ phase: 'plan', done: plan.size, total: 0 });
  }
  for await (const names of allNames(target)) for (const name of names) if (run.wanted(name) && !plan.has(name)) report.foreign++;
}

/** 2. Copy what the plan says is new (create-only), and merge SAN index entries. */
async function copyAll(run: Run, todo: string[]): Promise<void> {
  const { source, target, plan, report } = run;
  let done = 0;
  const copyTotal = todo.length;
  run.progress({ phase: 'copy', done, total: copyTotal });
  await pool(todo, run.concurrency, async (name) => {
    const entry = plan.get(name) as { plan: Plan; digest: string };
    const value = await read(source, name);
    if (value === null) {
      plan.delete(name); // deleted in the source meanwhile: nothing to carry over
    } else if (entry.plan === 'merge-san') {
      await mergeSan(target, name, value);
      report.merged++;
    } else {
      entry.digest = digest(value);
      try {
        await target.create(name, value);
        report.copied++;
      } catch (err) {
        if (!(err instanceof EntryExistsError)) throw err;
        // Written meanwhile (by a concurrent run): fine if it is the same value.
        const there = await read(target, name);
        if (there === null || digest(there) !== entry.digest) {
          report.conflicts.push(name);
          entry.plan = 'conflict';
        } else report.unchanged++;
      }
    }
    run.progress({ phase: 'copy', done: ++done, total: copyTotal });
  });
  report.conflicts.sort();
}

/** 3. Verify everything this run stands behind — copied now or found identical — by reading it back. */
async function verifyAll(run: Run): Promise<void> {
  const { target, plan, report } = run;
  const check = [...plan].filter(([, e]) => e.plan === 'new' || e.plan === 'same').map(([n]) => n);
  let checked = 0;
  run.progress({ phase: 'verify', done: 0, total: check.length });
  await pool(check, run.concurrency, async (name) => {
    const there = await read(target, name);
    if (there !== null && digest(there) === (plan.get(name) as { digest: string }).digest) report.verified++;
    else report.mismatched.push(name);
    run.progress({ phase: 'verify', done: ++checked, total: check.length });
  });
  report.mismatched.sort();
}
