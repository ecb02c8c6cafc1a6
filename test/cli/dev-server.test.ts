/**
 * Issue 12: `keygate server --dev` keeps its certificates and their private keys in a temporary
 * folder; nothing of it may outlive the server, however the server ends. Runs the CLI from the
 * sources (tsx) with TMPDIR pointed at a scratch folder, so the test sees exactly what it made.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runToEnd, spawnTracked } from '../helpers/processes.js';

const root = new URL('../../', import.meta.url).pathname;
const entry = [process.execPath, '--import', 'tsx', join(root, 'test/agent/cli-entry.ts')] as const;
const scratch = mkdtempSync(join(tmpdir(), 'keygate-dev-tmp-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const env = { ...process.env, TMPDIR: scratch };
const devFolders = () => readdirSync(scratch).filter((n) => n.startsWith('keygate-dev-'));

// Each case starts the CLI from the sources: under load that alone can pass 30 s, the default.
describe('keygate server --dev', { timeout: 120_000 }, () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('removes its temporary folder on %s', async (signal) => {
    const server = spawnTracked(entry[0], [...entry.slice(1), 'server', '--dev', '--addr', '127.0.0.1:0'], { cwd: root, env });
    const ca = (await server.waitFor(/CA certificate:\s+(\S+)/))[1] as string;
    const dir = dirname(ca);
    expect(dir.startsWith(scratch)).toBe(true);
    expect(existsSync(join(dir, 'admin.key'))).toBe(true);
    // The CA key signed the certificates at start-up and is never needed again.
    expect(existsSync(join(dir, 'ca.key'))).toBe(false);

    server.signal(signal);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(false);
    expect(devFolders()).toEqual([]);
  });

  it('removes it when the server cannot start', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const r = await runToEnd(entry[0], [...entry.slice(1), 'server', '--dev', '--addr', `127.0.0.1:${port}`], { cwd: root, env });
      expect(r.stderr).toContain(`address 127.0.0.1:${port} is already in use`);
      expect(r.code).toBe(1);
      expect(devFolders()).toEqual([]);
    } finally {
      taken.close();
    }
  });
});
