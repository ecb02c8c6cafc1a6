/**
 * The README as an executable document: its shell blocks, extracted in order and
 * turned into one bash script whose shown outputs are checked.
 *
 * Conventions (the README's "How the walkthroughs are tested" repeats them for readers):
 *
 * - Every ```sh and ```bash block of README.md runs, in the order of the file, as one
 *   script (`bash -euo pipefail`), like a terminal session in which the reader pastes
 *   each block in turn: variables and the working folder carry over from block to block.
 *   Other fences (yaml, text, hcl…) are never run.
 * - A block that cannot run in a test is preceded by `<!-- not-run: <reason> -->`
 *   (only blank lines and other HTML comments between the marker and the fence). The
 *   reason is required; such blocks are counted and listed.
 * - A block preceded by `<!-- needs: <tool> -->` runs only when the tool is installed
 *   (`nginx`: /usr/sbin/nginx, as test/agent/nginx.e2e.test.ts); otherwise it is
 *   counted as skipped, like that test. Later blocks must not depend on it.
 * - Shown output: comment lines `# → text` directly after a command are what the
 *   command prints, stdout and stderr together, as a terminal shows them. Every line
 *   of the output must match, in order. `…` in a line matches any text (a key, a
 *   date); a line that is only `…` matches any number of lines; a run of spaces
 *   matches any run of spaces and tabs (tabular output). A "command" here is
 *   one simple command with its `\` continuations and here-documents; put no `# →`
 *   after a multi-line loop.
 * - To show a refusal, keep the script going with `|| echo "exit status $?"` and show
 *   that line too: under `set -e` a bare failing command stops the walkthrough, which
 *   is the point — nothing fails silently.
 *
 * What the harness changes, and nothing else: the README's fixed ports (7373 for the
 * server, 9273 and 8443 for the agent's status endpoint and nginx) become free ports,
 * and `npx keygate …` runs `node <repository>/bin/keygate.js …` (what npx resolves it
 * to in the repository, without npm's start-up cost on every line).
 */

export interface Block {
  /** Fence language: sh, bash, yaml… */
  lang: string;
  /** 1-based README line of the first line inside the fence. */
  line: number;
  /** The `## ` section (and `### ` subsection) it sits in. */
  section: string;
  code: string;
  mode: { kind: 'run' } | { kind: 'not-run'; reason: string } | { kind: 'needs'; tool: string };
}

export const SHELL_LANGS = new Set(['sh', 'bash']);

/** Every fenced block of a Markdown text, with the markers that precede it. */
export function parseBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let h2 = '';
  let h3 = '';
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    if (text.startsWith('## ')) [h2, h3] = [text.slice(3).trim(), ''];
    else if (text.startsWith('### ')) h3 = text.slice(4).trim();
    const open = /^```([\w-]*)\s*$/.exec(text);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] as string)) end++;
    if (end >= lines.length) throw new Error(`README.md:${i + 1}: unclosed code fence`);
    blocks.push({
      lang: open[1] ?? '',
      line: start + 1,
      section: h3 ? `${h2} / ${h3}` : h2,
      code: lines.slice(start, end).join('\n') + '\n',
      mode: markerBefore(lines, i),
    });
    i = end;
  }
  return blocks;
}

/** The not-run / needs marker among the HTML comments and blank lines just above a fence. */
function markerBefore(lines: string[], fence: number): Block['mode'] {
  for (let j = fence - 1; j >= 0; j--) {
    const t = (lines[j] as string).trim();
    if (t === '') continue;
    const m = /^<!--\s*(not-run|needs)\s*:?\s*(.*?)\s*-->$/.exec(t);
    if (m) {
      if (m[1] === 'not-run') return { kind: 'not-run', reason: m[2] ?? '' };
      return { kind: 'needs', tool: m[2] ?? '' };
    }
    if (/^<!--.*-->$/.test(t)) continue;
    break;
  }
  return { kind: 'run' };
}

/** A command whose shown output (`# →` lines) is checked after the run. */
export interface Check {
  /** README line of the command. */
  line: number;
  command: string;
  expected: string[];
  /** File (relative to the output folder) that receives the command's output. */
  file: string;
}

