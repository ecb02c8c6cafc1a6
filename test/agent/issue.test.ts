/**
 * The agent's issued certificates (`certificates:`) against a small real HTTPS issuer
 * (test/agent/issue-test-issuer.ts) speaking issue 15's wire shapes. The agent runs on a
 * manual clock (its timers fire when a test advances it; the issuer dates certificates by
 * the same clock); TLS, keys, CSRs, files and the reload command are real.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { TestPki } from '../helpers/certs.js';
import type { CertificateSettings } from '../../src/agent/config.js';
import { baseSettings, certificateEntry, tempDir, testAgent, type TestAgent } from './fixture.js';
import { TestIssuer } from './issue-test-issuer.js';

const HOUR = 3_600_000;
const pki = new TestPki();
const work = tempDir('keygate-issue-');
const groupToken = 'kgg_' + 'a'.repeat(32);
let clockNow = () => Date.now();
const issuer = new TestIssuer(pki, { groupToken, now: () => clockNow() });
issuer.roles.set('edge', { suffix: '.edge.example', maxTtlMs: 24 * HOUR });
const agents: TestAgent[] = [];
let count = 0;

beforeAll(() => issuer.start());
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
  issuer.fault = 'none';
  if (!issuer.running) await issuer.start(); // where a test stopped it
});
afterAll(async () => {
  await issuer.stop();
  rmSync(work, { recursive: true, force: true });
});

/** An entry; without `dir`, the agent's output folder. */
const cert = (overrides: Partial<CertificateSettings> = {}): CertificateSettings =>
  certificateEntry({ name: 'web', dnsNames: ['edge-1.edge.example', 'www.edge-1.edge.example'], ...overrides });

/** An agent registered as node edge-1 with the group token, issuing `certificates`; its reloads are appended to `reloads.log`. */
function agentFor(certificates: CertificateSettings[], dir = join(work, `out-${++count}`)): TestAgent & { reloads(): string[] } {
  const log = join(dir, 'reloads.log');
  const a = testAgent(
    baseSettings({ url: issuer.url, pki }, dir, {
      auth: { mode: 'register', group: 'edge', groupToken, nodeId: 'edge-1' },
      bundles: [],
      certificates: certificates.map((c) => ({ ...c, dir: c.dir || dir })),
      reload: { command: ['/bin/sh', '-c', `echo "$KEYGATE_CHANGED" >> '${log}'`], timeoutMs: 10_000 },
      refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 16_000, timeoutMs: 5000, listIntervalMs: 30_000, watch: false },
    }),
  );
  clockNow = () => a.clock.now();
  agents.push(a);
  return Object.assign(a, { reloads: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) });
}

const onDisk = (dir: string, name = 'web') => {
  const chain = readFileSync(join(dir, `${name}.crt`), 'utf8');
  const keyPem = readFileSync(join(dir, `${name}.key`), 'utf8');
  return { chain, keyPem, leaf: new X509Certificate(chain), keyMode: statSync(join(dir, `${name}.key`)).mode & 0o777 };
};

