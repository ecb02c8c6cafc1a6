/**
 * `make run` (and `keygate server`) print where the dashboard is: the address in the
 * start-up banner answers with the page. Runs the CLI from the sources (tsx), in
 * development mode, on a free port.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked } from '../helpers/processes.js';
import { request } from '../helpers/http.js';
import { UI_CSP } from '../../src/api/ui/index.js';

const root = new URL('../../', import.meta.url).pathname;

describe('the start-up banner', { timeout: 120_000 }, () => {
  it('names the dashboard URL and how to get in, and the URL serves the page', async () => {
    const server = spawnTracked(process.execPath, ['--import', 'tsx', join(root, 'test/agent/cli-entry.ts'), 'server', '--dev', '--addr', '127.0.0.1:0'], {
      cwd: root,
    });
    const [, url, how] = (await server.waitFor(/dashboard:\s+(https:\/\/localhost:\d+\/ui\/) \(([^)]*)\)/)) as unknown as [string, string, string];
    expect(how).toBe("client certificate, or the RKS admin login 'admin-rks'");
    const ca = readFileSync((await server.waitFor(/CA certificate:\s+(\S+)/))[1] as string, 'utf8');
    const page = await request(url, ca, null, url);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(UI_CSP);
    expect(page.text).toContain('<title>keygate dashboard</title>');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
