/**
 * What the workers of `server.workers` share through the primary: read-cache drops
 * and failed authentications.
 *
 * Keeping the workers' read caches coherent. Each worker has its own cache in front
 * of the shared keystore; without this, a bundle replaced through one worker would
 * still be served in its old version by another until the cache entry expired.
 *
 * A worker that updated or deleted an entry tells the primary, which tells every
 * other worker to drop that name and answers the writer once they all have (or
 * have gone): the write's HTTP answer waits for that, so a client that saw it
 * answered reads the new value through any worker. Messages go over the cluster's
 * IPC channel; nothing here runs in a single-process server.
 */
import type { Worker } from 'node:cluster';
import type { CacheReplicas } from '../../keystores/cache.js';
import type { ThrottlePeers } from '../server/throttle.js';
import type { LogKind, LogPeers } from '../log/streams.js';

/** How long a writer waits for the other workers; after that it answers anyway (they may lag until their cache expires). */
const ACK_TIMEOUT_MS = 2_000;

export type ClusterMessage = CacheMessage | ThrottleMessage | LogMessage;

export type LogMessage =
  /** worker → primary: whether I have subscribers of `log`. */
  | { kind: 'log-want'; log: LogKind; wanted: boolean }
  /** primary → worker: whether another worker has subscribers of `log` (so send lines, or stop). */
  | { kind: 'log-wanted'; log: LogKind; wanted: boolean }
  /** worker → primary → the workers that want them: one turn's lines. */
  | { kind: 'log-lines'; log: LogKind; lines: string[] };

/** worker → primary → every other worker: a failed authentication from `address` (see AuthThrottle's `peers`). */
export interface ThrottleMessage {
  kind: 'throttle-fail';
  scope: string;
  address: string;
}

export type CacheMessage =
  /** worker → primary: my caches want to hear of other workers' writes. */
  | { kind: 'cache-join' }
  /** worker → primary: I wrote `name`; answer `cache-wrote-done` with `id` once the others dropped it. */
  | { kind: 'cache-wrote'; id: number; name: string }
  /** primary → worker: drop `name`, then answer `cache-dropped` with `ref`. */
  | { kind: 'cache-drop'; ref: number; name: string }
  | { kind: 'cache-dropped'; ref: number }
  | { kind: 'cache-wrote-done'; id: number };

/** One end of an IPC channel: a worker's own `process`, or the primary's handle on one worker. */
export interface Port {
  /** `done` gets the error when the channel is closed; sending never throws. */
  send(message: ClusterMessage, done: (err: Error | null) => void): void;
  onMessage(listener: (message: unknown) => void): void;
}

function isCacheMessage(m: unknown): m is CacheMessage {
  if (typeof m !== 'object' || m === null) return false;
  const kind = (m as { kind?: unknown }).kind;
  return typeof kind === 'string' && kind.startsWith('cache-');
}

function isThrottleMessage(m: unknown): m is ThrottleMessage {
  const t = m as Partial<ThrottleMessage> | null;
  return typeof t === 'object' && t !== null && t.kind === 'throttle-fail' && typeof t.scope === 'string' && typeof t.address === 'string';
}

function isLogMessage(m: unknown): m is LogMessage {
  const l = m as Partial<LogMessage> | null;
  return (
    typeof l === 'object' &&
    l !== null &&
    (l.log === 'audit' || l.log === 'error') &&
    ((l.kind === 'log-lines' && Array.isArray((l as { lines?: unknown }).lines)) ||
      ((l.kind === 'log-want' || l.kind === 'log-wanted') && typeof (l as { wanted?: unknown }).wanted === 'boolean'))
  );
}

/** The worker's `process` as a port, or undefined when this process has no IPC channel. */
export function processPort(): Port | undefined {
  if (!process.send) return undefined;
  return {
    send: (message, done) => {
      if (!process.connected) return done(new Error('IPC channel closed'));
      process.send?.(message, undefined, {}, (err) => done(err));
    },
    onMessage: (listener) => void process.on('message', listener),
  };
}

/** The primary's handle on one worker, as a port. */
export function workerPort(worker: Worker): Port {
  return {
    send: (message, done) => {
      if (!worker.isConnected()) return done(new Error('IPC channel closed'));
      worker.send(message, done);
    },
    onMessage: (listener) => void worker.on('message', listener),
  };
}

/** The worker side: what a worker's caches are built with (see CachedKeyStore's `replicas`). */
export class WorkerCacheReplicas implements CacheReplicas {
  private nextId = 0;
  private readonly waiting = new Map<number, () => void>();
  private readonly drops = new Set<(name: string) => void>();

  constructor(
    private readonly port: Port,
    private readonly timeoutMs = ACK_TIMEOUT_MS,
  ) {
    port.onMessage((m) => this.receive(m));
    port.send({ kind: 'cache-join' }, () => {});
  }

  wrote(name: string): Promise<void> {
    const id = ++this.nextId;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(done, this.timeoutMs);
      timer.unref();
      this.waiting.set(id, done);
      this.port.send({ kind: 'cache-wrote', id, name }, (err) => err && done());
    });
  }

  subscribe(drop: (name: string) => void): () => void {
    this.drops.add(drop);
    return () => void this.drops.delete(drop);
  }

  private receive(m: unknown): void {
    if (!isCacheMessage(m)) return;
    if (m.kind === 'cache-wrote-done') this.waiting.get(m.id)?.();
    else if (m.kind === 'cache-drop') {
      for (const drop of this.drops) drop(m.name);
      this.port.send({ kind: 'cache-dropped', ref: m.ref }, () => {});
    }
  }
}

interface Pending {
  writer: Port;
  id: number;
  left: Set<Port>;
}

