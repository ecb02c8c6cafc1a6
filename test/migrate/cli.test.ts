/**
 * `keygate migrate` as a command: the refusal of a busy target (exit 1, nothing written),
 * --dry-run, --merge, --filter, --json, a second run copying nothing, and no secret in
 * anything it prints.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FSKeyStore } from '../../keystores/fs.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { migrate } from '../../src/migrate/copy.js';
import { ensureBuilt, keygate } from '../helpers/cli.js';
import { dump } from '../helpers/fleet.js';
import { populate } from './populate.js';

let dir: string;
let entries: Map<string, string>;
const config = (keystore: string) => `admin:\n  identity: disabled\ntls:\n  key: server.key\n  cert: server.crt\nkeystore:\n  ${keystore}\n`;

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'keygate-migrate-cli-'));
  const memory = new MemoryKeyStore();
  await populate(memory, { keys: 20, bundles: 10, groups: 2, nodesPerGroup: 3, leaves: 2 });
  const source = await FSKeyStore.open(join(dir, 'source'));
  await migrate(memory, source);
  entries = await dump(source);
  await source.close();
  const target = await FSKeyStore.open(join(dir, 'target'));
  await target.create('already-here', Buffer.from('x'));
  await target.close();
  await writeFile(join(dir, 'from.yml'), config(`fs:\n    path: ${join(dir, 'source')}`));
  await writeFile(join(dir, 'to.yml'), config(`fs:\n    path: ${join(dir, 'target')}`));
  await writeFile(join(dir, 'memory.yml'), config('memory: {}'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('refuses a busy target, counts with --dry-run, copies with --merge, and copies nothing the second time', async () => {
  const args = ['migrate', '--from', join(dir, 'from.yml'), '--to', join(dir, 'to.yml')];
  const refused = await keygate(args);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe(
    'keygate: migrate: the target keystore already holds 1 other entry and 0 conflicting ones: nothing was written; use --merge to add to it\n',
  );
  expect([...(await dumpOf('target')).keys()]).toEqual(['already-here']);

  const dry = await keygate([...args, '--merge', '--dry-run']);
  expect(dry).toMatchObject({ code: 0, stderr: '' });
  expect(dry.stdout).toBe(
    `dry run: ${entries.size} entries; would copy ${entries.size}, merge 0; 0 already there; 0 expired tokens skipped; 0 conflicts; 1 other entries in the target\n`,
  );

  const bundles = await keygate([...args, '--merge', '--filter', 'bundle.*', '--json']);
  expect(bundles.code).toBe(0);
  expect(JSON.parse(bundles.stdout)).toMatchObject({ considered: 10, copied: 10, verified: 10, foreign: 0, dryRun: false });

  const all = await keygate([...args, '--merge']);
  expect(all).toMatchObject({ code: 0, stderr: '' });
  expect(all.stdout).toBe(
    `copied ${entries.size - 10} of ${entries.size} entries; 10 already there; 0 merged; 0 expired tokens skipped\nverified ${entries.size} entries\n`,
  );
  const target = await dumpOf('target');
  for (const [name, value] of entries) expect(target.get(name), name).toBe(value);

  const again = await keygate([...args, '--merge']);
  expect(again.stdout).toMatch(new RegExp(`^copied 0 of ${entries.size} entries; ${entries.size} already there;`));

  // Names and counts only: no key material, certificate or private key in anything printed.
  const printed = [refused, dry, bundles, all, again].map((r) => r.stdout + r.stderr).join('');
  for (const value of entries.values()) {
    for (const secret of value.match(/[A-Za-z0-9+/]{40,}={0,2}/g) ?? []) expect(printed).not.toContain(secret);
  }
});

it('needs exactly one source, and no memory keystore', async () => {
  const none = await keygate(['migrate', '--to', join(dir, 'to.yml')]);
  expect(none).toMatchObject({ code: 1, stderr: 'keygate: migrate: give exactly one of --from <config> and --from-rks <vault address>\n' });
  const memory = await keygate(['migrate', '--from', join(dir, 'memory.yml'), '--to', join(dir, 'to.yml')]);
  expect(memory.code).toBe(1);
  expect(memory.stderr).toMatch(/keystore\.memory holds nothing between runs/);
  const rks = await keygate(['migrate', '--from-rks', 'http://127.0.0.1:1', '--to', join(dir, 'to.yml')], { VAULT_TOKEN: '' });
  expect(rks).toMatchObject({
    code: 1,
    stderr: 'keygate: migrate: --from-rks needs a Vault token that may read the RKS mount (--vault-token or VAULT_TOKEN)\n',
  });
});

async function dumpOf(name: string): Promise<Map<string, string>> {
  const store = await FSKeyStore.open(join(dir, name));
  try {
    return await dump(store);
  } finally {
    await store.close();
  }
}
