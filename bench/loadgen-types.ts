/** Messages between the load generator's coordinator (loadgen.ts) and its worker processes. */

export interface ClientIdentity {
  certPem: string;
  keyPem: string;
}

/**
 * - `closed`: every identity keeps one keep-alive connection; `inflight` requests at a time (default: one per
 *   connection), each answer triggering the next request on the connection idle the longest (maximum rate).
 * - `rate`: open loop at a fixed total rate over the keep-alive connections (latency at a given load).
 * - `handshake`: `loops` connections at a time, a new TLS connection per request, with or without resumption.
 */
export type LoadMode = { kind: 'closed'; inflight?: number } | { kind: 'rate'; perSecond: number } | { kind: 'handshake'; resume: boolean; loops: number };

export interface RequestSpec {
  method: 'GET' | 'PUT';
  /** A fixed path, or a template where `{i}` becomes a random integer in [0, pathCount). */
  path: string;
  pathCount?: number;
  body?: string;
  /** Extra request headers (e.g. a node token). */
  headers?: Record<string, string>;
  expectStatus: number;
  /** When set, every response body must be exactly these bytes (base64). */
  expectBodyB64?: string;
}

export interface JobSpec {
  port: number;
  /** TLS server name and Host header. */
  servername: string;
  caPem: string;
  identities: ClientIdentity[];
  request: RequestSpec;
  mode: LoadMode;
  warmupMs: number;
  durationMs: number;
}

export interface JobResult {
  /** Responses completed inside the measured window. */
  completed: number;
  errors: number;
  /** Responses with an unexpected status or body. */
  mismatches: number;
  /** The first few error texts, for the report. */
  errorSamples: string[];
  /** Connections that had to be opened again (the server closed a keep-alive connection). */
  reconnects: number;
  /** Handshake mode: connections whose TLS session was resumed. */
  resumed: number;
  /** Rate mode: requests that waited for a free connection. */
  queued: number;
  histogram: Array<[number, number]>;
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  /** Longest the worker's event loop was blocked during the window (its own stalls inflate latencies). */
  loopDelayMaxMs: number;
}

export type ToWorker = { type: 'job'; spec: JobSpec } | { type: 'go' };
export type FromWorker = { type: 'ready' } | { type: 'result'; result: JobResult } | { type: 'failed'; message: string };
