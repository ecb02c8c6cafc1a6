/** Metrics, log streams, reloads and graceful shutdown, on real listeners and real processes. */
import { ensureBuilt } from '../helpers/cli.js';
import { afterAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { parseConfig } from '../../src/config/load.js';
import { spawnTracked, type Spawned } from '../helpers/processes.js';

const root = new URL('../../', import.meta.url).pathname;
const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(...args: Parameters<typeof startTestServer>) {
  const s = await startTestServer(...args);
  servers.push(s);
  return s;
}

const bundleCerts = new BundleCerts();

const metricValue = (text: string, line: string): number => {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
};

describe('metrics', () => {
  it('exports KES metric names and counts successes, client errors and refused authentications', async () => {
    const s = await start();
    const stranger = s.pki.client();
    await s.call(s.admin, '/v1/key/create/m1', { method: 'PUT' });
    await s.call(s.admin, '/v1/key/describe/nope');
    await s.call(stranger, '/v1/key/describe/m1');
    await s.call(null, '/v1/key/describe/m1');
    // Everything on /v1/metrics/keygate; KES's families alone on /v1/metrics (test/kes-sdk decodes it as kms-go does).
    const r = await s.call(s.admin, '/v1/metrics/keygate');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    for (const name of [
      'kes_http_request_success',
      'kes_http_request_error',
      'kes_http_request_active',
      'kes_http_response_time_bucket',
      'kes_system_up_time',
      'kes_system_num_cpu',
      'kes_system_mem_heap_used',
      'keygate_http_request_duration_seconds_bucket',
      'keygate_keystore_latency_seconds_bucket',
    ]) {
      expect(r.text, name).toContain(name);
    }
    expect(metricValue(r.text, 'kes_http_request_success{code="200"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(r.text, 'kes_http_request_error{code="404"}')).toBe(1);
    expect(metricValue(r.text, 'keygate_auth_failures_total{reason="forbidden"}')).toBe(1);
    expect(metricValue(r.text, 'keygate_auth_failures_total{reason="no_certificate"}')).toBe(1);
    expect(metricValue(r.text, 'keygate_http_requests_total{route="/v1/key/create/",method="PUT",status="200"}')).toBe(1);
    expect(metricValue(r.text, 'keygate_keystore_latency_seconds_count{op="create"}')).toBe(1);
    // One audit line per request answered before the scrape (the scrape's own comes after).
    expect(metricValue(r.text, 'kes_log_audit_events')).toBe(4);
    const kes = await s.call(s.admin, '/v1/metrics');
    expect(kes.status).toBe(200);
    expect(metricValue(kes.text, 'kes_http_request_error{code="404"}')).toBe(1);
    expect(kes.text).not.toContain('keygate_');
  });

  it('exports the fleet gauges: live tokens by kind, registered nodes, bundles expiring within 30 days', async () => {
    const s = await start();
    const group = await s.call(s.admin, '/v1/group/create/edge', { method: 'PUT', body: {} });
    expect(group.status).toBe(200);
    for (const node of ['n1', 'n2']) {
      const r = await s.call(null, '/v1/node/register/edge', {
        method: 'PUT',
        body: { node_id: node },
        headers: { Authorization: `Bearer ${group.json.group_token}` },
      });
      expect(r.status).toBe(200);
    }
    for (const [name, days] of [
      ['soon', 5],
      ['later', 90],
    ] as const) {
      const b = bundleCerts.expiringIn(days);
      expect(
        (await s.call(s.admin, `/v1/cert/import/${name}`, { method: 'PUT', body: { certificate: b.chainPem, private_key: b.keyPem, ttl: 60 } })).status,
      ).toBe(200);
    }
    const r = await s.call(s.admin, '/v1/metrics/keygate');
    expect(metricValue(r.text, 'keygate_tokens_active{kind="group"}')).toBe(1);
    expect(metricValue(r.text, 'keygate_tokens_active{kind="node"}')).toBe(2);
    expect(metricValue(r.text, 'keygate_nodes_registered')).toBe(2);
    expect(metricValue(r.text, 'keygate_bundles_expiring_30d')).toBe(1);
  });

  it('requires authorization like every other route', async () => {
    const s = await start();
    expect((await s.call(s.pki.client(), '/v1/metrics')).status).toBe(403);
    expect((await s.call(s.pki.client(), '/v1/metrics/keygate')).status).toBe(403);
  });
});

// With workers, the stream carries every worker's lines: the requests below, on fresh connections, land on all of them.
describe('log streams', () => {
  it('streams audit lines as nd-json to an authorized identity', async () => {
    const s = await start();
    const lines: string[] = [];
    const req = https.request(new URL('/v1/log/audit', s.url), { ca: s.pki.ca.certPem, cert: s.admin.certPem, key: s.admin.keyPem, agent: false });
    const opened = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        expect(res.headers['content-type']).toBe('application/x-ndjson');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
        resolve();
      });
    });
    req.end();
    await opened;
    const names = Array.from({ length: 6 }, (_, i) => `streamed-${i}`);
    for (const name of names) await s.call(s.admin, `/v1/key/create/${name}`, { method: 'PUT' });
    const seen = () => names.filter((n) => lines.some((l) => l.includes(`/v1/key/create/${n}"`)));
    await vi.waitFor(() => expect(seen()).toEqual(names), { timeout: 20_000, interval: 20 });
    req.destroy();
    // KES's event shape on the stream (keygate's own line, with the method, is in the log file).
    const event = JSON.parse(lines.find((l) => l.includes('/v1/key/create/streamed-0"')) as string);
    expect(event).toMatchObject({ request: { path: '/v1/key/create/streamed-0', identity: s.admin.identity }, response: { code: 200 } });
  });
});

