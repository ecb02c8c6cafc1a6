/**
 * `keygate agent` with a `certificates:` entry, as an operator runs it: a YAML config
 * with templates, `--once` (issues, never revokes), then the daemon, which adopts that pair
 * and revokes it on SIGTERM (`revoke_on_exit`); started again, it issues a new one. Against the small real issuer of
 * test/agent/issue-test-issuer.ts on the real clock; waits on the agent's log lines.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { TestPki } from '../helpers/certs.js';
import { runToEnd, spawnTracked } from '../helpers/processes.js';
import { tempDir } from './fixture.js';
import { TestIssuer } from './issue-test-issuer.js';

const root = new URL('../../', import.meta.url).pathname;
// Straight node with the tsx loader (not the tsx wrapper), so signals reach the agent itself.
const run = [process.execPath, '--import', 'tsx', join(root, 'test/agent/cli-entry.ts')] as const;
const pki = new TestPki();
const work = tempDir('keygate-issue-cli-');
const groupToken = 'kgg_' + 'c'.repeat(32);
const issuer = new TestIssuer(pki, { groupToken, now: () => Date.now() });
issuer.roles.set('edge', { suffix: '.edge.example', maxTtlMs: 3_600_000 });

beforeAll(() => issuer.start());
afterAll(async () => {
  await issuer.stop();
  rmSync(work, { recursive: true, force: true });
});

function config(name: string, out: string, extra = ''): string {
  const file = join(work, `${name}.yml`);
  writeFileSync(
    file,
    `server: ${issuer.url}
tls: {ca: ${pki.caFile}}
node: {group: edge, group_token: "\${GROUP_TOKEN}", id: edge-9}
output: {dir: ${out}}
certificates:
  - name: web
    role: edge
    common_name: "{{node_id}}.edge.example"
    ttl: 1h
    revoke_on_exit: true
${extra}`,
  );
  return file;
}

const env = { ...process.env, GROUP_TOKEN: groupToken };

describe('keygate agent with certificates:', { timeout: 120_000 }, () => {
  it('--once issues the certificate the web server starts with, and revokes nothing', async () => {
    const out = join(work, 'once');
    const r = await runToEnd(run[0], [...run.slice(1), 'agent', '--config', config('once', out), '--once'], { cwd: root, env });
    expect(r.code, r.stderr).toBe(0);
    const leaf = new X509Certificate(readFileSync(join(out, 'web.crt')));
    expect(leaf.subjectAltName).toBe('DNS:edge-9.edge.example');
    expect(statSync(join(out, 'web.key')).mode & 0o777).toBe(0o600);
    expect(issuer.revoked).toEqual([]);
  });

  it('the daemon adopts the pair --once wrote and revokes it on SIGTERM; the next start issues a new one', async () => {
    const out = join(work, 'once'); // as at boot: --once (the test above), then the daemon
    const reloads = join(work, 'daemon.reloads');
    const file = config('daemon', out, `reload: {command: "echo $KEYGATE_CHANGED >> ${reloads}"}\n`);
    const daemon = () => {
      const agent = spawnTracked(run[0], [...run.slice(1), 'agent', '--config', file], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
      onTestFailed(() => console.error(`agent stderr:\n${agent.stderr()}`));
      return agent;
    };
    const fromOnce = new X509Certificate(readFileSync(join(out, 'web.crt'))).serialNumber.toLowerCase();

    const first = daemon();
    expect((await first.waitFor(/certificate 'web': using serial ([0-9a-f]+) from disk/))[1]).toBe(fromOnce);
    // The first batch's registration: the loop runs, and SIGTERM is the agent's to handle.
    await first.waitFor(/registered node 'edge-9' in group 'edge'/);
    first.signal('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stderr()).toContain(`revoked serial ${fromOnce} on exit`);
    expect(issuer.revoked.map((x) => x.replace(/:/g, ''))).toEqual([fromOnce]);
    expect(existsSync(reloads)).toBe(false); // nothing changed on disk: no reload

    const second = daemon();
    const serial = (await second.waitFor(/certificate 'web': issued serial ([0-9a-f:]+)/))[1] as string;
    await second.waitFor(/agent: reload command succeeded for web"/);
    expect(readFileSync(reloads, 'utf8')).toBe('web\n');
    second.signal('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(issuer.revoked.slice(1)).toEqual([serial]);
    for (const agent of [first, second]) {
      expect(agent.stderr()).not.toContain('PRIVATE KEY');
      expect(agent.stderr()).not.toContain(groupToken);
    }
  });
});
