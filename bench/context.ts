/** What every scenario gets: settings, certificates, a place for servers it must stop, and its report. */
import type { BenchPKI } from './pki.js';
import type { Figure, Measurement, ScenarioReport } from './report.js';
import type { Server } from './servers.js';

export type Side = 'keygate' | 'node' | 'nginx';

export interface BenchSettings {
  repo: string;
  /** Scratch folder of this run (deleted at the end). */
  tmp: string;
  warmupMs: number;
  durationMs: number;
  /** Scenarios a and c: how many rounds every side is measured in (the order alternates between rounds). */
  rounds: number;
  /** Scenarios a and c: measured window of one round. */
  roundDurationMs: number;
  /** Load generator processes. */
  procs: number;
  /** Start keygate with --cpu-prof (profiles land in <tmp>/profiles, copied to bench/results/profiles). */
  profile: boolean;
  /** Scenario d: record the servers' event-loop delay and GC pauses (diag-preload.mjs) over each measured window. */
  diagnose: boolean;
  /** Extra node flags for keygate and the bare node baseline (e.g. --max-semi-space-size=32), to measure their effect. */
  serverFlags: string[];
  /** Environment for keygate and the node baselines (--server-env). */
  serverEnv: Record<string, string>;
  /** keygate's `server.workers` in scenarios a and d (1 = the comparison; more: an fs keystore, which workers share). */
  keygateWorkers: number;
}

export class BenchContext {
  private readonly running: Server[] = [];
  /** Time the whole run may spend repeating disturbed measurements. */
  private retryBudgetMs = 120_000;
  /** Figures a later scenario reuses (e.g. (d) runs at half of (a)'s maximum rate). */
  readonly shared: { maxRate?: Partial<Record<Side, number>> } = {};

  constructor(
    readonly settings: BenchSettings,
    readonly pki: BenchPKI,
    readonly log: (line: string) => void,
  ) {}

  /** Takes `ms` from the retry budget; false when it is spent (then the measurement stands as it is). */
  spendRetry(ms: number): boolean {
    if (this.retryBudgetMs < ms) return false;
    this.retryBudgetMs -= ms;
    return true;
  }

  /** Registers a started server so it is stopped when the scenario ends, however it ends. */
  use<T extends Server>(server: T): T {
    this.running.push(server);
    return server;
  }

  async stop(server: Server): Promise<void> {
    const at = this.running.indexOf(server);
    if (at >= 0) this.running.splice(at, 1);
    await server.stop();
  }

  async stopAll(): Promise<void> {
    const all = this.running.splice(0);
    await Promise.all(all.map((s) => s.stop().catch(() => undefined)));
  }
}

/** A scenario's report, filled as it goes so a failure keeps what was measured before it. */
export class ScenarioOutput {
  readonly figures: Figure[] = [];
  readonly measurements: Measurement[] = [];
  readonly notes: string[] = [];

  figure(f: Figure): void {
    this.figures.push(f);
  }

  measure(m: Measurement): void {
    this.measurements.push(m);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  report(id: string, title: string, seconds: number, error?: string): ScenarioReport {
    return { id, title, seconds, figures: this.figures, measurements: this.measurements, notes: this.notes, ...(error ? { error } : {}) };
  }
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: BenchContext, out: ScenarioOutput): Promise<void>;
}
