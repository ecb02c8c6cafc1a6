/** TLS transport: client-auth modes, admin switch-off, and real curl/openssl clients. */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { runToEnd } from '../helpers/processes.js';

const run = promisify(execFile);
const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

async function start(...args: Parameters<typeof startTestServer>): Promise<TestServer> {
  const s = await startTestServer(...args);
  servers.push(s);
  return s;
}

describe('tls.auth off (default)', () => {
  it('accepts self-signed client certificates and lets identity + policy decide', async () => {
    const s = await start();
    const selfSigned = s.pki.client({ selfSigned: true });
    const r = await s.call(selfSigned, '/v1/key/list/*');
    expect(r.status).toBe(403);
  });

  it('works with curl --cert/--key', async () => {
    const s = await start();
    const { stdout } = await run('curl', [
      '-sS',
      '--cacert',
      s.pki.caFile,
      '--cert',
      s.admin.certFile,
      '--key',
      s.admin.keyFile,
      '-X',
      'PUT',
      '-w',
      '%{http_code}',
      `${s.url}/v1/key/create/curl-key`,
    ]);
    expect(stdout).toBe('200');
    const gen = await run('curl', [
      '-sS',
      '--cacert',
      s.pki.caFile,
      '--cert',
      s.admin.certFile,
      '--key',
      s.admin.keyFile,
      '-X',
      'PUT',
      '--data',
      '{}',
      `${s.url}/v1/key/generate/curl-key`,
    ]);
    expect(Buffer.from(JSON.parse(gen.stdout).plaintext, 'base64')).toHaveLength(32);
  });

  it('refuses TLS 1.1', async () => {
    const s = await start();
    const port = new URL(s.url).port;
    // stdin at EOF: s_client ends by itself either way (before, a handshake that worked waited on
    // stdin until a 10 s timeout rejected, and that rejection passed the test). The server's own
    // refusal is the protocol_version alert, not a failure of the client's making.
    const r = await runToEnd('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_1', '-brief'], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('alert protocol version');
  });
});

describe('tls.auth on', () => {
  it('verifies client certificates against tls.ca: untrusted ones fail the handshake', async () => {
    const pki = new TestPki();
    const s = await start({ pki, config: { tls: { key: pki.serverKeyFile, cert: pki.serverCertFile, auth: 'on', ca: pki.caFile } } });
    expect((await s.call(s.admin, '/v1/key/list/*')).status).toBe(200);

    const stranger = new TestPki().client();
    await expect(s.call(stranger, '/v1/key/list/*')).rejects.toThrow();
    await expect(s.call(s.pki.client({ selfSigned: true }), '/v1/key/list/*')).rejects.toThrow();
    const expired = s.pki.client({ notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) });
    await expect(s.call(expired, '/v1/key/list/*')).rejects.toThrow();
  });
});

describe('admin', () => {
  it('is disabled by a non-hex value', async () => {
    const pki = new TestPki();
    const s = await start({ pki, config: { admin: { identity: 'disabled' } } });
    const r = await s.call(s.admin, '/v1/key/create/x', { method: 'PUT' });
    expect(r.status).toBe(403);
    const ids = await start({
      pki,
      config: { admin: { identity: 'disabled' }, policy: { all: { allow: ['/v1/identity/list/*'], identities: [s.admin.identity] } } },
    });
    const list = await ids.call(s.admin, '/v1/identity/list/*');
    expect(list.json.identities).toContain('disabled');
  });
});
