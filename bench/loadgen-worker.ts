/**
 * One load generator process (forked by loadgen.ts): opens its share of the
 * client connections, waits for `go`, runs the warm-up and the measured
 * window, and reports counts, a latency histogram and its own CPU time.
 */
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';
import { ResponseReader, requestBytes, type Response } from './loadgen-http.js';
import type { FromWorker, JobResult, JobSpec, ToWorker } from './loadgen-types.js';

const HOST = '127.0.0.1';
const CONNECT_PARALLEL = 32;
const MAX_ERROR_SAMPLES = 5;

class Run {
  readonly histogram = new Histogram();
  readonly stats = { completed: 0, errors: 0, mismatches: 0, reconnects: 0, resumed: 0, queued: 0 };
  readonly errorSamples: string[] = [];
  measuring = false;
  running = false;
  private readonly expected: Buffer | undefined;

  constructor(readonly spec: JobSpec) {
    this.expected = spec.request.expectBodyB64 === undefined ? undefined : Buffer.from(spec.request.expectBodyB64, 'base64');
  }

  /** Counts a response; true when it is the expected one. */
  response(res: Response, latencyMs: number): boolean {
    const ok = res.status === this.spec.request.expectStatus && (this.expected === undefined || this.expected.equals(res.body));
    if (!this.measuring) return ok;
    this.stats.completed++;
    this.histogram.record(latencyMs * 1000);
    if (!ok) {
      this.stats.mismatches++;
      this.sample(`status ${res.status}: ${res.body.toString('utf8', 0, Math.min(res.body.length, 120))}`);
    }
    return ok;
  }

  error(err: Error): void {
    if (!this.measuring) return;
    this.stats.errors++;
    this.sample(err.message);
  }

  private sample(text: string): void {
    if (this.errorSamples.length < MAX_ERROR_SAMPLES) this.errorSamples.push(text);
  }
}

/** A keep-alive connection with at most one request in flight. */
class KeepAlive {
  private socket: TLSSocket | undefined;
  private readonly reader = new ResponseReader();
  private sentAt = 0;
  private busy = false;
  onIdle: (conn: KeepAlive) => void = () => {};

  constructor(
    private readonly run: Run,
    private readonly context: SecureContext,
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: HOST, port: this.run.spec.port, servername: this.run.spec.servername, secureContext: this.context });
      this.socket = s;
      this.reader.reset();
      s.setNoDelay(true);
      s.once('secureConnect', () => resolve());
      s.on('data', (chunk: Buffer) => this.data(chunk));
      s.on('error', (err) => {
        this.run.error(err);
        reject(err);
      });
      s.on('close', () => this.closed(s));
    });
  }

  /** Connected and without a request in flight (a reconnected connection can be queued twice as idle). */
  get ready(): boolean {
    return this.socket !== undefined && !this.busy;
  }

  send(request: Buffer, since = performance.now()): void {
    this.sentAt = since;
    this.busy = true;
    this.socket?.write(request);
  }

  destroy(): void {
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
  }

  private data(chunk: Buffer): void {
    let res: Response | null;
    try {
      res = this.reader.push(chunk);
    } catch (err) {
      this.run.error(err as Error);
      this.socket?.destroy();
      return;
    }
    if (!res) return;
    this.busy = false;
    this.run.response(res, performance.now() - this.sentAt);
    if (res.close) this.socket?.destroy();
    else this.onIdle(this);
  }

  /** A connection lost while running is opened again (and counted); the request in flight is lost. */
  private closed(s: TLSSocket): void {
    if (s !== this.socket || !this.run.running) return;
    this.socket = undefined;
    this.busy = false;
    if (this.run.measuring) this.run.stats.reconnects++;
    setTimeout(() => {
      if (!this.run.running) return;
      this.connect().then(
        () => this.onIdle(this),
        () => undefined,
      );
    }, 10);
  }
}

async function openAll(run: Run, contexts: SecureContext[]): Promise<KeepAlive[]> {
  const conns = contexts.map((c) => new KeepAlive(run, c));
  let next = 0;
  const opener = async (): Promise<void> => {
    while (next < conns.length) await (conns[next++] as KeepAlive).connect();
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_PARALLEL, conns.length) }, opener));
  return conns;
}

/**
 * Closed loop: `inflight` requests outstanding at any time (all connections when unset);
 * each answer sends the next request on the connection that has been idle the longest,
 * so every identity is used in turn.
 */
function startClosed(run: Run, conns: KeepAlive[], inflight: number): () => void {
  const { spec } = run;
  const fixed = spec.request.pathCount ? null : requestBytes(spec.request, spec.servername, false);
  const idle = new Fifo<KeepAlive>([]);
  const send = (c: KeepAlive) => c.send(fixed ?? requestBytes(spec.request, spec.servername, false));
  const next = (done: KeepAlive) => {
    if (!run.running) return;
    idle.push(done);
    const c = idle.shiftWhere((x) => x.ready);
    if (c) send(c);
  };
  conns.forEach((c, i) => {
    c.onIdle = next;
    if (i < inflight) send(c);
    else idle.push(c);
  });
  return () => {};
}

