/**
 * The audit and error logs: one JSON object per line, to a stream or a file.
 * Callers pass only metadata (identity, path, status, a message); nothing here
 * ever receives key material, plaintext, ciphertext or tokens.
 */
import { close, openSync, write, writeSync } from 'node:fs';
import { Writable } from 'node:stream';

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
    // Written for every request, so built by hand, each string quoted as JSON.stringify would.
    const time = isoNow();
    const line =
      `{"time":"${time}","ip":${jsonString(event.ip)},"identity":${jsonString(event.identity)},` +
      `"method":${jsonString(event.method)},"path":${jsonString(event.path)},"status":${event.status},` +
      `"latency_ms":${millis(event.latencyMs)}}`;
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
      [this.options.audit, this.options.error].map((s) => (s && s !== process.stdout && s !== process.stderr ? new Promise<void>((r) => s.end(r)) : undefined)),
    );
  }
}

/** Characters a JSON string holds as they are: printable ASCII but '"' and '\\'. */
const JSON_PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * JSON.stringify(s), exactly: an address, a method, an identity and most paths need no
 * escaping, and quoting them as they are is cheaper than the call, four times a request.
 */
export function jsonString(s: string): string {
  return s.length <= 256 && JSON_PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * String(Math.round(ms * 1000) / 1000), exactly, from integers: a double's shortest decimal
 * form costs several times what two small integers' do, once a request. Exact because a
 * whole number of microseconds over 1000 prints as its three decimals (trailing zeros
 * dropped), which is what the integer arithmetic writes.
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!Number.isSafeInteger(us) || us < 0) return String(us / 1000);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
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
  return new LogFile(openSync(path, 'a', 0o600));
}

/** How long lines wait for more before a file write, and how many bytes make a write at once. */
const FILE_FLUSH_MS = 10;
const FILE_FLUSH_BYTES = 64 * 1024;

/**
 * An append-only file that takes many writes and makes few: what it is handed within
 * FILE_FLUSH_MS (or FILE_FLUSH_BYTES) goes to the file in one thread-pool write. A write
 * per event-loop turn — a busy server's audit log — cost a thread-pool hand-off per turn,
 * about as much CPU as the request itself on a small VM (issue 19). At most one write is
 * in flight, so lines stay in order; `end()` writes what is left before the file closes,
 * and a process that exits without closing it (a crash) writes what is pending on its way out.
 */
class LogFile extends Writable {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private finishing: (() => void) | undefined;

  constructor(private readonly fd: number) {
    super({ decodeStrings: true });
    if (openFiles.size === 0) process.once('exit', writeAllPending);
    openFiles.add(this);
  }

  /** At exit, synchronously: no later turn will write it. */
  writePendingNow(): void {
    if (this.pendingBytes === 0) return;
    try {
      writeSync(this.fd, Buffer.concat(this.pending, this.pendingBytes));
    } catch {
      // exiting: nothing left to tell
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FILE_FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FILE_FLUSH_MS);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.finishing = () => done();
    this.flush();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    clearTimeout(this.timer);
    openFiles.delete(this);
    if (openFiles.size === 0) process.off('exit', writeAllPending);
    close(this.fd, () => done(err));
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return; // the write in flight flushes again when it completes
    if (this.pendingBytes === 0) {
      this.finishing?.();
      return;
    }
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    this.writeAll(data, 0);
  }

  private writeAll(data: Buffer, from: number): void {
    write(this.fd, data, from, data.length - from, null, (err, written) => {
      if (err) {
        this.writing = false;
        this.destroy(err);
        return;
      }
      if (from + written < data.length) return this.writeAll(data, from + written);
      this.writing = false;
      if (this.finishing || this.pendingBytes >= FILE_FLUSH_BYTES) this.flush();
      else if (this.pendingBytes > 0) this.timer ??= setTimeout(() => this.flush(), FILE_FLUSH_MS);
    });
  }
}

const openFiles = new Set<LogFile>();
function writeAllPending(): void {
  for (const f of openFiles) f.writePendingNow();
}

/** Maps KES's `log.*` values (on/off or a level) onto a level, or null for off. */
export function parseLogSetting(value: string): Level | null {
  const v = value.toLowerCase();
  if (v === 'off') return null;
  if (v === 'on') return 'info';
  return v as Level;
}
