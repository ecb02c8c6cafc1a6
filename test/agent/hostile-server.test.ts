/**
 * The agent against a server that lies (issue 11): bundle names from the server's
 * listing are untrusted input to an agent that often runs as root. A stand-in
 * keygate server lists hostile names and serves a valid bundle for any name it is
 * asked for, so only the agent's own checks stand between those names and the
 * file system. Also: what is already in the output directory and is not the
 * agent's is never replaced, a failed write fails `--once`, and the sweep of
 * temporary files knows its own debris from a bundle called `a.tmp-1.example.com`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import type http from 'node:http';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TestPki } from '../helpers/certs.js';
import { BundleCerts, type TestBundle } from '../helpers/bundle-certs.js';
import type { AgentSettings } from '../../src/agent/config.js';
import { baseSettings, fingerprint, fingerprintOnDisk, tempDir, testAgent, type TestAgent } from './fixture.js';

const pki = new TestPki();
const certs = new BundleCerts();
const root = new URL('../../', import.meta.url).pathname;

/** Names a hostile or broken server might list; none is a valid bundle name. */
const HOSTILE = [
  '../../escape/pwned',
  '../x',
  '../sibling/x',
  '..',
  '.',
  '',
  'a/../../x',
  '/tmp/abs',
  '*./../x',
  '*.../x',
  '.keygate',
  '.keygate/../../x',
  '.tmp-0123456789ab',
  '_.wild.test',
  'nul\u0000byte',
  'new\nline',
  'back\\slash',
  'x'.repeat(300),
];

/** A keygate stand-in: lists `names` and hands out the same valid bundle for whatever name it is asked. */
class LyingServer {
  names: string[] = [];
  /** Every name a bundle was requested for, decoded. */
  readonly requested: string[] = [];
  bundle: TestBundle = certs.bundle({ dnsNames: ['good.test'], keyType: 'ecdsa-p256' });
  readonly server = https.createServer({ key: pki.server.keyPem, cert: pki.server.certPem }, (req, res) => this.handle(req, res));

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const json = (status: number, body: unknown): void => void res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/v1/node/bundles') return json(200, { names: this.names });
    const get = /^\/v1\/cert\/get\/(.*)$/.exec(url.pathname);
    if (get) {
      const name = decodeURIComponent(get[1] as string);
      this.requested.push(name);
      return json(200, { name, certificate: this.bundle.chainPem, private_key: this.bundle.keyPem, ttl: 3600, version: 'v1', not_after: '' });
    }
    json(404, { message: 'not found' });
  }
}

let fake: LyingServer;
const agents: TestAgent[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  fake = new LyingServer();
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  fake.server.closeAllConnections();
  await new Promise((resolve) => fake.server.close(resolve));
  rmSync(pki.dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  fake.names = [];
  fake.requested.length = 0;
});

/**
 * A work folder laid out for escapes: `<root>/out` is the output directory; beside it
 * `<root>/x.key`, `<root>/sibling/x.key` and an empty `<root>/escape/` wait to be overwritten.
 */
function workspace(): { root: string; out: string } {
  const r = tempDir('keygate-hostile-');
  dirs.push(r);
  writeFileSync(join(r, 'x.key'), "the operator's own key\n", { mode: 0o600 });
  writeFileSync(join(r, 'x.crt'), "the operator's own certificate\n");
  mkdirSync(join(r, 'sibling'));
  writeFileSync(join(r, 'sibling', 'x.key'), "a neighbour's key\n", { mode: 0o600 });
  mkdirSync(join(r, 'escape'));
  return { root: r, out: join(r, 'out') };
}

