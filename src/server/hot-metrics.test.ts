/** The hot-path counters and histograms expose exactly what prom-client's own classes would for the same observations. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];

describe('HotHistogram and HotCounter', () => {
  it('render the same Prometheus text as prom-client for any observations', async () => {
    const routes = ['/v1/cert/get/', '/v1/key/create/', 'unmatched'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            route: fc.constantFrom(...routes),
            seconds: fc.oneof(fc.constantFrom(0, 0.001, 0.01, 1, 5), fc.double({ min: 0, max: 10, noNaN: true })),
          }),
          { maxLength: 60 },
        ),
        async (events) => {
          const ours = new Registry();
          const theirs = new Registry();
          const h = new HotHistogram('t_seconds', 'help text', BOUNDS, ours);
          const c = new HotCounter('t_total', 'count', ours);
          const ph = new Histogram({ name: 't_seconds', help: 'help text', labelNames: ['route'], buckets: BOUNDS, registers: [theirs] });
          const pc = new Counter({ name: 't_total', help: 'count', labelNames: ['route'], registers: [theirs] });
          for (const e of events) {
            h.observe(e.route, () => ({ route: e.route }), e.seconds);
            c.inc(e.route, () => ({ route: e.route }));
            ph.observe({ route: e.route }, e.seconds);
            pc.inc({ route: e.route });
          }
          const sorted = async (r: Registry) => (await r.metrics()).split('\n').sort();
          expect(await sorted(ours)).toEqual(await sorted(theirs));
        },
      ),
    );
  });

  it('reset() empties them, like prom-client metrics', async () => {
    const r = new Registry();
    const h = new HotHistogram('x_seconds', 'x', BOUNDS, r);
    h.observe('', () => ({}), 0.5);
    expect(await r.metrics()).toContain('x_seconds_count 1');
    r.resetMetrics();
    expect(await r.metrics()).not.toContain('x_seconds_count');
  });
});
