/**
 * With `server.workers`, a scrape reaches whichever worker accepted the connection,
 * yet it must describe the whole server. The worker asks the primary, which
 * collects every worker's registry over node:cluster IPC (prom-client's
 * AggregatorRegistry) and merges them by each metric's aggregator: counters and
 * histograms add up, fleet-wide gauges take one worker's value.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'keygate:metrics-request';
const RESPONSE = 'keygate:metrics-response';
const TIMEOUT_MS = 5_000;

interface Request {
  type: typeof REQUEST;
  id: number;
}
interface Response {
  type: typeof RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

/** In the primary: answers every worker's request with the merged metrics of all workers. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, m: Request) => {
    if (m?.type !== REQUEST) return;
    const reply = (r: Omit<Response, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: RESPONSE, id: m.id, ...r } satisfies Response);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/**
 * In a worker: offers `registry` to the primary's collections and returns a scrape of
 * the whole cluster (Prometheus text), which rejects when the primary does not answer.
 */
export function clusterScraper(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs prom-client's worker-side listener
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  process.on('message', (m: Response) => {
    if (m?.type !== RESPONSE) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.text !== undefined) p.resolve(m.text);
    else p.reject(new Error(`metrics: the primary could not collect the workers' metrics: ${m.error ?? 'no answer'}`));
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('metrics: the primary did not answer in time'));
      }, TIMEOUT_MS);
      timer.unref();
      pending.set(id, { resolve, reject, timer });
      process.send?.({ type: REQUEST, id } satisfies Request);
    });
}
