import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reloader } from './reload.js';
import { eventually } from '../../test/agent/support.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'keygate-reload-'));
  dirs.push(d);
  return d;
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('Reloader', () => {
  it('runs an argv command without a shell and reports success', async () => {
    const r = await new Reloader(['printf', '%s', '$(id) `id` ; rm -rf /'], 5000).run(['site.test']);
    expect(r).toMatchObject({ ok: true, exitCode: 0, signal: null, timedOut: false, error: '' });
    expect(r.output).toBe('$(id) `id` ; rm -rf /'); // printed, not executed
  });

  it("runs a string through /bin/sh -c (the operator's own line) and passes the changed bundles in the environment", async () => {
    const d = tmp();
    const r = await new Reloader(`echo "$KEYGATE_CHANGED" > ${join(d, 'out')} && echo done`, 5000).run(['a.test', '*.b.test']);
    expect(r.ok).toBe(true);
    expect(r.output).toBe('done');
    expect(readFileSync(join(d, 'out'), 'utf8')).toBe('a.test,*.b.test\n');
  });

  it('reports a failing command with its status and the end of its output', async () => {
    const r = await new Reloader(['/bin/sh', '-c', 'echo "nginx: [emerg] cannot load certificate" >&2; exit 3'], 5000).run([]);
    expect(r).toMatchObject({ ok: false, exitCode: 3, timedOut: false, error: 'exited with status 3' });
    expect(r.output).toContain('cannot load certificate');
  });

  it('reports a program that cannot be started', async () => {
    const r = await new Reloader(['/nonexistent/nginx', '-s', 'reload'], 5000).run([]);
    expect(r).toMatchObject({ ok: false, exitCode: null, timedOut: false });
    expect(r.error).toBe('cannot run /nonexistent/nginx: ENOENT');
  });

  it('kills a command that outlives its timeout, children included', async () => {
    const d = tmp();
    const pidFile = join(d, 'pid');
    const r = await new Reloader(`sleep 60 & echo $! > ${pidFile}; wait`, 300).run([]);
    expect(r).toMatchObject({ ok: false, timedOut: true, error: 'timed out after 300 ms' });
    expect(r.signal).toBe('SIGTERM');
    const child = Number(readFileSync(pidFile, 'utf8'));
    await eventually(() => !alive(child), 'the background child to be killed', 5000);
  });

  it('escalates to SIGKILL when the command ignores SIGTERM', async () => {
    const r = await new Reloader(['/bin/sh', '-c', "trap '' TERM; while :; do sleep 0.05; done"], 200).run([]);
    expect(r).toMatchObject({ ok: false, timedOut: true, signal: 'SIGKILL' });
  });

  it('does not wait for a daemon that keeps its output open', async () => {
    const d = tmp();
    const pidFile = join(d, 'pid');
    const r = await new Reloader(`(sleep 30 & echo $! > ${pidFile}) ; exit 0`, 5000).run([]);
    expect(r.ok).toBe(true);
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  });

  it('is a no-op success when no command is configured', async () => {
    const reloader = new Reloader(undefined, 1000);
    expect(reloader.configured).toBe(false);
    expect((await reloader.run(['x'])).ok).toBe(true);
  });
});
