/** The agent against a real keygate server (real TLS, real certificates), on a manual clock. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts, pemBodyLines, type TestBundle } from '../helpers/bundle-certs.js';
import type { AgentSettings } from '../../src/agent/config.js';
import { admin, baseSettings, fingerprint, fingerprintOnDisk, putBundle, tempDir, testAgent, type TestAgent } from './fixture.js';

const certs = new BundleCerts();

let s: TestServer;
let reader: TestClient;
let lister: TestClient;
let stranger: TestClient;
const agents: Array<TestAgent & { reloadsFile: string }> = [];
const secrets: string[] = [];

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      reader = pki.client({ commonName: 'reader' });
      lister = pki.client({ commonName: 'lister' });
      stranger = pki.client({ commonName: 'stranger' });
      return {
        policy: {
          reader: { allow: ['/v1/cert/get/*'], identities: [reader.identity] },
          lister: { allow: ['/v1/cert/get/*', '/v1/cert/list/*'], identities: [lister.identity] },
        },
      };
    },
  });
});
afterAll(() => s.close());
afterEach(async () => {
  for (const a of agents.splice(0)) {
    await a.close();
    // Whatever an agent logged: never a private key or a token.
    const log = a.logLines.join('\n');
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/kg[gn]_[A-Za-z0-9_-]{16}/);
    rmSync(a.dir, { recursive: true, force: true });
    rmSync(a.reloadsFile, { force: true });
  }
});

/** An agent (not started) that records each reload's changed bundles in `reloadsFile`. */
function agent(overrides: Partial<AgentSettings>, client: TestClient | null = reader) {
  const dir = overrides.output?.dir ?? tempDir('keygate-agent-');
  const reloadsFile = `${dir}.reloads`;
  const tls = { ca: s.pki.caFile, insecure: false, ...(client ? { cert: client.certFile, key: client.keyFile } : {}) };
  const reload = { command: `echo "$KEYGATE_CHANGED" >> ${reloadsFile}`, timeoutMs: 5000 };
  const a = Object.assign(testAgent(baseSettings(s, dir, { tls, reload, ...overrides })), { reloadsFile });
  agents.push(a);
  return a;
}

const reloads = (a: { reloadsFile: string }): string[] => (existsSync(a.reloadsFile) ? readFileSync(a.reloadsFile, 'utf8').trim().split('\n') : []);

async function imported(name: string, ttl = 60): Promise<TestBundle & { version: string }> {
  const b = certs.bundle({ dnsNames: [name.replace(/^\*/, 'x')], keyType: 'ecdsa-p256' });
  secrets.push(...pemBodyLines(b.keyPem));
  return { ...b, version: await putBundle(s, name, b, ttl) };
}

const TTL_MS = 60_000;

