/**
 * Issue 15 end to end, built-in CA: a node with only a group token gets a one-hour server
 * certificate for `<node_id>.edge.example` from keygate's built-in issuer through the agent
 * (key made on the node, CSR signed by `PUT /v1/pki/sign/edge`), Debian's nginx serves it,
 * the agent renews it before expiry without a failed handshake (a client loop verifies the
 * chain and the name throughout), and on shutdown with `revoke_on_exit` its serials appear
 * in `GET /v1/pki/crl`.
 *
 * The agent runs on a manual clock (two-thirds of the hour pass when the test advances it);
 * keygate, TLS, the certificates' real one-hour lifetimes, files, nginx and openssl are real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { runToEnd } from '../helpers/processes.js';
import { admin, baseSettings, certificateEntry, fingerprint, tempDir, testAgent, type TestAgent } from './fixture.js';
import { NGINX, hammer, handshake, opensslFingerprint, prepareNginx, type RunningNginx } from './nginx.js';
import { eventually } from './support.js';

const HOUR = 3_600_000;
const NAME = 'edge-1.edge.example';
const pki = new TestPki();
const work = tempDir('keygate-pki-e2e-');
const out = join(work, 'out');
let server: TestServer | undefined;
let agent: TestAgent | undefined;
let nginx: RunningNginx | undefined;
let groupToken = '';
let caPem = '';

afterAll(async () => {
  await agent?.close();
  await nginx?.stop();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

const onDisk = () => new X509Certificate(readFileSync(join(out, 'edge.crt')));

describe.skipIf(!existsSync(NGINX))('agent + built-in CA + nginx: short-lived certificates, end to end', () => {
  beforeAll(async () => {
    server = await startTestServer({
      pki,
      config: {
        pki: {
          issuers: { ca: { builtin: { common_name: 'Edge CA', key_type: 'ecdsa-p256' } } },
          roles: { edge: { issuer: 'ca', allowed_names: ['{{node_id}}.edge.example'], usage: ['server'], groups: ['edge'], ttl: '1h', max_ttl: '1h' } },
        },
      },
    });
    groupToken = (await admin(server, 'PUT', '/v1/group/create/edge', {})).group_token;
    const ca = await server.call(null, '/v1/pki/ca');
    expect(ca.status, ca.text).toBe(200);
    caPem = ca.text;
  });

  it('a node with only a group token gets a one-hour certificate for its name, and nginx serves it', async () => {
    const s = server as TestServer;
    const setup = await prepareNginx(join(work, 'nginx'), join(out, 'edge.crt'), join(out, 'edge.key'));
    agent = testAgent(
      baseSettings(s, out, {
        server: `https://localhost:${s.port}`,
        auth: { mode: 'register', group: 'edge', groupToken, nodeId: 'edge-1' },
        bundles: [],
        certificates: [certificateEntry({ commonName: NAME, dnsNames: [NAME], dir: out, revokeOnExit: true })],
        reload: { command: setup.reloadCommand, timeoutMs: 10_000 },
        refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 8000, timeoutMs: 5000, listIntervalMs: 60_000, watch: false },
      }),
    );
    // As at boot: files first (nginx will not start without them), then nginx, then the agent's loop.
    expect(await agent.agent.once()).toEqual({ ok: true, failures: [] });
    const leaf = onDisk();
    expect(leaf.subjectAltName).toBe(`DNS:${NAME}`);
    expect(new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()).toBeLessThanOrEqual(HOUR + 60_000);
    expect(statSync(join(out, 'edge.key')).mode & 0o777).toBe(0o600);
    nginx = await setup.start();
    await agent.started();
    expect(onDisk().fingerprint256).toBe(leaf.fingerprint256); // issued by this run already: not issued again
    expect(await handshake(nginx.port, caPem, NAME)).toBe(leaf.fingerprint256);
    expect(await opensslFingerprint(nginx.port)).toBe(leaf.fingerprint256);
    // keygate's own list names the node as the caller.
    const listed = await admin(s, 'GET', '/v1/pki/certs/');
    expect(listed.certificates).toEqual([expect.objectContaining({ serial: leaf.serialNumber.toLowerCase(), role: 'edge', names: [NAME] })]);
  });

  it('renews before expiry, and nginx switches without a failed handshake', async () => {
    const a = agent as TestAgent;
    const n = nginx as RunningNginx;
    const before = onDisk();
    const clients = hammer(n.port, caPem, NAME);
    await eventually(() => clients.ok > 5, 'handshakes before the renewal');
    // Two-thirds of the hour, less the jitter (random 0.5 · 0.1): 38 minutes.
    await a.advance(38 * 60_000 + 1000);
    // A timer that fired while a batch was busy (the node token's renewal) leaves the rest to
    // the next wake-up: let the agent's clock run from one due timer to the next.
    for (let i = 0; i < 10 && onDisk().serialNumber === before.serialNumber; i++) await a.advance(Math.max(a.clock.nextTimer - a.clock.now(), 1));
    const after = onDisk();
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(new Date(after.validTo).getTime()).toBeGreaterThan(new Date(before.validTo).getTime() - 1000);
    expect(a.board.lastReload).toMatchObject({ ok: true, exitCode: 0 });
    await eventually(
      () => clients.recent.length === 20 && clients.recent.every((f) => f === after.fingerprint256),
      'nginx to serve only the renewed certificate',
    );
    await clients.stop();
    expect(clients.errors).toEqual([]);
    expect([...new Set(clients.seen)].sort()).toEqual([before.fingerprint256, after.fingerprint256].sort());
    console.info(`pki e2e: ${clients.ok} handshakes across the renewal ${before.serialNumber} → ${after.serialNumber}, ${clients.errors.length} failed`);
  });

  it('on shutdown with revoke_on_exit, both serials it issued appear in the CRL', async () => {
    const a = agent as TestAgent;
    const s = server as TestServer;
    const serials = [...new Set((await admin(s, 'GET', '/v1/pki/certs/')).certificates.map((c: { serial: string }) => c.serial))] as string[];
    expect(serials).toHaveLength(2);
    await a.close();
    agent = undefined;
    const crl = await s.call(null, '/v1/pki/crl?format=pem');
    expect(crl.status).toBe(200);
    const crlFile = join(work, 'edge.crl');
    writeFileSync(crlFile, crl.text);
    const text = await runToEnd('openssl', ['crl', '-in', crlFile, '-noout', '-text']);
    expect(text.code, text.stderr).toBe(0);
    for (const serial of serials) expect(text.stdout).toContain(`Serial Number: ${serial.toUpperCase()}`);
    // The files stay: nginx keeps its last pair until it is stopped or given another.
    expect(fingerprint(readFileSync(join(out, 'edge.crt')))).toBe(onDisk().fingerprint256);
  });
});
