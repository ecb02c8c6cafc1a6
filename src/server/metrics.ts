/**
 * Prometheus metrics: KES's names (so existing Grafana dashboards keep working)
 * and keygate's own. One registry per server, so servers in one process (tests)
 * never share counters.
 */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, type Aggregator } from 'prom-client';
import { HotCounter, HotHistogram, type CounterSeries, type Series } from './hot-metrics.js';

const KES_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 3, 5, 10];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Live numbers the server reads at scrape time; each returns undefined when it does not apply. */
export interface MetricSources {
  cache?: () => { hits: number; misses: number; evictions: number } | undefined;
  /** Fleet counts, cached by the caller (counting walks the keystore). */
  fleet?: () => Promise<FleetGauges | undefined>;
}

export interface FleetGauges {
  /** Live tokens by kind (group, node, admin). */
  tokens: Readonly<Record<string, number>>;
  nodes: number;
  bundlesExpiring: number;
}

const NO_LABELS = () => ({});

/** What one kind of request (route, method, status) counts into. */
interface RequestSeries {
  byStatus: CounterSeries;
  request: CounterSeries;
  latency: Series;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly started = Date.now();
  private readonly success = new HotCounter('kes_http_request_success', 'Requests answered with a 2xx/3xx status.', this.registry);
  private readonly clientError = new HotCounter('kes_http_request_error', 'Requests answered with a 4xx status.', this.registry);
  private readonly failure = new HotCounter('kes_http_request_failure', 'Requests answered with a 5xx status.', this.registry);
  private inFlight = 0;
  private readonly responseTime = new HotHistogram('kes_http_response_time', 'Response time in seconds (KES buckets).', KES_BUCKETS, this.registry);
  private readonly requests = new HotCounter('keygate_http_requests_total', 'Requests by route, method and status.', this.registry);
  private readonly latency = new HotHistogram('keygate_http_request_duration_seconds', 'Request latency by route.', LATENCY_BUCKETS, this.registry);
  private readonly allResponses = this.responseTime.seriesOf('', () => ({}));
  /** route → method → status → the series such a request counts into (see seriesFor). */
  private readonly requestSeries = new Map<string, { latency: Series; byMethod: Map<string, Map<number, RequestSeries>> }>();
  private readonly authFailures = this.counter('keygate_auth_failures_total', 'Refused authentications by reason.', ['reason']);
  private readonly auditEvents = new HotCounter('kes_log_audit_events', 'Audit log events.', this.registry);
  private readonly errorEvents = new HotCounter('kes_log_error_events', 'Error log events.', this.registry);
  private readonly auditLines = this.auditEvents.seriesOf('', NO_LABELS);
  private readonly storeLatency = new Histogram({
    name: 'keygate_keystore_latency_seconds',
    help: 'Keystore operation latency.',
    labelNames: ['op'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly storeErrors = this.counter('keygate_keystore_errors_total', 'Failed keystore operations (not-found and exists excluded).', ['op']);
  private readonly housekeeping = this.counter('keygate_housekeeping_removed_total', 'Entries the housekeeping sweeper removed, by kind.', ['kind']);
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  /** How a scrape is answered: this registry, or (in a cluster worker) every worker's, merged. */
  private scraper: () => Promise<string> = () => this.registry.metrics();

  constructor(sources: MetricSources = {}) {
    this.loopDelay.enable();
    // `aggregator`: how the primary merges the workers' values with `server.workers` (default: their sum).
    const gauge = (name: string, help: string, read: () => number | undefined | Promise<number | undefined>, aggregator: Aggregator = 'sum') =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        aggregator,
        async collect() {
          const v = await read();
          if (v !== undefined) this.set(v);
        },
      });
    gauge('kes_http_request_active', 'Requests in flight.', () => this.inFlight);
    gauge('kes_system_up_time', 'Seconds since the server started.', () => (Date.now() - this.started) / 1000, 'max');
    gauge('kes_system_num_cpu', 'CPUs available.', () => os.availableParallelism(), 'first');
    gauge('kes_system_num_cpu_used', 'CPUs this process uses (one per worker).', () => 1);
    gauge('kes_system_num_threads', 'Threads of the libuv pool plus the main thread.', () => Number(process.env['UV_THREADPOOL_SIZE'] ?? 4) + 1);
    gauge('kes_system_mem_heap_used', 'Heap bytes in use.', () => process.memoryUsage().heapUsed);
    gauge('kes_system_mem_heap_objects', 'Not tracked by V8; reported as 0.', () => 0);
    gauge('kes_system_mem_stack_used', 'Not tracked by V8; reported as 0.', () => 0);
    gauge('keygate_process_resident_memory_bytes', 'Resident set size.', () => process.memoryUsage().rss);
    gauge('keygate_event_loop_delay_p99_seconds', 'Event loop delay, 99th percentile (the worst worker).', () => this.loopDelay.percentile(99) / 1e9, 'max');
    const cache = sources.cache;
    gauge('keygate_cache_hits', 'Keystore cache hits.', () => cache?.()?.hits);
    gauge('keygate_cache_misses', 'Keystore cache misses.', () => cache?.()?.misses);
    gauge('keygate_cache_evictions', 'Keystore cache evictions.', () => cache?.()?.evictions);
    gauge(
      'keygate_cache_hit_ratio',
      'Hits / (hits + misses) since start.',
      () => {
        const c = cache?.();
        return c && c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : undefined;
      },
      'average',
    );
    const fleet = sources.fleet;
    if (fleet) {
      new Gauge({
        name: 'keygate_tokens_active',
        help: "Live group, node and admin tokens (unexpired, of their group's current generation).",
        labelNames: ['kind'],
        registers: [this.registry],
        aggregator: 'first',
        async collect() {
          const f = await fleet();
          if (f) for (const [kind, n] of Object.entries(f.tokens)) this.set({ kind }, n);
        },
      });
      // Every worker counts the same keystore: one worker's count is the server's.
      gauge('keygate_nodes_registered', 'Nodes registered or enrolled in their group and not revoked.', async () => (await fleet())?.nodes, 'first');
      gauge(
        'keygate_bundles_expiring_30d',
        'Certificate bundles whose leaf expires within 30 days (expired ones included).',
        async () => (await fleet())?.bundlesExpiring,
        'first',
      );
    }
  }

  /** The Prometheus text a scrape answers: every family, KES's and keygate's. */
  scrape(): Promise<string> {
    return this.scraper();
  }

  /**
   * KES's families only, for `/v1/metrics`: KES clients (kms-go's Metrics(), `kes metric`)
   * refuse an answer in which any family but the request counters has several series.
   */
  async scrapeKES(): Promise<string> {
    return kesFamilies(await this.scraper());
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Scrapes answer for the whole cluster from now on (called in each worker of `server.workers`). */
  scrapeCluster(scrape: (registry: Registry) => () => Promise<string>): void {
    this.scraper = scrape(this.registry);
  }

  private counter(name: string, help: string, labelNames: string[]): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  requestStarted(): void {
    this.inFlight++;
  }

  /** `route` is the route's declared path (bounded cardinality), never the raw URL. */
  requestEnded(route: string, method: string, status: number, seconds: number): void {
    this.inFlight--;
    const series = this.seriesFor(route, method, status);
    series.byStatus.value++;
    series.request.value++;
    this.responseTime.observeInto(this.allResponses, seconds);
    this.latency.observeInto(series.latency, seconds);
  }

  /**
   * The series a request with this route, method and status counts into, found by three
   * lookups on keys the request already has: no label string is built per request.
   */
  private seriesFor(route: string, method: string, status: number): RequestSeries {
    let byRoute = this.requestSeries.get(route);
    if (!byRoute) {
      byRoute = { latency: this.latency.seriesOf(route, () => ({ route })), byMethod: new Map() };
      this.requestSeries.set(route, byRoute);
    }
    let byMethod = byRoute.byMethod.get(method);
    if (!byMethod) {
      byMethod = new Map();
      byRoute.byMethod.set(method, byMethod);
    }
    let series = byMethod.get(status);
    if (!series) {
      const code = String(status);
      series = {
        byStatus: (status >= 500 ? this.failure : status >= 400 ? this.clientError : this.success).seriesOf(code, () => ({ code })),
        request: this.requests.seriesOf(`${route} ${method} ${code}`, () => ({ route, method, status: code })),
        latency: byRoute.latency,
      };
      byMethod.set(status, series);
    }
    return series;
  }

  /** One line written to the audit (every request) or the error log. */
  logged(kind: 'audit' | 'error'): void {
    if (kind === 'audit') this.auditLines.value++;
    else this.errorEvents.inc('', NO_LABELS);
  }

  authFailed(reason: 'no_certificate' | 'forbidden' | 'bad_token'): void {
    this.authFailures.inc({ reason });
  }

  /** What one housekeeping run removed: `expired_token`, `san_pair`, `node`, `ban`, `enrollment`. */
  housekeepingRemoved(kind: string, count: number): void {
    if (count > 0) this.housekeeping.inc({ kind }, count);
  }

  keystoreOp(op: string, seconds: number, failed: boolean): void {
    this.storeLatency.observe({ op }, seconds);
    if (failed) this.storeErrors.inc({ op });
  }

  close(): void {
    this.loopDelay.disable();
  }
}

/**
 * The `kes_` families of a Prometheus text exposition. Each family is a run of lines
 * that starts at its `# HELP`/`# TYPE` comment (prom-client writes every family so,
 * merged cluster scrapes too); a family is kept or dropped whole.
 */
export function kesFamilies(text: string): string {
  let keep = false;
  let out = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) keep = line.startsWith('kes_', 7);
    if (keep && line !== '') out += line + '\n';
  }
  return out;
}
