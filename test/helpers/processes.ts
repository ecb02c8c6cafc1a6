/**
 * Child processes for tests (issue 12): every one runs in its own process group, so a kill
 * reaches whatever it started too (cluster workers, an agent's reload command), and none
 * outlives its test — a child spawned inside a test is killed when that test finishes,
 * passed or failed; one spawned in a hook is killed after its file (test/setup-processes.ts).
 *
 * Waiting is on events (an output line, the exit), never on a clock: under load a start-up
 * takes what it takes, and the test's own timeout is the only limit.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { onTestFinished } from 'vitest';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited (what it left running in its group may not have). */
  readonly exited: Promise<Exit>;
  /** True once the process has exited. */
  readonly gone: boolean;
  /**
   * Resolves with the first match of `pattern` in the output seen so far or still to come;
   * rejects, with the output, if the process ends without printing it.
   */
  waitFor(pattern: RegExp, stream?: 'stderr' | 'stdout'): Promise<RegExpExecArray>;
  /** Sends a signal to the process alone (what an operator's `kill PID` does). */
  signal(signal: NodeJS.Signals): void;
  /** Sends a signal to the whole process group and waits for the leader's exit. */
  killGroup(signal?: NodeJS.Signals): Promise<Exit>;
}

// One set per process, not per module instance: a process that runs several test files
// evaluates this module again, and the 'exit' handler below must be installed once.
const LIVE = Symbol.for('keygate.test-processes');
const holder = globalThis as unknown as Record<symbol, Set<Spawned> | undefined>;
const live: Set<Spawned> =
  holder[LIVE] ??
  (() => {
    const set = new Set<Spawned>();
    holder[LIVE] = set;
    // Last resort, when the test process ends before any hook ran (a crash, a worker torn
    // down): a synchronous kill is all an 'exit' handler can do.
    process.once('exit', () => {
      for (const p of set) signalGroup(p.pid, 'SIGKILL');
    });
    return set;
  })();

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: every member of the group is gone already.
  }
}

/**
 * Spawns `command` as the leader of a new process group; stdin ignored, stdout and stderr captured.
 * `lifetime: 'file'` keeps a process spawned inside a test for the tests after it (a server a
 * test restarts): it is then killed after the file, like one spawned in a hook.
 */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}, lifetime: 'test' | 'file' = 'test'): Spawned {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  if (child.pid === undefined) throw new Error(`cannot spawn ${command}`);
  const pid = child.pid;
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (c: Buffer) => ((text.stdout += c.toString('utf8')), wake()));
  child.stderr?.on('data', (c: Buffer) => ((text.stderr += c.toString('utf8')), wake()));
  let gone = false;
  // 'exit', not 'close': 'close' waits for every holder of the output pipes, and a child's own
  // children inherit them (tsx's esbuild service outlives the node process it served).
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = true;
      live.delete(handle);
      wake();
      resolve({ code, signal });
    });
    child.once('error', () => {
      gone = true;
      live.delete(handle);
      wake();
      resolve({ code: null, signal: null });
    });
  });
  const handle: Spawned = {
    child,
    pid,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    get gone() {
      return gone;
    },
    waitFor(pattern, stream = 'stderr') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(text[stream]);
          if (m) {
            waiters.delete(check);
            resolve(m);
          } else if (gone) {
            waiters.delete(check);
            reject(new Error(`${command} (pid ${pid}) ended without printing ${String(pattern)} on ${stream}:\n${text.stderr}${text.stdout}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    signal(signal) {
      if (!gone) child.kill(signal);
    },
    async killGroup(signal = 'SIGKILL') {
      signalGroup(pid, signal);
      return exited;
    },
  };
  live.add(handle);
  if (lifetime === 'file') return handle;
  try {
    // Inside a test: killed with its group when the test ends, whatever the outcome.
    onTestFinished(async () => {
      await handle.killGroup();
    });
  } catch {
    // Spawned in a hook (a server shared by a file's tests): killAllSpawned after the file.
  }
  return handle;
}

/** Runs `command` to its end; resolves with its exit status and output (never rejects on a failure exit). */
export async function runToEnd(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Exit & { stdout: string; stderr: string }> {
  const p = spawnTracked(command, args, options);
  const exit = await p.exited;
  return { ...exit, stdout: p.stdout(), stderr: p.stderr() };
}

/** Kills every process group still running (and whatever its leader left behind in it). */
export async function killAllSpawned(): Promise<void> {
  await Promise.all([...live].map((p) => p.killGroup()));
}

/** Process groups of this test process still running (tests of the helper itself). */
export function liveSpawned(): number {
  return live.size;
}
