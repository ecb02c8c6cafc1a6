/**
 * A small JSON client for Vault's HTTP API over one pooled keep-alive agent.
 *
 * Transport failures (refused, reset, timed out) are thrown as
 * StoreUnreachableError; every HTTP answer, whatever its status, is returned
 * so callers can decide what a 404 or 400 means for them, and `vaultFailure`
 * turns an unexpected one into an error. No message built here ever contains
 * the request's token, credentials or body.
 *
 * Several endpoints (the nodes of one Vault HA cluster): a request goes to the
 * node that served last and moves on to the next node when this one cannot
 * serve it — not reachable, sealed, or a standby that cannot reach an active
 * node. Vault 1.4 standbys forward requests to the active node; while there is
 * none (the active died and no new one is elected yet) they answer 307 with a
 * Location naming the old active node, or 500 "local node not active but active
 * cluster node not found". The Location is never followed: it names a node no
 * configuration vouches for, and the request would carry the token there. A
 * request that may have reached a node (a timeout, a reset) moves on only when
 * it is idempotent; a write is never sent twice.
 */
import http from 'node:http';
import https from 'node:https';
import { StoreError, StoreUnreachableError } from '../keystore.js';
import type { VaultTlsOptions } from './options.js';

export interface VaultRequest {
  /** 'LIST' is sent as `GET ?list=true` (see `send`). */
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'LIST';
  /** Relative to `/v1/`, without a leading '/'; segments already safe for a URL. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  token?: string;
  /** '' or unset: no `X-Vault-Namespace` header, i.e. the root namespace. */
  namespace?: string;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
  /** Strings to scrub from any error message (secret IDs, JWTs). */
  secrets?: readonly string[];
}

export interface VaultResponse {
  status: number;
  /** Parsed JSON body; null for an empty body or one that is not JSON. */
  body: unknown;
  /** Vault's `errors` list, [] when absent; scrubbed of the request's credentials. */
  errors: string[];
  /** Vault's `warnings` list, [] when absent (they explain e.g. a KV v2 mount's 404 for a v1 path). */
  warnings: string[];
}

/** Vault refuses larger request bodies too; a bigger answer means something is wrong. */
const MAX_RESPONSE_BYTES = 32 << 20;
/** Idle pooled sockets are closed well before typical proxy/Vault idle timeouts. */
const IDLE_SOCKET_MS = 30_000;

/** Transport errors that happen before any byte of the request left this host. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
/** What a Vault 1.4 standby answers while it cannot forward to an active node (see the top of this file). */
const NO_ACTIVE_NODE = 'local node not active but active cluster node not found';

interface Target {
  url: URL;
  /** The URL's path + '/v1/'. */
  base: string;
}

export class VaultHTTP {
  private readonly agent: http.Agent;
  private readonly targets: Target[];
  /** Index of the node that served last: where the next request goes first. */
  private preferred = 0;

  constructor(
    endpoints: URL | readonly URL[],
    tls: VaultTlsOptions,
    private readonly timeoutMs: number,
  ) {
    const urls = Array.isArray(endpoints) ? endpoints : [endpoints as URL];
    if (urls.length === 0) throw new StoreError('vault: no endpoint');
    this.targets = urls.map((url) => ({ url, base: url.pathname.replace(/\/+$/, '') + '/v1/' }));
    const endpoint = urls[0] as URL;
    // As many idle sockets kept as may be open: with fewer, every burst of more than that many
    // concurrent reads closed the surplus and opened new ones on the next (issue 19: with the cache off,
    // 32 nodes fetching halved the rate, and `Connection: close` clients made the bursts).
    const common = { keepAlive: true, maxSockets: 64, maxFreeSockets: 64, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const };
    this.agent =
      endpoint.protocol === 'https:'
        ? new https.Agent({
            ...common,
            ...(tls.ca !== undefined && { ca: tls.ca }),
            ...(tls.cert !== undefined && { cert: tls.cert }),
            ...(tls.key !== undefined && { key: tls.key }),
            rejectUnauthorized: tls.insecure !== true,
          })
        : new http.Agent(common);
  }

