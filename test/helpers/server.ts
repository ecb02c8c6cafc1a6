/**
 * Starts a real keygate server on an ephemeral loopback port with certificates
 * made for the test, and returns helpers to call it as different identities.
 *
 * With KEYGATE_TEST_WORKERS=N (the vitest project 'integration, 2 workers') the
 * same tests run against `keygate server` in its own process with `server.workers: N`
 * instead: same config, but an fs keystore in place of memory (workers cannot share
 * one) and the logs in a file. Tests that reach into the in-process server
 * (`running`: its state, clock or reload) are marked `skipIf(workerMode)`.
 */
import { stringify } from 'yaml';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/compose/index.js';
import { Logger } from '../../src/log/logger.js';
import { TestPki, type TestClient } from './certs.js';
import { request, type RequestOptions, type TestResponse } from './http.js';
import { ensureBuilt, keygateBin } from './cli.js';
import { spawnTracked, type Spawned } from './processes.js';

/** Workers of the spawned server, or 0: the server runs inside the test process. */
export const testWorkers = Number(process.env['KEYGATE_TEST_WORKERS'] ?? 0) || 0;
/** The suite runs against a spawned multi-worker server: for `skipIf` on tests that need `running`. */
export const workerMode = testWorkers > 0;

export interface TestServer {
  pki: TestPki;
  /** The in-process server; throws in worker mode. */
  running: RunningServer;
  url: string;
  port: number;
  admin: TestClient;
  /** Every audit and error log line the server wrote. */
  logLines: string[];
  call(who: TestClient | null, path: string, opts?: RequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Extra YAML config merged over the defaults (policies, policy_match, keystore…). */
  config?: Record<string, unknown>;
  pki?: TestPki;
  /** Runs before start with the PKI and admin, to build policies that need identities. */
  prepare?: (pki: TestPki, admin: TestClient) => Record<string, unknown>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const pki = options.pki ?? new TestPki();
  const admin = pki.client({ commonName: 'admin' });
  const base: Record<string, unknown> = {
    address: '127.0.0.1:0',
    admin: { identity: admin.identity },
    tls: { key: pki.serverKeyFile, cert: pki.serverCertFile },
    keystore: { memory: {} },
    // The test group managers listen on this host.
    callbacks: { allow_loopback: true },
    ...options.config,
    ...options.prepare?.(pki, admin),
  };
  return workerMode ? startSpawned(pki, admin, base) : startInProcess(pki, admin, base);
}

async function startInProcess(pki: TestPki, admin: TestClient, base: Record<string, unknown>): Promise<TestServer> {
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const config = parseConfig(stringify(base), 'test.yml');
  const logger = new Logger({ audit: sink, error: sink, level: 'debug' });
  const running = await startServer(config, { logger });
  const url = `https://localhost:${running.port}`;
  return {
    pki,
    running,
    url,
    port: running.port,
    admin,
    logLines,
    call: (who, path, opts) => request(url, pki.ca.certPem, who, path, opts),
    close: () => running.close(),
  };
}

async function startSpawned(pki: TestPki, admin: TestClient, base: Record<string, unknown>): Promise<TestServer> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-test-workers-'));
  const logFile = join(dir, 'server.log');
  const file = join(dir, 'config.yml');
  const text = stringify({
    ...base,
    keystore: isMemory(base['keystore']) ? { fs: { path: join(dir, 'data') } } : base['keystore'],
    server: { ...(base['server'] as object | undefined), workers: testWorkers },
    // What the in-process server's logger writes: audit lines and the error log from debug up.
    log: { audit: 'on', error: 'debug', audit_file: logFile, error_file: logFile },
  });
  // A bad config fails here with the same error as in process, not as a dead child.
  parseConfig(text, 'test.yml');
  writeFileSync(file, text);

  // Its own process group (test/helpers/processes.ts): killing it reaches the workers too.
  const child = spawnTracked(process.execPath, [keygateBin, 'server', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] }, 'file');
  let port: number;
  try {
    // The primary's banner, printed once every worker listens.
    port = Number((await child.waitFor(/listening on https:\/\/\S+:(\d+) with \d+ workers/))[1]);
  } catch (err) {
    await child.killGroup();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `https://localhost:${port}`;
  let answered = 0;
  return {
    pki,
    get running(): RunningServer {
      throw new Error(`TestServer.running: the server runs in its own process with ${testWorkers} workers; mark this test skipIf(workerMode)`);
    },
    url,
    port,
    admin,
    get logLines() {
      return readLog(logFile, answered);
    },
    call: async (who, path, opts) => {
      const r = await request(url, pki.ca.certPem, who, path, opts);
      answered++;
      return r;
    },
    close: async () => {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function isMemory(keystore: unknown): boolean {
  return typeof keystore === 'object' && keystore !== null && 'memory' in keystore;
}

/** SIGTERM, as an operator would: the server must drain and exit 0 (the hook's timeout bounds the wait). */
async function stop(child: Spawned): Promise<void> {
  child.signal('SIGTERM');
  const { code, signal } = await child.exited;
  // Whatever the primary left behind (it should leave nothing) goes with its group.
  await child.killGroup();
  if (code !== 0) throw new Error(`keygate server exited with ${code ?? signal} on SIGTERM: ${child.stderr()}`);
}

const LOG_WAIT_MS = 2_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The log file's complete lines. A worker writes a request's audit line just after
 * its answer (batched per event-loop turn, then an async file write), so a test
 * reading the log right after a response could miss it: wait, briefly and
 * synchronously (the getter is synchronous, the server is another process), until
 * there is an audit line for every answer `call` received.
 */
function readLog(file: string, answered: number): string[] {
  const deadline = Date.now() + LOG_WAIT_MS;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const lines = text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean);
    const audit = lines.filter((l) => l.includes('"latency_ms":')).length;
    if (audit >= answered || Date.now() > deadline) return lines;
    Atomics.wait(sleeper, 0, 0, 5);
  }
}
