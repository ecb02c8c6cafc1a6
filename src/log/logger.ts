/**
 * The audit and error logs: one JSON object per line, to a stream or a file.
 * Callers pass only metadata (identity, path, status, a message); nothing here
 * ever receives key material, plaintext, ciphertext or tokens.
 */
import { createWriteStream, openSync, closeSync } from 'node:fs';
import type { Writable } from 'node:stream';

export interface AuditEvent {
  /** Client address. */
  ip: string;
  /** Identity (public-key hash) or token principal; '' when anonymous. */
  identity: string;
  method: string;
  path: string;
  status: number;
  latencyMs: number;
}

export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogOptions {
  audit: Writable | null;
  error: Writable | null;
  /** Lowest level written to the error log. */
  level: Level;
}

type Listener = (line: string) => void;

export class Logger {
  private readonly auditListeners = new Set<Listener>();
  private readonly errorListeners = new Set<Listener>();

  constructor(private readonly options: LogOptions) {}

  audit(event: AuditEvent): void {
    const line = JSON.stringify({
      time: new Date().toISOString(),
      ip: event.ip,
      identity: event.identity,
      method: event.method,
      path: event.path,
      status: event.status,
      latency_ms: Math.round(event.latencyMs * 1000) / 1000,
    });
    this.options.audit?.write(line + '\n');
    for (const l of this.auditListeners) l(line);
  }

  log(level: Level, message: string, fields?: Record<string, string | number | boolean>): void {
    if (LEVELS[level] < LEVELS[this.options.level]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
    this.options.error?.write(line + '\n');
    for (const l of this.errorListeners) l(line);
  }

  error(message: string, fields?: Record<string, string | number | boolean>): void {
    this.log('error', message, fields);
  }

  info(message: string, fields?: Record<string, string | number | boolean>): void {
    this.log('info', message, fields);
  }

  /** Live subscription to audit lines (for `/v1/log/audit`); returns the unsubscribe function. */
  onAudit(listener: Listener): () => void {
    this.auditListeners.add(listener);
    return () => this.auditListeners.delete(listener);
  }

  onError(listener: Listener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Flushes and closes file sinks (never stdout/stderr). */
  async close(): Promise<void> {
    await Promise.all(
      [this.options.audit, this.options.error].map((s) =>
        s && s !== process.stdout && s !== process.stderr ? new Promise<void>((r) => s.end(r)) : undefined,
      ),
    );
  }
}

/** Opens a log file for appending, created 0600 so no other user can read it. */
export function openLogFile(path: string): Writable {
  // Create with the right mode first: createWriteStream's `mode` applies only to new files.
  closeSync(openSync(path, 'a', 0o600));
  return createWriteStream(path, { flags: 'a', mode: 0o600 });
}

/** Maps KES's `log.*` values (on/off or a level) onto a level, or null for off. */
export function parseLogSetting(value: string): Level | null {
  const v = value.toLowerCase();
  if (v === 'off') return null;
  if (v === 'on') return 'info';
  return v as Level;
}

/** A logger that drops everything (tests, `--quiet`). */
export function silentLogger(): Logger {
  return new Logger({ audit: null, error: null, level: 'error' });
}