  /**
   * Sends one request and returns Vault's answer whatever its status.
   * Throws StoreUnreachableError when no answer arrives (network error, timeout),
   * or when the node (every node, with several endpoints) is a standby without a
   * reachable active node. With several endpoints, a sealed answer is returned
   * only when no node could serve.
   */
  async send(req: VaultRequest): Promise<VaultResponse> {
    const idempotent = req.method === 'GET' || req.method === 'LIST' || req.method === 'DELETE';
    const count = this.targets.length;
    const start = this.preferred;
    const failures: string[] = [];
    let sealed: VaultResponse | undefined;
    for (let i = 0; i < count; i++) {
      const index = (start + i) % count;
      const target = this.targets[index] as Target;
      let res: VaultResponse;
      try {
        res = await this.sendTo(target, req, idempotent);
      } catch (err) {
        if (!(err instanceof StoreUnreachableError) || count === 1) throw err;
        const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
        if (!idempotent && !NOT_SENT.has(code ?? '')) throw err;
        failures.push(`${target.url.host}: ${err.message.replace(/^vault: [A-Z]+ \S+: /, '')}`);
        continue;
      }
      if (isStandbyWithoutActive(res)) {
        if (count === 1) throw new StoreUnreachableError(`vault: ${describe(req)}: ${res.status} standby node cannot reach an active node`);
        failures.push(`${target.url.host}: ${res.status} standby without an active node`);
        continue;
      }
      if (count > 1 && isSealed(res)) {
        sealed ??= res;
        failures.push(`${target.url.host}: sealed`);
        continue;
      }
      this.preferred = index;
      return res;
    }
    if (sealed !== undefined) return sealed;
    throw new StoreUnreachableError(`vault: ${describe(req)}: no Vault node could serve (${failures.join('; ')})`);
  }

  /**
   * `sys/health` of the cluster; `req` is the health request for one endpoint.
   * One endpoint: `req` is sent as it is (with `standbyok`, a standby's 200 is trusted).
   * Several: every node is asked without `standbyok`; an active node's answer is returned
   * and that node becomes the preferred one. With no active node, a standby is trusted
   * only when the leader it names is none of the endpoints (an active node this
   * keygate cannot check); otherwise StoreUnreachableError says what each node is.
   * When every node is sealed (or unreachable), a sealed answer is returned.
   */
  async health(req: VaultRequest): Promise<VaultResponse> {
    if (this.targets.length === 1) return this.send(req);
    const query = { ...req.query };
    delete query['standbyok'];
    const single: VaultRequest = { ...req, query };
    const answers = await firstOrAll(
      this.targets.map((target) => this.sendTo(target, single, true)),
      (res) => res.status === 200 || res.status === 473,
    );
    const states: string[] = [];
    let sealed: VaultResponse | undefined;
    let standby: { index: number; res: VaultResponse } | undefined;
    for (const [index, answer] of answers.entries()) {
      const host = (this.targets[index] as Target).url.host;
      if (answer === undefined) continue;
      if (answer instanceof Error) {
        states.push(`${host} unreachable`);
        continue;
      }
      if (answer.status === 200 || answer.status === 473) {
        this.preferred = index;
        return answer;
      }
      if (isSealed(answer) || answer.status === 501) {
        sealed ??= answer;
        states.push(`${host} ${answer.status === 501 ? 'not initialized' : 'sealed'}`);
      } else if (answer.status === 429) {
        standby ??= { index, res: answer };
        states.push(`${host} standby`);
      } else {
        states.push(`${host} ${answer.status}`);
      }
    }
    if (standby !== undefined) {
      const leader = await this.sendTo(this.targets[standby.index] as Target, { method: 'GET', path: 'sys/leader' }, true).catch(() => undefined);
      const address = field(leader?.body, 'leader_address');
      if (typeof address === 'string' && address !== '' && !this.targets.some((t) => sameOrigin(t.url, address))) {
        this.preferred = standby.index;
        return { ...standby.res, status: 200 };
      }
      throw new StoreUnreachableError(`vault: no active Vault node (${states.join(', ')})`);
    }
    if (sealed !== undefined) return sealed;
    throw new StoreUnreachableError(`vault: no Vault node answers (${states.join(', ')})`);
  }

