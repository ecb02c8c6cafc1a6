/**
 * README "Coming from RKS", run as written: the block between the
 * `rks-walkthrough` markers is run with bash and curl against a test server
 * (its URL and CA in place of `make run`'s), without a client certificate, and
 * every curl's status is checked in order. The server runs in this process, so
 * bash is run asynchronously.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runToEnd } from '../helpers/processes.js';
import { startTestServer, workerMode, type TestServer } from '../helpers/server.js';

/** The walkthrough's shell block from README.md. */
function walkthrough(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /<!-- rks-walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- rks-walkthrough:end -->/.exec(readme);
  if (!m) throw new Error('README.md: no rks-walkthrough block');
  return m[1] as string;
}

let s: TestServer;
beforeAll(async () => {
  // make run's credentials, from config.example.yml.
  s = await startTestServer({ config: { rks: { init_token: 'root', admin: { login: 'admin-rks', password: '12345' } } } });
});
afterAll(() => s.close());

describe('README: Coming from RKS', () => {
  it('the walkthrough works with curl and no client certificate, step by step', async () => {
    const block = walkthrough();
    expect(block).toContain('https://localhost:7373');
    expect(block).not.toContain('--cert ');
    const script = block.replaceAll('https://localhost:7373', s.url).replaceAll('certs/', `${s.pki.dir}/`);
    // Every curl also reports its status on stderr, so captured answers stay untouched.
    const prelude = `set -euo pipefail\ncurl() { command curl -sS -w '%{stderr}STATUS %{http_code}\\n' "$@"; }\n`;
    // No clock of its own: the test's timeout bounds it, and the helper kills the group after the test.
    const { code, stdout, stderr } = await runToEnd('bash', ['-c', prelude + script]);
    expect(code, stderr).toBe(0);
    const statuses = stderr
      .split('\n')
      .filter((l) => l.startsWith('STATUS '))
      .map((l) => Number(l.slice(7)));
    expect(statuses).toEqual([
      201, // init
      200, // admin login
      201, // create group
      201, // push a secret
      200, // associate
      201, // register node
      200, // the node reads the secret
      200, // renew
      204, // dissociate
      403, // access refused
    ]);
    const server = readFileSync(`${s.pki.dir}/server.crt`, 'utf8');
    const secretLine = stdout.split('\n').find((l) => l.startsWith('{"data":'));
    expect(JSON.parse(secretLine ?? '{}').data).toMatchObject({ meta: { ttl: 10 }, certificate: server });
    expect(stdout).toMatch(/\{"nodeToken":"kgn_[A-Za-z0-9_-]{43}","ttl":600\}\n/);
    expect(stdout.endsWith('read secret: vault unauthorized\n')).toBe(true);
    // In-process only: the group's assignments as stored.
    if (!workerMode) expect(await s.running.holder.current.groups.bundlesOf('test')).toEqual([]);
  });
});
