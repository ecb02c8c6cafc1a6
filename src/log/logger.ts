/**
 * The audit and error logs: one JSON object per line, to a stream or a file.
 * Callers pass only metadata (identity, path, status, a message); nothing here
 * ever receives key material, plaintext, ciphertext or tokens.
 */
import { closeSync, createWriteStream, openSync } from 'node:fs';
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

/**
 * Each audit line; a request's line comes with the record it was made from (for the
 * KES-shaped stream), an event inside a request (`auditEvent`) without.
 */
type AuditListener = (line: string, event?: AuditEvent, time?: string) => void;
/** Each error-log line, with its parts. */
type ErrorListener = (line: string, time: string, level: Level, message: string, fields?: Record<string, string | number | boolean>) => void;

/**
 * Lines for one stream. Audit lines are written once per event-loop turn, so a busy
 * server writes its audit log in a few large writes instead of one stream write per
 * request; they reach the stream before any I/O of the next turn. Other lines are
 * written at once, after whatever is pending, so a shared stream keeps its order.
 */
class LineBatch {
  private pending = '';

  constructor(private readonly stream: Writable) {}

  push(line: string): void {
    if (this.pending === '') setImmediate(() => this.flush());
    this.pending += line + '\n';
  }

  write(line: string): void {
    this.flush();
    this.stream.write(line + '\n');
  }

  flush(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.stream.write(text);
  }
}

export class Logger {
  private readonly auditListeners = new Set<AuditListener>();
  private readonly errorListeners = new Set<ErrorListener>();
  private readonly auditOut: LineBatch | null;
  private readonly errorOut: LineBatch | null;

  constructor(private readonly options: LogOptions) {
    this.auditOut = options.audit ? new LineBatch(options.audit) : null;
    // One stream for both logs keeps one batch, so their lines stay in order.
    this.errorOut = !options.error ? null : options.error === options.audit ? this.auditOut : new LineBatch(options.error);
  }

  audit(event: AuditEvent): void {
    // Written for every request, so built by hand; JSON.stringify quotes the strings.
    const time = isoNow();
    const line =
      `{"time":"${time}","ip":${JSON.stringify(event.ip)},"identity":${JSON.stringify(event.identity)},` +
      `"method":${JSON.stringify(event.method)},"path":${JSON.stringify(event.path)},"status":${event.status},` +
      `"latency_ms":${Math.round(event.latencyMs * 1000) / 1000}}`;
    this.auditOut?.push(line);
    for (const l of this.auditListeners) l(line, event, time);
  }

  /**
   * An audit line for an event inside a request that its request line cannot say (a
   * certificate issued or revoked: which serial, for whom). `fields` are metadata only.
   */
  auditEvent(event: string, fields: Record<string, string | number>): void {
    const line = JSON.stringify({ time: isoNow(), event, ...fields });
    this.auditOut?.push(line);
    for (const l of this.auditListeners) l(line);
  }

  log(level: Level, message: string, fields?: Record<string, string | number | boolean>): void {
    if (LEVELS[level] < LEVELS[this.options.level]) return;
    const time = new Date().toISOString();
    const line = JSON.stringify({ time, level, message, ...fields });
    this.errorOut?.write(line);
    for (const l of this.errorListeners) l(line, time, level, message, fields);
  }

  error(message: string, fields?: Record<string, string | number | boolean>): void {
    this.log('error', message, fields);
  }

  info(message: string, fields?: Record<string, string | number | boolean>): void {
    this.log('info', message, fields);
  }

  /** Live subscription to audit lines (for `/v1/log/audit`); returns the unsubscribe function. */
  onAudit(listener: AuditListener): () => void {
    this.auditListeners.add(listener);
    return () => this.auditListeners.delete(listener);
  }

  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Flushes and closes file sinks (never stdout/stderr). */
  async close(): Promise<void> {
    this.auditOut?.flush();
    this.errorOut?.flush();
    await Promise.all(
      [this.options.audit, this.options.error].map((s) =>
        s && s !== process.stdout && s !== process.stderr ? new Promise<void>((r) => s.end(r)) : undefined,
      ),
    );
  }
}

let lastMs = 0;
let lastIso = '';
/** The current time in ISO 8601, formatted at most once per millisecond. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/**
 * Opens a log file for appending, created 0600 so no other user can read it. Writes go
 * through the thread pool: a write(2) to a file can block for long when the disk is
 * busy (dirty-page throttling), and the event loop must never wait for a log line.
 */
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
