/**
 * The error code on the wire (issue 18): the error writer (server/respond.ts) names every
 * catalogue code in the `Keygate-Error-Code` header, for JSON and RKS's plain-text errors
 * alike, while the body stays the bare message KES and RKS clients compare; the listener's
 * own refusals carry their codes too; a real server sends the code of what went wrong; and
 * the OpenAPI document declares the header on every error response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { ERROR_CODES, ERROR_CODE_HEADER, errorMessage, type ErrorCode } from '../../src/error-codes.js';
import { coded } from '../../src/errors.js';
import { writeError } from '../../src/server/respond.js';
import { loadOpenAPI, operations } from '../../src/api/docs/spec.js';
import { TestPki } from '../helpers/certs.js';
import { request, type TestResponse } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const pki = new TestPki();
const codes = Object.keys(ERROR_CODES) as ErrorCode[];
const HEADER = ERROR_CODE_HEADER.toLowerCase();

describe('the error writer', () => {
  // GET /<format>/<code> answers coded(<code>) through writeError; /plain/thrown throws a bare Error.
  const server = https.createServer({ key: pki.server.keyPem, cert: pki.server.certPem }, (req, res) => {
    const [, format, code] = (req.url ?? '').split('/');
    const err = code === 'thrown' ? new Error('a bug with a secret detail') : coded(code as ErrorCode, ['a', 'b']);
    writeError(res, err, false, format === 'text' ? 'text' : 'json');
  });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: pki.ca.certPem });
  let base = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    agent.destroy();
    server.close();
    await once(server, 'close');
  });

  const get = (path: string): Promise<TestResponse> => request(base, pki.ca.certPem, null, path, { agent });

  it('sends every code of the catalogue in the header, the body being only the message', async () => {
    for (const code of codes) {
      const message = errorMessage(code, ['a', 'b']);
      const json = await get(`/json/${code}`);
      expect({ status: json.status, code: json.headers[HEADER], body: json.text }).toEqual({
        status: ERROR_CODES[code].status,
        code,
        body: JSON.stringify({ message }),
      });
      const text = await get(`/text/${code}`);
      expect({ status: text.status, code: text.headers[HEADER], body: text.text }).toEqual({ status: ERROR_CODES[code].status, code, body: message + '\n' });
    }
  });

  it('names an error that is not of the catalogue INTERNAL, without its detail', async () => {
    const r = await get('/json/thrown');
    expect({ status: r.status, code: r.headers[HEADER], body: r.text }).toEqual({ status: 500, code: 'INTERNAL', body: '{"message":"internal server error"}' });
  });
});

describe('a running server', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('sends the code of what went wrong on each surface', async () => {
    const cases: Array<[string, Promise<TestResponse>, ErrorCode]> = [
      ['unknown path', s.call(s.admin, '/v1/no/such/route'), 'ROUTE_NOT_FOUND'],
      ['wrong method', s.call(s.admin, '/v1/key/create/k1', { method: 'GET' }), 'METHOD_NOT_ALLOWED'],
      ['no certificate', s.call(null, '/v1/key/list/*'), 'CERTIFICATE_REQUIRED'],
      ['missing key', s.call(s.admin, '/v1/key/describe/nope'), 'KEY_NOT_FOUND'],
      ['missing bundle', s.call(s.admin, '/v1/cert/describe/nope.test'), 'BUNDLE_NOT_FOUND'],
      ['missing group', s.call(s.admin, '/v1/group/describe/nope'), 'GROUP_NOT_FOUND'],
      ['bad body', s.call(s.admin, '/v1/cert/import/x.test', { method: 'PUT', raw: '{"not json' }), 'INVALID_BODY'],
      ['body where none is taken', s.call(s.admin, '/v1/key/create/k1', { method: 'PUT', raw: '{}' }), 'PAYLOAD_TOO_LARGE'],
      // RKS's plain-text errors.
      ['unknown RKS path', s.call(null, '/rks/v1/no/such/route'), 'RKS_NO_ROUTE'],
      ['RKS init without its token configured', s.call(null, '/rks/v1/init', { method: 'POST', headers: { 'X-Vault-Token': 'root' } }), 'PERMISSION_DENIED'],
    ];
    for (const [what, answer, code] of cases) {
      const r = await answer;
      // JSON's message, or RKS's text line.
      const message = (r.json as { message?: string } | undefined)?.message ?? r.text.trim();
      expect({ what, status: r.status, code: r.headers[HEADER], message }).toEqual({
        what,
        status: ERROR_CODES[code].status,
        code,
        message: expect.any(String),
      });
    }
  });

  it("names the listener's refusal of a request it cannot parse", async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: s.port, servername: 'localhost', ca: s.pki.ca.certPem, cert: s.admin.certPem, key: s.admin.keyPem });
    await once(socket, 'secureConnect');
    socket.end('GARBAGE / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    await once(socket, 'close');
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(text).toContain(`\r\n${ERROR_CODE_HEADER}: MALFORMED_REQUEST\r\n`);
    expect(text.endsWith(JSON.stringify({ message: ERROR_CODES.MALFORMED_REQUEST.message }))).toBe(true);
  });

  it('names its answer to plain HTTP on the TLS port', async () => {
    const socket = net.connect(s.port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    socket.write('GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await once(socket, 'close');
    expect(text).toContain(`\r\n${ERROR_CODE_HEADER}: PLAIN_HTTP\r\n`);
    expect(text.endsWith(JSON.stringify({ message: ERROR_CODES.PLAIN_HTTP.message }))).toBe(true);
  });
});

describe('the OpenAPI document', () => {
  it('declares the header, and every error response of every operation carries it', () => {
    const doc = loadOpenAPI();
    const header = (doc.components['headers'] as Record<string, { schema?: { pattern?: string } }>)[ERROR_CODE_HEADER];
    expect(header?.schema?.pattern).toBeDefined();
    for (const code of codes) expect(code).toMatch(new RegExp(header?.schema?.pattern as string));
    const responses = doc.components['responses'] as Record<string, { headers?: Record<string, unknown> }>;
    const missing: string[] = [];
    for (const { path, method, op } of operations(doc)) {
      for (const [status, answer] of Object.entries(op.responses ?? {}) as Array<[string, { $ref?: string; headers?: Record<string, unknown> }]>) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const resolved = answer.$ref !== undefined ? responses[answer.$ref.split('/').pop() as string] : answer;
        const declared = resolved?.headers?.[ERROR_CODE_HEADER] as { $ref?: string } | undefined;
        if (declared?.$ref !== `#/components/headers/${ERROR_CODE_HEADER}`) missing.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
