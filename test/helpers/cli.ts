/**
 * Running the compiled `keygate` command from tests: building it first when `dist/`
 * is missing (`make test` builds it; a bare `npx vitest` may not have), and
 * capturing exit code and output.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

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

/** Runs `keygate <args>` with extra environment variables; never rejects. */
export function keygate(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<CLIResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [keygateBin, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
