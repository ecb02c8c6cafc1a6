/**
 * bin/keygate.js's `#!` line, run the way an installed `keygate` runs: the kernel reads the
 * line and `env -S` splits it. Node must get what the line promises (docs/operations.md,
 * "Tuning"): 64 MiB semi-spaces, and malloc's memory in transparent huge pages.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';

const launcher = fileURLToPath(new URL('../../bin/keygate.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'keygate-launcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/keygate.js', () => {
  it('starts node with the flags and environment its #! line sets', () => {
    const line = readFileSync(launcher, 'utf8').split('\n')[0] as string;
    // The same interpreter line over a script that reports how its node was started.
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, `${line}\nconsole.log(JSON.stringify({ argv: process.execArgv, tunables: process.env.GLIBC_TUNABLES ?? null }));\n`, { mode: 0o755 });
    const started = JSON.parse(execFileSync(probe, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })) as { argv: string[]; tunables: string | null };
    expect(started.argv).toContain('--max-semi-space-size=64');
    expect(started.tunables).toBe('glibc.malloc.hugetlb=1');
  });

  it('runs the CLI when executed directly', () => {
    expect(execFileSync(launcher, ['--version'], { encoding: 'utf8' }).trim()).toContain(VERSION);
  });
});
