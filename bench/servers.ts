/**
 * The servers under test, each its own process on an ephemeral 127.0.0.1
 * port: keygate (the real CLI, `node bin/keygate.js server`, built by `make
 * build`), the bare node:https baseline, Debian's nginx with a generated
 * config in a temp dir, and the Vault-compatible test server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { BenchPKI } from './pki.js';
import { stopChild, track } from './procs.js';

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
export const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

export interface Server {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** Milliseconds from spawn until the server answered (or listened, for nginx). */
  readonly startMs: number;
  stop(): Promise<void>;
}

/** The last bytes a child wrote to stderr (and stdout), for error messages. */
function tail(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

/** Resolves with the first match of `pattern` in the child's output; rejects on exit or timeout. */
function waitForLine(child: ChildProcess, pattern: RegExp, what: string, ms = 30_000): Promise<RegExpExecArray> {
  const output = tail(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    const limit = setTimeout(() => reject(new Error(`${what}: not ready after ${ms} ms: ${output()}`)), ms);
    const on = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(limit);
        child.stdout?.off('data', on);
        child.stderr?.off('data', on);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(limit);
      reject(new Error(`${what} exited (${code}): ${output()}`));
    });
  });
}

export interface KeygateOptions {
  dir: string;
  pki: BenchPKI;
  keystore: Record<string, unknown>;
  cache?: Record<string, unknown>;
  workers?: number;
  /** Extra `node` flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** What the bench identities' policy allows (default: bundle reads, bench-* data keys and signing). */
  allow?: string[];
  /** Certificate issuers and roles (`pki:` of the config), for the signing scenario. */
  pkiConfig?: Record<string, unknown>;
}

/** Writes keygate's config (client certificates verified against the bench CA, audit log to a file) and starts it. */
export async function startKeygate(repo: string, opts: KeygateOptions): Promise<Server> {
  mkdirSync(opts.dir, { recursive: true });
  const config = {
    address: '127.0.0.1:0',
    admin: { identity: opts.pki.admin.identity },
    tls: { key: opts.pki.serverKeyFile, cert: opts.pki.serverCertFile, auth: 'on', ca: opts.pki.caFile },
    policy: {
      bench: {
        allow: opts.allow ?? ['/v1/cert/get/*', '/v1/key/generate/bench-*', '/v1/key/decrypt/bench-*', '/v1/key/describe/bench-*', '/v1/pki/sign/bench-*'],
        identities: opts.pki.clients.map((c) => c.identity),
      },
    },
    log: { audit: 'on', audit_file: join(opts.dir, 'audit.log'), error: 'on', error_file: join(opts.dir, 'error.log') },
    keystore: opts.keystore,
    ...(opts.cache ? { cache: opts.cache } : {}),
    ...(opts.pkiConfig ? { pki: opts.pkiConfig } : {}),
    server: { workers: opts.workers ?? 1 },
  };
  const file = join(opts.dir, 'keygate.yml');
  writeFileSync(file, stringify(config), { mode: 0o600 });
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [...(opts.nodeFlags ?? []), 'bin/keygate.js', 'server', '--config', file], {
      cwd: repo,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    }),
  );
  const m = await waitForLine(child, /keygate listening on https:\/\/\S+:(\d+)/, 'keygate').catch(async (err: Error) => {
    await stopChild(child, 'SIGKILL', 0, true);
    throw new Error(`${err.message}\n${readTail(join(opts.dir, 'error.log'))}`);
  });
  return {
    name: 'keygate',
    port: Number(m[1]),
    pid: child.pid as number,
    startMs: performance.now() - started,
    stop: () => stopChild(child, 'SIGTERM', 15_000, true),
  };
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

export interface StaticRoute {
  path: string;
  body: Buffer;
  contentType: string;
}

