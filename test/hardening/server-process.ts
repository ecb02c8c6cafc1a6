/**
 * keygate as operators run it: `bin/keygate.js server --config <file>` in a child
 * process (built first when dist/ is missing), on a fixed loopback port so that
 * clients reconnect to the same address after the process is killed and started
 * again. Used by the crash, hygiene and soak tests.
 */
import { ensureBuilt } from '../helpers/cli.js';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { TestPki, type TestClient } from '../helpers/certs.js';
import { request, type RequestOptions, type TestResponse } from '../helpers/http.js';
import { spawnTracked, type Spawned } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerProcess {
  readonly pki: TestPki;
  readonly admin: TestClient;
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  readonly configFile: string;
  /** The running child, or null between a kill and the next start. */
  child: ChildProcess | null;
  /** Everything the processes wrote to stderr, across restarts. */
  stderr(): string;
  start(): Promise<void>;
  /** Kills the process with `signal` and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  call(who: TestClient | null, path: string, opts?: RequestOptions): Promise<TestResponse>;
}

/**
 * Writes a config (fs keystore in a fresh folder, the given extra keys merged over it)
 * and returns a handle; `start()` runs the process. `prepare` sees the PKI and admin.
 */
export async function serverProcess(
  options: { config?: (pki: TestPki, admin: TestClient, dir: string) => Record<string, unknown> } = {},
): Promise<ServerProcess> {
  ensureBuilt();
  const pki = new TestPki();
  const admin = pki.client({ commonName: 'admin' });
  const dir = mkdtempSync(join(tmpdir(), 'keygate-proc-'));
  const port = await freePort();
  const configFile = join(dir, 'config.yml');
  const config = {
    address: `127.0.0.1:${port}`,
    admin: { identity: admin.identity },
    tls: { key: pki.serverKeyFile, cert: pki.serverCertFile },
    keystore: { fs: { path: join(dir, 'data') } },
    log: { audit: 'off' },
    limits: { auth_failures: 0 },
    // The test group managers listen on this host.
    callbacks: { allow_loopback: true },
    ...options.config?.(pki, admin, dir),
  };
  writeFileSync(configFile, stringify(config));
  // stderr of the processes that have ended, across restarts; the running one's is read live.
  let ended = '';
  let current: Spawned | null = null;
  const url = `https://localhost:${port}`;
  const handle: ServerProcess = {
    pki,
    admin,
    dir,
    port,
    url,
    configFile,
    child: null,
    stderr: () => ended + (current?.stderr() ?? ''),
    async start() {
      // Its own process group (test/helpers/processes.ts), waited on by its banner, not a clock.
      const p = spawnTracked(
        process.execPath,
        [join(repoRoot, 'bin/keygate.js'), 'server', '--config', configFile],
        { stdio: ['ignore', 'ignore', 'pipe'] },
        'file',
      );
      current = p;
      handle.child = p.child;
      try {
        await p.waitFor(/listening on/);
      } catch (err) {
        await handle.kill('SIGKILL');
        throw new Error(`keygate did not start: ${(err as Error).message}`, { cause: err });
      }
    },
    async kill(signal = 'SIGKILL') {
      const p = current;
      if (!p) return;
      if (signal === 'SIGKILL') await p.killGroup('SIGKILL');
      else {
        p.signal(signal);
        await p.exited;
        await p.killGroup();
      }
      ended += p.stderr();
      current = null;
      handle.child = null;
    },
    call: (who, path, opts) => request(url, pki.ca.certPem, who, path, opts),
  };
  return handle;
}
