/**
 * Issue 12: no test leaves a process behind, even when it fails. A child spawned through
 * test/helpers/processes.ts leads its own process group, and the whole group (the child and
 * whatever it started) is killed when the test ends, passed or failed.
 */
import { describe, expect, it, vi } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { spawnTracked } from '../helpers/processes.js';

/** Alive: present and not a zombie (a killed process is a zombie until its parent reaps it). */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const pids: number[] = [];

describe.skipIf(!existsSync('/proc/self/stat'))('a test that spawns processes', () => {
  // Fails on purpose, after starting a shell that started a grandchild of its own.
  it.fails('fails with its children still running', async () => {
    const shell = spawnTracked('sh', ['-c', 'sleep 600 & echo $!; wait']);
    const grandchild = Number((await shell.waitFor(/^(\d+)\n/, 'stdout'))[1]);
    pids.push(shell.pid, grandchild);
    expect(alive(shell.pid) && alive(grandchild)).toBe(true);
    throw new Error('failing on purpose');
  });

  it('leaves neither the child nor its grandchild behind', async () => {
    expect(pids).toHaveLength(2);
    // The group was sent SIGKILL when the test ended; a busy kernel may take a moment to act on it.
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]), { timeout: 10_000, interval: 20 });
  });
});
