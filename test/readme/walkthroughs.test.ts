/**
 * README.md runs as written (issue 12). Every ```sh / ```bash block, in order, is
 * one bash script (`bash -euo pipefail`) run in a fresh scratch folder against a
 * fresh server set up as `make run` sets up the reader's: development certificates
 * made by `keygate dev-certs` in `<scratch>/certs`, `config.example.yml`, the fs
 * keystore in `<scratch>/data`. The README's commands then find `certs/ca.crt`,
 * `certs/admin.crt`… where they expect them; the repository's own certs/ and data/
 * are never touched. The conventions (not-run and needs markers, `# →` shown output,
 * the only substitutions made) are described at the top of ./readme.ts.
 *
 * The server and the script run in process groups of their own (test/helpers/processes.ts),
 * killed whatever happened, so background examples (nginx, the agent) never outlive the
 * test. Nothing waits on time: the server is ready when it prints its banner, the script
 * is done when bash exits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ensureBuilt, keygateBin, repoRoot } from '../helpers/cli.js';
import { spawnTracked, type Spawned } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';
import { buildScript, lint, lintAll, matchOutput, parseBlocks, SHELL_LANGS, type Block } from './readme.js';

const README = join(repoRoot, 'README.md');
const shellBlocks = (): Block[] => parseBlocks(readFileSync(README, 'utf8')).filter((b) => SHELL_LANGS.has(b.lang));

/** Where a `needs:` tool is looked for: nginx where Debian puts it (as test/agent/nginx.e2e.test.ts). */
function installed(tool: string): boolean {
  if (tool === 'nginx') return existsSync('/usr/sbin/nginx');
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => d && existsSync(join(d, tool)));
}

describe('README: the shell blocks', () => {
  it('each run, or say why not; none hides a failure', () => {
    const blocks = shellBlocks();
    const notRun = blocks.filter((b) => b.mode.kind === 'not-run');
    for (const b of notRun) expect(b.mode.kind === 'not-run' && b.mode.reason.length, `README.md:${b.line}: not-run needs a reason`).toBeGreaterThan(3);
    for (const b of blocks) if (b.mode.kind === 'needs') expect(['nginx'], `README.md:${b.line}: unknown needs`).toContain(b.mode.tool);
    expect(blocks.filter((b) => b.mode.kind !== 'not-run').flatMap(lint)).toEqual([]);
    expect(lintAll(blocks.filter((b) => b.mode.kind !== 'not-run'))).toEqual([]);
    // Fences the harness would not see: every shell snippet is sh or bash.
    const other = parseBlocks(readFileSync(README, 'utf8')).filter((b) => !SHELL_LANGS.has(b.lang));
    for (const b of other) expect(b.lang, `README.md:${b.line - 1}: a fence needs a language (sh, yaml, text…)`).not.toBe('');
    expect(blocks.filter((b) => b.mode.kind === 'run').length).toBeGreaterThanOrEqual(10);
  });
});

