/**
 * (f) the keep-alive read scenario with the Vault keystore (KV v2, token auth)
 * through the project's Vault-compatible test server: with the read cache
 * warm, and cold (`cache.max_bytes: 0`: every read goes to Vault), next to a
 * memory-backed keygate measured in the same scenario.
 */
import type { Scenario } from '../context.js';
import type { LoadResult } from '../loadgen.js';
import { startVault } from '../servers.js';
import { BUNDLE, BUNDLE_PATH, bundleRead, fetchBytes, importBundle, keygate, load } from './common.js';

const ROOT_TOKEN = 'bench-root-token';

export const vaultReads: Scenario = {
  id: 'f',
  title: 'keep-alive bundle reads with the Vault keystore (test server), cache warm and cold',
  async run(ctx, out) {
    const read = async (name: string, label: string, opts: Parameters<typeof keygate>[2], importFirst: boolean): Promise<LoadResult> => {
      const kg = await keygate(ctx, name, opts);
      if (importFirst) await importBundle(ctx, kg, BUNDLE);
      const body = await fetchBytes(ctx, kg, BUNDLE_PATH);
      const r = await load(ctx, label, kg, bundleRead(body), { kind: 'closed' });
      out.measure({ label, load: r });
      await ctx.stop(kg);
      return r;
    };
    const memory = await read('f-memory', 'f reads, memory keystore / keygate', {}, true);
    out.figure({
      key: 'f_memory_reads',
      title: 'keep-alive bundle reads, memory keystore',
      unit: 'req/s',
      keygate: memory.perSecond,
      node: null,
      nginx: null,
      higherIsBetter: true,
    });

    const vault = ctx.use(await startVault(ctx.settings.repo, ROOT_TOKEN));
    const keystore = { vault: { endpoint: vault.url, engine: 'secret', version: 'v2', token: ROOT_TOKEN, prefix: 'keygate-bench' } };
    const warm = await read('f-vault-warm', 'f reads, Vault keystore, cache warm / keygate', { keystore }, true);
    out.figure({
      key: 'f_vault_reads_warm',
      title: 'keep-alive bundle reads, Vault keystore, cache warm',
      unit: 'req/s',
      keygate: warm.perSecond,
      node: null,
      nginx: null,
      higherIsBetter: true,
    });
    const cold = await read('f-vault-cold', 'f reads, Vault keystore, no cache / keygate', { keystore, cache: { max_bytes: 0 } }, false);
    out.figure({
      key: 'f_vault_reads_cold',
      title: 'keep-alive bundle reads, Vault keystore, cache off (every read to Vault)',
      unit: 'req/s',
      keygate: cold.perSecond,
      node: null,
      nginx: null,
      higherIsBetter: true,
    });
    out.figure({
      key: 'f_vault_reads_cold_p99',
      title: 'p99 of those cold reads at maximum rate',
      unit: 'ms',
      keygate: cold.p99Ms,
      node: null,
      nginx: null,
      higherIsBetter: false,
    });
    out.note(
      `Same load as (a): ${ctx.pki.clients.length} identities, one keep-alive connection each, closed loop. The Vault test server is a Node process ` +
        '(test/vault-server) on plain HTTP over loopback, KV v2 mounted at secret/, root-token auth; it shares the 2 cores with keygate and the generator, ' +
        'so the cold figure is bounded by it as much as by keygate. The server CPU column counts keygate only.',
    );
  },
};
