/**
 * End to end with Debian's nginx: keygate server (fs keystore) → agent (a node of a
 * group, registered with the group token) → files → nginx serving them. A replaced
 * bundle reaches nginx through the agent's reload without a failed handshake; with
 * the server stopped the files stay and nginx keeps serving; the server restarted on
 * the same port and keystore, the agent recovers by itself.
 *
 * The agent runs on a manual clock (its TTL and backoff timers fire when the test
 * advances it); everything else — TLS, files, nginx, openssl — is real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestPki } from '../helpers/certs.js';
import { BundleCerts, pemBodyLines, type TestBundle } from '../helpers/bundle-certs.js';
import { admin, baseSettings, fingerprint, fingerprintOnDisk, putBundle, tempDir, testAgent, type TestAgent } from './fixture.js';
import { NGINX, hammer, opensslFingerprint, prepareNginx, type RunningNginx } from './nginx.js';
import { eventually } from './support.js';

const TTL_MS = 60_000;
const certs = new BundleCerts();
const pki = new TestPki();
const work = tempDir('keygate-e2e-');
const keystore = join(work, 'keystore');
const out = join(work, 'out');
let server: TestServer | undefined;
let agent: TestAgent | undefined;
let nginx: RunningNginx | undefined;
let port = 0;
let groupToken = '';

const startKeygate = (address: string) => startTestServer({ pki, config: { address, keystore: { fs: { path: keystore } } } });
const newBundle = (): TestBundle => certs.bundle({ dnsNames: ['site.test'], keyType: 'ecdsa-p256' });
const v1 = newBundle();
const v2 = newBundle();
const v3 = newBundle();
const [fp1, fp2, fp3] = [v1, v2, v3].map((b) => fingerprint(b.chainPem));

afterAll(async () => {
  await agent?.close();
  await nginx?.stop();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!existsSync(NGINX))('agent + nginx, end to end', () => {
  beforeAll(async () => {
    server = await startKeygate('127.0.0.1:0');
    port = server.port;
    await putBundle(server, 'site.test', v1);
    groupToken = (await admin(server, 'PUT', '/v1/group/create/edge', {})).group_token;
    await admin(server, 'PUT', '/v1/group/assign/edge/site.test');
  });

  it('the agent writes the bundle for site.test and nginx serves it', async () => {
    const setup = await prepareNginx(join(work, 'nginx'), join(out, 'site.test.crt'), join(out, 'site.test.key'));
    agent = testAgent(
      baseSettings(server as TestServer, out, {
        server: `https://localhost:${port}`,
        auth: { mode: 'register', group: 'edge', groupToken, nodeId: 'edge-1' },
        tls: { ca: pki.caFile, insecure: false },
        reload: { command: setup.reloadCommand, timeoutMs: 10_000 },
        refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 8000, timeoutMs: 3000, listIntervalMs: 60_000, watch: true },
      }),
    );
    // As at boot: files first (nginx will not start without them), then nginx, then the agent's loop.
    expect(await agent.agent.once()).toEqual({ ok: true, failures: [] });
    nginx = await setup.start();
    await agent.started();
    expect(await opensslFingerprint(nginx.port)).toBe(fp1);
    expect(agent.board.lastReload).toBeNull(); // nothing changed since --once: no reload
  });

  it('a replaced bundle reaches nginx through the reload, without a failed handshake', async () => {
    const a = agent as TestAgent;
    const n = nginx as RunningNginx;
    const clients = hammer(n.port, certs.root.certPem);
    await eventually(() => clients.ok > 5, 'handshakes before the switch');
    await putBundle(server as TestServer, 'site.test', v2);
    await a.advance(TTL_MS); // the TTL runs out: fetch, write, `nginx -s reload`
    expect(fingerprintOnDisk(out)).toBe(fp2);
    expect(a.board.lastReload).toMatchObject({ ok: true, exitCode: 0 });
    // While its old worker drains, nginx may still answer a few handshakes with the old certificate.
    await eventually(() => clients.recent.length === 20 && clients.recent.every((f) => f === fp2), 'nginx to serve only the new certificate');
    await clients.stop();
    expect(clients.errors).toEqual([]);
    expect([...new Set(clients.seen)].sort()).toEqual([fp1, fp2].sort());
    expect(await opensslFingerprint(n.port)).toBe(fp2);
    console.info(
      `e2e: ${clients.ok} handshakes across the switch ${fp1} → ${fp2} (certificate changes seen: ${clients.seen.length - 1}), ${clients.errors.length} failed`,
    );
  });

  it('with the server stopped, the files stay and nginx keeps serving', async () => {
    const a = agent as TestAgent;
    await (server as TestServer).close();
    server = undefined;
    for (let i = 0; i < 3; i++) await a.advance(Math.max(a.clock.nextTimer - a.clock.now(), 0) || TTL_MS);
    const st = a.board.toJSON().bundles[0];
    expect(st).toMatchObject({ name: 'site.test', state: 'error', version: expect.any(String) });
    expect(st?.last_error).toMatch(/connection refused/);
    expect(a.board.serverReachable).toBe(false);
    expect(fingerprintOnDisk(out)).toBe(fp2);
    expect(await opensslFingerprint((nginx as RunningNginx).port)).toBe(fp2);
  });

  it('restarted on the same port and keystore, the server is found again by the agent by itself', async () => {
    const a = agent as TestAgent;
    server = await startKeygate(`127.0.0.1:${port}`);
    await putBundle(server, 'site.test', v3);
    // Only the agent's own timers: no call into the agent but letting its clock run from one
    // due timer to the next (the retry may not be the first one due: a watch back-off can be).
    for (let i = 0; i < 10 && a.board.toJSON().bundles[0]?.state !== 'ok'; i++) {
      await a.advance(Math.max(a.clock.nextTimer - a.clock.now(), 1));
    }
    expect(a.board.toJSON().bundles[0]).toMatchObject({ state: 'ok', last_error: null });
    expect(a.board.serverReachable).toBe(true);
    expect(fingerprintOnDisk(out)).toBe(fp3);
    await eventually(async () => (await opensslFingerprint((nginx as RunningNginx).port)) === fp3, 'nginx to serve the certificate written after the restart');
    const log = a.logLines.join('\n');
    for (const line of [...pemBodyLines(v1.keyPem), ...pemBodyLines(v2.keyPem), ...pemBodyLines(v3.keyPem), groupToken]) expect(log).not.toContain(line);
    expect(readFileSync(join(out, 'site.test.key'), 'utf8')).toBe(v3.keyPem);
  });
});