/** The primary side: relays each write to the other workers and answers the writer once they all dropped it. */
export class CacheRelay {
  /** Workers whose caches listen (they sent `cache-join`). */
  private readonly members = new Set<Port>();
  private readonly pending = new Map<number, Pending>();
  private nextRef = 0;

  /** Starts relaying for one worker; call `remove` when it exits. */
  add(worker: Port): void {
    worker.onMessage((m) => this.receive(worker, m));
  }

  /** A worker that exits answers nothing more: writes waiting for it stop waiting. */
  remove(worker: Port): void {
    this.members.delete(worker);
    for (const [ref, p] of this.pending) {
      if (p.writer === worker) this.pending.delete(ref);
      else this.settle(ref, worker);
    }
  }

  private receive(worker: Port, m: unknown): void {
    if (!isCacheMessage(m)) return;
    if (m.kind === 'cache-join') this.members.add(worker);
    else if (m.kind === 'cache-dropped') this.settle(m.ref, worker);
    else if (m.kind === 'cache-wrote') this.relay(worker, m.id, m.name);
  }

  private relay(writer: Port, id: number, name: string): void {
    const left = new Set([...this.members].filter((w) => w !== writer));
    if (left.size === 0) return writer.send({ kind: 'cache-wrote-done', id }, () => {});
    const ref = ++this.nextRef;
    this.pending.set(ref, { writer, id, left });
    for (const w of left) w.send({ kind: 'cache-drop', ref, name }, (err) => err && this.settle(ref, w));
  }

  private settle(ref: number, worker: Port): void {
    const p = this.pending.get(ref);
    if (!p || !p.left.delete(worker) || p.left.size > 0) return;
    this.pending.delete(ref);
    p.writer.send({ kind: 'cache-wrote-done', id: p.id }, () => {});
  }
}

/** The worker side of the shared auth-failure throttles: failures go to the primary, the others' come back. */
export class WorkerThrottlePeers implements ThrottlePeers {
  private readonly records = new Map<string, (address: string) => void>();

  constructor(private readonly port: Port) {
    port.onMessage((m) => {
      if (isThrottleMessage(m)) this.records.get(m.scope)?.(m.address);
    });
  }

  publish(scope: string, address: string): void {
    this.port.send({ kind: 'throttle-fail', scope, address }, () => {});
  }

  subscribe(scope: string, record: (address: string) => void): void {
    this.records.set(scope, record);
  }
}

/** The primary side: passes each worker's failed authentications to every other worker. Nothing waits for it. */
export class ThrottleRelay {
  private readonly workers = new Set<Port>();

  add(worker: Port): void {
    this.workers.add(worker);
    worker.onMessage((m) => {
      if (!isThrottleMessage(m)) return;
      for (const w of this.workers) if (w !== worker) w.send({ kind: 'throttle-fail', scope: m.scope, address: m.address }, () => {});
    });
  }

  remove(worker: Port): void {
    this.workers.delete(worker);
  }
}

/** The worker side of the log streams: sends its lines, one batch per turn, only while another worker wants them. */
export class WorkerLogPeers implements LogPeers {
  private readonly othersWant: Record<LogKind, boolean> = { audit: false, error: false };
  private readonly batch: Record<LogKind, string[]> = { audit: [], error: [] };
  private deliver: (kind: LogKind, line: string) => void = () => {};

  constructor(private readonly port: Port) {
    port.onMessage((m) => {
      if (!isLogMessage(m)) return;
      if (m.kind === 'log-wanted') this.othersWant[m.log] = m.wanted;
      else if (m.kind === 'log-lines') for (const line of m.lines) this.deliver(m.log, String(line));
    });
  }

  want(kind: LogKind, wanted: boolean): void {
    this.port.send({ kind: 'log-want', log: kind, wanted }, () => {});
  }

  wanted(kind: LogKind): boolean {
    return this.othersWant[kind];
  }

  send(kind: LogKind, line: string): void {
    const lines = this.batch[kind];
    if (lines.length === 0) {
      setImmediate(() => {
        this.batch[kind] = [];
        this.port.send({ kind: 'log-lines', log: kind, lines }, () => {});
      });
    }
    lines.push(line);
  }

  receive(deliver: (kind: LogKind, line: string) => void): void {
    this.deliver = deliver;
  }
}

/** The primary side: tells each worker whether others want its lines, and passes lines to those that do. */
export class LogRelay {
  private readonly wants = new Map<Port, Set<LogKind>>();
  /** What each worker was last told about the others. */
  private readonly told = new Map<Port, Record<LogKind, boolean>>();

  add(worker: Port): void {
    this.wants.set(worker, new Set());
    this.told.set(worker, { audit: false, error: false });
    worker.onMessage((m) => {
      if (!isLogMessage(m)) return;
      if (m.kind === 'log-want') {
        const set = this.wants.get(worker);
        if (!set) return;
        if (m.wanted) set.add(m.log);
        else set.delete(m.log);
        this.update(m.log);
      } else if (m.kind === 'log-lines') {
        for (const [w, set] of this.wants) if (w !== worker && set.has(m.log)) w.send({ kind: 'log-lines', log: m.log, lines: m.lines }, () => {});
      }
    });
  }

  remove(worker: Port): void {
    this.wants.delete(worker);
    this.told.delete(worker);
    this.update('audit');
    this.update('error');
  }

  private update(log: LogKind): void {
    for (const [w, told] of this.told) {
      const others = [...this.wants].some(([v, set]) => v !== w && set.has(log));
      if (told[log] === others) continue;
      told[log] = others;
      w.send({ kind: 'log-wanted', log, wanted: others }, () => {});
    }
  }
}