describe('agent with a client certificate (policy identity)', () => {
  it('writes the bundles, refreshes them when the TTL runs out, and reloads once per batch of changes', async () => {
    const one = await imported('one.test');
    const two = await imported('two.test');
    const a = agent({ bundles: ['one.test', 'two.test'] });
    await a.started();
    expect(fingerprintOnDisk(a.dir, 'one.test')).toBe(fingerprint(one.chainPem));
    expect(readFileSync(join(a.dir, 'two.test.key'), 'utf8')).toBe(two.keyPem);
    expect(reloads(a)).toEqual(['one.test,two.test']);
    const status = a.board.toJSON().bundles.find((b) => b.name === 'one.test');
    expect(status).toMatchObject({ state: 'ok', version: one.version, ttl: 60, last_error: null, not_after: new Date(one.leaf.cert.validTo).toISOString() });

    // Nothing changed: refreshed at TTL, nothing written, no reload.
    await a.advance(TTL_MS);
    expect(reloads(a)).toHaveLength(1);
    expect(a.board.toJSON().bundles.every((b) => b.state === 'ok')).toBe(true);

    // One bundle replaced: both are refetched in one batch, one reload names only the changed one.
    const next = certs.bundle({ dnsNames: ['one.test'], keyType: 'ed25519' });
    secrets.push(...pemBodyLines(next.keyPem));
    const v2 = await putBundle(s, 'one.test', next);
    await a.advance(TTL_MS);
    expect(fingerprintOnDisk(a.dir, 'one.test')).toBe(fingerprint(next.chainPem));
    expect(reloads(a)).toEqual(['one.test,two.test', 'one.test']);
    expect(a.board.toJSON().bundles.find((b) => b.name === 'one.test')?.version).toBe(v2);
  });

  it('refreshes inside the TTL, never after it, with the jitter drawn', async () => {
    await imported('jitter.test');
    const a = agent({ bundles: ['jitter.test'] });
    await a.started();
    const b = a.board.toJSON().bundles[0];
    const delay = Date.parse(b?.next_refresh ?? '') - Date.parse(b?.last_refresh ?? '');
    expect(delay).toBe(57_000); // random 0.5, jitter 0.1: 60 s · (1 − 0.05)
    expect(a.clock.nextTimer - a.clock.now()).toBe(57_000);
  });

  it('keeps the files and backs off (growing, capped) while the server is unreachable', async () => {
    const b = await imported('down.test');
    const a = agent({ bundles: ['down.test'] });
    await a.started();
    expect(fingerprintOnDisk(a.dir, 'down.test')).toBe(fingerprint(b.chainPem));

    // A second agent on the same output directory, whose server is unreachable.
    const offline = testAgent(
      baseSettings(s, a.dir, {
        server: 'https://127.0.0.1:1',
        tls: { ca: s.pki.caFile, cert: reader.certFile, key: reader.keyFile, insecure: false },
        bundles: ['down.test'],
      }),
    );
    agents.push(Object.assign(offline, { reloadsFile: a.reloadsFile }));
    await offline.started();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const st = offline.board.toJSON().bundles[0];
      expect(st).toMatchObject({ state: 'error', version: null });
      expect(st?.last_error).toMatch(/connection refused/);
      delays.push(offline.clock.nextTimer - offline.clock.now());
      await offline.advance(offline.clock.nextTimer - offline.clock.now());
    }
    expect(delays).toEqual([750, 1500, 3000, 6000, 12_000, 12_000, 12_000]); // [c/2, c] at random 0.5 → 0.75·c, capped at 16 s
    expect(offline.board.serverReachable).toBe(false);
    expect(fingerprintOnDisk(a.dir, 'down.test')).toBe(fingerprint(b.chainPem)); // never deleted
    expect(reloads(a)).toEqual(['down.test']);
  });

  it('removes a bundle the server refuses (403/404), then reloads; keeps it when removal is off', async () => {
    await imported('gone.test');
    const a = agent({ bundles: ['gone.test'] });
    await a.started();
    const keep = agent({ bundles: ['gone.test'], output: { dir: tempDir('keygate-agent-'), combined: true, removeRevoked: false } });
    await keep.started();
    await admin(s, 'DELETE', '/v1/cert/delete/gone.test');
    await a.advance(TTL_MS);
    await keep.advance(TTL_MS);
    expect(existsSync(join(a.dir, 'gone.test.crt'))).toBe(false);
    expect(existsSync(join(a.dir, 'gone.test.key'))).toBe(false);
    expect(reloads(a)).toEqual(['gone.test', 'gone.test']);
    expect(a.board.toJSON().bundles[0]).toMatchObject({ state: 'removed', version: null, last_error: 'bundle does not exist' });
    expect(existsSync(join(keep.dir, 'gone.test.pem'))).toBe(true);
    expect(keep.board.toJSON().bundles[0]).toMatchObject({ state: 'error', last_error: 'bundle does not exist' });
    expect(reloads(keep)).toEqual(['gone.test']);

    // Given back: the agent checks again (after retry_max) and writes it.
    const back = await imported('gone.test');
    await a.advance(16_000);
    expect(fingerprintOnDisk(a.dir, 'gone.test')).toBe(fingerprint(back.chainPem));
    expect(reloads(a)).toEqual(['gone.test', 'gone.test', 'gone.test']);
  });

  it('bundles: all — writes every bundle it may list, and removes what disappears from the listing', async () => {
    await imported('all-a.test');
    await imported('all-b.test');
    const a = agent({ bundles: 'all' }, lister);
    await a.started();
    const names = (await a.writer.bundlesOnDisk()).sort();
    expect(names).toEqual(expect.arrayContaining(['all-a.test', 'all-b.test']));
    await admin(s, 'DELETE', '/v1/cert/delete/all-b.test');
    await a.advance(30_000);
    expect(await a.writer.bundlesOnDisk()).not.toContain('all-b.test');
    expect(existsSync(join(a.dir, 'all-b.test.crt'))).toBe(false);
    expect(reloads(a).at(-1)).toBe('all-b.test');
  });

  it('--once: writes every bundle and runs no reload; fails naming each bundle and why', async () => {
    const b = await imported('once.test');
    const ok = agent({ bundles: ['once.test'] });
    expect(await ok.agent.once()).toEqual({ ok: true, failures: [] });
    expect(fingerprintOnDisk(ok.dir, 'once.test')).toBe(fingerprint(b.chainPem));
    expect(reloads(ok)).toEqual([]);

    const bad = agent({ bundles: ['once.test', 'missing.test'] }, stranger);
    const r = await bad.agent.once();
    expect(r.ok).toBe(false);
    expect(r.failures.sort()).toEqual(['missing.test: not authorized: insufficient permissions', 'once.test: not authorized: insufficient permissions']);

    const missing = agent({ bundles: ['missing.test'] });
    expect((await missing.agent.once()).failures).toEqual(['missing.test: bundle does not exist']);

    const down = agent({ bundles: ['once.test'], server: 'https://127.0.0.1:1' });
    expect((await down.agent.once()).failures).toEqual(['once.test: cannot connect to 127.0.0.1:1: connection refused']);
  });

  it("uses the server's change feed: a replacement is written at once, without waiting for the TTL", async () => {
    await imported('feed.test', 3600);
    const a = agent({ bundles: ['feed.test'] });
    await a.started();
    const next = certs.bundle({ dnsNames: ['feed.test'], keyType: 'ecdsa-p256' });
    secrets.push(...pemBodyLines(next.keyPem));
    await putBundle(s, 'feed.test', next, 3600);
    // The agent's clock moves by a millisecond at a time, far from the hour-long TTL: only the watch can bring the new version.
    await expect
      .poll(
        async () => {
          await a.advance(1);
          return fingerprintOnDisk(a.dir, 'feed.test');
        },
        { timeout: 10_000 },
      )
      .toBe(fingerprint(next.chainPem));
    expect(a.logLines.filter((l) => l.includes('offers no change notifications'))).toEqual([]);
  });
});

