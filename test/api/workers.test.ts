/**
 * `server.workers: 2`: the same behaviour from a cluster of two processes sharing
 * one port and one fs keystore — keys made through one worker work through the
 * other, a write through one worker is read at once through the other (their read
 * caches drop what another worker wrote), SIGHUP reaches every worker, SIGTERM
 * stops them all cleanly.
 */
import { ensureBuilt } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestPki, type TestClient } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { request } from '../helpers/http.js';
import { spawnTracked, type Spawned } from '../helpers/processes.js';

const root = new URL('../../', import.meta.url).pathname;
const pki = new TestPki();
const admin = pki.client();
const app = pki.client();
const dir = mkdtempSync(join(tmpdir(), 'keygate-workers-'));
const file = join(dir, 'config.yml');
let child: Spawned;
let url = '';

const call = (who: TestClient, path: string, method = 'GET', body?: unknown) =>
  request(url, pki.ca.certPem, who, path, body === undefined ? { method } : { method, body });

beforeAll(async () => {
  ensureBuilt();
  writeFileSync(
    file,
    stringify({
      address: '127.0.0.1:0',
      admin: { identity: admin.identity },
      tls: { key: pki.serverKeyFile, cert: pki.serverCertFile },
      keystore: { fs: { path: join(dir, 'data') } },
      server: { workers: 2 },
      log: { audit: 'off' },
    }),
  );
  // Its own process group: killing it reaches the workers too (test/helpers/processes.ts).
  child = spawnTracked(process.execPath, [join(root, 'bin/keygate.js'), 'server', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  // The primary says so once both workers listen.
  url = ((await child.waitFor(/listening on (\S+) with 2 workers/))[1] as string).replace('127.0.0.1', 'localhost');
}, 60_000);

afterAll(() => child.killGroup());

/** Resolves once the server has `n` requests in flight, both workers summed (the scrape asking counts as one). */
async function inFlight(n: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const text = (await call(admin, '/v1/metrics')).text;
      expect(Number(/^kes_http_request_active (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(n);
    },
    { timeout: 20_000, interval: 50 },
  );
}

describe('two workers', () => {
  it('runs two worker processes under one primary', () => {
    const kids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)])
      .toString()
      .trim()
      .split('\n');
    expect(kids).toHaveLength(2);
  });

  it('serves keys created through any worker from every worker, on fresh connections', async () => {
    expect((await call(admin, '/v1/key/create/shared', 'PUT')).status).toBe(200);
    const dek = await call(admin, '/v1/key/generate/shared', 'PUT', {});
    const results = await Promise.all(Array.from({ length: 30 }, () => call(admin, '/v1/key/decrypt/shared', 'PUT', { ciphertext: dek.json.ciphertext })));
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(new Set(results.map((r) => r.json.plaintext))).toEqual(new Set([dek.json.plaintext]));
    const dup = await Promise.all(Array.from({ length: 10 }, () => call(admin, '/v1/key/create/race', 'PUT')));
    expect(dup.filter((r) => r.status === 200)).toHaveLength(1);
  });

  // Fresh connections alternate between the workers, so each write below is followed by reads
  // through both; the cache settings are the defaults (5 min), far longer than the test.
  it('reads a replaced bundle at its new version through every worker, at once', async () => {
    const certs = new BundleCerts();
    const name = 'coherent.example.com';
    const put = (version?: string) => {
      const b = certs.bundle({ dnsNames: [name] });
      return call(admin, `/v1/cert/import/${name}`, 'PUT', { certificate: b.chainPem, private_key: b.keyPem, ttl: 600, ...(version ? { version } : {}) });
    };
    let version = (await put()).json.version as string;
    for (let round = 0; round < 6; round++) {
      // Both workers hold the current version in their caches...
      for (let i = 0; i < 4; i++) expect((await call(admin, `/v1/cert/get/${name}`)).json.version).toBe(version);
      const replaced = await put(version);
      expect(replaced.status, replaced.text).toBe(200);
      version = replaced.json.version as string;
      // ...and neither serves it once the replace has been answered.
      const reads = await Promise.all(Array.from({ length: 6 }, () => call(admin, `/v1/cert/get/${name}`)));
      expect(reads.map((r) => r.json.version)).toEqual(Array(6).fill(version));
      expect((await call(admin, `/v1/cert/describe/${name}`)).json.version).toBe(version);
    }
  });

  it('forgets a deleted key through every worker, and never decrypts with it after a re-create', async () => {
    expect((await call(admin, '/v1/key/create/gone', 'PUT')).status).toBe(200);
    const dek = await call(admin, '/v1/key/generate/gone', 'PUT', {});
    for (let i = 0; i < 4; i++) expect((await call(admin, '/v1/key/decrypt/gone', 'PUT', { ciphertext: dek.json.ciphertext })).status).toBe(200);
    expect((await call(admin, '/v1/key/delete/gone', 'DELETE')).status).toBe(200);
    const after = await Promise.all(Array.from({ length: 6 }, () => call(admin, '/v1/key/describe/gone')));
    expect(after.map((r) => r.status)).toEqual(Array(6).fill(404));
    expect((await call(admin, '/v1/key/create/gone', 'PUT')).status).toBe(200);
    const old = await Promise.all(Array.from({ length: 6 }, () => call(admin, '/v1/key/decrypt/gone', 'PUT', { ciphertext: dek.json.ciphertext })));
    expect(old.map((r) => r.status)).toEqual(Array(6).fill(400));
  });

  it('answers a bundle watch on one worker when the bundle is replaced through the other', async () => {
    const certs = new BundleCerts();
    const name = 'watched.example.com';
    const body = (version?: string) => {
      const b = certs.bundle({ dnsNames: [name] });
      return { certificate: b.chainPem, private_key: b.keyPem, ttl: 600, ...(version ? { version } : {}) };
    };
    let version = (await call(admin, `/v1/cert/import/${name}`, 'PUT', body())).json.version as string;
    // Two rounds, one with an extra connection in between: the watch and the replace land on
    // different workers in at least one of them.
    for (const extra of [false, true]) {
      const watching = call(admin, `/v1/cert/watch/${name}?version=${version}&wait=20`);
      if (extra) await call(admin, '/version');
      // A watch that arrived after the replace would answer at once with the same reply: wait
      // until it is in flight on either worker (it and the scrape), so the waiting watch is woken.
      await inFlight(2);
      const replaced = await call(admin, `/v1/cert/import/${name}`, 'PUT', body(version));
      expect(replaced.status, replaced.text).toBe(200);
      version = replaced.json.version as string;
      expect((await watching).json).toEqual({ name, version });
    }
  });

  it('answers a metrics scrape through any worker for the whole server', async () => {
    const metric = (text: string, line: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(line + ' '))
          ?.slice(line.length + 1) ?? NaN,
      );
    const before = await call(admin, '/v1/metrics/keygate');
    const counted = (text: string) => metric(text, 'keygate_http_requests_total{route="/version",method="GET",status="200"}') || 0;
    const start = counted(before.text);
    // Fresh connections land on both workers; a scrape through either sees every one of them.
    await Promise.all(Array.from({ length: 20 }, () => call(admin, '/version')));
    const scrapes = await Promise.all(Array.from({ length: 6 }, () => call(admin, '/v1/metrics/keygate')));
    for (const r of scrapes) {
      expect(r.status).toBe(200);
      expect(counted(r.text) - start).toBe(20);
      expect(metric(r.text, 'kes_system_num_cpu_used')).toBe(2); // one per worker, summed
    }
  });

  it('resumes TLS sessions across workers with the shared ticket keys', async () => {
    const agent = new https.Agent({ maxCachedSessions: 10, keepAlive: false });
    let resumed = 0;
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = https.request(new URL('/version', url), { agent, ca: pki.ca.certPem, cert: admin.certPem, key: admin.keyPem }, (res) => {
          if ((res.socket as import('node:tls').TLSSocket).isSessionReused()) resumed++;
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
    }
    // The first connection is a full handshake; the rest land on either worker and resume.
    expect(resumed).toBeGreaterThanOrEqual(8);
  });

  it('applies a SIGHUP reload in every worker', async () => {
    expect((await call(app, '/v1/key/list/*')).status).toBe(403);
    writeFileSync(file, readFileSync(file, 'utf8') + stringify({ policy: { app: { allow: ['/v1/key/list/*'], identities: [app.identity] } } }));
    child.signal('SIGHUP');
    // Each worker says so on the shared stderr once its new configuration is in place.
    await child.waitFor(/(configuration reloaded[^]*){2}/);
    const statuses = (await Promise.all(Array.from({ length: 10 }, () => call(app, '/v1/key/list/*')))).map((r) => r.status);
    expect(statuses).toEqual(Array(10).fill(200));
  });

  it('stops every worker on SIGTERM and exits 0', async () => {
    child.signal('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
