/**
 * Runs the operator's reload command (e.g. `nginx -s reload`) after a batch of
 * bundle changes. Nothing the server sends ever becomes part of the command: a list
 * is executed as argv without a shell; a string is the operator's own shell line,
 * run with `/bin/sh -c`. The names of the changed bundles are passed in the
 * environment (`KEYGATE_CHANGED`), never spliced into the command.
 *
 * The command runs in its own process group, so a timeout kills everything it
 * started (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import type { Backoff, Clock } from './scheduler.js';
import type { StatusBoard } from './status.js';

export interface ReloadResult {
  ok: boolean;
  /** Exit code, or null when killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Why it failed, in one line; '' when it succeeded. */
  error: string;
  /** The last bytes of its stdout and stderr, for the log. */
  output: string;
}

/** Bytes of command output kept for the log. */
const OUTPUT_TAIL = 2048;
/** Time between SIGTERM and SIGKILL after a timeout. */
const KILL_GRACE_MS = 2000;

export class Reloader {
  constructor(
    private readonly command: string | readonly string[] | undefined,
    private readonly timeoutMs: number,
  ) {}

  get configured(): boolean {
    return this.command !== undefined;
  }

  /** Runs the command once; resolves (never rejects) with how it ended. */
  run(changed: readonly string[]): Promise<ReloadResult> {
    const command = this.command;
    if (command === undefined) return Promise.resolve({ ok: true, exitCode: 0, signal: null, timedOut: false, error: '', output: '' });
    const [file, args] = typeof command === 'string' ? ['/bin/sh', ['-c', command]] : [command[0] as string, command.slice(1)];
    return new Promise((resolve) => {
      const child = spawn(file, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group: a timeout kills the children too
        env: { ...process.env, KEYGATE_CHANGED: changed.join(',') },
      });
      let output = '';
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let timedOut = false;
      let killer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid, 'SIGTERM');
        killer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      }, this.timeoutMs);
      let finished = false;
      const done = (r: Omit<ReloadResult, 'output' | 'timedOut'>) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        clearTimeout(killer);
        // A command that leaves a daemon holding our pipes must not keep us waiting.
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ ...r, timedOut, output: output.trim() });
      };
      child.on('error', (err: NodeJS.ErrnoException) =>
        done({ ok: false, exitCode: null, signal: null, error: `cannot run ${file}: ${err.code ?? err.message}` }),
      );
      child.on('exit', (code, signal) => {
        if (timedOut) return done({ ok: false, exitCode: code, signal, error: `timed out after ${this.timeoutMs} ms` });
        if (code === 0) return done({ ok: true, exitCode: 0, signal: null, error: '' });
        done({ ok: false, exitCode: code, signal, error: code !== null ? `exited with status ${code}` : `killed by ${signal ?? 'a signal'}` });
      });
    });
  }
}

/**
 * Bundles changed on disk that the web server has not been reloaded for yet. The
 * command runs once for all of them; when it fails they stay queued and it is
 * retried with backoff.
 */
export class ReloadQueue {
  private readonly pending = new Set<string>();
  private retryAt = 0;

  constructor(
    private readonly reloader: Reloader,
    private readonly backoff: Backoff,
    private readonly deps: { clock: Clock; logger: Logger; board: StatusBoard },
  ) {}

  add(name: string): void {
    this.pending.add(name);
  }

  /** Forgets what is queued (`--once` runs before the web server: nothing to reload). */
  clear(): void {
    this.pending.clear();
  }

  /** When the command should run next; Infinity when nothing waits for it. */
  get due(): number {
    return this.pending.size > 0 && this.reloader.configured ? this.retryAt : Infinity;
  }

  /** Runs the command if changes wait and no backoff holds it; logs and records how it ended. */
  async runIfDue(): Promise<void> {
    const due = this.due;
    if (due === Infinity || this.deps.clock.now() < due) return;
    const changed = [...this.pending].sort();
    const r = await this.reloader.run(changed);
    const { board, logger, clock } = this.deps;
    board.lastReload = { at: new Date(clock.now()), ok: r.ok, exitCode: r.exitCode, error: r.error };
    board.reloads.inc({ result: r.ok ? 'ok' : r.timedOut ? 'timeout' : 'failed' });
    if (r.ok) {
      for (const name of changed) this.pending.delete(name);
      this.backoff.succeed();
      logger.info(`agent: reload command succeeded for ${changed.join(', ')}`);
      return;
    }
    this.retryAt = clock.now() + this.backoff.fail();
    const output = r.output === '' ? '' : `: ${r.output.split('\n').slice(-3).join(' | ')}`;
    logger.error(`agent: reload command failed (${r.error})${output}; retrying`);
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