export interface Script {
  text: string;
  /** The README line and exit status of the command that stopped the script, from the ERR trap's record. */
  failure(record: string): { line: number | undefined; calledFrom: number[]; status: string };
  /** Script line (1-based) → README line, for error messages. */
  readmeLine: Map<number, number>;
  checks: Check[];
}

export interface ScriptOptions {
  /** Folder the checked commands' outputs are written to. */
  outDir: string;
  /** Repository root, for `npx keygate`. */
  repo: string;
  /** README port → port used in the test. */
  ports: Record<number, number>;
}

const ARROW = /^\s*# → ?(.*)$/;

/** Replaces the README's fixed ports (`:7373`…) with the test's. */
export function substitutePorts(code: string, ports: Record<number, number>): string {
  return code.replace(/:(\d{2,5})\b/g, (all, p: string) => (ports[Number(p)] !== undefined ? `:${ports[Number(p)]}` : all));
}

/**
 * One bash script from the blocks to run: a prelude (the npx shim, an ERR trap that
 * names the failing line), then each block's lines verbatim, except that a command
 * followed by `# →` lines is wrapped in `{ …\n} >file 2>&1`.
 */
export function buildScript(blocks: Block[], opts: ScriptOptions): Script {
  const out: string[] = [];
  const readmeLine = new Map<number, number>();
  const checks: Check[] = [];
  const emit = (text: string, line?: number) => {
    out.push(text);
    if (line !== undefined) readmeLine.set(out.length, line);
  };
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  // -E: the ERR trap also fires in shell functions (the npx shim, a walkthrough's own), whose
  // failure under -e ends the script from inside the function.
  emit('set -Eeuo pipefail');
  // The ERR trap writes to a file: inside a checked command, stderr is that command's output file.
  if (/['"\\$`]/.test(opts.outDir)) throw new Error(`output folder with quotes: ${opts.outDir}`);
  // "status line caller-lines…": inside a function, BASH_LINENO names the lines that called it.
  emit(`trap '__kg_status=$?; echo "$__kg_status $LINENO \${BASH_LINENO[*]}" >"${opts.outDir}/failed"' ERR`);
  emit(
    `npx() { if [ "\${1-}" = keygate ]; then shift; node ${q(`${opts.repo}/bin/keygate.js`)} "$@"; else echo "doc test: only 'npx keygate' is available, not: npx $*" >&2; return 127; fi; }`,
  );
  for (const block of blocks) {
    emit(`echo ${q(`## README.md:${block.line} (${block.section})`)} >&2`);
    const lines = substitutePorts(block.code, opts.ports).replace(/\n$/, '').split('\n');
    let i = 0;
    while (i < lines.length) {
      const cmd = commandAt(lines, i);
      const expected: string[] = [];
      let j = cmd.end;
      while (j < lines.length && ARROW.test(lines[j] as string)) expected.push((ARROW.exec(lines[j++] as string) as RegExpExecArray)[1] as string);
      if (cmd.isCommand && expected.length > 0) {
        const file = `out-${checks.length + 1}`;
        checks.push({ line: block.line + i, command: lines.slice(i, cmd.end).join('\n'), expected, file });
        emit('{', block.line + i);
        for (let k = i; k < cmd.end; k++) emit(lines[k] as string, block.line + k);
        emit(`} >${q(`${opts.outDir}/${file}`)} 2>&1`, block.line + cmd.end - 1);
        for (let k = cmd.end; k < j; k++) emit(lines[k] as string, block.line + k);
        i = j;
      } else {
        if (!cmd.isCommand && expected.length > 0) throw new Error(`README.md:${block.line + cmd.end}: '# →' output after a line that is not a command`);
        for (let k = i; k < cmd.end; k++) emit(lines[k] as string, block.line + k);
        i = cmd.end;
      }
    }
  }
  const failure = (record: string) => {
    const [status = '?', ...lines] = record.trim().split(/\s+/);
    const [line, ...calledFrom] = lines.map((l) => readmeLine.get(Number(l))).filter((l): l is number => l !== undefined);
    return { line, calledFrom, status };
  };
  return { text: out.join('\n') + '\n', readmeLine, checks, failure };
}

/**
 * The lines a command starting at `i` spans: `\` continuations and here-documents.
 * Blank and comment lines are one line each and no command.
 */
function commandAt(lines: string[], i: number): { end: number; isCommand: boolean } {
  const first = (lines[i] as string).trim();
  if (first === '' || first.startsWith('#')) return { end: i + 1, isCommand: false };
  let k = i;
  const heredocs: string[] = [];
  for (;;) {
    const text = lines[k] as string;
    for (const m of text.matchAll(/<<(-?)\s*(['"]?)([A-Za-z_]\w*)\2/g)) heredocs.push(m[3] as string);
    k++;
    while (heredocs.length > 0 && k < lines.length) {
      if ((lines[k] as string).trim() === heredocs[0]) heredocs.shift();
      k++;
    }
    if (!text.endsWith('\\') || k >= lines.length) break;
  }
  return { end: k, isCommand: true };
}

/** null when `actual` matches the shown lines, else a description of the first difference. */
export function matchOutput(expected: string[], actual: string): string | null {
  const got = actual.replace(/\n$/, '').split('\n');
  if (actual === '') got.length = 0;
  const ok = (e: number, a: number): boolean => {
    if (e === expected.length) return a === got.length;
    const want = expected[e] as string;
    if (want.trim() === '…') {
      for (let skip = a; skip <= got.length; skip++) if (ok(e + 1, skip)) return true;
      return false;
    }
    return a < got.length && lineMatches(want, got[a] as string) && ok(e + 1, a + 1);
  };
  if (ok(0, 0)) return null;
  return `shown:\n${expected.map((l) => `  # → ${l}`).join('\n')}\nprinted:\n${got.map((l) => `  ${l}`).join('\n') || '  (nothing)'}`;
}

function lineMatches(want: string, got: string): boolean {
  const pattern = want
    .trim()
    .split('…')
    .map((part) =>
      part
        .split(/[ \t]+/)
        .map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[ \\t]+'),
    )
    .join('.*');
  return new RegExp(`^${pattern}$`).test(got.trim());
}

/** Rules every run block keeps (issue 12): each is a way a walkthrough once hid or caused a failure. */
export function lint(block: Block): string[] {
  const problems: string[] = [];
  const lines = block.code.split('\n');
  lines.forEach((text, k) => {
    const at = `README.md:${block.line + k}`;
    if (/^\s*#/.test(text)) return;
    if (/\bexport\s+[A-Za-z_]\w*=["']?\$\(/.test(text)) problems.push(`${at}: 'export VAR=$(…)' hides the command's failure: assign first, then export`);
    if (/\s\[--?[a-z]/.test(text)) problems.push(`${at}: an optional flag in brackets is pasted literally: show the command with and without it`);
    if (/\b(npx|npm run|npm exec)\b[^#]*&\s*(#.*)?$/.test(text))
      problems.push(`${at}: '$!' of a background npx/npm is the wrapper, not the program: run 'node bin/keygate.js …' or 'exec'`);
    if (/\bcert import\s+(\.\/)?certs\/?(\s|$)/.test(text)) problems.push(`${at}: 'cert import certs' imports make run's own certificates, CA key included`);
    if (/(^|\s)<[a-z][\w -]*>(\s|$)/.test(text)) problems.push(`${at}: a <placeholder> is read by bash as a redirection: use a variable`);
  });
  return problems;
}

/** Rules across blocks: each walkthrough creates its own group, so none fails on another's. */
export function lintAll(blocks: Block[]): string[] {
  const seen = new Map<string, number>();
  const problems: string[] = [];
  for (const block of blocks) {
    block.code.split('\n').forEach((text, k) => {
      const m = /\bgroup create\s+([\w.-]+)|\/rks\/v1\/group\/([\w.-]+)\s+\\?$/.exec(text.replace(/#.*$/, ''));
      const name = m?.[1] ?? m?.[2];
      if (!name) return;
      const first = seen.get(name);
      if (first !== undefined) problems.push(`README.md:${block.line + k}: group '${name}' was created at README.md:${first} already`);
      else seen.set(name, block.line + k);
    });
  }
  return problems;
}