  /** One request to one node; a stale pooled socket is retried once on that node when idempotent. */
  private async sendTo(target: Target, req: VaultRequest, idempotent: boolean): Promise<VaultResponse> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(target, req);
      } catch (err) {
        // A pooled socket the server closed while idle fails on reuse, usually before
        // the request reached Vault; one retry is safe for requests that are idempotent anyway.
        if (!(err instanceof StaleSocketError)) throw err;
        if (!idempotent || attempt > 1) throw err.unreachable;
      }
    }
  }

  /** Closes every pooled socket; later requests open new ones. */
  close(): void {
    this.agent.destroy();
  }

  private attempt(target: Target, req: VaultRequest): Promise<VaultResponse> {
    // Vault's LIST verb is exactly `GET ?list=true` (same operation, same ACL
    // capability); plain GET also passes proxies and HTTP parsers that reject
    // unknown methods, Node's own server among them.
    const list = req.method === 'LIST';
    const query = new URLSearchParams({ ...req.query, ...(list && { list: 'true' }) }).toString();
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = { Accept: 'application/json', 'X-Vault-Request': 'true' };
    if (req.token !== undefined && req.token !== '') headers['X-Vault-Token'] = req.token;
    if (req.namespace !== undefined && req.namespace !== '') headers['X-Vault-Namespace'] = req.namespace;
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const what = describe(req);
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const endpoint = target.url;
    const client = endpoint.protocol === 'https:' ? https : http;

    return new Promise<VaultResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: VaultResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res as VaultResponse);
      };
      const request = client.request({
        agent: this.agent,
        protocol: endpoint.protocol,
        hostname: endpoint.hostname.replace(/^\[|\]$/g, ''),
        port: endpoint.port,
        method: list ? 'GET' : req.method,
        path: target.base + req.path + (query === '' ? '' : `?${query}`),
        headers,
      });
      const timer = setTimeout(() => {
        finish(new StoreUnreachableError(`vault: ${what}: no response within ${timeoutMs} ms`));
        request.destroy();
      }, timeoutMs);
      timer.unref();
      request.on('error', (err: NodeJS.ErrnoException) => {
        const unreachable = new StoreUnreachableError(`vault: ${what}: ${scrub(err.message, req)}`, { cause: err });
        const stale = request.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        finish(stale ? new StaleSocketError(unreachable) : unreachable);
      });
      request.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            finish(new StoreError(`vault: ${what}: response larger than ${MAX_RESPONSE_BYTES} bytes`));
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => finish(new StoreUnreachableError(`vault: ${what}: ${scrub(err.message, req)}`, { cause: err })));
        res.on('aborted', () => finish(new StoreUnreachableError(`vault: ${what}: connection closed mid-response`)));
        res.on('end', () => finish(null, decode(res.statusCode ?? 0, Buffer.concat(chunks), req)));
      });
      request.end(payload);
    });
  }
}

/**
 * The error for an answer the caller did not expect: sealed, standby without a
 * leader and gateway failures are StoreUnreachableError, anything else is a
 * StoreError naming the method, path, status and Vault's messages.
 */
