/**
 * Starts a real keygate server on an ephemeral loopback port with certificates
 * made for the test, and returns helpers to call it as different identities.
 */
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/compose/index.js';
import { Logger } from '../../src/log/logger.js';
import { TestPKI, type TestClient } from './certs.js';
import { request, type RequestOptions, type TestResponse } from './http.js';
import { Writable } from 'node:stream';

export interface TestServer {
  pki: TestPKI;
  running: RunningServer;
  url: string;
  admin: TestClient;
  /** Every audit and error log line the server wrote. */
  logLines: string[];
  call(who: TestClient | null, path: string, opts?: RequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Extra YAML config merged over the defaults (policies, policy_match, keystore…). */
  config?: Record<string, unknown>;
  pki?: TestPKI;
  /** Runs before start with the PKI and admin, to build policies that need identities. */
  prepare?: (pki: TestPKI, admin: TestClient) => Record<string, unknown>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const pki = options.pki ?? new TestPKI();
  const admin = pki.client({ commonName: 'admin' });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const base = {
    address: '127.0.0.1:0',
    admin: { identity: admin.identity },
    tls: { key: pki.serverKeyFile, cert: pki.serverCertFile },
    keystore: { memory: {} },
    ...options.config,
    ...options.prepare?.(pki, admin),
  };
  const config = parseConfig(stringify(base), 'test.yml');
  const logger = new Logger({ audit: sink, error: sink, level: 'debug' });
  const running = await startServer(config, { logger });
  const url = `https://localhost:${running.port}`;
  return {
    pki,
    running,
    url,
    admin,
    logLines,
    call: (who, path, opts) => request(url, pki.ca.certPem, who, path, opts),
    close: () => running.close(),
  };
}
