/**
 * The doc-test harness itself (./readme.ts), on small made-up READMEs: a README
 * change that breaks a walkthrough — a failing command, a wrong shown output, a
 * hidden failure — must be caught, or `make test` would stay green for a broken README.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildScript, lint, lintAll, matchOutput, parseBlocks, SHELL_LANGS } from './readme.js';

const fence = '```';

async function runDoc(markdown: string): Promise<{ code: number; outputs: (string | null)[]; failedLine: number | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-harness-'));
  try {
    const blocks = parseBlocks(markdown).filter((b) => SHELL_LANGS.has(b.lang) && b.mode.kind === 'run');
    const script = buildScript(blocks, { outDir: dir, repo: '/nonexistent', ports: { 7373: 1234 } });
    writeFileSync(join(dir, 's.sh'), script.text);
    const code = await new Promise<number>((resolve) =>
      execFile('bash', ['-euo', 'pipefail', join(dir, 's.sh')], { cwd: dir }, (err) => resolve(err ? Number((err as { code?: number }).code ?? 1) : 0)),
    );
    const failed = existsSync(join(dir, 'failed')) ? script.failure(readFileSync(join(dir, 'failed'), 'utf8')).line : undefined;
    const outputs = script.checks.map((c) => (existsSync(join(dir, c.file)) ? readFileSync(join(dir, c.file), 'utf8') : null));
    return { code, outputs, failedLine: failed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('doc-test harness', () => {
  it('finds blocks, their sections and markers', () => {
    const md = [
      '## A',
      '',
      `${fence}sh`,
      'echo a',
      fence,
      '',
      '<!-- not-run: starts a server -->',
      '',
      `${fence}bash`,
      'make run',
      fence,
      '### B',
      '<!-- needs: nginx -->',
      `${fence}sh`,
      'nginx',
      fence,
      `${fence}yaml`,
      'a: 1',
      fence,
    ].join('\n');
    const blocks = parseBlocks(md);
    expect(blocks.map((b) => [b.lang, b.line, b.section, b.mode])).toEqual([
      ['sh', 4, 'A', { kind: 'run' }],
      ['bash', 10, 'A', { kind: 'not-run', reason: 'starts a server' }],
      ['sh', 15, 'A / B', { kind: 'needs', tool: 'nginx' }],
      ['yaml', 18, 'A / B', { kind: 'run' }],
    ]);
  });

  it('runs the blocks as one session and captures shown output, continuations and here-documents included', async () => {
    const md = [
      `${fence}sh`,
      'X=hello',
      'cat <<EOF',
      '$X',
      'EOF',
      '# → hello',
      fence,
      'text',
      `${fence}sh`,
      'echo "$X" \\',
      '  world; echo port :7373 >&2',
      '# → hello world',
      '# → port :1234',
      'false || echo "exit status $?"',
      '# → exit status 1',
      fence,
    ].join('\n');
    const r = await runDoc(md);
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual(['hello\n', 'hello world\nport :1234\n', 'exit status 1\n']);
  });

  it('stops at the first failing command and names its README line', async () => {
    const md = [`${fence}sh`, 'echo one', 'V=$(false)', 'echo never', '# → never', fence].join('\n');
    const r = await runDoc(md);
    expect(r.code).not.toBe(0);
    expect(r.failedLine).toBe(3);
    expect(r.outputs).toEqual([null]);
  });

  it('names the calling line when a shell function fails (the npx shim included)', async () => {
    const md = [`${fence}sh`, 'f() { echo in f; false; }', 'echo one', 'f', 'echo never', fence, `${fence}sh`, 'npx keygate --version', fence].join('\n');
    expect((await runDoc(md)).failedLine).toBe(2); // the failing line in the function; the caller's comes with it
    const shim = await runDoc([`${fence}sh`, 'echo one', 'npx keygate --version', fence].join('\n')); // /nonexistent/bin/keygate.js
    expect(shim.code).not.toBe(0);
    expect(shim.failedLine).toBe(3);
  });

  it('matches shown output line by line, … as any text, a lone … as any lines', () => {
    expect(matchOutput(['plaintext:  …', 'ciphertext: …'], 'plaintext:  abc=\nciphertext: def=\n')).toBeNull();
    expect(matchOutput(['a', '…', 'z'], 'a\nb\nc\nz\n')).toBeNull();
    expect(matchOutput(['a', '…', 'z'], 'a\nz\n')).toBeNull();
    expect(matchOutput(['a'], 'a\nb\n')).toMatch(/printed:\n {2}a\n {2}b/);
    expect(matchOutput(['imported www.example.com (version …)'], 'imported www.example.com\n')).not.toBeNull();
    expect(matchOutput(['a.b'], 'axb\n')).not.toBeNull(); // no regular expressions in shown output
  });

  it('refuses the walkthrough mistakes of issue 12', () => {
    const [block] = parseBlocks(
      [
        `${fence}sh`,
        'export TOKEN=$(npx keygate group create edge)',
        'npx keygate cert rm www.example.com [--force]',
        'npx keygate agent --config a.yml &',
        'npx keygate cert import ./certs --ttl 60',
        'npx keygate key decrypt k <ciphertext>',
        'TOKEN=$(npx keygate group create edge); export TOKEN',
        fence,
      ].join('\n'),
    );
    const problems = lint(block as ReturnType<typeof parseBlocks>[number]);
    expect(problems.map((p) => p.split(':')[1])).toEqual(['2', '3', '4', '5', '6']);
  });

  it('refuses a group created twice across walkthroughs', () => {
    const blocks = parseBlocks(
      [`${fence}sh`, 'T=$(npx keygate group create edge)', fence, 'x', `${fence}sh`, 'K=$(npx keygate group create edge --token-ttl 60)', fence].join('\n'),
    );
    expect(lintAll(blocks)).toEqual(["README.md:6: group 'edge' was created at README.md:2 already"]);
  });
});