/** The bare node:https server (baseline-node.ts) serving `routes`. */
export async function startNodeBaseline(
  dir: string,
  pki: BenchPKI,
  routes: StaticRoute[],
  extra: { nodeFlags?: string[]; env?: Record<string, string> } = {},
): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const config = {
    certFile: pki.serverCertFile,
    keyFile: pki.serverKeyFile,
    caFile: pki.caFile,
    identities: pki.clients.map((c) => c.identity),
    routes: Object.fromEntries(
      routes.map((r, i) => {
        const bodyFile = join(dir, `body-${i}`);
        writeFileSync(bodyFile, r.body);
        return [r.path, { bodyFile, contentType: r.contentType }];
      }),
    ),
  };
  const file = join(dir, 'baseline.json');
  writeFileSync(file, JSON.stringify(config));
  return launchBaseline('./baseline-node.ts', file, 'node baseline', extra);
}

/** Runs a baseline script (bench/baseline-server.ts) on its config file; resolves once it says which port it listens on. */
async function launchBaseline(
  script: string,
  file: string,
  label: string,
  extra: { nodeFlags?: string[]; env?: Record<string, string> } = {},
): Promise<Server> {
  const path = new URL(script, import.meta.url).pathname;
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [...process.execArgv, ...(extra.nodeFlags ?? []), path, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(extra.env ? { env: { ...process.env, ...extra.env } } : {}),
    }),
  );
  const m = await waitForLine(child, /listening (\d+)/, label);
  return { name: 'node', port: Number(m[1]), pid: child.pid as number, startMs: performance.now() - started, stop: () => stopChild(child) };
}

/** The KES-equivalent baseline (baseline-kes.ts): KES's key API for one cached key, with node:crypto. */
export async function startKesBaseline(
  dir: string,
  pki: BenchPKI,
  opts: { keyName: string; key: Buffer; description: unknown; version: unknown },
  extra: { nodeFlags?: string[]; env?: Record<string, string> } = {},
): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const config = {
    certFile: pki.serverCertFile,
    keyFile: pki.serverKeyFile,
    caFile: pki.caFile,
    identities: pki.clients.map((c) => c.identity),
    keyName: opts.keyName,
    keyB64: opts.key.toString('base64'),
    description: opts.description,
    version: opts.version,
  };
  const file = join(dir, 'baseline-kes.json');
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return launchBaseline('./baseline-kes.ts', file, 'KES baseline', extra);
}

/** A free ephemeral port (nginx cannot report the port it got for `listen 0`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function nginxConfig(dir: string, port: number, pki: BenchPKI): string {
  // As root, nginx would switch its worker to www-data, which cannot read the temp dir: stay the current user.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  return `${user}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  default_type application/json;
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_timeout 90s;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${pki.serverCertFile};
    ssl_certificate_key ${pki.serverKeyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate ${pki.caFile};
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    root ${dir}/www;
  }
}
`;
}

/** Debian's nginx, one worker, the routes as static files under a temp root, run as the current user. */
export async function startNginx(dir: string, pki: BenchPKI, routes: StaticRoute[]): Promise<Server> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  for (const r of routes) {
    const file = join(dir, 'www', r.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, r.body);
  }
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, pki));
  const started = performance.now();
  const child = track(spawn(NGINX, ['-p', dir + '/', '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const output = tail(child);
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child, 'SIGKILL', 0);
      throw new Error(`nginx did not start: ${output()} ${readTail(join(dir, 'error.log'))}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { name: 'nginx', port, pid: child.pid as number, startMs: performance.now() - started, stop: () => stopChild(child, 'SIGTERM') };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The project's Vault-compatible test server (test/vault-server), over plain HTTP on loopback. */
export async function startVault(repo: string, rootToken: string): Promise<Server & { url: string }> {
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [...process.execArgv, 'test/vault-server/main.ts', '--listen', '127.0.0.1:0', '--root-token', rootToken], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const m = await waitForLine(child, /listening on (http:\/\/\S+:(\d+))/, 'vault test server');
  return {
    name: 'vault',
    url: m[1] as string,
    port: Number(m[2]),
    pid: child.pid as number,
    startMs: performance.now() - started,
    stop: () => stopChild(child),
  };
}
