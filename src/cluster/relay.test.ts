/** The cache relay between workers, over in-memory ports that deliver like IPC (later, in order). */
import { describe, expect, it } from 'vitest';
import { CacheRelay, LogRelay, ThrottleRelay, WorkerCacheReplicas, WorkerLogPeers, WorkerThrottlePeers, type ClusterMessage, type Port } from './relay.js';
import { LogStreams } from '../log/streams.js';

/** Both ends of one channel; `closed` makes every send fail like a dead worker's channel. */
function channel() {
  const listeners = { primary: [] as Array<(m: unknown) => void>, worker: [] as Array<(m: unknown) => void> };
  const state = { closed: false, silent: false };
  const end = (to: 'primary' | 'worker', from: 'primary' | 'worker'): Port => ({
    send: (message: ClusterMessage, done) => {
      if (state.closed) return void setImmediate(() => done(new Error('closed')));
      setImmediate(() => {
        done(null);
        if (!state.silent || from === 'primary') for (const l of listeners[to]) l(message);
      });
    },
    onMessage: (l) => void listeners[from].push(l),
  });
  return { primary: end('worker', 'primary'), worker: end('primary', 'worker'), state };
}

function cluster(count: number, timeoutMs = 5_000) {
  const relay = new CacheRelay();
  const workers = Array.from({ length: count }, () => {
    const c = channel();
    relay.add(c.primary);
    const dropped: string[] = [];
    const replicas = new WorkerCacheReplicas(c.worker, timeoutMs);
    replicas.subscribe((name) => dropped.push(name));
    return { ...c, replicas, dropped };
  });
  return { relay, workers };
}

const turns = (n = 10) =>
  new Promise<void>((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });

describe('cache relay', () => {
  it('answers a write once every other worker dropped the name, and not the writer itself', async () => {
    const { workers } = cluster(3);
    await turns();
    const [a, b, c] = workers as [(typeof workers)[0], (typeof workers)[0], (typeof workers)[0]];
    await a.replicas.wrote('bundle.www');
    expect(a.dropped).toEqual([]);
    expect(b.dropped).toEqual(['bundle.www']);
    expect(c.dropped).toEqual(['bundle.www']);
  });

  it('answers at once when the writer is alone', async () => {
    const { workers } = cluster(1);
    await turns();
    await workers[0]?.replicas.wrote('k');
  });

  it('stops waiting for a worker that exits, or whose channel is closed', async () => {
    const { relay, workers } = cluster(3);
    await turns();
    const [a, b, c] = workers as [(typeof workers)[0], (typeof workers)[0], (typeof workers)[0]];
    b.state.silent = true; // b receives the drop but never answers
    let done = false;
    const write = a.replicas.wrote('k').then(() => (done = true));
    await turns();
    expect(done).toBe(false);
    relay.remove(b.primary);
    await write;
    expect(c.dropped).toEqual(['k']);

    c.state.closed = true;
    await a.replicas.wrote('k2');
  });

  it('gives up after its timeout when the primary does not answer', async () => {
    const { workers } = cluster(2, 50);
    await turns();
    const [a] = workers as [(typeof workers)[0]];
    a.state.silent = true; // the primary never hears of the write
    await a.replicas.wrote('k');
  });

  it('asks only workers that joined: one still starting has no cache to drop', async () => {
    const relay = new CacheRelay();
    const a = channel();
    const late = channel();
    relay.add(a.primary);
    relay.add(late.primary);
    const replicas = new WorkerCacheReplicas(a.worker);
    await turns();
    await replicas.wrote('k'); // `late` never joined: nobody to wait for
  });
});

describe('throttle relay', () => {
  it('passes a failed authentication to every other worker, in its scope, and not back to the one that saw it', async () => {
    const relay = new ThrottleRelay();
    const workers = Array.from({ length: 3 }, () => {
      const c = channel();
      relay.add(c.primary);
      const peers = new WorkerThrottlePeers(c.worker);
      const seen: string[] = [];
      peers.subscribe('http', (a) => seen.push(`http ${a}`));
      peers.subscribe('rks', (a) => seen.push(`rks ${a}`));
      return { ...c, peers, seen };
    });
    const [a, b, c] = workers as [(typeof workers)[0], (typeof workers)[0], (typeof workers)[0]];
    a.peers.publish('http', '10.0.0.1');
    b.peers.publish('rks', '10.0.0.2');
    await turns();
    expect(a.seen).toEqual(['rks 10.0.0.2']);
    expect(b.seen).toEqual(['http 10.0.0.1']);
    expect(c.seen).toEqual(['http 10.0.0.1', 'rks 10.0.0.2']);
    relay.remove(c.primary);
    a.peers.publish('http', '10.0.0.3');
    await turns();
    expect(c.seen).toHaveLength(2);
  });
});

describe('log relay', () => {
  it('sends a worker’s lines only while another worker has subscribers, and to those only', async () => {
    const relay = new LogRelay();
    const workers = Array.from({ length: 3 }, () => {
      const c = channel();
      relay.add(c.primary);
      const streams = new LogStreams(new WorkerLogPeers(c.worker));
      const sent: ClusterMessage[] = [];
      const send = c.worker.send;
      c.worker.send = (m, done) => {
        sent.push(m);
        send(m, done);
      };
      return { ...c, streams, sent };
    });
    const [a, b, c] = workers as [(typeof workers)[0], (typeof workers)[0], (typeof workers)[0]];
    a.streams.logged('audit', 'nobody listens');
    await turns();
    expect(a.sent.filter((m) => m.kind === 'log-lines')).toEqual([]);

    const got: string[] = [];
    const stop = b.streams.subscribe('audit', (l) => got.push(l));
    await turns();
    a.streams.logged('audit', 'a1');
    a.streams.logged('audit', 'a2');
    a.streams.logged('error', 'not an audit line');
    c.streams.logged('audit', 'c1');
    b.streams.logged('audit', 'b1'); // its own line, delivered locally
    await turns();
    expect(got.sort()).toEqual(['a1', 'a2', 'b1', 'c1']);
    expect(a.sent.filter((m) => m.kind === 'log-lines')).toHaveLength(1); // one batch per turn

    stop();
    await turns();
    a.streams.logged('audit', 'after');
    await turns();
    expect(got).toHaveLength(4);
    expect(a.sent.filter((m) => m.kind === 'log-lines')).toHaveLength(1);
  });
});
