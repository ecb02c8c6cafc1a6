/**
 * (m) `keygate migrate` throughput: a populated fs keystore (1000 keys, 1000 bundles with their
 * SAN index, groups, nodes, tokens) copied to the Vault test server (KV v2, token), in entries
 * per second, for the whole run (plan, copy, verify) and for the copy pass alone; then the
 * second, idempotent run (plan and verify only, nothing copied). keygate only.
 */
import { join } from 'node:path';
import { FSKeyStore } from '../../keystores/fs.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { VaultKeyStore } from '../../keystores/vault/index.js';
import { migrate, type Progress } from '../../src/migrate/copy.js';
import { populate } from '../../test/migrate/populate.js';
import type { Scenario } from '../context.js';
import { startVault } from '../servers.js';

const ROOT = 'bench-root-token';

export const migration: Scenario = {
  id: 'm',
  title: 'keygate migrate: entries per second, fs keystore to the Vault test server',
  async run(ctx, out) {
    const memory = new MemoryKeyStore();
    await populate(memory, { keys: 1000, bundles: 1000, groups: 10, nodesPerGroup: 50 });
    const source = await FSKeyStore.open(join(ctx.settings.tmp, 'migrate-source'));
    await migrate(memory, source);
    const v = ctx.use(await startVault(ctx.settings.repo, ROOT));
    const res = await fetch(`${v.url}/v1/sys/mounts/keygate`, {
      method: 'POST',
      headers: { 'X-Vault-Token': ROOT },
      body: JSON.stringify({ type: 'kv', options: { version: '2' } }),
    });
    if (res.status >= 300) throw new Error(`vault mount: ${res.status} ${await res.text()}`);
    const target = await VaultKeyStore.connect({ endpoint: v.url, engine: 'keygate', version: 'v2', prefix: 'bench', auth: { kind: 'token', token: ROOT } });
    try {
      const phases = new Map<Progress['phase'], number>();
      const started = performance.now();
      const first = await migrate(source, target, { onProgress: (p) => void (phases.has(p.phase) || phases.set(p.phase, performance.now())) });
      const total = (performance.now() - started) / 1000;
      const copySeconds = ((phases.get('verify') ?? 0) - (phases.get('copy') ?? 0)) / 1000;
      if (first.mismatched.length > 0 || first.verified !== first.copied) throw new Error(`migrate: ${first.mismatched.length} entries differ after copying`);
      const again0 = performance.now();
      const second = await migrate(source, target);
      const againSeconds = (performance.now() - again0) / 1000;
      if (second.copied !== 0) throw new Error(`migrate: the second run copied ${second.copied} entries`);
      const rate = (n: number, s: number) => (s > 0 ? Math.round(n / s) : null);
      out.figure({
        key: 'm_migrate_total',
        title: 'migrate fs → Vault test server, whole run (plan, copy, verify)',
        unit: 'entries/s',
        keygate: rate(first.copied, total),
        node: null,
        nginx: null,
        higherIsBetter: true,
      });
      out.figure({
        key: 'm_migrate_copy',
        title: 'migrate fs → Vault test server, copy pass',
        unit: 'entries/s',
        keygate: rate(first.copied, copySeconds),
        node: null,
        nginx: null,
        higherIsBetter: true,
      });
      out.figure({
        key: 'm_migrate_again',
        title: 'migrate again (nothing to copy: plan and verify)',
        unit: 'entries/s',
        keygate: rate(second.unchanged, againSeconds),
        node: null,
        nginx: null,
        higherIsBetter: true,
      });
      out.note(
        `${first.copied} entries (1000 keys, 1000 bundles and their SAN index, 10 groups, 500 nodes and their tokens) from an fs keystore to the ` +
          `Vault test server (KV v2 over loopback HTTP, root token), ${total.toFixed(1)} s in all, 16 entries at a time. The whole run reads every ` +
          'source entry twice (plan, copy), checks the target once (plan) and reads it back (verify); the Vault test server shares the cores.',
      );
    } finally {
      await target.close();
      await source.close();
      await ctx.stop(v);
    }
  },
};
