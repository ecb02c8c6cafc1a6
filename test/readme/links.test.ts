/**
 * The README and docs/ link to each other by file and by section: every relative
 * link must name a file of the repository and, with `#anchor`, a heading of that
 * file (GitHub's anchors: lowercase, punctuation dropped, spaces to hyphens).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

const pages = [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading (duplicates get -1, -2…). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = (m[1] as string)
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe('README and docs/ links', () => {
  it('every relative link names an existing file and heading', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(repoRoot, page), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const path = file ? join(repoRoot, dirname(page), file) : join(repoRoot, page);
        const name = relative(repoRoot, path);
        if (!existsSync(path)) broken.push(`${page}: ${target} (no file ${name})`);
        else if (anchor && name.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(anchor))
          broken.push(`${page}: ${target} (no heading #${anchor} in ${name})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README starts with a table of contents that lists every section', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const toc = readme.slice(readme.indexOf('## Contents'), readme.indexOf('\n## ', readme.indexOf('## Contents') + 1));
    const sections = [...readme.matchAll(/^##\s+(.*)$/gm)].map((m) => m[1] as string).filter((s) => s !== 'Contents');
    for (const s of sections) expect(toc, `contents list "${s}"`).toContain(`[${s}]`);
  });
});