describe('agent of a group', () => {
  let groupToken: string;

  beforeAll(async () => {
    groupToken = (await admin(s, 'PUT', '/v1/group/create/edge', { token_ttl: 90 })).group_token;
    secrets.push(groupToken);
  });

  const register = (): Partial<AgentSettings> => ({ auth: { mode: 'register', group: 'edge', groupToken, nodeId: 'edge-1' } });

  /** A bundle assigned to the group, and an agent (registered unless told otherwise) that has written it. */
  async function assigned(name: string, overrides: Partial<AgentSettings> = register(), client: TestClient | null = null) {
    const b = await imported(name);
    await admin(s, 'PUT', `/v1/group/assign/edge/${name}`);
    const a = agent({ ...overrides, bundles: [name] }, client);
    await a.started();
    expect(fingerprintOnDisk(a.dir, name)).toBe(fingerprint(b.chainPem));
    return { a, b };
  }

  it('registers with the group token, reads with its node token, renews it before it expires', async () => {
    const { a } = await assigned('grp.test');
    const first = a.board.tokenExpiresAt?.getTime() ?? 0;
    expect(first - a.clock.now()).toBe(90_000);
    const nodes = (await admin(s, 'GET', '/v1/group/nodes/edge')).nodes;
    expect(nodes.map((n: { node_id: string }) => n.node_id)).toContain('edge-1');

    await a.advance(58_500); // 2/3 of 90 s, minus jitter
    expect(a.logLines.some((l) => l.includes('agent: node token renewed'))).toBe(true);
    expect((a.board.tokenExpiresAt?.getTime() ?? 0) - first).toBe(58_500);
  });

  it('registers again when its token was revoked, instead of deleting the files', async () => {
    const { a, b } = await assigned('rev.test');
    await admin(s, 'DELETE', '/v1/node/revoke/edge/edge-1');
    await a.advance(TTL_MS);
    expect(fingerprintOnDisk(a.dir, 'rev.test')).toBe(fingerprint(b.chainPem));
    expect(a.board.toJSON().bundles[0]?.state).toBe('ok');
    expect(a.logLines.filter((l) => l.includes("registered node 'edge-1' in group 'edge'"))).toHaveLength(2);
  });

  it('removes a bundle unassigned from the group and reloads; writes it again once reassigned', async () => {
    const { a, b } = await assigned('una.test');
    await admin(s, 'DELETE', '/v1/group/unassign/edge/una.test');
    await a.advance(TTL_MS);
    expect(existsSync(join(a.dir, 'una.test.crt'))).toBe(false);
    expect(a.board.toJSON().bundles[0]).toMatchObject({ state: 'removed', last_error: 'not authorized: insufficient permissions' });
    expect(reloads(a)).toEqual(['una.test', 'una.test']);
    await admin(s, 'PUT', '/v1/group/assign/edge/una.test');
    await a.advance(16_000);
    expect(fingerprintOnDisk(a.dir, 'una.test')).toBe(fingerprint(b.chainPem));
  });

  it('enrolls its client certificate with the group token, then reads with the certificate alone', async () => {
    const node = s.pki.client({ commonName: 'enrolled-node' });
    await assigned('enr.test', { auth: { mode: 'enroll', group: 'edge', groupToken, nodeId: 'edge-cert' } }, node);
    const nodes = (await admin(s, 'GET', '/v1/group/nodes/edge')).nodes;
    expect(nodes.find((n: { node_id: string }) => n.node_id === 'edge-cert')?.identity).toBe(node.identity);
  });

  it('says clearly when the group token is refused', async () => {
    const a = agent({ auth: { mode: 'register', group: 'edge', groupToken: 'kgg_not-a-real-token-at-all-000000000000', nodeId: 'x' } }, null);
    const r = await a.agent.once();
    expect(r.ok).toBe(false);
    expect(r.failures[0]).toMatch(/^not authorized/);
    expect(a.logLines.join('\n')).toContain("agent: cannot register node 'x' in group 'edge'");

    // Running, it backs off and shows why on the status board.
    await a.started();
    expect(a.board.toJSON().bundles[0]).toMatchObject({ name: 'site.test', state: 'error', last_error: r.failures[0] });
    expect(a.clock.nextTimer - a.clock.now()).toBe(750);
  });
});
