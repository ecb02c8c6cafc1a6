/**
 * A small latency histogram that merges across generator processes: 1 µs
 * buckets below 100 µs, then buckets 1 % wide (so any percentile is within
 * 1 % of the truth) up to a minute.
 */
const LINEAR = 100;
const GROWTH = Math.log(1.01);
const MAX_US = 60_000_000;
const BUCKETS = LINEAR + Math.ceil(Math.log(MAX_US / LINEAR) / GROWTH) + 1;

function bucketOf(us: number): number {
  if (us < LINEAR) return Math.max(0, Math.floor(us));
  return Math.min(BUCKETS - 1, LINEAR + Math.floor(Math.log(us / LINEAR) / GROWTH));
}

/** The upper edge of a bucket, in µs: what a percentile reports. */
function upperOf(bucket: number): number {
  if (bucket < LINEAR) return bucket + 1;
  return LINEAR * Math.exp((bucket - LINEAR + 1) * GROWTH);
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sumUs = 0;

  record(us: number): void {
    this.counts[bucketOf(us)]! += 1;
    this.count++;
    this.sumUs += us;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumUs = 0;
  }

  /** Non-empty buckets as [bucket, count] pairs: compact enough for IPC. */
  toPairs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) out.push([i, this.counts[i]!]);
    return out;
  }

  merge(pairs: Array<[number, number]>): void {
    for (const [b, c] of pairs) {
      this.counts[b]! += c;
      this.count += c;
      this.sumUs += c * upperOf(b);
    }
  }

  /** The latency (ms) at or below which `p` percent of the samples fall; null without samples. */
  percentileMs(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return upperOf(i) / 1000;
    }
    return upperOf(BUCKETS - 1) / 1000;
  }
}
