/**
 * Throttling under attack, measured: slow-body clients (headers complete, the
 * body trickling in) are cut off by `limits.request_timeout`, slow-header
 * clients by `limits.header_timeout`, and an address that keeps failing
 * authentication gets 429 — while a well-behaved client on another address
 * keeps getting every request answered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { recordFigure } from './figures.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { limits: { header_timeout: '1s', request_timeout: '2s', auth_failures: 10, auth_failure_window: '1m' } } });
  expect((await s.call(s.admin, '/v1/key/create/k', { method: 'PUT' })).status).toBe(200);
});
afterAll(() => s.close());

/**
 * Opens a connection from `localAddress`, sends `head`, then one byte of `trickle` every
 * 200 ms; resolves with how long the server let it live and the status it answered (0: none).
 */
function slowClient(who: TestClient, localAddress: string, headText: string, trickle: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tcp = net.connect({ host: '127.0.0.1', port: s.port, localAddress });
    const socket = tls.connect({ socket: tcp, ca: s.pki.ca.certPem, servername: 'localhost', cert: who.certPem, key: who.keyPem });
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    socket.once('secureConnect', () => {
      socket.write(headText);
      let i = 0;
      timer = setInterval(() => {
        if (socket.writable) socket.write(trickle[i++ % trickle.length] as string);
      }, 200);
    });
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ ms: Date.now() - started, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0) });
    });
  });
}

/** A request from a chosen loopback address on a fresh connection; the status. */
function from(who: TestClient, localAddress: string, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve) => {
    const req = https.request(new URL(path, s.url), { method, ca: s.pki.ca.certPem, cert: who.certPem, key: who.keyPem, agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

it('cuts slow bodies and slow headers, throttles failed authentication, and keeps answering a well-behaved client', async () => {
  const stranger = s.pki.client({ selfSigned: true });
  const body = 'PUT /v1/key/encrypt/k HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
  const slowBodies = Array.from({ length: 20 }, () => slowClient(s.admin, '127.0.0.2', body, '{"plaintext":"'));
  const slowHeaders = Array.from({ length: 10 }, () => slowClient(s.admin, '127.0.0.2', 'GET /v1/key/list/* HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n'));

  let attacking = true;
  const attacker = { forbidden: 0, throttled: 0, other: 0 };
  const hammer = (async () => {
    while (attacking) {
      const status = await from(stranger, '127.0.0.3', '/v1/key/list/*');
      if (status === 403) attacker.forbidden++;
      else if (status === 429) attacker.throttled++;
      else attacker.other++;
    }
  })();
  const good = { ok: 0, failed: 0 };
  const wellBehaved = (async () => {
    while (attacking) {
      const status = await from(s.admin, '127.0.0.4', '/v1/key/generate/k', 'PUT');
      if (status === 200) good.ok++;
      else good.failed++;
    }
  })();

  const slow = await Promise.all([...slowBodies, ...slowHeaders]);
  attacking = false;
  await Promise.all([hammer, wellBehaved]);

  const bodies = slow.slice(0, 20);
  const headers = slow.slice(20);
  // Cut off long before the 1000-byte body (200 s at this pace) or the endless headers could arrive.
  for (const r of bodies) expect(r.ms).toBeLessThan(10_000);
  for (const r of headers) expect(r.ms).toBeLessThan(10_000);
  for (const r of slow) expect([0, 408]).toContain(r.status);
  expect(attacker.forbidden).toBe(10);
  expect(attacker.throttled).toBeGreaterThan(0);
  expect(attacker.other).toBe(0);
  expect(good.failed).toBe(0);
  expect(good.ok).toBeGreaterThan(10);
  recordFigure('slow-clients', {
    slowBodyClients: bodies.length,
    slowBodyCutAfterMsMax: Math.max(...bodies.map((r) => r.ms)),
    slowHeaderClients: headers.length,
    slowHeaderCutAfterMsMax: Math.max(...headers.map((r) => r.ms)),
    attackerForbidden: attacker.forbidden,
    attackerThrottled: attacker.throttled,
    wellBehavedOk: good.ok,
    wellBehavedFailed: good.failed,
  });
}, 30_000);
