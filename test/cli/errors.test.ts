/**
 * Issue 12: every failing command exits non-zero with a message that says what to do, and a
 * reader that stops reading (`keygate … | head -1`) ends the command quietly.
 * Runs the CLI from the sources (tsx), so it needs no build.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToEnd, spawnTracked } from '../helpers/processes.js';

const root = new URL('../../', import.meta.url).pathname;
const entry = [process.execPath, '--import', 'tsx', join(root, 'test/agent/cli-entry.ts')] as const;
const work = mkdtempSync(join(tmpdir(), 'keygate-cli-errors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// cwd: the repository, where --import finds tsx; every file a test names is absolute or missing.
const keygate = (args: string[]) => runToEnd(entry[0], [...entry.slice(1), ...args], { cwd: root });

/** A server config that passes validation but cannot start (`tls` files that do not exist). */
function unstartable(extra: string): string {
  const file = join(work, `cfg-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, `address: 127.0.0.1:0\nadmin: {identity: ${'a'.repeat(64)}}\ntls: {key: ${work}/none.key, cert: ${work}/none.crt}\n${extra}`);
  return file;
}

// Each case starts the CLI from the sources: under load that alone can pass 30 s, the default.
describe('keygate errors', { timeout: 120_000 }, () => {
  it('a reader that went away ends the command quietly, with its own status', async () => {
    const p = spawnTracked(entry[0], [...entry.slice(1), 'identity', 'new'], { cwd: root });
    // Closed before the command writes a byte: its first write meets EPIPE.
    p.child.stdout?.destroy();
    const exit = await p.exited;
    expect(p.stderr()).toBe('');
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('a server keeps serving when the reader of its log output goes away', async () => {
    const server = spawnTracked(entry[0], [...entry.slice(1), 'server', '--dev', '--addr', '127.0.0.1:0'], { cwd: root });
    await server.waitFor(/Try:\n.*\n/);
    const banner = server.stderr();
    const field = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(banner)?.[1] as string;
    const url = (/listening on (\S+)/.exec(banner)?.[1] as string).replace('127.0.0.1', 'localhost');
    // The audit log goes to stdout, the error log to stderr: both readers go.
    server.child.stdout?.destroy();
    server.child.stderr?.destroy();
    const tls = { ca: readFileSync(field('CA certificate')), cert: readFileSync(field('admin certificate')), key: readFileSync(field('admin key')) };
    // Each request writes an audit line to the closed stdout.
    for (const name of ['a', 'b', 'c']) {
      const status = await new Promise<number>((resolve, reject) => {
        https
          .request(`${url}/v1/key/create/${name}`, { method: 'PUT', ...tls, agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(200);
    }
    expect(server.gone).toBe(false);
    server.signal('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it("--addr with a port out of range says the range, not Node's option name", async () => {
    for (const args of [
      ['server', '--dev', '--addr', '127.0.0.1:99999'],
      ['server', '--config', unstartable('keystore: {memory: {}}\n'), '--addr', '127.0.0.1:99999'],
    ]) {
      const r = await keygate(args);
      expect(r.stderr).toBe('keygate: --addr: port 99999 is out of range: use 1-65535, or 0 for any free port\n');
      expect(r.code).toBe(1);
    }
    const r = await keygate(['server', '--dev', '--addr', 'localhost']);
    expect(r.stderr).toContain("keygate: --addr: invalid address 'localhost': expected host:port");
    expect(r.code).toBe(1);
  });

  it('a keystore folder that cannot be created fails at once with its errno', async () => {
    const file = join(work, 'proc.yml');
    // Certificates that exist, so start-up reaches the keystore.
    await keygate(['dev-certs', '--dir', join(work, 'certs')]);
    writeFileSync(
      file,
      `address: 127.0.0.1:0\nadmin: {identity: ${'a'.repeat(64)}}\ntls: {key: ${work}/certs/server.key, cert: ${work}/certs/server.crt}\nkeystore: {fs: {path: /proc/nope/data}}\n`,
    );
    const r = await keygate(['server', '--config', file]);
    expect(r.stderr).toBe("keygate: keystore.fs.path: cannot use '/proc/nope/data': keystore: cannot create the root: ENOENT\n");
    expect(r.code).toBe(1);
  });

  it('a server whose workers cannot start exits 1 instead of restarting them forever', async () => {
    const r = await keygate(['server', '--config', unstartable(`keystore: {fs: {path: ${work}/data}}\nserver: {workers: 2}\n`)]);
    expect(r.stderr).toContain(`keygate: tls: cannot read certificate '${work}/none.crt' (ENOENT)`);
    expect(r.stderr).toMatch(/keygate: worker \d+ failed to start \(1\), stopping 2 workers/);
    expect(r.code).toBe(1);
  });

  it.each([
    ['a client command without a certificate', 1, ['key', 'ls', '--server', 'https://127.0.0.1:1'], /a client certificate is required/],
    [
      'an unreadable client certificate',
      1,
      ['key', 'ls', '--server', 'https://127.0.0.1:1', '--cert', 'c', '--key', 'k'],
      /cannot read client certificate 'c' \(ENOENT\)/,
    ],
    ['an unreadable certificate', 1, ['identity', 'of', 'missing.pem'], /cannot read 'missing\.pem' \(ENOENT\)/],
    [
      'an unreadable --callback-ca',
      1,
      ['group', 'create', 'g', '--callback-ca', 'missing-ca.pem', '--cert', 'package.json', '--key', 'package.json'],
      /^keygate: cannot read --callback-ca 'missing-ca\.pem' \(ENOENT\)\n$/,
    ],
    ['server without a mode', 1, ['server'], /pass --config FILE, or --dev/],
    ['a missing configuration file', 1, ['server', '--config', 'nope.yml'], /nope\.yml: cannot read configuration file \(ENOENT\)/],
    ['dev-certs in a folder that cannot exist', 1, ['dev-certs', '--dir', '/proc/nope/certs'], /cannot create '\/proc\/nope' \(ENOENT\)/],
    ['an unknown command', 2, ['nope'], /unknown command 'nope'/],
    ['a missing argument', 2, ['key', 'create'], /missing required argument 'name'/],
  ])('%s exits %i', async (_what, code, args, message) => {
    const r = await keygate(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(code);
  });
});
