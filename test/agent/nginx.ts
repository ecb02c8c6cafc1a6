/** A real nginx for the end-to-end test: started as the current user on an ephemeral loopback port. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { eventually } from './support.js';
import { spawnTracked } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';

export const NGINX = '/usr/sbin/nginx';

export interface RunningNginx {
  port: number;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxSetup {
  port: number;
  /** The reload command the agent runs: signals the master through its pid file. */
  reloadCommand: string[];
  start(): Promise<RunningNginx>;
}

/**
 * Writes an nginx config serving `cert`/`key` for site.test on a free loopback port,
 * with pid file, logs and temp paths in `dir`; start() runs it in the foreground (`daemon off`).
 */
export async function prepareNginx(dir: string, cert: string, key: string): Promise<NginxSetup> {
  const port = await freePort();
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'error.log');
  const temp = (kind: string) => `${kind}_temp_path ${join(dir, 'temp', kind)};`;
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} info;
events { worker_connections 256; }
http {
  access_log ${join(dir, 'access.log')};
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${port} ssl;
    server_name site.test;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / { return 200 "ok\\n"; }
  }
}
`,
  );
  const base = ['-p', dir, '-c', conf, '-e', errorLog];
  const readLog = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  return { port, reloadCommand: [NGINX, ...base, '-s', 'reload'], start: () => run(base, port, readLog) };
}

async function run(args: string[], port: number, errorLog: () => string): Promise<RunningNginx> {
  // Master and workers in one process group of their own: a failed test cannot leave them
  // running, and the file's end kills them if stop() was never reached (test/helpers/processes.ts).
  const child = spawnTracked(NGINX, args, { stdio: ['ignore', 'ignore', 'pipe'] }, 'file');
  await eventually(async () => {
    if (child.gone) throw new Error(`nginx exited: ${child.stderr()}${errorLog()}`);
    return (await handshake(port).catch(() => null)) !== null;
  }, 'nginx to serve TLS');
  return {
    port,
    errorLog,
    async stop() {
      child.signal('SIGQUIT');
      await child.exited;
      await child.killGroup();
    },
  };
}

/**
 * One TLS handshake with SNI `servername`; resolves with the SHA-256 fingerprint of the leaf served.
 * With `ca`, the chain and the name are verified as a browser would.
 */
export function handshake(port: number, ca?: string, servername = 'site.test'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ...(ca ? { ca } : { rejectUnauthorized: false }) }, () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve(peer.fingerprint256);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
    socket.once('error', reject);
  });
}

/** `openssl s_client -connect 127.0.0.1:PORT -servername site.test`: the fingerprint of the certificate it shows. */
export function opensslFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'site.test'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', () => {
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out);
      if (!pem) return reject(new Error(`openssl s_client showed no certificate:\n${out.slice(0, 500)}`));
      resolve(new X509Certificate(pem[0]).fingerprint256);
    });
  });
}

/** Handshakes back to back until stopped, verifying the chain against `ca` (and `servername`); counts failures. */
export function hammer(port: number, ca: string, servername?: string) {
  /** Each change of the certificate served, in order. */
  const seen: string[] = [];
  /** The certificates of the last 20 handshakes. */
  const recent: string[] = [];
  const errors: string[] = [];
  let running = true;
  let ok = 0;
  const done = (async () => {
    while (running) {
      try {
        const fp = await handshake(port, ca, servername);
        if (seen.at(-1) !== fp) seen.push(fp);
        recent.push(fp);
        if (recent.length > 20) recent.shift();
        ok++;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  })();
  return {
    seen,
    recent,
    errors,
    get ok() {
      return ok;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}
