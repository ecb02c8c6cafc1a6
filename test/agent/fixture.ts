/**
 * A keygate test server plus agents running against it on a manual clock: the
 * agent's timers fire only when a test advances the clock, while its network and
 * file I/O are real.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import { expect } from 'vitest';
import { createAgent, type AgentParts } from '../../src/agent/index.js';
import type { AgentSettings, CertificateSettings } from '../../src/agent/config.js';
import { Logger } from '../../src/log/logger.js';
import type { TestServer } from '../helpers/server.js';
import type { TestBundle } from '../helpers/bundle-certs.js';
import { ManualClock } from './support.js';

export interface TestAgent extends AgentParts {
  clock: ManualClock;
  dir: string;
  logLines: string[];
  /** Moves the agent's clock and waits for the batch it triggered. */
  advance(ms: number): Promise<void>;
  /** Starts the loop and waits for its first batch. */
  started(): Promise<void>;
}

/** Settings for an agent of `server` (a keygate test server or a stand-in with the same PKI) writing to `dir`. */
export function baseSettings(s: { url: string; pki: { caFile: string } }, dir: string, overrides: Partial<AgentSettings> = {}): AgentSettings {
  return {
    server: s.url,
    tls: { ca: s.pki.caFile, insecure: false },
    auth: { mode: 'certificate' },
    bundles: ['site.test'],
    output: { dir, combined: false, removeRevoked: true },
    reload: { timeoutMs: 10_000 },
    refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 16_000, timeoutMs: 5000, listIntervalMs: 30_000, watch: true },
    logLevel: 'debug',
    ...overrides,
  };
}

/** One `certificates:` entry of the agent's settings: node edge-1's ECDSA certificate from the role 'edge', for an hour, with `overrides`. */
export const certificateEntry = (overrides: Partial<CertificateSettings> = {}): CertificateSettings => ({
  name: 'edge',
  role: 'edge',
  commonName: 'edge-1.edge.example',
  dnsNames: ['edge-1.edge.example'],
  ipAddresses: [],
  keyType: 'ecdsa-p256',
  ttl: '1h',
  ttlMs: 3_600_000,
  dir: '',
  revokeOnExit: false,
  ...overrides,
});

export function testAgent(settings: AgentSettings): TestAgent {
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const clock = new ManualClock(Date.now());
  const parts = createAgent(settings, { logger: new Logger({ audit: null, error: sink, level: 'debug' }), clock, random: () => 0.5 });
  return Object.assign(parts, {
    clock,
    dir: settings.output.dir,
    logLines,
    async advance(ms: number) {
      clock.advance(ms);
      await parts.agent.idle();
    },
    async started() {
      await parts.start();
      await parts.agent.idle();
    },
  });
}

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

/** Imports (or replaces, when it exists) a bundle as the admin; returns the new version. */
export async function putBundle(s: TestServer, name: string, b: TestBundle, ttl = 60): Promise<string> {
  const current = await s.call(s.admin, `/v1/cert/describe/${name}`);
  const body = { certificate: b.chainPem, private_key: b.keyPem, ttl, ...(current.status === 200 ? { version: current.json.version } : {}) };
  const r = await s.call(s.admin, `/v1/cert/import/${name}`, { method: 'PUT', body });
  expect(r.status, r.text).toBe(200);
  return (await s.call(s.admin, `/v1/cert/describe/${name}`)).json.version;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function admin(s: TestServer, method: string, path: string, body?: unknown): Promise<any> {
  const r = await s.call(s.admin, path, { method, ...(body !== undefined ? { body } : {}) });
  expect(r.status, `${method} ${path}: ${r.text}`).toBe(200);
  return r.json;
}

export const fingerprint = (pem: string | Buffer): string => new X509Certificate(pem).fingerprint256;

/** The fingerprint of the certificate the agent wrote for `name` ('' when there is none). */
export function fingerprintOnDisk(dir: string, name = 'site.test'): string {
  try {
    return fingerprint(readFileSync(join(dir, `${name}.crt`)));
  } catch {
    return '';
  }
}
