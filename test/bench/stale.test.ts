/**
 * bench/stale.ts: the performance table's rows name their commit, and a row measured
 * before the last hot-path commit (or naming none, or an unknown one) is stale.
 */
import { describe, expect, it } from 'vitest';
import { figureRows, staleReasons } from '../../bench/stale.js';

const doc = (rows: string[]): string =>
  [
    '# Performance',
    '',
    '| other | table |',
    '| --- | --- |',
    '| x | y |',
    '',
    '<!-- bench-figures -->',
    '| target | measured | goal | met | commit |',
    '| --- | ---: | ---: | :---: | --- |',
    ...rows,
    '<!-- /bench-figures -->',
    '',
  ].join('\n');

/** A history a → b → c (hot path last touched in b); `zzz…` is unknown. */
const order = ['aaaaaaa', 'bbbbbbb', 'ccccccc'];
const contains = (commit: string, hot: string): boolean | null => {
  const c = order.findIndex((o) => commit.startsWith(o) || o.startsWith(commit));
  return c < 0 ? null : c >= order.indexOf(hot);
};

describe('bench stale-figure check', () => {
  it('reads only the marked table, without its header and separator, and the commit from the last cell', () => {
    const rows = figureRows(doc(['| (a) reads / node | 0.72 | ≥ 0.8 | not met | ccccccc |', '| (e) full cache | not measured yet | ≤ 2 | – | – |']));
    expect(rows).toEqual([
      { what: '(a) reads / node', commit: 'ccccccc' },
      { what: '(e) full cache', commit: '' },
    ]);
  });

  it('passes when every row was measured on the last hot-path commit or after it', () => {
    const rows = figureRows(doc(['| a | 1 | ≥ 1 | met | bbbbbbb |', '| b | 1 | ≥ 1 | met | ccccccc |']));
    expect(staleReasons(rows, 'bbbbbbb', contains)).toEqual([]);
  });

  it('names each row that is older, names no commit, or names an unknown one', () => {
    const rows = figureRows(
      doc(['| old | 1 | ≥ 1 | met | aaaaaaa |', '| none | 1 | ≥ 1 | met | – |', '| unknown | 1 | ≥ 1 | met | 1234567 |', '| new | 1 | ≥ 1 | met | ccccccc |']),
    );
    const reasons = staleReasons(rows, 'bbbbbbb', contains);
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/'old' is from aaaaaaa, older than bbbbbbb/);
    expect(reasons[1]).toMatch(/'none' names no commit/);
    expect(reasons[2]).toMatch(/'unknown' names 1234567, which is not a commit/);
  });

  it('calls a document without the marked table, or an empty one, stale', () => {
    expect(staleReasons(figureRows('# Performance\n\n| a | b |\n'), 'bbbbbbb', contains)[0]).toMatch(/has no table between/);
    expect(staleReasons(figureRows(doc([])), 'bbbbbbb', contains)[0]).toMatch(/has no rows/);
  });
});
