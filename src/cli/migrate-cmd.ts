/**
 * `keygate migrate`: moves keygate's data between keystores (`--from <config> --to <config>`,
 * src/migrate/copy.ts) or imports a Remote Key Server deployment from its Vault
 * (`--from-rks <vault address> --to <config>`, src/migrate/rks.ts). Works on the keystores
 * directly, not through a server. Prints entry names and counts, never a value.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Config } from '../config/schema.js';
import { loadConfigFile } from '../config/load.js';
import { openKeyStore } from '../compose/registry.js';
import type { KeyStore } from '../../keystores/keystore.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { migrate, TargetNotEmptyError, type MigrateReport, type Progress } from '../migrate/copy.js';
import { importFromRks, type RksReport } from '../migrate/rks.js';

interface Flags {
  from?: string;
  fromRks?: string;
  to: string;
  dryRun?: boolean;
  merge?: boolean;
  filter?: string[];
  vaultToken?: string;
  vaultCa?: string;
  vaultNamespace?: string;
  rksMount: string;
  json?: boolean;
}

/** Opens the keystore a server configuration names, without the read cache (every read must reach it). */
async function open(file: string): Promise<{ store: KeyStore; what: string }> {
  const config: Config = loadConfigFile(file);
  const kind = Object.keys(config.keystore)[0] ?? '';
  if (kind === 'memory') throw new Error(`${file}: keystore.memory holds nothing between runs: migrate from or to fs or vault`);
  const store = await openKeyStore(config.keystore, { ...config.cache, max_bytes: 0, expiry: { ...config.cache.expiry, credentials: '0' } });
  const where = kind === 'fs' ? (config.keystore.fs as { path: string }).path : (config.keystore.vault?.endpoint ?? '');
  return { store, what: `${kind} ${where}` };
}

/** A bar on a terminal; plain lines (every 1000 entries) when stderr is a file or pipe. */
function progressPrinter(): { update: (p: Progress) => void; end: () => void } {
  const tty = process.stderr.isTTY === true;
  let shown = '';
  let lastPlain = 0;
  return {
    update(p) {
      if (tty) {
        const width = 30;
        const ratio = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
        const bar = p.total > 0 ? '#'.repeat(Math.round(ratio * width)).padEnd(width, '.') : '';
        const line = p.total > 0 ? `${p.phase.padEnd(6)} [${bar}] ${p.done}/${p.total}` : `${p.phase.padEnd(6)} ${p.done} entries read`;
        if (line !== shown) process.stderr.write(`\r${line}\x1b[K`);
        shown = line;
      } else if (p.phase === 'copy' && p.done < p.total && Math.floor(p.done / 1000) > lastPlain) {
        lastPlain = Math.floor(p.done / 1000);
        process.stderr.write(`copied ${p.done} of ${p.total}\n`);
      }
    },
    end() {
      if (tty && shown !== '') process.stderr.write('\r\x1b[K');
    },
  };
}

function printCopy(r: MigrateReport, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const lines: string[] = [];
  const skipped = `${r.expired} expired token${r.expired === 1 ? '' : 's'} skipped`;
  if (r.dryRun) {
    lines.push(
      `dry run: ${r.considered} entries; would copy ${r.copied}, merge ${r.merged}; ${r.unchanged} already there; ${skipped}; ${r.conflicts.length} conflicts; ${r.foreign} other entries in the target`,
    );
  } else {
    lines.push(`copied ${r.copied} of ${r.considered} entries; ${r.unchanged} already there; ${r.merged} merged; ${skipped}`);
    lines.push(`verified ${r.verified} entries${r.mismatched.length > 0 ? `; ${r.mismatched.length} differ` : ''}`);
  }
  for (const name of r.conflicts) lines.push(`conflict: ${name} (different in the target; left as it is)`);
  for (const name of r.mismatched) lines.push(`differs after copying: ${name}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function printRks(r: RksReport, dryRun: boolean, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ...r, dryRun }) + '\n');
    return;
  }
  const verb = dryRun ? 'dry run: would import' : 'imported';
  const lines = [
    `${verb} ${r.bundles.imported} bundles (${r.bundles.unchanged} already there), ${r.groups.imported} groups (${r.groups.unchanged} already there), ${r.assignments} assignments`,
    ...r.failures.map((f) => `skipped ${f.what}: ${f.reason}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

async function run(f: Flags): Promise<void> {
  if ((f.from === undefined) === (f.fromRks === undefined)) throw new Error('migrate: give exactly one of --from <config> and --from-rks <vault address>');
  const target = await open(f.to);
  try {
    if (f.fromRks !== undefined) {
      if (f.vaultToken === undefined || f.vaultToken === '')
        throw new Error('migrate: --from-rks needs a Vault token that may read the RKS mount (--vault-token or VAULT_TOKEN)');
      const tls = f.vaultCa !== undefined ? { ca: [readFileSync(f.vaultCa)] } : undefined;
      // A dry run imports into memory: everything is read and validated, nothing is written.
      const into = f.dryRun === true ? new MemoryKeyStore() : target.store;
      const report = await importFromRks(
        {
          endpoint: f.fromRks,
          token: f.vaultToken,
          mount: f.rksMount,
          ...(f.vaultNamespace !== undefined && { namespace: f.vaultNamespace }),
          ...(tls && { tls }),
        },
        into,
      );
      printRks(report, f.dryRun === true, f.json === true);
      if (report.failures.length > 0) process.exitCode = 1;
      return;
    }
    const source = await open(f.from as string);
    const progress = progressPrinter();
    try {
      const report = await migrate(source.store, target.store, {
        ...(f.filter !== undefined && { filters: f.filter }),
        dryRun: f.dryRun === true,
        merge: f.merge === true,
        onProgress: progress.update,
      });
      progress.end();
      printCopy(report, f.json === true);
      if (report.conflicts.length > 0 || report.mismatched.length > 0) process.exitCode = 1;
    } catch (err) {
      progress.end();
      if (err instanceof TargetNotEmptyError) throw new Error(`migrate: ${err.message}`, { cause: err });
      throw err;
    } finally {
      await source.store.close();
    }
  } finally {
    await target.store.close();
  }
}

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('copy every entry from one keystore to another (--from), or import an RKS deployment from its Vault (--from-rks)')
    .option('--from <config>', 'server configuration naming the keystore to copy from')
    .option('--from-rks <address>', "address of the Vault holding an RKS deployment's data (KV v2 at rks/)")
    .requiredOption('--to <config>', 'server configuration naming the keystore to copy into')
    .option('--dry-run', 'count, compare and validate; write nothing')
    .option('--merge', 'add to a target that already holds other entries (conflicting ones are listed and left alone)')
    .option('--filter <glob...>', 'only entries whose name matches (* and ?), e.g. "bundle.*"; repeatable')
    .addOption(
      new Option(
        '--vault-token <token>',
        'with --from-rks: a Vault token that may list and read the RKS mount (prefer VAULT_TOKEN: arguments show in the process list)',
      ).env('VAULT_TOKEN'),
    )
    .option('--vault-ca <file>', "with --from-rks: PEM CA certificates of Vault's server certificate")
    .option('--vault-namespace <ns>', 'with --from-rks: Vault namespace of the RKS mount')
    .option('--rks-mount <path>', 'with --from-rks: the KV v2 mount RKS uses', 'rks')
    .option('--json', 'print the report as JSON')
    .action(async (flags: Flags) => run(flags));
}
