/**
 * Running the compiled `keygate` command from tests: building it first when `dist/`
 * is missing (`make test` builds it; a bare `npx vitest` may not have), and
 * capturing exit code and output.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runToEnd, spawnTracked, type Spawned } from './processes.js';

export const repoRoot = new URL('../../', import.meta.url).pathname;
export const keygateBin = join(repoRoot, 'bin/keygate.js');

/** Compiles the CLI with tsc unless `dist/` already has it. */
export function ensureBuilt(): void {
  if (!existsSync(join(repoRoot, 'dist/src/cli/main.js'))) {
    execFileSync(join(repoRoot, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: repoRoot });
  }
}

export interface CLIResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `keygate <args>` with extra environment variables; never rejects. No clock of its own:
 * the test's timeout bounds it, and its process group dies with the test (./processes.ts).
 */
export async function keygate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CLIResult> {
  const r = await runToEnd(process.execPath, [keygateBin, ...args], { env: { ...process.env, ...env } });
  return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export interface DevServer {
  readonly process: Spawned;
  /** Everything it printed up to and including the curl example. */
  readonly banner: string;
  /** `https://127.0.0.1:<port>` as the banner says it. */
  readonly url: string;
  /** A `Label:   value` line of the banner (e.g. 'CA certificate', 'admin key'). */
  field(label: string): string;
}

/** `keygate server --dev` on a free loopback port, once its banner is complete (an event, not a clock). */
export async function startDevServer(): Promise<DevServer> {
  ensureBuilt();
  const p = spawnTracked(process.execPath, [keygateBin, 'server', '--dev', '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] }, 'file');
  await p.waitFor(/Try:\n.*\n/);
  const banner = p.stderr();
  return {
    process: p,
    banner,
    url: /keygate listening on (\S+)/.exec(banner)?.[1] ?? '',
    field: (label) => new RegExp(`${label}:\\s+(\\S+)`).exec(banner)?.[1] ?? '',
  };
}
