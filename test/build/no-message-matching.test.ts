/**
 * No code decides on an error's text (issue 18): errors carry catalogue codes (`err.code`,
 * the `Keygate-Error-Code` header on the wire), and code compares those. This test reads every
 * runtime source file of src/ and keystores/ (the pages' scripts included) and fails on a line that compares, searches or
 * matches an error message, unless the allow-list below names the line and says why.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const repoRoot = new URL('../../', import.meta.url).pathname;

/** The shapes of "decide on an error's text". */
const MESSAGE_MATCHING: readonly RegExp[] = [
  // err.message === '…', err.message !== x (a check for a missing message is not about its text).
  /\.message\s*[!=]==?\s*(?!\s*(undefined|null)\b)/,
  // '…' === err.message
  /[!=]==?\s*[\w$.?()[\]]*\.message\b(?!\s*\()/,
  // err.message.includes('…'), .startsWith, .match, a search…
  /\.message\??\.(includes|startsWith|endsWith|match|matchAll|search|indexOf|lastIndexOf|localeCompare)\(/,
  // /…/.test(err.message)
  /\.(test|exec)\([^)]*\.message\b/,
  // message === '…' on a variable that holds one
  /\b(message|msg)\s*[!=]==?\s*['"`]/,
  /['"`]\s*[!=]==?\s*(message|msg)\b/,
  // A list of an answer's error strings searched for words (Vault's `errors`).
  /\b(errors|said)\??\.(some|find|every|filter|findIndex)\(.*\.(includes|startsWith|endsWith|match)\(/,
];

interface Allowed {
  file: string;
  /** Text of the line (a part of it is enough). */
  line: string;
  why: string;
}

const VAULT = "Vault's error bodies are external text (Vault has no error codes): the Vault adapter recognises these answers by Vault's own words";

/** Every line allowed to match, with the reason. An entry that no longer matches anything fails the test too. */
const ALLOWED: readonly Allowed[] = [
  {
    file: 'src/client/https.ts',
    line: 'this.message === ERROR_CODES.ROUTE_NOT_FOUND.message',
    why: 'a server without the Keygate-Error-Code header (older than it) says an unknown route only by the catalogue message; used only when no code came',
  },
  { file: 'keystores/vault/index.ts', line: "e.includes('sealed')", why: VAULT },
  { file: 'keystores/vault/kv.ts', line: "e.includes('check-and-set parameter did not match')", why: VAULT },
  { file: 'keystores/vault/http.ts', line: "e.startsWith('Upgrading from non-versioned to versioned data')", why: VAULT },
  { file: 'keystores/vault/http.ts', line: "e.includes('failed to look up namespace from the token')", why: VAULT },
  { file: 'keystores/vault/http.ts', line: 'e.includes(NO_ACTIVE_NODE)', why: VAULT },
  { file: 'keystores/vault/http.ts', line: "field(res.body, 'sealed') === true || res.errors.some((e) => e.includes('sealed'))", why: VAULT },
];

function sources(dir: string): string[] {
  return (
    readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
      // The pages' scripts (the dashboard, the docs) are clients of the server too.
      .filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name) && !e.name.endsWith('.test.ts'))
      .map((e) => relative(repoRoot, join(e.parentPath, e.name)))
      // The keystore contract suite is test code that lives beside the adapters.
      .filter((f) => f !== 'keystores/contract.ts')
  );
}

/** Lines of code that match one of the shapes; comments are not code. */
function findMatching(file: string, text: string): Array<{ file: string; line: string; at: number }> {
  const hits: Array<{ file: string; line: string; at: number }> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('//') || line.startsWith('*') || line.startsWith('/*')) return;
    const code = line.replace(/\s\/\/ .*$/, '');
    if (MESSAGE_MATCHING.some((re) => re.test(code))) hits.push({ file, line, at: i + 1 });
  });
  return hits;
}

describe('no code matches error message text', () => {
  it('recognises the shapes it looks for, and leaves messages that are only passed on alone', () => {
    const flagged = [
      "if (err.message === 'group does not exist') return null;",
      "if (err instanceof Error && err.message.includes('changed concurrently')) retry();",
      "return 'not found' === e.message;",
      'if (/not found/.test(err.message)) skip();',
      "const gone = message === 'not found';",
      "if (res.errors.some((e) => e.includes('sealed'))) down();",
      "return err?.message?.startsWith('vault:');",
    ];
    for (const line of flagged) expect(findMatching('probe.ts', line), line).toHaveLength(1);
    const passed = [
      'logger.error(`agent: ${(err as Error).message}`);',
      'return { status: err.status, message: err.message, code: err.code };',
      "if (typeof said === 'string') message = said;",
      "super(status, code ?? (message === undefined ? 'NOT_AUTHORIZED' : 'ACCESS_DENIED'));",
      "// if (err.message === 'x') is what this test forbids",
      'if (err.code === ERROR_CODES.ROUTE_NOT_FOUND) return;',
    ];
    for (const line of passed) expect(findMatching('probe.ts', line), line).toEqual([]);
  });

  it('finds no comparison of an error message in src/ or keystores/ outside the allow-list', () => {
    const hits = [...sources('src'), ...sources('keystores')].flatMap((f) => findMatching(f, readFileSync(join(repoRoot, f), 'utf8')));
    const allowed = (h: { file: string; line: string }) => ALLOWED.some((a) => a.file === h.file && h.line.includes(a.line));
    expect(hits.filter((h) => !allowed(h)).map((h) => `${h.file}:${h.at}: ${h.line}`)).toEqual([]);
    const stale = ALLOWED.filter((a) => !hits.some((h) => h.file === a.file && h.line.includes(a.line)));
    expect(stale.map((a) => `${a.file}: ${a.line}`)).toEqual([]);
    for (const a of ALLOWED) expect(a.why.length, `${a.file}: ${a.line}`).toBeGreaterThan(20);
  });
});