/**
 * Open loop: a 1 ms timer sends whatever the schedule says is due, each on the
 * connection idle the longest (so none sits unused long enough for a server's
 * header timeout to cut it). A request that finds no idle connection waits,
 * and its latency counts from when it was due (no coordinated omission).
 */
function startRate(run: Run, conns: KeepAlive[], perSecond: number): () => void {
  const { spec } = run;
  const idle = new Fifo<KeepAlive>(conns);
  const backlog = new Fifo<number>([]);
  const started = performance.now();
  let issued = 0;
  const build = () => requestBytes(spec.request, spec.servername, false);
  for (const c of conns) {
    c.onIdle = (conn) => {
      const due = backlog.shift();
      if (due !== undefined && run.running) conn.send(build(), due);
      else idle.push(conn);
    };
  }
  const timer = setInterval(() => {
    const now = performance.now();
    const target = Math.floor(((now - started) * perSecond) / 1000);
    for (; issued < target; issued++) {
      const conn = idle.shiftWhere((x) => x.ready);
      if (conn) conn.send(build());
      else {
        backlog.push(now);
        if (run.measuring) run.stats.queued++;
      }
    }
  }, 1);
  return () => clearInterval(timer);
}

/** A queue with O(1) amortized shift. */
class Fifo<T> {
  private items: T[];
  private head = 0;

  constructor(initial: T[]) {
    this.items = [...initial];
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The first item that passes `ok`; the ones before it are dropped. */
  shiftWhere(ok: (item: T) => boolean): T | undefined {
    for (let item = this.shift(); item !== undefined; item = this.shift()) if (ok(item)) return item;
    return undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 4096) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** `loops` concurrent sequences of one-request connections; each loop keeps one identity (and its session). */
function startHandshakes(run: Run, contexts: SecureContext[], loops: number, resume: boolean): () => void {
  const { spec } = run;
  const request = requestBytes(spec.request, spec.servername, true);
  const loop = (index: number, session: Buffer | undefined): void => {
    if (!run.running) return;
    const started = performance.now();
    const reader = new ResponseReader();
    let latest = session;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      s.destroy();
      setImmediate(() => loop(index, resume ? latest : undefined));
    };
    const options: tls.ConnectionOptions = {
      host: HOST,
      port: spec.port,
      servername: spec.servername,
      secureContext: contexts[index % contexts.length] as SecureContext,
    };
    if (session) options.session = session;
    const s = tls.connect(options);
    s.setNoDelay(true);
    s.once('secureConnect', () => {
      if (run.measuring && s.isSessionReused()) run.stats.resumed++;
      s.write(request);
    });
    s.on('session', (ticket: Buffer) => (latest = ticket));
    s.on('data', (chunk: Buffer) => {
      try {
        const res = reader.push(chunk);
        if (res) {
          run.response(res, performance.now() - started);
          finish();
        }
      } catch (err) {
        run.error(err as Error);
        finish();
      }
    });
    s.on('error', (err) => {
      run.error(err);
      finish();
    });
    s.on('close', () => {
      if (!done) run.error(new Error('connection closed before the response'));
      finish();
    });
  };
  for (let i = 0; i < loops; i++) loop(i, undefined);
  return () => {};
}

async function main(spec: JobSpec): Promise<void> {
  const run = new Run(spec);
  const contexts = spec.identities.map((id) => tls.createSecureContext({ ca: spec.caPem, cert: id.certPem, key: id.keyPem }));
  const conns = spec.mode.kind === 'handshake' ? [] : await openAll(run, contexts);
  const go = new Promise<void>((resolve) => process.on('message', (m: ToWorker) => m.type === 'go' && resolve()));
  process.send?.({ type: 'ready' } satisfies FromWorker);
  await go;
  run.running = true;
  const mode = spec.mode;
  const stop =
    mode.kind === 'closed'
      ? startClosed(run, conns, mode.inflight ?? conns.length)
      : mode.kind === 'rate'
        ? startRate(run, conns, mode.perSecond)
        : startHandshakes(run, contexts, mode.loops, mode.resume);
  await sleep(spec.warmupMs);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  run.measuring = true;
  await sleep(spec.durationMs);
  run.measuring = false;
  loopDelay.disable();
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  run.running = false;
  stop();
  for (const c of conns) c.destroy();
  const result: JobResult = {
    ...run.stats,
    errorSamples: run.errorSamples,
    histogram: run.histogram.toPairs(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    wallMs,
    loopDelayMaxMs: loopDelay.max / 1e6,
  };
  finish({ type: 'result', result });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sends the last message, then exits (the open sockets would otherwise keep the process alive). */
function finish(message: FromWorker): void {
  process.send?.(message, () => process.exit(0));
}

process.once('message', (m: ToWorker) => {
  if (m.type !== 'job') return;
  main(m.spec).catch((err: unknown) => finish({ type: 'failed', message: err instanceof Error ? err.message : String(err) }));
});
