/**
 * Test-only failure injection, driven in-process through `faults` or over HTTP
 * through `/__test/faults` (for keygate replicas running in child processes).
 */
import type { Core } from './core.js';

export type NodeRole = 'active' | 'standby' | 'perfstandby' | 'drsecondary';

export interface FaultState {
  latency_ms: number;
  fail_next: number;
  fail_status: number;
  drop_next: number;
  sealed: boolean;
  initialized: boolean;
  role: NodeRole;
  clock_offset_ms: number;
  now_ms: number;
}

/** Body accepted by `POST /__test/faults`; every field is optional and applied in this order. */
export interface FaultCommand {
  reset?: boolean;
  latency_ms?: number;
  fail_next?: number;
  fail_status?: number;
  fail_message?: string;
  drop_next?: number;
  sealed?: boolean;
  uninitialize?: boolean;
  expire_all_tokens?: boolean;
  include_root?: boolean;
  advance_clock_ms?: number;
  role?: NodeRole;
}

export class FaultControls {
  /** Delay added before every /v1 request is handled. */
  latencyMs = 0;
  private failures: { status: number; message: string }[] = [];
  private drops = 0;

  constructor(private readonly core: Core) {}

  /** The next `n` requests get a Vault-shaped error instead of being handled. */
  failNext(n: number, status = 500, message = 'internal error'): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, message });
  }

  /** The next `n` requests have their connection destroyed without any response. */
  dropNext(n: number): void {
    this.drops += n;
  }

  seal(): void {
    this.core.seal.sealed = true;
    this.core.seal.progress = [];
  }

  unseal(): void {
    if (this.core.seal.initialized) this.core.seal.sealed = false;
  }

  /** Back to a blank, uninitialised, sealed server (sys/init starts it again). */
  uninitialize(): void {
    this.core.reset(false);
  }

  /** Every token is past its expiry now; the server's root token survives unless asked. */
  expireAllTokens(opts: { includeRoot?: boolean } = {}): number {
    return this.core.tokens.expireAll(opts.includeRoot ? undefined : this.core.rootToken);
  }

  advanceClock(ms: number): void {
    this.core.clockOffsetMs += ms;
  }

  /** Health reporting only: a single node always serves (a standby would forward). */
  setRole(role: NodeRole): void {
    this.core.role = role;
  }

  reset(): void {
    this.latencyMs = 0;
    this.failures = [];
    this.drops = 0;
    this.core.role = 'active';
  }

  takeDrop(): boolean {
    if (this.drops <= 0) return false;
    this.drops--;
    return true;
  }

  takeFailure(): { status: number; message: string } | undefined {
    return this.failures.shift();
  }

  apply(cmd: FaultCommand): void {
    if (cmd.reset) this.reset();
    if (cmd.latency_ms !== undefined) this.latencyMs = Number(cmd.latency_ms);
    if (cmd.fail_next) this.failNext(Number(cmd.fail_next), cmd.fail_status ?? 500, cmd.fail_message ?? 'internal error');
    if (cmd.drop_next) this.dropNext(Number(cmd.drop_next));
    if (cmd.uninitialize) this.uninitialize();
    if (cmd.sealed === true) this.seal();
    if (cmd.sealed === false) this.unseal();
    if (cmd.expire_all_tokens) this.expireAllTokens({ includeRoot: cmd.include_root ?? false });
    if (cmd.advance_clock_ms) this.advanceClock(Number(cmd.advance_clock_ms));
    if (cmd.role) this.setRole(cmd.role);
  }

  state(): FaultState {
    return {
      latency_ms: this.latencyMs,
      fail_next: this.failures.length,
      fail_status: this.failures[0]?.status ?? 500,
      drop_next: this.drops,
      sealed: this.core.seal.sealed,
      initialized: this.core.seal.initialized,
      role: this.core.role,
      clock_offset_ms: this.core.clockOffsetMs,
      now_ms: this.core.now(),
    };
  }
}