// In-process only: calls the running server's reload (workers.test.ts covers SIGHUP to two workers).
describe.skipIf(workerMode)('reload', () => {
  it('swaps policies atomically and keeps the old state when the new config is bad', async () => {
    const s = await start();
    const app = s.pki.client();
    expect((await s.call(app, '/v1/key/list/*')).status).toBe(403);
    const base = {
      address: '127.0.0.1:0',
      admin: { identity: s.admin.identity },
      tls: { key: s.pki.serverKeyFile, cert: s.pki.serverCertFile },
      keystore: { memory: {} },
    };
    await s.running.reload(parseConfig(stringify({ ...base, policy: { app: { allow: ['/v1/key/list/*'], identities: [app.identity] } } }), 'r.yml'));
    expect((await s.call(app, '/v1/key/list/*')).status).toBe(200);
    const missingCert = parseConfig(stringify({ ...base, tls: { key: s.pki.serverKeyFile, cert: '/nonexistent' } }), 'r.yml');
    await expect(s.running.reload(missingCert)).rejects.toThrow(/cannot read certificate/);
    expect((await s.call(app, '/v1/key/list/*')).status).toBe(200);
  });
  it('ends an open log stream at the reload that takes its path away, and keeps one that still holds', async () => {
    const s = await start();
    const watcher = s.pki.client();
    const keeper = s.pki.client();
    const base = {
      address: '127.0.0.1:0',
      admin: { identity: s.admin.identity },
      tls: { key: s.pki.serverKeyFile, cert: s.pki.serverCertFile },
      keystore: { memory: {} },
    };
    const policies = (watcherMay: boolean) => ({
      watcher: { allow: watcherMay ? ['/v1/log/audit'] : ['/v1/key/list/*'], identities: [watcher.identity] },
      keeper: { allow: ['/v1/log/audit'], identities: [keeper.identity] },
    });
    await s.running.reload(parseConfig(stringify({ ...base, policy: policies(true) }), 'r.yml'));
    const open = (who: typeof watcher) =>
      new Promise<{ lines: string[]; closed: Promise<void>; req: ReturnType<typeof https.request> }>((resolve, reject) => {
        const lines: string[] = [];
        const req = https.request(new URL('/v1/log/audit', s.url), { ca: s.pki.ca.certPem, cert: who.certPem, key: who.keyPem, agent: false });
        req.on('error', () => undefined);
        req.on('response', (res) => {
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
          const closed = new Promise<void>((done) => res.once('close', () => done()));
          resolve({ lines, closed, req });
        });
        req.end();
      });
    const cutOff = await open(watcher);
    const kept = await open(keeper);
    onTestFinished(() => {
      cutOff.req.destroy();
      kept.req.destroy();
    });
    await s.running.reload(parseConfig(stringify({ ...base, policy: policies(false) }), 'r.yml'));
    await cutOff.closed; // ends at the reload itself, not at the next line
    await s.call(s.admin, '/v1/key/create/after-reload', { method: 'PUT' });
    await vi.waitFor(() => expect(kept.lines.some((l) => l.includes('/v1/key/create/after-reload'))).toBe(true));
    expect(cutOff.lines.some((l) => l.includes('after-reload'))).toBe(false);
    // And it cannot come back: the new policy refuses it.
    await expect(open(watcher)).rejects.toThrow(/status 403/);
  });
});

