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

/** How long a writer waits for the other workers; after that it answers anyway (they may lag until their cache expires). */
const ACK_TIMEOUT_MS = 2_000;

export type ClusterMessage = CacheMessage | ThrottleMessage;

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
