/**
 * The change feed the agent uses when a server offers it (a stand-in server that
 * implements `GET /v1/cert/watch/<name>`), and the loopback status endpoint.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { TestPki } from '../helpers/certs.js';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import { createAgent, type AgentParts } from '../../src/agent/index.js';
import { Logger } from '../../src/log/logger.js';
import { serveStatus, StatusBoard } from '../../src/agent/status.js';
import { baseSettings, fingerprint, fingerprintOnDisk, tempDir } from './fixture.js';
import { eventually } from './support.js';
import type { AgentSettings } from '../../src/agent/config.js';

const pki = new TestPki();
/** A logger that drops everything. */
const silentLogger = () => new Logger({ audit: null, error: null, level: 'error' });
const certs = new BundleCerts();

/** Serves one bundle, and answers watches when its version moves (or after `wait`). */
class FeedServer {
  bundle: TestBundle = certs.bundle({ dnsNames: ['site.test'], keyType: 'ecdsa-p256' });
  version = 'v1';
  watches = 0;
  /** While set, bundle reads wait here until released (a batch held in flight). */
  heldGets: Array<() => void> | null = null;
  private waiting: Array<() => void> = [];
  readonly server = https.createServer({ key: pki.server.keyPem, cert: pki.server.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) =>
    this.handle(req, res),
  );

  replace(): void {
    this.bundle = certs.bundle({ dnsNames: ['site.test'], keyType: 'ecdsa-p256' });
    this.version = `v${Number(this.version.slice(1)) + 1}`;
    for (const w of this.waiting.splice(0)) w();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const json = (body: unknown): void => void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/v1/cert/get/site.test' && this.heldGets) {
      this.heldGets.push(() => this.handle(req, res));
      return;
    }
    if (url.pathname === '/v1/cert/get/site.test') {
      return json({ name: 'site.test', certificate: this.bundle.chainPem, private_key: this.bundle.keyPem, ttl: 3600, version: this.version, not_after: '' });
    }
    if (url.pathname === '/v1/cert/watch/site.test') {
      this.watches++;
      expect(url.searchParams.get('wait')).toBe('60');
      if (url.searchParams.get('version') !== this.version) return json({ name: 'site.test', version: this.version });
      this.waiting.push(() => json({ name: 'site.test', version: this.version }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"message":"not found"}');
    return;
  }
}

let feed: FeedServer;
let parts: AgentParts | undefined;
let dir: string;

beforeAll(async () => {
  feed = new FeedServer();
  await new Promise<void>((r) => feed.server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => feed.server.close(() => r())));
afterEach(async () => {
  await parts?.close();
  parts = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function settings(overrides: Partial<AgentSettings> = {}): AgentSettings {
  dir = tempDir('keygate-agent-feed-');
  const client = pki.client({ commonName: 'node' });
  const url = `https://localhost:${(feed.server.address() as AddressInfo).port}`;
  return baseSettings({ url, pki }, dir, {
    tls: { ca: pki.caFile, cert: client.certFile, key: client.keyFile, insecure: false },
    logLevel: 'error',
    ...overrides,
  });
}

describe('change feed', () => {
  it('rewrites a replaced bundle at once, long before its TTL (an hour) runs out', async () => {
    const running = createAgent(settings(), { logger: silentLogger() });
    parts = running;
    await running.start();
    await running.agent.idle();
    expect(fingerprintOnDisk(dir)).toBe(fingerprint(feed.bundle.chainPem));
    await eventually(() => feed.watches > 0, 'the agent to watch');
    for (let i = 0; i < 3; i++) {
      feed.replace();
      const expected = fingerprint(feed.bundle.chainPem);
      await eventually(() => fingerprintOnDisk(dir) === expected, `version ${feed.version} on disk`);
    }
    // The status board is updated right after the files are written: wait for it rather than race it.
    await eventually(() => running.board.toJSON().bundles[0]?.version === feed.version, `status version ${feed.version}`);
  });

  it('stops for good when stopped during a batch: the batch ending starts no new watch (which would keep the process alive)', async () => {
    const running = createAgent(settings(), { logger: silentLogger() });
    parts = running;
    await running.start();
    await running.agent.idle();
    await eventually(() => feed.watches > 0, 'the agent to watch');
    // A refresh (SIGHUP) whose read is held in flight, and a stop (SIGTERM) meanwhile.
    const held: Array<() => void> = [];
    feed.heldGets = held;
    running.agent.refreshAll();
    await eventually(() => held.length > 0, 'the refresh to reach the server');
    const closing = running.close();
    feed.heldGets = null;
    for (const release of held.splice(0)) release();
    await closing;
    parts = undefined;
    const watchers = (running.agent as unknown as { watchers: { active: Map<string, unknown> } }).watchers;
    expect(watchers.active.size).toBe(0);
  });

  it('does not watch when refresh.watch is off', async () => {
    const before = feed.watches;
    const base = settings();
    parts = createAgent({ ...base, refresh: { ...base.refresh, watch: false } }, { logger: silentLogger() });
    await parts.start();
    await parts.agent.idle();
    expect(fingerprintOnDisk(dir)).toBe(fingerprint(feed.bundle.chainPem));
    expect(feed.watches).toBe(before);
  });
});

describe('status endpoint', () => {
  const get = (port: number, path: string) =>
    new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
        })
        .on('error', reject);
    });

  it('serves the state of each bundle, Prometheus metrics and a health check on loopback', async () => {
    parts = createAgent(settings({ status: { host: '127.0.0.1', port: 0 } }), { logger: silentLogger() });
    await parts.start();
    await parts.agent.idle();
    const port = parts.statusPort;
    const status = await get(port, '/status');
    expect(status.status).toBe(200);
    const body = JSON.parse(status.text);
    expect(body).toMatchObject({ server_reachable: true, node_token_expires_at: null, last_reload: null });
    expect(body.bundles).toEqual([
      expect.objectContaining({
        name: 'site.test',
        state: 'ok',
        version: feed.version,
        ttl: 3600,
        last_error: null,
        not_after: new Date(feed.bundle.leaf.cert.validTo).toISOString(),
      }),
    ]);
    expect(status.text).not.toContain('PRIVATE KEY');

    const metrics = await get(port, '/metrics');
    expect(metrics.type).toContain('text/plain');
    expect(metrics.text).toContain(`keygate_agent_bundle_not_after_seconds{bundle="site.test"} ${new Date(feed.bundle.leaf.cert.validTo).getTime() / 1000}`);
    expect(metrics.text).toContain('keygate_agent_bundle_ok{bundle="site.test"} 1');
    expect(metrics.text).toContain('keygate_agent_refreshes_total{result="changed"} 1');
    expect(metrics.text).toContain('keygate_agent_server_reachable 1');

    expect(await get(port, '/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
    expect((await get(port, '/nope')).status).toBe(404);
  });

  it('answers 503 on /healthz until every bundle is on disk, and refuses to listen off loopback', async () => {
    const board = new StatusBoard();
    board.bundle('site.test');
    const server = await serveStatus(board, '127.0.0.1', 0);
    try {
      expect((await get(server.port, '/healthz')).status).toBe(503);
      board.bundle('site.test').version = 'v1';
      expect((await get(server.port, '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
    await expect(serveStatus(board, '0.0.0.0', 0)).rejects.toThrow('status: 0.0.0.0 is not a loopback address');
  });
});