// Spawns its own single-process server: nothing to repeat in worker mode.
describe.skipIf(workerMode)('the server process', () => {
  function build(): void {
    ensureBuilt();
  }

  /** A server in its own process group, killed with it when the test ends (test/helpers/processes.ts). */
  async function spawnServer(configFile: string): Promise<{ child: Spawned; url: string; stderr: () => string }> {
    build();
    const child = spawnTracked(process.execPath, [join(root, 'bin/keygate.js'), 'server', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const url = (await child.waitFor(/listening on (\S+)/))[1] as string;
    return { child, url: url.replace('127.0.0.1', 'localhost'), stderr: () => child.stderr() };
  }

  function configFile(pki: TestPki, admin: string, extra: Record<string, unknown> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'keygate-op-'));
    const file = join(dir, 'config.yml');
    const write = (more: Record<string, unknown>) =>
      writeFileSync(
        file,
        stringify({
          address: '127.0.0.1:0',
          admin: { identity: admin },
          tls: { key: pki.serverKeyFile, cert: pki.serverCertFile },
          keystore: { fs: { path: join(dir, 'data') } },
          log: { audit: 'off' },
          ...more,
        }),
      );
    write(extra);
    return file;
  }

  it('reloads its config on SIGHUP, and keeps it when the file is broken', async () => {
    const pki = new TestPki();
    const admin = pki.client();
    const app = pki.client();
    const file = configFile(pki, admin.identity);
    const { child, url, stderr } = await spawnServer(file);
    const call = (who: typeof app, path: string) => import('../helpers/http.js').then(({ request }) => request(url, pki.ca.certPem, who, path));
    expect((await call(app, '/v1/key/list/*')).status).toBe(403);

    const { readFileSync } = await import('node:fs');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text + stringify({ policy: { app: { allow: ['/v1/key/list/*'], identities: [app.identity] } } }));
    child.signal('SIGHUP');
    await child.waitFor(/configuration reloaded/);
    expect((await call(app, '/v1/key/list/*')).status).toBe(200);

    writeFileSync(file, text + 'policy: [broken\n');
    child.signal('SIGHUP');
    await child.waitFor(/reload failed/);
    expect(stderr()).toMatch(/reload failed, keeping the current configuration: .*config\.yml:\d+: invalid YAML/);
    expect((await call(app, '/v1/key/list/*')).status).toBe(200);
  });

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const pki = new TestPki();
    const admin = pki.client();
    const { child, url } = await spawnServer(configFile(pki, admin.identity));
    const body = JSON.stringify({ key: Buffer.alloc(32, 7).toString('base64'), cipher: 'AES256' });
    // Ordered by events, not delays: `100 Continue` proves the server has the request in
    // flight; the body follows only once the server says it is shutting down.
    const done = new Promise<{ status: number }>((resolve, reject) => {
      const req = https.request(
        new URL('/v1/key/import/late', url),
        {
          method: 'PUT',
          ca: pki.ca.certPem,
          cert: admin.certPem,
          key: admin.keyPem,
          agent: false,
          headers: { 'Content-Length': String(body.length), Expect: '100-continue' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        },
      );
      req.on('error', reject);
      req.once('continue', () => {
        req.write(body.slice(0, 10));
        child.signal('SIGTERM');
        child.waitFor(/SIGTERM received/).then(() => req.end(body.slice(10)), reject);
      });
      req.flushHeaders();
    });
    const res = await done;
    expect(res.status).toBe(200);
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