/** Every entry under `dir` (but `skip`): type, mode, link target or content hash. */
function snapshot(dir: string, skip: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const entry of readdirSync(at).sort()) {
      const path = join(at, entry);
      if (path === skip) continue;
      const st = lstatSync(path);
      const key = join(rel, entry);
      if (st.isSymbolicLink()) out[key] = `link ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[key] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(path, key);
      } else out[key] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    }
  };
  walk(dir, '');
  return out;
}

function agent(out: string, overrides: Partial<AgentSettings> = {}): TestAgent {
  const a = testAgent(
    baseSettings({ url: fake.url, pki }, out, {
      bundles: 'all',
      refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 16_000, timeoutMs: 5000, listIntervalMs: 30_000, watch: false },
      ...overrides,
    }),
  );
  agents.push(a);
  return a;
}

const refusals = (a: TestAgent): string[] => a.logLines.filter((l) => l.includes('not a valid bundle name'));

describe('an agent fed hostile bundle names', () => {
  it('--once writes nothing outside output.dir, serves the valid bundles and fails naming every refused name', async () => {
    const { root: r, out } = workspace();
    const before = snapshot(r, out);
    fake.names = ['good.test', ...HOSTILE, 'also.good.test'];
    const a = agent(out);
    const result = await a.agent.once();

    expect(snapshot(r, out)).toEqual(before);
    expect(readFileSync(join(r, 'x.key'), 'utf8')).toBe("the operator's own key\n");
    expect(readFileSync(join(r, 'sibling', 'x.key'), 'utf8')).toBe("a neighbour's key\n");
    // Refused before any request: the server was never even asked for them.
    expect(fake.requested.sort()).toEqual(['also.good.test', 'good.test']);
    expect(readdirSync(out).sort()).toEqual(['.keygate', 'also.good.test.crt', 'also.good.test.key', 'good.test.crt', 'good.test.key']);
    expect(fingerprintOnDisk(out, 'good.test')).toBe(fingerprint(fake.bundle.chainPem));

    expect(result.ok).toBe(false);
    expect(result.failures).toHaveLength(HOSTILE.length);
    expect(result.failures).toContain('"../../escape/pwned": not a valid bundle name, skipped');
    // One line each, the name quoted and escaped: a name cannot forge log lines.
    expect(refusals(a)).toHaveLength(HOSTILE.length);
    const messages = a.logLines.map((l) => (JSON.parse(l) as { message: string }).message);
    expect(messages).toContain('agent: the server listed "new\\nline", which is not a valid bundle name: skipped, nothing is written for it');
  });

  it('running, logs each refused name once, keeps serving the others, and shows the refusals on its status', async () => {
    const { root: r, out } = workspace();
    const before = snapshot(r, out);
    fake.names = ['good.test', '../x', '../sibling/x'];
    const a = agent(out);
    await a.started();
    await a.advance(30_000); // the listing again
    await a.advance(30_000);
    expect(snapshot(r, out)).toEqual(before);
    expect(refusals(a)).toHaveLength(2);
    const status = a.board.toJSON();
    expect(status.bundles.map((b) => [b.name, b.state])).toEqual([['good.test', 'ok']]);
    expect(status.refused_names).toEqual(['../x', '../sibling/x']);
    expect(a.board.healthy()).toBe(true);
  });

  it('the `keygate agent --once` process exits non-zero', async () => {
    const { root: r, out } = workspace();
    const before = snapshot(r, out);
    fake.names = ['good.test', '../x'];
    const client = pki.client({ commonName: 'node' });
    const file = join(r, 'agent.yml');
    writeFileSync(
      file,
      `server: ${fake.url}\ntls: {ca: ${pki.caFile}, cert: ${client.certFile}, key: ${client.keyFile}}\nbundles: all\noutput: {dir: ${out}}\n`,
    );
    const r1 = await new Promise<{ code: number; stderr: string }>((resolve) => {
      // execFile kills the child at the timeout, so it cannot outlive a failing test.
      execFile(
        process.execPath,
        ['--import', 'tsx', join(root, 'test/agent/cli-entry.ts'), 'agent', '--config', file, '--once'],
        { cwd: root, timeout: 20_000, killSignal: 'SIGKILL' },
        (err, _stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
        },
      );
    });
    expect(r1.stderr).toContain('"../x": not a valid bundle name, skipped');
    expect(r1.code).not.toBe(0);
    rmSync(file);
    expect(snapshot(r, out)).toEqual(before);
    expect(fingerprintOnDisk(out, 'good.test')).toBe(fingerprint(fake.bundle.chainPem));
  });
});

describe("what is in output.dir and not the agent's", () => {
  it('is never replaced: the write fails, --once fails, the status and log say why', async () => {
    const { out } = workspace();
    mkdirSync(out);
    writeFileSync(join(out, 'good.test.key'), "someone else's key\n", { mode: 0o600 });
    symlinkSync('../x.crt', join(out, 'good.test.crt'));
    fake.names = ['good.test', 'other.test'];
    const a = agent(out);
    const result = await a.agent.once();
    expect(result.ok).toBe(false);
    expect(result.failures).toEqual([expect.stringMatching(/^good\.test: cannot write the files: .*good\.test\.(crt|key).* not the agent's/)]);
    expect(readFileSync(join(out, 'good.test.key'), 'utf8')).toBe("someone else's key\n");
    expect(readlinkSync(join(out, 'good.test.crt'))).toBe('../x.crt');
    expect(fingerprintOnDisk(out, 'other.test')).toBe(fingerprint(fake.bundle.chainPem));
    expect(a.board.bundle('good.test')).toMatchObject({ state: 'error', version: null });
    expect(a.board.bundle('good.test').lastError).toMatch(/not the agent's/);
    expect(a.logLines.some((l) => l.includes("bundle 'good.test': cannot write the files"))).toBe(true);
    // Nothing was left behind for the refused bundle either.
    expect(readdirSync(join(out, '.keygate')).filter((e) => e.startsWith('good.test'))).toEqual([]);
  });

  it('a .keygate that is a symlink out of output.dir is refused: nothing is written through it', async () => {
    const { root: r, out } = workspace();
    mkdirSync(out);
    symlinkSync('../escape', join(out, '.keygate'));
    const before = snapshot(r, out);
    fake.names = ['good.test'];
    const a = agent(out);
    const result = await a.agent.once().catch((err: Error) => ({ ok: false, failures: [err.message] }));
    expect(result.ok).toBe(false);
    expect(result.failures.join('\n')).toMatch(/\.keygate is not a directory/);
    expect(snapshot(r, out)).toEqual(before);
    expect(readdirSync(join(r, 'escape'))).toEqual([]);
  });
});

describe('temporary names', () => {
  it('a bundle named like a temporary file survives a restart; real debris is swept', async () => {
    const { out } = workspace();
    fake.names = ['a.tmp-1.example.com', 'link.tmp-0123456789ab'];
    const first = agent(out);
    expect(await first.agent.once()).toEqual({ ok: true, failures: [] });
    const state = join(out, '.keygate');
    const live = readlinkSync(join(state, 'a.tmp-1.example.com.live'));
    const liveLegacyLike = readlinkSync(join(state, 'link.tmp-0123456789ab.live'));
    await first.close();
    agents.splice(agents.indexOf(first), 1);
    // What a crash halfway through a link swap leaves, in this scheme and the one before it.
    symlinkSync('a.tmp-1.example.com.g0000000000000000', join(state, '.tmp-00112233aabb'));
    symlinkSync('x', join(state, 'link.tmp-00112233aabb'));

    const second = agent(out);
    expect(await second.agent.once()).toEqual({ ok: true, failures: [] });
    // Same generation: nothing was deleted and written again.
    expect(readlinkSync(join(state, 'a.tmp-1.example.com.live'))).toBe(live);
    expect(readlinkSync(join(state, 'link.tmp-0123456789ab.live'))).toBe(liveLegacyLike);
    expect(fingerprintOnDisk(out, 'a.tmp-1.example.com')).toBe(fingerprint(fake.bundle.chainPem));
    const entries = readdirSync(state);
    expect(entries).not.toContain('.tmp-00112233aabb');
    expect(entries).not.toContain('link.tmp-00112233aabb');
    expect(entries.filter((e) => e.includes('tmp-') && !e.startsWith('a.tmp-1.example.com.') && !e.startsWith('link.tmp-0123456789ab.'))).toEqual([]);
  });
});
