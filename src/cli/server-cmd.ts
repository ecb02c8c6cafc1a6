/** `keygate server`: runs the daemon from a config file, or `--dev` with nothing to configure. */
import { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { addressProblem } from '../config/checks.js';
import { startServer, type RunningServer } from '../compose/index.js';
import { ensureDevCertificates, curlExample, dashboardLine, DEV_PKI } from './dev.js';
import { stringify } from 'yaml';
import cluster from 'node:cluster';
import { runPrimary, workerCount } from '../cluster/workers.js';
import { WorkerCacheReplicas, WorkerLogPeers, WorkerThrottlePeers, processPort } from '../cluster/relay.js';
import { clusterScraper } from '../cluster/metrics.js';
import { keepRunningOnClosedPipe } from './pipes.js';

interface ServerFlags {
  config?: string;
  dev?: boolean;
  addr?: string;
}

const say = (line: string) => process.stderr.write(line + '\n');

export function serverCommand(): Command {
  return new Command('server')
    .description('run the keygate server')
    .option('--config <file>', 'configuration file (YAML)')
    .option('--dev', 'development mode: in-memory keystore, fresh certificates, nothing to configure')
    .option('--addr <host:port>', "listen address (overrides the config's address)")
    .action(async (flags: ServerFlags) => {
      keepRunningOnClosedPipe();
      if (flags.dev && flags.config) throw new Error('--dev and --config cannot be combined');
      if (!flags.dev && !flags.config) throw new Error('pass --config FILE, or --dev for a development server');
      const problem = flags.addr === undefined ? undefined : addressProblem(flags.addr);
      if (problem !== undefined) throw new Error(`--addr: ${problem}`);
      if (flags.dev) {
        // A closed terminal (SIGHUP) stops a dev server too: it has no file to reload.
        stopOnSignals(['SIGINT', 'SIGTERM', 'SIGHUP']).serving(await startDev(flags.addr));
        return;
      }
      const file = flags.config as string;
      const config = withAddress(loadConfigFile(file), flags.addr);
      const workers = workerCount(config.server.workers);
      if (workers > 1 && cluster.isPrimary) {
        runPrimary(
          workers,
          (url) => say(`keygate listening on ${url} with ${workers} workers\n  dashboard:      ${dashboardLine(url, config.rks?.admin?.login)}`),
          say,
        );
        return;
      }
      const port = cluster.isWorker ? processPort() : undefined;
      const stopper = stopOnSignals(['SIGINT', 'SIGTERM']);
      const running = await startServer(
        config,
        port ? { replicas: new WorkerCacheReplicas(port), throttlePeers: new WorkerThrottlePeers(port), logPeers: new WorkerLogPeers(port) } : {},
      );
      // Any worker answers a scrape for the whole server.
      if (cluster.isWorker) running.metrics.scrapeCluster(clusterScraper);
      if (cluster.isWorker) process.send?.({ kind: 'listening', url: running.url });
      else banner(running, config);
      stopper.serving(running);
      reloadOnHangup(running, file, flags.addr);
    });
}

function withAddress(config: Config, addr: string | undefined): Config {
  return addr === undefined ? config : { ...config, address: addr };
}

async function startDev(addr: string | undefined): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-dev-'));
  // The folder holds private keys nobody needs once the server is gone: remove it on every way
  // out that runs code (normal exit, a failed start, an uncaught error, and the signals below,
  // which end in process.exit). Only SIGKILL leaves it behind.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const certs = ensureDevCertificates(dir);
  // The CA key only signed the certificates above; deleted now, it cannot outlive a SIGKILL.
  rmSync(join(dir, 'ca.key'), { force: true });
  // Going through the same parser as a file keeps --dev honest about defaults.
  const config: Config = parseConfig(
    stringify({
      address: addr ?? '127.0.0.1:7373',
      admin: { identity: certs.adminIdentity },
      tls: { key: certs.serverKey, cert: certs.serverCert },
      keystore: { memory: {} },
      rks: { init_token: 'root', admin: { login: 'admin-rks', password: '12345' } },
      pki: DEV_PKI,
    }),
    '(dev)',
  );
  const running = await startServer(config);
  banner(running, config);
  say(`Development mode: keys live in memory and vanish on exit.`);
  say(`  CA certificate:    ${certs.ca}`);
  say(`  admin certificate: ${certs.adminCert}`);
  say(`  admin key:         ${certs.adminKey}`);
  say(`Certificates: issuer 'dev' (built-in CA), role 'dev' for names under dev.test, e.g. keygate pki issue dev www.dev.test`);
  // Last, as the banner's end: scripts and tests wait for this line.
  say(`Try:\n  ${curlExample(running.url.replace('127.0.0.1', 'localhost'), certs)}`);
  return running;
}

function banner(running: RunningServer, config: Config): void {
  const kind = Object.keys(config.keystore)[0];
  say(`keygate listening on ${running.url}`);
  say(`  admin identity: ${running.holder.current.admin ?? '<disabled>'}`);
  say(`  keystore:       ${kind}`);
  say(`  client auth:    ${config.tls.auth === 'on' ? 'verify certificates against tls.ca' : 'any certificate (identity + policy decide)'}`);
  say(`  RKS API:        ${rksBanner(config.rks)}`);
  say(`  dashboard:      ${dashboardLine(running.url, config.rks?.admin?.login)}`);
}

/** The RKS credentials in one line: the all-in-one image's well-known demo values are named, real ones never. */
function rksBanner(rks: Config['rks']): string {
  if (!rks?.init_token && !rks?.admin) return '/rks/v1 (init and admin login off: no rks: section)';
  const demo = rks.init_token === 'root' && rks.admin?.login === 'admin-rks' && rks.admin.password === '12345';
  if (demo) return '/rks/v1 with the RKS demo credentials: init token root, admin admin-rks / 12345 (change them for real use)';
  return `/rks/v1 (init token ${rks.init_token ? 'set' : 'off'}, admin login ${rks.admin ? `'${rks.admin.login}'` : 'off'})`;
}

/** SIGHUP re-reads the config file; a bad file keeps the running configuration and says why. */
function reloadOnHangup(running: RunningServer, file: string, addr: string | undefined): void {
  let busy = Promise.resolve();
  process.on('SIGHUP', () => {
    busy = busy.then(async () => {
      try {
        await running.reload(withAddress(loadConfigFile(file), addr));
        say('keygate: configuration reloaded');
      } catch (err) {
        running.holder.current.logger.error(`reload: keeping the current configuration: ${(err as Error).message}`);
        say(`keygate: reload failed, keeping the current configuration: ${(err as Error).message}`);
      }
    });
  });
}

/**
 * Stops the server on the first of `signals`. Installed before the server starts: a signal that
 * arrives while it starts (right after the banner, say) would otherwise meet no handler and kill
 * the process outright, skipping every exit handler (the dev server's folder removal).
 */
function stopOnSignals(signals: NodeJS.Signals[]): { serving(running: RunningServer): void } {
  let running: RunningServer | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`keygate: ${signal} received, shutting down`);
    if (running === undefined) process.exit(0);
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const signal of signals) process.on(signal, () => stop(signal));
  return {
    serving(server) {
      running = server;
    },
  };
}
