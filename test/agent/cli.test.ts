/** `keygate agent` as an operator runs it: a config file, `--once`, the daemon, its signals and status endpoint. */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import { fingerprint, fingerprintOnDisk, putBundle, tempDir } from './fixture.js';
import { runToEnd, spawnTracked } from '../helpers/processes.js';

const root = new URL('../../', import.meta.url).pathname;
// Straight node with the tsx loader (not the tsx wrapper), so signals reach the agent itself.
const run = [process.execPath, '--import', 'tsx', join(root, 'test/agent/cli-entry.ts')] as const;
const certs = new BundleCerts();
const work = tempDir('keygate-agent-cli-');
let s: TestServer;
let node: TestClient;
let first: TestBundle;

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      node = pki.client({ commonName: 'node' });
      return { policy: { node: { allow: ['/v1/cert/get/*'], identities: [node.identity] } } };
    },
  });
  first = certs.bundle({ dnsNames: ['site.test'] });
  await putBundle(s, 'site.test', first);
});
afterAll(async () => {
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

function config(name: string, body: string): string {
  const file = join(work, `${name}.yml`);
  writeFileSync(file, `server: ${s.url}\ntls:\n  ca: ${s.pki.caFile}\n  cert: ${node.certFile}\n  key: ${node.keyFile}\n${body}`);
  return file;
}

async function keygate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runToEnd(run[0], [...run.slice(1), ...args], { cwd: root });
  return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
}

// Each test starts the CLI from the sources: under load that alone can pass 30 s, the default.
describe('keygate agent', { timeout: 120_000 }, () => {
  it('--once writes the bundles and exits 0', async () => {
    const out = join(work, 'once');
    const r = await keygate(['agent', '--config', config('once', `bundles: [site.test]\noutput: {dir: ${out}}\n`), '--once']);
    expect(r.stderr).toContain(`keygate agent: bundles written to ${out}`);
    expect(r.code).toBe(0);
    expect(fingerprintOnDisk(out)).toBe(fingerprint(first.chainPem));
  });

  it('--once exits non-zero naming the bundle and the reason', async () => {
    const r = await keygate(['agent', '--config', config('missing', `bundles: [site.test, nope.test]\noutput: {dir: ${join(work, 'missing')}}\n`), '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('keygate: agent: could not fetch every bundle:\n  nope.test: bundle does not exist\n');
  });

  it('refuses a bad configuration with the file, line and key; a missing --config is a usage error', async () => {
    const file = config('bad', `bundles: [site.test]\noutput: {dir: x}\nreload: {comand: nginx}\n`);
    const r = await keygate(['agent', '--config', file, '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`keygate: ${file}:8: reload.comand: unknown key`);
    expect((await keygate(['agent'])).code).toBe(2);
  });

  // Waits on the agent's own log lines, not on a clock; its process group dies with the test.
  it('runs until SIGTERM: writes, serves its status on loopback, refreshes everything on SIGHUP', async () => {
    const out = join(work, 'daemon');
    const reloads = join(work, 'daemon.reloads');
    const file = config(
      'daemon',
      `bundles: [site.test]\noutput: {dir: ${out}, combined: true}\nreload: {command: "echo $KEYGATE_CHANGED >> ${reloads}"}\nstatus: {address: "127.0.0.1:0"}\n`,
    );
    const agent = spawnTracked(run[0], [...run.slice(1), 'agent', '--config', file], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    // What the agent said is the first thing to read when this fails (or times out).
    onTestFailed(() => console.error(`agent stderr:\n${agent.stderr()}`));

    const port = Number((await agent.waitFor(/status on http:\/\/127\.0\.0\.1:(\d+)\/status/))[1]);
    await agent.waitFor(/agent: reload command succeeded for site\.test"/);
    expect(readFileSync(reloads, 'utf8')).toBe('site.test\n');
    const status = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/status' }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(JSON.parse(status).bundles[0]).toMatchObject({ name: 'site.test', state: 'ok' });

    const next = certs.bundle({ dnsNames: ['site.test'] });
    await putBundle(s, 'site.test', next);
    agent.signal('SIGHUP');
    await agent.waitFor(/(agent: reload command succeeded for site\.test"[^]*){2}/);
    expect(readFileSync(reloads, 'utf8')).toBe('site.test\nsite.test\n');
    expect(fingerprintOnDisk(out)).toBe(fingerprint(next.chainPem));
    expect(readFileSync(join(out, 'site.test.pem'), 'utf8')).toBe(next.chainPem + next.keyPem);

    agent.signal('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(agent.stderr()).not.toContain('PRIVATE KEY');
  });
});
