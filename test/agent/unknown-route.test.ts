/**
 * The agent tells a route the server does not have from a refusal of what it asked for by the
 * error code in `Keygate-Error-Code` (issue 18), not by the message: against a real server
 * (a path that does not exist, a method a route does not take, a bundle that does not exist),
 * and against stand-ins whose words differ from the catalogue's, where only the code can tell.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import type http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { AgentClient, ServerError } from '../../src/agent/client.js';
import { ERROR_CODES } from '../../src/error-codes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';

/** What a request failed with (the test fails if it succeeded). */
async function refusal(p: Promise<unknown>): Promise<ServerError> {
  const outcome = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(ServerError);
  return outcome as ServerError;
}

describe('against a real server', () => {
  let s: TestServer;
  let client: AgentClient;
  beforeAll(async () => {
    s = await startTestServer();
    client = new AgentClient({ server: s.url, ca: s.pki.caFile, cert: s.admin.certFile, key: s.admin.keyFile, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    client.close();
    await s.close();
  });

  it('a path the server does not have is an unknown route, by its code', async () => {
    const err = await refusal(client.call('GET', '/v1/node/no-such-listing'));
    expect({ status: err.status, code: err.code, unknownRoute: err.unknownRoute }).toEqual({ status: 404, code: 'ROUTE_NOT_FOUND', unknownRoute: true });
  });

  it('a method the route does not take is an unknown route too', async () => {
    const err = await refusal(client.call('DELETE', '/v1/cert/get/site.test'));
    expect({ status: err.status, code: err.code, unknownRoute: err.unknownRoute }).toEqual({ status: 405, code: 'METHOD_NOT_ALLOWED', unknownRoute: true });
  });

  it('a bundle that does not exist is not', async () => {
    const err = await refusal(client.getBundle('missing.test'));
    expect({ status: err.status, code: err.code, unknownRoute: err.unknownRoute }).toEqual({ status: 404, code: 'BUNDLE_NOT_FOUND', unknownRoute: false });
  });
});

describe('against servers whose words differ from the catalogue', () => {
  const pki = new TestPki();
  /** Answers GET /v1/node/bundles with `nodeListing`, and lists one bundle at /v1/cert/list/. */
  let nodeListing: { status: number; message: string; code?: string };
  const asked: string[] = [];
  const server = https.createServer({ key: pki.server.keyPem, cert: pki.server.certPem }, (req: http.IncomingMessage, res: http.ServerResponse) => {
    asked.push(req.url ?? '');
    if (req.url === '/v1/node/bundles') {
      res.writeHead(nodeListing.status, { 'Content-Type': 'application/json', ...(nodeListing.code ? { 'Keygate-Error-Code': nodeListing.code } : {}) });
      res.end(JSON.stringify({ message: nodeListing.message }));
    } else if (req.url === '/v1/cert/list/') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"names":["site.test"]}');
    } else {
      res.writeHead(500);
      res.end();
    }
  });
  const clients: AgentClient[] = [];
  const agentClient = (): AgentClient => {
    const c = new AgentClient({ server: `https://localhost:${(server.address() as AddressInfo).port}`, ca: pki.caFile, timeoutMs: 10_000 });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    server.close();
    await once(server, 'close');
  });

  it('falls back to the bundle listing when the code says the node listing is not a route, whatever the words', async () => {
    nodeListing = { status: 404, message: 'there is no such thing here', code: 'ROUTE_NOT_FOUND' };
    asked.length = 0;
    expect(await agentClient().listReadable()).toEqual(['site.test']);
    expect(asked).toEqual(['/v1/node/bundles', '/v1/cert/list/']);
  });

  it('does not fall back on a 404 whose code is another, even with the catalogue message of an unknown route', async () => {
    nodeListing = { status: 404, message: ERROR_CODES.ROUTE_NOT_FOUND.message, code: 'NODE_NOT_FOUND' };
    asked.length = 0;
    const err = await refusal(agentClient().listReadable());
    expect({ code: err.code, unknownRoute: err.unknownRoute }).toEqual({ code: 'NODE_NOT_FOUND', unknownRoute: false });
    expect(asked).toEqual(['/v1/node/bundles']);
  });

  it('without the header (a server older than it), still falls back on the catalogue message', async () => {
    nodeListing = { status: 404, message: ERROR_CODES.ROUTE_NOT_FOUND.message };
    asked.length = 0;
    expect(await agentClient().listReadable()).toEqual(['site.test']);
    expect(asked).toEqual(['/v1/node/bundles', '/v1/cert/list/']);
  });
});
