/**
 * The HTTPS client the CLI and the agent share (src/client/https.ts), against stand-in TLS
 * servers that answer what each test says: what is sent (JSON body, bearer token, headers),
 * how a refusal is read (message from JSON or RKS's text line, the code from the
 * `Keygate-Error-Code` header, unknown routes by code and, only without the header, by
 * status and message), how no answer is sorted (refused, certificate, timeout, abort),
 * and that the PEM files' errors name the files, never what is in them. The CLI's layer
 * words the unreachable cases for a terminal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import type http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpsClient, ServerError, UnreachableError, type HttpsClientOptions } from '../../src/client/https.js';
import { Client } from '../../src/cli/client.js';
import { ERROR_CODES } from '../../src/error-codes.js';
import { TestPki } from '../helpers/certs.js';

const pki = new TestPki();
const client = pki.client();

/** The request a stand-in saw. */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A TLS server that asks for client certificates and answers with whatever `handler` is now. */
class StandIn {
  handler: Handler = (_req, res) => res.end();
  readonly seen: Seen[] = [];
  readonly server = https.createServer(
    { key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        this.handler(req, res);
      });
    },
  );

  get url(): string {
    return `https://localhost:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const answer =
  (status: number, body: string, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(body);
  };

/** What a request failed with (the test fails if it succeeded). */
async function failure(p: Promise<unknown>): Promise<Error> {
  const outcome = await p.then(
    () => null,
    (err: unknown) => err as Error,
  );
  expect(outcome, 'the request should have failed').toBeInstanceOf(Error);
  return outcome as Error;
}

const standIn = new StandIn();
const made: HttpsClient[] = [];
function make(options: Partial<HttpsClientOptions> = {}): HttpsClient {
  const c = new HttpsClient({ server: standIn.url, ca: pki.caFile, cert: client.certFile, key: client.keyFile, timeoutMs: 10_000, ...options });
  made.push(c);
  return c;
}

beforeAll(() => standIn.start());
afterAll(async () => {
  made.forEach((c) => c.close());
  await standIn.close();
});

describe('a request', () => {
  it('sends JSON, the bearer token and extra headers, and returns status, headers and body', async () => {
    standIn.handler = answer(201, '{"ok":true}', { 'X-Answer': 'yes' });
    const c = make({ token: 'kgn_client-token' });
    const r = await c.request('PUT', '/v1/thing/a%2Fb?x=1', { body: { name: 'a' }, headers: { 'X-Extra': '1' } });
    expect({ status: r.status, header: r.headers['x-answer'], body: r.body.toString('utf8') }).toEqual({ status: 201, header: 'yes', body: '{"ok":true}' });
    const seen = standIn.seen.at(-1) as Seen;
    expect({ method: seen.method, url: seen.url, body: seen.body }).toEqual({ method: 'PUT', url: '/v1/thing/a%2Fb?x=1', body: '{"name":"a"}' });
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.headers['authorization']).toBe('Bearer kgn_client-token');
    expect(seen.headers['x-extra']).toBe('1');
  });

  it("uses a request's own token instead of the client's, and none when it is ''", async () => {
    standIn.handler = answer(200, '');
    const c = make({ token: 'kgn_client-token' });
    await c.request('GET', '/a', { token: 'kgg_group-token' });
    expect(standIn.seen.at(-1)?.headers['authorization']).toBe('Bearer kgg_group-token');
    await c.request('GET', '/b', { token: '' });
    expect(standIn.seen.at(-1)?.headers['authorization']).toBeUndefined();
    expect(await c.call('GET', '/c')).toBeNull();
  });

  it('presents the client certificate', async () => {
    let presented = '';
    standIn.handler = (req, res) => {
      presented = (req.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.end('[1,2]');
    };
    expect(await make().call('GET', '/who')).toEqual([1, 2]);
    expect(presented).toBe(client.cert.fingerprint256);
  });
});

describe("the server's refusal", () => {
  it('carries the status, the JSON message and the code of the header', async () => {
    standIn.handler = answer(404, '{"message":"bundle does not exist"}', { 'Keygate-Error-Code': 'BUNDLE_NOT_FOUND' });
    const err = await failure(make().call('GET', '/v1/cert/get/x'));
    expect(err).toBeInstanceOf(ServerError);
    const e = err as ServerError;
    expect({ status: e.status, message: e.message, code: e.code, unknownRoute: e.unknownRoute }).toEqual({
      status: 404,
      message: 'bundle does not exist',
      code: 'BUNDLE_NOT_FOUND',
      unknownRoute: false,
    });
    expect(e.is('BUNDLE_NOT_FOUND')).toBe(true);
    expect(e.is('GROUP_NOT_FOUND')).toBe(false);
  });

  it('tells an unknown route by the code, whatever the message says', async () => {
    // The catalogue's message of ROUTE_NOT_FOUND under another code: not an unknown route.
    standIn.handler = answer(404, JSON.stringify({ message: ERROR_CODES.ROUTE_NOT_FOUND.message }), { 'Keygate-Error-Code': 'NODE_NOT_FOUND' });
    expect(((await failure(make().call('GET', '/x'))) as ServerError).unknownRoute).toBe(false);
    // Any message under ROUTE_NOT_FOUND or METHOD_NOT_ALLOWED: an unknown route.
    standIn.handler = answer(404, '{"message":"no route here"}', { 'Keygate-Error-Code': 'ROUTE_NOT_FOUND' });
    expect(((await failure(make().call('GET', '/x'))) as ServerError).unknownRoute).toBe(true);
    standIn.handler = answer(405, '{"message":"nope"}', { 'Keygate-Error-Code': 'METHOD_NOT_ALLOWED' });
    expect(((await failure(make().call('GET', '/x'))) as ServerError).unknownRoute).toBe(true);
  });

  it('from a server without the header, falls back to the status and the catalogue message', async () => {
    standIn.handler = answer(404, JSON.stringify({ message: ERROR_CODES.ROUTE_NOT_FOUND.message }));
    const old = (await failure(make().call('GET', '/x'))) as ServerError;
    expect({ code: old.code, unknownRoute: old.unknownRoute }).toEqual({ code: undefined, unknownRoute: true });
    standIn.handler = answer(404, '{"message":"bundle does not exist"}');
    const missing = (await failure(make().call('GET', '/x'))) as ServerError;
    expect({ unknownRoute: missing.unknownRoute, isBundleNotFound: missing.is('BUNDLE_NOT_FOUND') }).toEqual({ unknownRoute: false, isBundleNotFound: true });
    standIn.handler = answer(405, '{"message":"received method \'GET\' expected \'PUT\'"}');
    expect(((await failure(make().call('GET', '/x'))) as ServerError).unknownRoute).toBe(true);
  });

  it('ignores a header that is not a code', async () => {
    for (const value of ['route_not_found', 'X'.repeat(65), 'ROUTE NOT FOUND', '']) {
      standIn.handler = answer(404, '{"message":"not found"}', { 'Keygate-Error-Code': value });
      expect(((await failure(make().call('GET', '/x'))) as ServerError).code, value).toBeUndefined();
    }
  });

  it("reads RKS's plain-text line, and says only the status for other bodies", async () => {
    standIn.handler = (_req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Keygate-Error-Code': 'RKS_GROUP_NOT_FOUND' });
      res.end('Group not found\nsecond line\n');
    };
    const rks = (await failure(make().call('GET', '/rks/v1/group/x'))) as ServerError;
    expect({ message: rks.message, code: rks.code }).toEqual({ message: 'Group not found', code: 'RKS_GROUP_NOT_FOUND' });
    standIn.handler = (_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html><body>Bad Gateway</body></html>');
    };
    expect((await failure(make().call('GET', '/x'))).message).toBe('HTTP 502');
    standIn.handler = answer(500, '{"message":42}');
    expect((await failure(make().call('GET', '/x'))).message).toBe('HTTP 500');
    standIn.handler = answer(400, JSON.stringify({ message: 'm'.repeat(5000) }));
    expect((await failure(make().call('GET', '/x'))).message).toHaveLength(1000);
  });
});

describe('no answer', () => {
  it('is refused when nothing listens', async () => {
    const closed = net.createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const err = (await failure(make({ server: `https://127.0.0.1:${port}`, token: 'kgn_secret-token' }).call('GET', '/x'))) as UnreachableError;
    expect(err).toBeInstanceOf(UnreachableError);
    expect({ message: err.message, reason: err.reason }).toEqual({ message: `cannot connect to 127.0.0.1:${port}: connection refused`, reason: 'refused' });
    expect(err.message).not.toContain('kgn_secret-token');
    const cli = await failure(new Client({ server: `127.0.0.1:${port}` }).call('GET', '/x'));
    expect({ type: cli.constructor.name, message: cli.message }).toEqual({
      type: 'UnreachableError',
      message: `cannot connect to 127.0.0.1:${port}: connection refused (is the server running?)`,
    });
  });

  it("is a certificate failure when the server's certificate cannot be verified", async () => {
    const noCa = new HttpsClient({ server: standIn.url, cert: client.certFile, key: client.keyFile, timeoutMs: 10_000 });
    made.push(noCa);
    const err = (await failure(noCa.call('GET', '/x'))) as UnreachableError;
    expect(err.reason).toBe('certificate');
    expect(err.errno).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
    const host = new URL(standIn.url).host;
    const cli = await failure(new Client({ server: standIn.url, cert: client.certFile, key: client.keyFile }).call('GET', '/x'));
    expect(cli.message).toBe(`cannot verify the server certificate of ${host} (${err.errno}): pass --ca FILE or --insecure`);
    // --insecure: the same server answers.
    standIn.handler = answer(200, '{}');
    expect(await new Client({ server: standIn.url, insecure: true }).call('GET', '/x')).toEqual({});
  });

  it('times out when the server never answers, and stops when aborted', async () => {
    let arrived: () => void = () => undefined;
    standIn.handler = () => arrived(); // never answers
    const timedOut = (await failure(make({ timeoutMs: 300 }).call('GET', '/slow'))) as UnreachableError;
    expect({ reason: timedOut.reason, message: timedOut.message }).toEqual({ reason: 'timeout', message: `${new URL(standIn.url).host}: request timed out` });
    const controller = new AbortController();
    const there = new Promise<void>((resolve) => (arrived = resolve));
    const pending = make().call('GET', '/slow', undefined, { signal: controller.signal });
    await there;
    controller.abort();
    const aborted = (await failure(pending)) as UnreachableError;
    expect({ reason: aborted.reason, message: aborted.message }).toEqual({ reason: 'aborted', message: 'aborted' });
  });
});

describe('the PEM files', () => {
  it('name the file and its errno when they cannot be read', () => {
    expect(() => make({ cert: '/nonexistent/c.pem' })).toThrow("cannot read client certificate '/nonexistent/c.pem' (ENOENT)");
    expect(() => make({ key: pki.dir })).toThrow(`cannot read client key '${pki.dir}' (EISDIR)`);
    expect(() => make({ ca: '/nonexistent/ca.pem' })).toThrow("cannot read CA certificate '/nonexistent/ca.pem' (ENOENT)");
  });

  it('name the files, never their content, when they are not a usable certificate and key', async () => {
    const secret = pki.file('not-a-key.pem', 'PRIVATE-SECRET-MATERIAL-0123456789\n');
    const other = pki.client();
    for (const [cert, key] of [
      [client.certFile, secret],
      [client.certFile, other.keyFile],
    ] as const) {
      const err = await failure(make({ cert, key }).call('GET', '/x'));
      expect(err.message).toMatch(new RegExp(`^cannot use the TLS files '${cert}', '${key}', '${pki.caFile}': `));
      expect(err.message).not.toContain('PRIVATE-SECRET');
      expect(err.message).not.toContain('-----BEGIN');
    }
  });
});
