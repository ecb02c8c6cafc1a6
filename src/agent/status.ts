/**
 * What the agent knows about itself, for operators: per-bundle state (version,
 * not-after, last refresh, last error), the last reload, names the server listed
 * that the agent refused as bundle names, and Prometheus metrics.
 * Served on a loopback-only HTTP listener: `GET /status` (JSON), `GET /metrics`
 * (Prometheus text), `GET /healthz` (200 once every bundle and issued certificate is on disk, else 503).
 * Nothing here holds key material or tokens.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { isLoopback } from './config.js';

export type BundleState = 'pending' | 'ok' | 'error' | 'removed';

export interface BundleStatus {
  name: string;
  state: BundleState;
  version: string | null;
  notAfter: Date | null;
  ttl: number | null;
  /** Last successful fetch. */
  lastRefresh: Date | null;
  /** Last time new files were written. */
  lastChange: Date | null;
  nextRefresh: Date | null;
  lastError: string | null;
}

/** A certificate the agent has issued for it (`certificates:`); no key material. */
export interface CertificateStatus {
  name: string;
  role: string;
  state: 'pending' | 'ok' | 'error';
  /** Of the certificate on disk; null before the first one. */
  serial: string | null;
  notAfter: Date | null;
  lastIssued: Date | null;
  nextRenewal: Date | null;
  lastError: string | null;
}

export interface ReloadStatus {
  at: Date;
  ok: boolean;
  exitCode: number | null;
  error: string;
}

/** Refused names kept for the status: enough to see what the server sends, bounded whatever it sends. */
const MAX_REFUSED_NAMES = 20;

export class StatusBoard {
  readonly registry = new Registry();
  private readonly bundles = new Map<string, BundleStatus>();
  private readonly certificates = new Map<string, CertificateStatus>();
  /** Names refused as bundle names since the agent started (nothing was written for them), first seen first. */
  private readonly refused = new Set<string>();
  lastReload: ReloadStatus | null = null;
  serverReachable = false;
  tokenExpiresAt: Date | null = null;

  readonly refreshes = new Counter({
    name: 'keygate_agent_refreshes_total',
    help: 'Bundle fetches by result: changed, unchanged, failed, removed.',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: 'keygate_agent_reloads_total',
    help: 'Reload command runs by result: ok, failed, timeout.',
    labelNames: ['result'],
    registers: [this.registry],
  });

  readonly issuances = new Counter({
    name: 'keygate_agent_certificate_issuances_total',
    help: 'Certificates issued for the agent (certificates:), by result: issued, reused, failed; revocations at exit: revoked, revoke_failed.',
    labelNames: ['result'],
    registers: [this.registry],
  });