describe('certificates: issued by the agent', () => {
  it('makes the key here, sends only a CSR, and writes key (0600) and chain', async () => {
    const a = agentFor([cert()]);
    await a.started();
    const files = onDisk(a.dir);
    expect(files.keyMode).toBe(0o600);
    expect(files.leaf.checkPrivateKey(createPrivateKey(files.keyPem))).toBe(true);
    expect(files.leaf.subjectAltName).toBe('DNS:edge-1.edge.example, DNS:www.edge-1.edge.example');
    // Leaf, intermediate, root: each certificate once, in order.
    const blocks = files.chain.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
    expect(blocks).toHaveLength(3);
    expect(files.leaf.verify(issuer.intermediate.cert.publicKey)).toBe(true);
    const [request] = issuer.signRequests();
    expect(request).toMatchObject({
      role: 'edge',
      ttl: '1h',
      csr: { commonName: 'edge-1.edge.example', dnsNames: ['edge-1.edge.example', 'www.edge-1.edge.example'] },
    });
    expect(request?.csr.publicKey.equals(files.leaf.publicKey)).toBe(true);
    for (const s of issuer.seen) expect(s.body).not.toContain('PRIVATE KEY');
    expect(a.reloads()).toEqual(['web']);
    const status = a.board.toJSON().certificates[0];
    expect(status).toMatchObject({ name: 'web', role: 'edge', state: 'ok', last_error: null, not_after: new Date(files.leaf.validTo).toISOString() });
    expect([...issuer.signed.keys()].at(-1)).toBe(status?.serial);
    expect(a.board.healthy()).toBe(true);
    const log = a.logLines.join('\n');
    expect(log).toContain(`issued serial ${status?.serial}`);
    expect(log).not.toContain(files.keyPem.split('\n')[1]);
    expect(log).not.toContain(groupToken);
  });

  it('renews at two-thirds of the lifetime (less jitter) with a new key, reloading once per batch', async () => {
    const a = agentFor([
      cert(),
      cert({ name: 'api', commonName: 'api.edge-1.edge.example', dnsNames: ['api.edge-1.edge.example'], keyType: 'ed25519', ttl: '1h' }),
    ]);
    const signed = issuer.signed.size;
    await a.started();
    expect(a.reloads()).toEqual(['api,web']); // both written in the first batch: one reload
    const first = onDisk(a.dir);
    // random() is 0.5 and jitter 0.1: the renewal falls at 2/3 · 0.95 of the hour, 38 minutes.
    await a.advance(38 * 60_000 - 1000);
    expect(issuer.signed.size).toBe(signed + 2);
    await a.advance(2000);
    expect(issuer.signed.size).toBe(signed + 4);
    const second = onDisk(a.dir);
    expect(second.leaf.serialNumber).not.toBe(first.leaf.serialNumber);
    expect(second.keyPem).not.toBe(first.keyPem);
    expect(second.leaf.checkPrivateKey(createPrivateKey(second.keyPem))).toBe(true);
    expect(createPrivateKey(onDisk(a.dir, 'api').keyPem).asymmetricKeyType).toBe('ed25519');
    expect(a.reloads()).toEqual(['api,web', 'api,web']);
  });

  it('keeps serving the old pair while the issuer is down, and retries with backoff', async () => {
    const a = agentFor([cert()]);
    await a.started();
    const before = onDisk(a.dir);
    const serial = a.board.toJSON().certificates[0]?.serial;
    issuer.fault = 'unavailable';
    await a.advance(40 * 60_000);
    let status = a.board.toJSON().certificates[0];
    expect(status).toMatchObject({ state: 'error', last_error: 'issuer unavailable', serial });
    expect(onDisk(a.dir).chain).toBe(before.chain);
    // Unreachable: the listener gone.
    await issuer.stop();
    const retryAt = Date.parse(status?.next_renewal ?? '');
    await a.advance(retryAt - a.clock.now());
    status = a.board.toJSON().certificates[0];
    // Refused, or reset on the kept-alive connection the listener dropped: unreachable either way.
    expect(status?.last_error).toMatch(/connection refused|ECONNRESET/);
    expect(a.board.serverReachable).toBe(false);
    expect(onDisk(a.dir).chain).toBe(before.chain);
    expect(a.reloads()).toEqual(['web']);
    // Back: the next retry (the backoff doubled, within retry_max) renews.
    issuer.fault = 'none';
    await issuer.start();
    for (let i = 0; i < 5 && a.board.toJSON().certificates[0]?.state !== 'ok'; i++) await a.advance(Math.max(a.clock.nextTimer - a.clock.now(), 1));
    expect(a.board.toJSON().certificates[0]).toMatchObject({ state: 'ok', last_error: null });
    expect(onDisk(a.dir).leaf.serialNumber).not.toBe(before.leaf.serialNumber);
    expect(a.reloads()).toEqual(['web', 'web']);
    expect(a.logLines.join('\n')).toMatch(/certificate 'web': cannot issue: issuer unavailable \(keeping the files on disk, retry 1\)/);
  });

  it('writes nothing when the answer is not a certificate for the key it made', async () => {
    for (const [fault, message] of [
      ['wrong-key', "certificate 'web': the server sent a certificate for another key"],
      ['wrong-serial', "is not the certificate's"],
      ['expired', 'the server sent a certificate that expired'],
      ['garbage', 'the server sent something that is not a certificate'],
    ] as const) {
      issuer.fault = fault;
      const a = agentFor([cert()]);
      const r = await a.agent.once();
      expect(r.ok).toBe(false);
      expect(r.failures.join('\n')).toContain(message);
      expect(existsSync(join(a.dir, 'web.key'))).toBe(false);
      expect(a.board.healthy()).toBe(false);
    }
  });

  it("refused by the role: the message is the server's, retried with backoff", async () => {
    const a = agentFor([cert({ commonName: 'edge-1.other.example', dnsNames: ['edge-1.other.example'] })]);
    const r = await a.agent.once();
    expect(r).toEqual({ ok: false, failures: ["certificate 'web': 'edge-1.other.example' is not allowed by role 'edge': names must end in '.edge.example'"] });
  });

  it('registers again when the node token is no longer accepted', async () => {
    const a = agentFor([cert()]);
    await a.started();
    issuer.dropTokens();
    await a.advance(40 * 60_000);
    expect(a.board.toJSON().certificates[0]).toMatchObject({ state: 'ok', last_error: null });
    expect(issuer.signed.size).toBeGreaterThanOrEqual(2);
    expect(issuer.seen.filter((s) => s.path === '/v1/node/register/edge').length).toBeGreaterThanOrEqual(2);
  });

  it('with a client certificate instead of a node token', async () => {
    const node = pki.client({ commonName: 'edge-2' });
    const dir = join(work, 'mtls');
    const a = testAgent(
      baseSettings({ url: issuer.url, pki }, dir, {
        tls: { ca: pki.caFile, cert: node.certFile, key: node.keyFile, insecure: false },
        bundles: [],
        certificates: [cert({ dir })],
        refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 16_000, timeoutMs: 5000, listIntervalMs: 30_000, watch: false },
      }),
    );
    agents.push(a);
    const registrations = issuer.seen.filter((s) => s.path.startsWith('/v1/node/register/')).length;
    await a.started();
    expect(a.board.toJSON().certificates[0]).toMatchObject({ state: 'ok' });
    expect(issuer.seen.at(-1)).toMatchObject({ path: '/v1/pki/sign/edge', authorization: '' });
    expect(issuer.seen.filter((s) => s.path.startsWith('/v1/node/register/'))).toHaveLength(registrations);
  });

  it('revoke_on_exit: a clean stop revokes every unexpired certificate it issued; --once revokes nothing', async () => {
    const once = agentFor([cert({ revokeOnExit: true })]);
    expect(await once.agent.once()).toEqual({ ok: true, failures: [] });
    await once.close();
    expect(issuer.revoked).toEqual([]);

    const a = agentFor([cert({ revokeOnExit: true }), cert({ name: 'kept', commonName: 'kept.edge.example', dnsNames: ['kept.edge.example'] })]);
    await a.started();
    await a.advance(40 * 60_000); // renewed once: two certificates of 'web' are still valid
    const mine = [...issuer.signed].filter(([, s]) => s.names.includes('edge-1.edge.example')).map(([serial]) => serial);
    const web = mine.slice(-2);
    issuer.revoked.length = 0;
    await a.close();
    expect(issuer.revoked.sort()).toEqual(web.sort());
    expect(a.logLines.join('\n')).toContain(`revoked serial ${web[0]} on exit`);
    const metrics = await a.board.registry.metrics();
    expect(metrics).toMatch(/keygate_agent_certificate_issuances_total\{result="revoked"\} 2/);
  });

  it('adopts a pair on disk that still fits after a restart, unless it revoked it at its last stop', async () => {
    const dir = join(work, 'restart');
    const first = agentFor([cert({ dir })], dir);
    await first.started();
    await first.close();
    const serial = onDisk(dir).leaf.serialNumber;
    const signedBefore = issuer.signed.size;

    const second = agentFor([cert({ dir })], dir);
    await second.started();
    expect(issuer.signed.size).toBe(signedBefore);
    expect(onDisk(dir).leaf.serialNumber).toBe(serial);
    expect(second.board.toJSON().certificates[0]).toMatchObject({ state: 'ok', serial: serial.toLowerCase() });
    await second.close();
    // `--once` at the next boot keeps it too.
    const once = agentFor([cert({ dir })], dir);
    expect(await once.agent.once()).toEqual({ ok: true, failures: [] });
    expect(issuer.signed.size).toBe(signedBefore);
    await once.close();

    // A changed key type or name is not served from the old pair.
    const third = agentFor([cert({ dir, keyType: 'ecdsa-p384' })], dir);
    await third.started();
    expect(issuer.signed.size).toBe(signedBefore + 1);
    await third.close();

    // With revoke_on_exit the pair on disk is adopted too (`--once` at boot, then the daemon)
    // and revoked at the stop with what this run issued; a revoked pair is never adopted again.
    const adopted = onDisk(dir).leaf.serialNumber;
    const fourth = agentFor([cert({ dir, keyType: 'ecdsa-p384', revokeOnExit: true })], dir);
    await fourth.started();
    expect(issuer.signed.size).toBe(signedBefore + 1);
    issuer.revoked.length = 0;
    await fourth.close();
    expect(issuer.revoked.map((x) => x.replace(/:/g, '').toUpperCase())).toEqual([adopted]);
    const fifth = agentFor([cert({ dir, keyType: 'ecdsa-p384', revokeOnExit: true })], dir);
    await fifth.started();
    expect(issuer.signed.size).toBe(signedBefore + 2);
    expect(onDisk(dir).leaf.serialNumber).not.toBe(adopted);
  });
});
