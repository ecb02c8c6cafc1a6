/**
 * `server.workers`: one primary process forks N workers that share the listening
 * socket (node:cluster), so the server uses every core. Workers share the keystore
 * and the TLS session-ticket keys, which the primary hands down so a session
 * resumed on any worker skips the full handshake; the primary also relays which
 * entries each worker wrote, so the others drop them from their read caches.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { TICKET_KEYS_ENV } from '../compose/tls.js';
import { CacheRelay, LogRelay, ThrottleRelay, workerPort } from './relay.js';
import { serveClusterMetrics } from './metrics.js';

export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

export interface WorkerMessage {
  kind: 'listening';
  url: string;
}

/**
 * Runs the primary: forks the workers, restarts one that dies unexpectedly,
 * forwards SIGHUP, and on SIGTERM/SIGINT waits for every worker to finish.
 * `onListening` runs once, when `count` workers are up (a client may then land
 * on any of them).
 */
export function runPrimary(count: number, onListening: (url: string) => void, say: (line: string) => void): void {
  const env = { [TICKET_KEYS_ENV]: randomBytes(48).toString('hex') };
  const relay = new CacheRelay();
  const throttles = new ThrottleRelay();
  const logs = new LogRelay();
  serveClusterMetrics();
  let stopping = false;
  let failed = false;
  let up = 0;
  const listening = new Set<number>();
  const fork = () => {
    const worker = cluster.fork(env);
    const port = workerPort(worker);
    relay.add(port);
    throttles.add(port);
    logs.add(port);
    worker.on('exit', () => {
      relay.remove(port);
      throttles.remove(port);
      logs.remove(port);
    });
    worker.on('message', (m: WorkerMessage) => {
      if (m?.kind !== 'listening') return;
      listening.add(worker.id);
      if (++up === count) onListening(m.url);
    });
  };
  for (let i = 0; i < count; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    if (!listening.has(worker.id)) {
      // It died starting up (the worker said why on the shared stderr: an address in use, an
      // unreadable certificate): another would die the same way, once a second, forever.
      failed = true;
      stop(`worker ${worker.process.pid} failed to start (${signal ?? code})`);
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
      return;
    }
    say(`keygate: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(fork, 1000).unref();
  });
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`keygate: ${why}, stopping ${count} workers`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM received'));
  process.on('SIGINT', () => stop('SIGINT received'));
}