export function vaultFailure(req: VaultRequest, res: VaultResponse): StoreError {
  const said = res.errors.length > 0 ? res.errors : res.warnings;
  const detail = said.length > 0 ? said.map(tidy).join('; ') : (http.STATUS_CODES[res.status] ?? 'unexpected status');
  const message = `vault: ${describe(req)}: ${res.status} ${detail.slice(0, 300)}`;
  // A KV v2 mount answers 400 "Upgrading from non-versioned to versioned data" for a short while after it is enabled or upgraded.
  // Vault has no error codes: its words are the only signal here and in the checks below (external
  // text, allowed in test/build/no-message-matching.test.ts).
  const transient = res.status === 400 && said.some((e) => e.startsWith('Upgrading from non-versioned to versioned data'));
  if (transient || res.status === 502 || res.status === 503 || res.status === 504) return new StoreUnreachableError(message);
  return new StoreError(message);
}

/** One line per Vault message: Go's multierror framing ("1 error occurred:\n\t* …") dropped. */
function tidy(message: string): string {
  return message
    .replace(/^\d+ errors? occurred:/, '')
    .split(/\n\t\* /)
    .map((part) => part.replace(/\s+/g, ' ').trim())
    .filter((part) => part !== '')
    .join('; ');
}

/**
 * True for Vault's "no such token / token expired" 403, as opposed to an ACL denial — and for
 * Vault 1.4's 400 for a made-up token with a dot in it, which it reads as `<token>.<namespace ID>`.
 */
export function isInvalidToken(res: VaultResponse): boolean {
  if (res.status === 400 && res.errors.some((e) => e.includes('failed to look up namespace from the token'))) return true;
  return res.status === 403 && res.errors.length === 1 && res.errors[0] === 'permission denied';
}

/** A standby that cannot forward to an active node: nothing was applied, another node may serve. */
function isStandbyWithoutActive(res: VaultResponse): boolean {
  return res.status === 307 || (res.status === 500 && res.errors.some((e) => e.includes(NO_ACTIVE_NODE)));
}

function isSealed(res: VaultResponse): boolean {
  return res.status === 503 && (field(res.body, 'sealed') === true || res.errors.some((e) => e.includes('sealed')));
}

function sameOrigin(url: URL, address: string): boolean {
  try {
    return new URL(address).origin === url.origin;
  } catch {
    return false;
  }
}

/**
 * Settles every promise; stops waiting for the rest as soon as one resolves with a value
 * `wanted` accepts (those still pending are then undefined in the result).
 */
function firstOrAll<T>(promises: Promise<T>[], wanted: (value: T) => boolean): Promise<Array<T | Error | undefined>> {
  const results: Array<T | Error | undefined> = promises.map(() => undefined);
  return new Promise((resolve) => {
    let pending = promises.length;
    promises.forEach((p, i) => {
      p.then(
        (value) => {
          results[i] = value;
          if (wanted(value)) resolve(results);
        },
        (err: unknown) => (results[i] = err instanceof Error ? err : new Error(String(err))),
      ).finally(() => {
        if (--pending === 0) resolve(results);
      });
    });
  });
}

/** A transport failure on a reused keep-alive socket: the request may not have left this host. */
class StaleSocketError extends Error {
  constructor(readonly unreachable: StoreUnreachableError) {
    super(unreachable.message);
  }
}

/** `obj[key]` for a parsed JSON value of unknown shape; undefined when absent. */
export function field(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== 'object' || !Object.hasOwn(obj, key)) return undefined;
  return (obj as Record<string, unknown>)[key];
}

function describe(req: VaultRequest): string {
  return `${req.method} ${req.path}`;
}

/** Belt and braces: Vault never echoes credentials, but a proxy in between might. */
function scrub(text: string, req: VaultRequest): string {
  let out = text;
  for (const secret of [req.token, ...(req.secrets ?? [])]) {
    if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('<redacted>');
  }
  return out;
}

/** Parses an answer; Vault's messages are scrubbed of the request's credentials right here. */
function decode(status: number, raw: Buffer, req: VaultRequest): VaultResponse {
  let body: unknown = null;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = null;
    }
  }
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((e): e is string => typeof e === 'string').map((e) => scrub(e, req)) : []);
  return { status, body, errors: strings(field(body, 'errors')), warnings: strings(field(body, 'warnings')) };
}
