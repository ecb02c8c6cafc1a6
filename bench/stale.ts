/**
 * Stale figures (issue 19): the performance table in docs/performance.md names the
 * commit each figure was measured on. When the hot path changed after one of them,
 * the table no longer describes the code: `make bench` says so loudly and exits
 * non-zero, so published figures cannot go stale silently.
 *
 * The table sits between `<!-- bench-figures -->` and `<!-- /bench-figures -->`;
 * its last column holds the commit (7–40 hex digits) of each row's figure.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What `make bench` measures the serving of: a commit touching these makes the figures stale. */
export const HOT_PATH = ['src/server', 'src/api', 'src/core', 'src/auth', 'src/policy', 'src/log', 'keystores/cache.ts', 'keystores/memory.ts', 'src/crypto'];
export const FIGURES_DOC = 'docs/performance.md';
const OPEN = '<!-- bench-figures -->';
const CLOSE = '<!-- /bench-figures -->';

export interface FigureRow {
  /** The row's first cell (what was measured). */
  what: string;
  /** The commit named in its last cell, or '' when there is none. */
  commit: string;
}

/** The rows of the marked table; null when the document has no marked table. */
export function figureRows(doc: string): FigureRow[] | null {
  const start = doc.indexOf(OPEN);
  const end = doc.indexOf(CLOSE, start);
  if (start < 0 || end < 0) return null;
  const rows: FigureRow[] = [];
  for (const line of doc.slice(start + OPEN.length, end).split('\n')) {
    const t = line.trim();
    if (!t.startsWith('|') || /^\|[\s:|-]+\|$/.test(t)) continue; // not a row, or the separator
    const cells = t
      .slice(1, t.endsWith('|') ? -1 : undefined)
      .split('|')
      .map((c) => c.trim());
    rows.push({ what: cells[0] ?? '', commit: /\b[0-9a-f]{7,40}\b/.exec(cells[cells.length - 1] ?? '')?.[0] ?? '' });
  }
  // The first row is the header.
  return rows.slice(1);
}

/**
 * Why the figures are stale, one line per reason; empty when every row was measured on
 * a commit that contains `hot` (the last commit that touched the hot path).
 * `contains(commit, hot)`: true, false, or null when `commit` is unknown.
 */
export function staleReasons(rows: FigureRow[] | null, hot: string, contains: (commit: string, hot: string) => boolean | null): string[] {
  if (rows === null) return [`${FIGURES_DOC} has no table between ${OPEN} and ${CLOSE}`];
  if (rows.length === 0) return [`${FIGURES_DOC}: the figures table has no rows`];
  const reasons: string[] = [];
  for (const row of rows) {
    if (row.commit === '') reasons.push(`'${row.what}' names no commit`);
    else {
      const c = contains(row.commit, hot);
      if (c === null) reasons.push(`'${row.what}' names ${row.commit}, which is not a commit of this repository`);
      else if (!c) reasons.push(`'${row.what}' is from ${row.commit}, older than ${hot.slice(0, 7)}, the last commit that touched the hot path`);
    }
  }
  return reasons;
}

function git(repo: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8' });
  return { status: r.status, out: (r.stdout ?? '').trim() };
}

/** The check against this checkout; null when it is not a git checkout (nothing to compare). */
export function checkStaleFigures(repo: string): string[] | null {
  const hot = git(repo, ['log', '-1', '--format=%H', '--', ...HOT_PATH]);
  if (hot.status !== 0 || hot.out === '') return null;
  let doc: string;
  try {
    doc = readFileSync(join(repo, FIGURES_DOC), 'utf8');
  } catch {
    return [`cannot read ${FIGURES_DOC}`];
  }
  return staleReasons(figureRows(doc), hot.out, (commit, h) => {
    if (git(repo, ['cat-file', '-e', `${commit}^{commit}`]).status !== 0) return null;
    return git(repo, ['merge-base', '--is-ancestor', h, commit]).status === 0;
  });
}