  constructor() {
    const bundles = this.bundles;
    const certificates = this.certificates;
    new Gauge({
      name: 'keygate_agent_certificate_not_after_seconds',
      help: 'Expiry of the issued certificate on disk (Unix time).',
      labelNames: ['certificate'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of certificates.values()) if (c.notAfter) this.set({ certificate: c.name }, c.notAfter.getTime() / 1000);
      },
    });
    const perBundle = (name: string, help: string, value: (b: BundleStatus) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['bundle'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const b of bundles.values()) {
            const v = value(b);
            if (v !== null) this.set({ bundle: b.name }, v);
          }
        },
      });
    const seconds = (d: Date | null) => (d === null ? null : d.getTime() / 1000);
    perBundle('keygate_agent_bundle_not_after_seconds', 'Expiry of the certificate on disk (Unix time).', (b) => seconds(b.notAfter));
    perBundle('keygate_agent_bundle_last_refresh_seconds', 'Last successful fetch (Unix time).', (b) => seconds(b.lastRefresh));
    perBundle('keygate_agent_bundle_ok', '1 when the last fetch succeeded, else 0.', (b) => (b.state === 'removed' ? null : b.state === 'ok' ? 1 : 0));
    const single = (name: string, help: string, value: () => number | null) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const v = value();
          if (v !== null) this.set(v);
        },
      });
    single('keygate_agent_server_reachable', '1 when the last request reached the server.', () => (this.serverReachable ? 1 : 0));
    single('keygate_agent_node_token_expiry_seconds', 'Expiry of the node token (Unix time), when registered with a group token.', () =>
      seconds(this.tokenExpiresAt),
    );
  }

  /** The status of `name`, created as pending on first use. */
  bundle(name: string): BundleStatus {
    let b = this.bundles.get(name);
    if (!b) {
      b = { name, state: 'pending', version: null, notAfter: null, ttl: null, lastRefresh: null, lastChange: null, nextRefresh: null, lastError: null };
      this.bundles.set(name, b);
    }
    return b;
  }

  /** The status of issued certificate `name` (files of `dir`), created as pending on first use. */
  certificate(name: string, role = ''): CertificateStatus {
    let c = this.certificates.get(name);
    if (!c) {
      c = { name, role, state: 'pending', serial: null, notAfter: null, lastIssued: null, nextRenewal: null, lastError: null };
      this.certificates.set(name, c);
    }
    return c;
  }

  /** Forgets a bundle the agent no longer serves (e.g. dropped from the node's listing). */
  forget(name: string): void {
    this.bundles.delete(name);
  }

  /** Notes a name the server listed and the agent refused. */
  refusedName(name: string): void {
    if (this.refused.size < MAX_REFUSED_NAMES) this.refused.add(name.slice(0, 300));
  }

  /** Whether every bundle the agent serves has files on disk. */
  healthy(): boolean {
    return (
      [...this.bundles.values()].every((b) => b.state === 'removed' || b.version !== null) && [...this.certificates.values()].every((c) => c.serial !== null)
    );
  }

  toJSON() {
    const iso = (d: Date | null) => (d === null ? null : d.toISOString());
    return {
      server_reachable: this.serverReachable,
      node_token_expires_at: iso(this.tokenExpiresAt),
      last_reload: this.lastReload && {
        at: iso(this.lastReload.at),
        ok: this.lastReload.ok,
        exit_code: this.lastReload.exitCode,
        error: this.lastReload.error,
      },
      bundles: [...this.bundles.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((b) => ({
          name: b.name,
          state: b.state,
          version: b.version,
          not_after: iso(b.notAfter),
          ttl: b.ttl,
          last_refresh: iso(b.lastRefresh),
          last_change: iso(b.lastChange),
          next_refresh: iso(b.nextRefresh),
          last_error: b.lastError,
        })),
      refused_names: [...this.refused],
      certificates: [...this.certificates.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((c) => ({
          name: c.name,
          role: c.role,
          state: c.state,
          serial: c.serial,
          not_after: iso(c.notAfter),
          last_issued: iso(c.lastIssued),
          next_renewal: iso(c.nextRenewal),
          last_error: c.lastError,
        })),
    };
  }
}

export interface StatusServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves the board on a loopback address. Connections from anywhere else are
 * refused too (defence in depth: the address is checked when the config is loaded).
 */
export async function serveStatus(board: StatusBoard, host: string, port: number): Promise<StatusServer> {
  if (!isLoopback(host)) throw new Error(`status: ${host} is not a loopback address`);
  const server = http.createServer((req, res) => {
    void answer(board, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function answer(board: StatusBoard, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const send = (status: number, type: string, body: string) => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  if (!isLoopback(req.socket.remoteAddress ?? '')) return send(403, 'text/plain', 'loopback only\n');
  if (req.method !== 'GET') return send(405, 'text/plain', 'GET only\n');
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/status') return send(200, 'application/json', JSON.stringify(board, null, 2) + '\n');
  if (path === '/metrics') return send(200, board.registry.contentType, await board.registry.metrics());
  if (path === '/healthz') return board.healthy() ? send(200, 'text/plain', 'ok\n') : send(503, 'text/plain', 'bundles missing\n');
  send(404, 'text/plain', 'not found\n');
}
