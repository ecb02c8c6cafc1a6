/** Abuse limits: throttled authentication failures, slow clients, connection cap. */
import { afterAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import https from 'node:https';

const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

async function start(limits: Record<string, unknown>) {
  const s = await startTestServer({ config: { limits } });
  servers.push(s);
  return s;
}

/** A request from a chosen loopback source address (127.0.0.0/8 is all local on Linux). */
function from(s: TestServer, who: TestClient, localAddress: string, path: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, s.url), { ca: s.pki.ca.certPem, cert: who.certPem, key: who.keyPem, agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers['retry-after'] ? { retryAfter: String(res.headers['retry-after']) } : {}) }));
    });
    req.on('error', reject);
    req.end();
  });
}

// With workers, every worker counts every worker's failures (through the primary).
describe('failed authentications', () => {
  it('are throttled per source address with 429 and Retry-After, without touching other clients', async () => {
    const s = await start({ auth_failures: 5, auth_failure_window: '1m' });
    const stranger = s.pki.client();
    for (let i = 0; i < 5; i++) expect((await from(s, stranger, '127.0.0.3', '/v1/key/list/*')).status).toBe(403);
    const blocked = await from(s, stranger, '127.0.0.3', '/v1/key/list/*');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
    // The same address is blocked for everyone; another address is not affected.
    expect((await from(s, s.admin, '127.0.0.3', '/v1/key/list/*')).status).toBe(429);
    expect((await from(s, s.admin, '127.0.0.4', '/v1/key/list/*')).status).toBe(200);
    // Successful requests never count.
    for (let i = 0; i < 20; i++) expect((await from(s, s.admin, '127.0.0.5', '/v1/key/list/*')).status).toBe(200);
    const metrics = await from(s, s.admin, '127.0.0.5', '/v1/metrics');
    expect(metrics.status).toBe(200);
  });
});

describe('slow clients', () => {
  it('are cut off when their headers do not arrive in time', async () => {
    const s = await start({ header_timeout: '1s', request_timeout: '2s' });
    const socket = tls.connect({ host: '127.0.0.1', port: s.port, ca: s.pki.ca.certPem, servername: 'localhost', cert: s.admin.certPem, key: s.admin.keyPem });
    await new Promise((r) => socket.once('secureConnect', r));
    socket.write('GET /v1/key/list/* HTTP/1.1\r\nHost: localhost\r\n');
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve(text));
      // Trickle a header line every 300 ms: never completes.
      const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 300);
      socket.on('close', () => clearInterval(timer));
    });
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

// Skipped with workers, a known difference: limits.max_connections caps each worker's connections.
describe.skipIf(workerMode)('connections', () => {
  it('are capped by limits.max_connections', async () => {
    const s = await start({ max_connections: 2 });
    const open = async () => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: s.port,
        ca: s.pki.ca.certPem,
        servername: 'localhost',
        cert: s.admin.certPem,
        key: s.admin.keyPem,
      });
      return new Promise<tls.TLSSocket | null>((resolve) => {
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', () => resolve(null));
        socket.once('close', () => resolve(null));
      });
    };
    const a = await open();
    const b = await open();
    const c = await open();
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(c).toBeNull();
    a?.destroy();
    // The server frees the slot when it sees the close: try until it has (a busy machine takes longer).
    let d = await open();
    for (let i = 0; i < 200 && d === null; i++) d = await open();
    expect(d).not.toBeNull();
    b?.destroy();
    d?.destroy();
  });
});