describe('README: the walkthroughs, in order, against a fresh server', () => {
  let scratch = '';
  let server: Spawned | undefined;
  let port = 0;
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    ensureBuilt();
    scratch = mkdtempSync(join(tmpdir(), 'keygate-readme-'));
    // The reader's environment is the test's, minus anything keygate or Vault would pick up.
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KEYGATE_|VAULT_)/.test(k)));
    // What `make run` does in the repository, here in the scratch folder.
    execFileSync(process.execPath, [keygateBin, 'dev-certs', '--dir', 'certs'], { cwd: scratch, env });
    const identities = execFileSync(process.execPath, [keygateBin, 'dev-certs', '--dir', 'certs', '--env'], { cwd: scratch, env, encoding: 'utf8' });
    copyFileSync(join(repoRoot, 'config.example.yml'), join(scratch, 'config.example.yml'));
    symlinkSync(join(repoRoot, 'bin'), join(scratch, 'bin')); // `node bin/keygate.js` as in the repository
    const serverEnv = { ...env };
    for (const line of identities.split('\n')) {
      const m = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
      if (m) serverEnv[m[1] as string] = m[2] as string;
    }
    // Spawned in a hook: its process group is killed after the file (test/setup-processes.ts).
    server = spawnTracked(process.execPath, [keygateBin, 'server', '--config', 'config.example.yml', '--addr', '127.0.0.1:0'], {
      cwd: scratch,
      env: serverEnv,
    });
    port = Number((await server.waitFor(/listening on https:\/\/127\.0\.0\.1:(\d+)/))[1]);
  }, 120_000); // a bound for a machine busy with the rest of the suite, not a wait: the banner ends it

  afterAll(async () => {
    await server?.killGroup();
    // KEYGATE_README_KEEP=1 keeps the scratch folder (the script, each checked output) to look into.
    if (scratch && !process.env['KEYGATE_README_KEEP']) rmSync(scratch, { recursive: true, force: true });
    else if (scratch) console.log(`kept ${scratch}`);
  });

  it('run with bash -euo pipefail and print what they show', { timeout: 300_000 }, async () => {
    const blocks = shellBlocks();
    const run = blocks.filter((b) => b.mode.kind === 'run' || (b.mode.kind === 'needs' && installed(b.mode.tool)));
    const skipped = blocks.filter((b) => b.mode.kind === 'needs' && !installed(b.mode.tool));
    const notRun = blocks.filter((b) => b.mode.kind === 'not-run');
    const outDir = join(scratch, '.doc-test');
    mkdirSync(outDir);
    const script = buildScript(run, { outDir, repo: repoRoot.replace(/\/$/, ''), ports: { 7373: port, 9273: await freePort(), 8443: await freePort() } });
    writeFileSync(join(outDir, 'walkthrough.sh'), script.text);
    console.log(
      `README.md: ${blocks.length} shell blocks: ${run.length} run (${script.checks.length} shown outputs checked), ` +
        `${notRun.length} not run (${notRun.map((b) => `:${b.line} ${b.mode.kind === 'not-run' ? b.mode.reason : ''}`).join('; ')})` +
        (skipped.length
          ? `, ${skipped.length} skipped: ${skipped.map((b) => `:${b.line} needs ${b.mode.kind === 'needs' ? b.mode.tool : ''}`).join('; ')}`
          : ''),
    );

    // Spawned in the test: its process group (with any background example left running) is
    // killed when the test ends, whatever the outcome.
    const bash = spawnTracked('bash', ['-euo', 'pipefail', join(outDir, 'walkthrough.sh')], { cwd: scratch, env });
    const { code } = await bash.exited;
    await bash.killGroup(); // background examples the walkthrough left running, if any

    const problems: string[] = [];
    if (code !== 0) {
      const { line, calledFrom, status } = script.failure(existsSync(join(outDir, 'failed')) ? readFileSync(join(outDir, 'failed'), 'utf8') : '');
      const check = script.checks.find((c) => c.line <= (line ?? 0) && (line ?? 0) < c.line + c.command.split('\n').length);
      const printed = check && existsSync(join(outDir, check.file)) ? `\nit printed:\n${readFileSync(join(outDir, check.file), 'utf8')}` : '';
      problems.push(
        `the walkthrough stopped (bash exit ${code}) at README.md:${line ?? '?'}${calledFrom.map((l) => ` (in a function called at README.md:${l})`).join('')} with status ${status}${printed}\n` +
          `last output (stderr, where each block announces itself):\n${bash.stderr().split('\n').slice(-25).join('\n')}\n` +
          `last output (stdout):\n${bash.stdout().split('\n').slice(-10).join('\n')}`,
      );
    }
    for (const check of script.checks) {
      const file = join(outDir, check.file);
      if (!existsSync(file)) continue; // not reached: the stop above says why
      const diff = matchOutput(check.expected, readFileSync(file, 'utf8'));
      if (diff) problems.push(`README.md:${check.line}: ${check.command.split('\n')[0]}\n${diff}`);
    }
    expect(problems.join('\n\n')).toBe('');
  });
});
