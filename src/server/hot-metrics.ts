/**
 * Per-request metrics on the hot path: a request costs a few array increments
 * here instead of label validation and hashing in prom-client for every counter
 * and histogram. prom-client still owns the registry and the exposition format;
 * these objects hand it their values when it is scraped.
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** The shape prom-client's registry reads from a metric (what its own classes return from `get()`). */
interface ScrapedMetric {
  name: string;
  help: string;
  type: 'histogram' | 'counter';
  values: MetricValue[];
  aggregator: 'sum';
}

export interface Series {
  labels: Labels;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** A histogram whose label sets are few and known by a string key the caller builds. */
export class HotHistogram {
  private readonly series = new Map<string, Series>();
  readonly aggregator = 'sum';
  readonly type = 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** `key` identifies `labels` (the caller's cheap string for them). */
  observe(key: string, labels: () => Labels, seconds: number): void {
    this.observeInto(this.seriesOf(key, labels), seconds);
  }

  /** The series of `key`, made on first use: a handle a caller may keep (until `reset()`) and observe into without a lookup. */
  seriesOf(key: string, labels: () => Labels): Series {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  /** Records one observation in a series of this histogram (from `seriesOf`). */
  observeInto(s: Series, seconds: number): void {
    let i = 0;
    while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++;
    (s.buckets[i] as number)++;
    s.sum += seconds;
    s.count++;
  }

  get(): Promise<ScrapedMetric> {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.buckets[i] as number;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }

  reset(): void {
    this.series.clear();
  }
}

export interface CounterSeries {
  labels: Labels;
  value: number;
}

/** A counter keyed the same way. */
export class HotCounter {
  private readonly series = new Map<string, CounterSeries>();
  readonly aggregator = 'sum';
  readonly type = 'counter';

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  inc(key: string, labels: () => Labels): void {
    this.seriesOf(key, labels).value++;
  }

  /** The series of `key`, made on first use (at 0): a handle a caller may keep (until `reset()`) and count into (`value++`) without a lookup. */
  seriesOf(key: string, labels: () => Labels): CounterSeries {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  get(): Promise<ScrapedMetric> {
    const values = [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' });
  }

  reset(): void {
    this.series.clear();
  }
}
