/**
 * The HTTPS listener's edges (issues 11 and 12): shutdown does not wait for connections that
 * have nothing left to answer, plain `http://` to the TLS port is told to use https, and a
 * client cannot renegotiate TLS. Against the in-process server (its listener is looked into).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { putBundle } from '../agent/fixture.js';
import { spawnTracked } from '../helpers/processes.js';

let s: TestServer | undefined;
afterEach(async () => {
  await s?.close().catch(() => undefined);
  s = undefined;
});

/**
 * The grace period for requests in flight is an hour here: a shutdown that waited for
 * it would time the test out, so each test proves it did not by simply finishing.
 */
async function server(): Promise<TestServer> {
  s = await startTestServer({ config: { limits: { shutdown_timeout: '1h' } } });
  return s;
}

/** An mTLS connection as the admin, on which the test writes raw HTTP. */
async function adminSocket(t: TestServer): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port: t.port, servername: 'localhost', ca: t.pki.ca.certPem, cert: t.admin.certPem, key: t.admin.keyPem });
  await once(socket, 'secureConnect');
  return socket;
}

function readAll(socket: net.Socket): Promise<string> {
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return new Promise((resolve) => socket.once('close', () => resolve(text)));
}

/** Resolves with the server side of the next request the in-process listener parses. */
const nextRequest = (t: TestServer) => once(t.running.listener.server, 'request').then(([req]) => req as IncomingMessage);

describe('shutdown', () => {
  it('closes a half-closed connection at once, though its long-poll is still waiting', async () => {
    const t = await server();
    const version = await putBundle(t, 'site.test', new BundleCerts().bundle({ dnsNames: ['site.test'] }));
    const socket = await adminSocket(t);
    const closed = once(socket, 'close');
    const arrived = nextRequest(t);
    socket.write(`GET /v1/cert/watch/site.test?version=${encodeURIComponent(version)}&wait=60 HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const req = await arrived;
    // The client goes away (an agent killed mid-watch): the server sees FIN, CLOSE-WAIT.
    const sawEnd = once(req.socket, 'end');
    socket.end();
    await sawEnd;

    // This connection has no one left to answer: it goes at once, not at the deadline.
    await t.running.close();
    await closed;
  });

  it('closes an idle keep-alive connection at once', async () => {
    const t = await server();
    const socket = await adminSocket(t);
    const text = readAll(socket);
    socket.write('GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await once(socket, 'data');
    await t.running.close();
    expect(await text).toMatch(/^HTTP\/1\.1 200/);
  });

  it('lets a request in flight finish, then closes its connection', async () => {
    const t = await server();
    const version = await putBundle(t, 'site.test', new BundleCerts().bundle({ dnsNames: ['site.test'] }));
    const socket = await adminSocket(t);
    const text = readAll(socket);
    const arrived = nextRequest(t);
    socket.write(`GET /v1/cert/watch/site.test?version=${encodeURIComponent(version)}&wait=1 HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await arrived;
    await t.running.close();
    const answer = await text;
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain(`"version":"${version}"`);
  });

  it('ends open log streams and answers long-polls at once: they have no end of their own', async () => {
    const t = await server();
    const version = await putBundle(t, 'site.test', new BundleCerts().bundle({ dnsNames: ['site.test'] }));
    const stream = await adminSocket(t);
    const streamed = readAll(stream);
    const streaming = nextRequest(t);
    stream.write('GET /v1/log/audit HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await streaming;
    await once(stream, 'data'); // the stream's head: it is open
    const watch = await adminSocket(t);
    const watched = readAll(watch);
    const waiting = nextRequest(t);
    watch.write(`GET /v1/cert/watch/site.test?version=${encodeURIComponent(version)}&wait=60 HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await waiting;

    await t.running.close();
    // The watch was answered (not cut): the bundle's current version, as at the end of a wait.
    const answer = await watched;
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain(`"version":"${version}"`);
    // The stream was ended properly: its chunked body has its terminating chunk.
    const text = await streamed;
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text).toMatch(/\r\n0\r\n\r\n$/);
  });
});

describe('plain HTTP on the TLS port', () => {
  it('is answered 400, in plain HTTP, with a message that says to use https', async () => {
    const t = await server();
    const socket = net.connect(t.port, '127.0.0.1');
    const text = readAll(socket);
    socket.write('GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const answer = await text;
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain('Content-Type: application/json');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ message: 'this is a TLS port: use https://' });
  });

  it("a broken handshake still gets TLS's own answer (an alert), not HTTP", async () => {
    const t = await server();
    const socket = net.connect(t.port, '127.0.0.1');
    const text = readAll(socket);
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));
    expect(await text).not.toContain('HTTP/1.1');
  });
});

const hasOpenSSL = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('TLS renegotiation', () => {
  it.skipIf(!hasOpenSSL)('a client-initiated renegotiation ends the connection (openssl s_client -tls1_2, R)', async () => {
    const t = await server();
    const client = spawnTracked(
      'openssl',
      [
        's_client',
        '-tls1_2',
        '-connect',
        `127.0.0.1:${t.port}`,
        '-servername',
        'localhost',
        '-CAfile',
        t.pki.caFile,
        '-cert',
        t.admin.certFile,
        '-key',
        t.admin.keyFile,
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    // After the handshake, ask for a renegotiation, then a request: answered only if the renegotiation went through.
    await client.waitFor(/Verify return code: 0 \(ok\)/, 'stdout');
    client.child.stdin?.write('R\nGET /version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const exit = await client.exited;
    expect(client.stdout() + client.stderr()).toContain('RENEGOTIATING');
    expect(client.stdout()).not.toMatch(/HTTP\/1\.1 \d{3}/);
    expect(exit.code).not.toBe(0);
  });
});
