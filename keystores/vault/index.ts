/**
 * The Vault keystore: entries in a KV v1 or v2 mount, laid out exactly as
 * MinIO KES lays out its keys (see kv.ts), so a keygate can serve a KES
 * deployment's Vault data in place.
 *
 * Vault statuses stop here: callers see only the errors of ../keystore.ts.
 * Sealed or unreachable Vault is StoreUnreachableError (fast while known, see
 * health.ts); any other unexpected answer is StoreError("vault: <method>
 * <path>: <status> <Vault's message>"). A request rejected because the token
 * expired is retried once with a fresh login.
 */
import {
  EntryExistsError,
  EntryNotFoundError,
  InvalidEntryNameError,
  MAX_LIST_PAGE,
  StoreError,
  StoreUnreachableError,
  VersionMismatchError,
  isValidEntryName,
  type Entry,
  type KeyStore,
  type ListPage,
  type StoreStatus,
} from '../keystore.js';
import { checkListArgs } from '../listing.js';
import { AccessCheck } from './access.js';
import { VaultAuthenticator } from './auth.js';
import { HealthMonitor } from './health.js';
import { VaultHTTP, field, isInvalidToken, vaultFailure, type VaultRequest, type VaultResponse } from './http.js';
import { isCASMismatch, kvStrategy, newGeneration, type KVRead, type KVStrategy } from './kv.js';
import { proveAuthNamespace, proveKVNamespace } from './namespace.js';
import { namespacePath, resolveOptions, type ResolvedVaultOptions, type VaultOptions } from './options.js';

export type { VaultAuth, VaultOptions, VaultTlsOptions } from './options.js';
export { BINARY_FIELD } from './kv.js';

/** Logins one request may trigger when its token keeps being rejected. */
const MAX_REFRESHES = 3;

export class VaultKeyStore implements KeyStore {
  private closed = false;
  /** Per-name queues of compare-then-write operations, for engines without check-and-set. */
  private readonly queues = new Map<string, Promise<unknown>>();

  private constructor(
    private readonly options: ResolvedVaultOptions,
    private readonly http: VaultHTTP,
    private readonly kv: KVStrategy,
    private readonly auth: VaultAuthenticator,
    private readonly health: HealthMonitor,
    private readonly access: AccessCheck,
  ) {}

  /**
   * Validates the options, logs in to Vault and starts token renewal and health probing.
   * Throws StoreError("vault: …") when the options are invalid or Vault refuses the
   * credentials, StoreUnreachableError when Vault cannot be reached or is sealed.
   */
  static async connect(options: VaultOptions): Promise<VaultKeyStore> {
    const resolved = resolveOptions(options);
    const http = new VaultHTTP(resolved.endpoints, resolved.tls, resolved.timeoutMs);
    const auth = new VaultAuthenticator(http, resolved.auth, resolved.namespace, resolved.log);
    try {
      await auth.start();
    } catch (err) {
      await auth.close(false);
      http.close();
      const message = `vault: cannot connect to ${resolved.endpoint.origin}: ${(err as Error).message.replace(/^vault: /, '')}`;
      throw err instanceof StoreUnreachableError ? new StoreUnreachableError(message) : new StoreError(message);
    }
    const kv = kvStrategy(resolved.version, resolved.engine, resolved.prefix);
    // Namespace safety: a namespace the server ignores isolates nothing (see namespace.ts).
    const check = { http, kv, token: () => auth.token, origin: resolved.endpoint.origin, log: resolved.log };
    const authNamespace = resolved.auth.kind !== 'token' && resolved.auth.namespace !== undefined ? namespacePath(resolved.auth.namespace) : '';
    try {
      if (resolved.namespace !== '') await proveKVNamespace(check, resolved.namespace);
      if (authNamespace !== '' && authNamespace !== resolved.namespace) await proveAuthNamespace(check, authNamespace);
    } catch (err) {
      await auth.close(true);
      http.close();
      throw err;
    }
    // A token denied the keystore's folder connects fine and fails every operation: say so now, once.
    const access = new AccessCheck(http, kv, () => auth.token, resolved.namespace);
    const missing = await access.missing().catch(() => '');
    if (missing !== '') resolved.log('error', `vault: ${missing}; keygate is not ready until the token's policies grant it`);
    const health = new HealthMonitor(http, resolved.pingIntervalMs, resolved.log);
    health.start();
    resolved.log('info', `vault: serving ${resolved.engine} (kv ${resolved.version}) at ${resolved.endpoints.map((u) => u.origin).join(', ')}`);
    return new VaultKeyStore(resolved, http, kv, auth, health, access);
  }

  async create(name: string, value: Uint8Array): Promise<void> {
    checkName(name);
    const bytes = Buffer.from(value);
    const cas = this.kv.createCAS;
    if (cas === undefined) {
      // KV v1 has no check-and-set: this read-then-write is atomic within this
      // process only, NOT across replicas — two replicas creating one name at
      // the same moment may both succeed, and the last write wins.
      return this.serialized(name, async () => {
        if ((await this.read(name)).kind !== 'missing') throw new EntryExistsError(name);
        const { req, res } = await this.write(name, bytes, undefined);
        this.expect(req, res, 200, 204);
      });
    }
    // Every created entry is a new generation, so no update meant for an earlier one applies to it.
    const generation = newGeneration();
    let written = await this.write(name, bytes, cas, generation);
    if (isCASMismatch(written.res)) {
      const current = await this.read(name);
      if (current.kind !== 'deleted') throw new EntryExistsError(name);
      // Soft-deleted outside keygate: invisible to get(), so replace it — still atomically.
      written = await this.write(name, bytes, current.version, generation);
      if (isCASMismatch(written.res)) throw new EntryExistsError(name);
    }
    this.expect(written.req, written.res, 200, 204);
  }

  async get(name: string): Promise<Entry> {
    checkName(name);
    const found = this.present(name, await this.read(name));
    return { value: found.value, version: found.version };
  }

  async update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    checkName(name);
    const bytes = Buffer.from(value);
    const cas = this.kv.casFor(expectedVersion);
    if (cas === undefined) {
      // No check-and-set (KV v1): compare-then-write, atomic within this process only, NOT across replicas.
      return this.serialized(name, async () => {
        if (this.present(name, await this.read(name)).version !== expectedVersion) throw new VersionMismatchError(name);
        return this.replace(name, bytes, undefined);
      });
    }
    // The read also rules out ABA: KV v2 restarts versions at 1 after a delete, so the
    // version number alone may name a re-created entry; its generation may not (kv.ts).
    const current = this.present(name, await this.read(name));
    // No version the engine hands out looks like a negative one: the answer only depended on existence.
    if (cas < 0 || current.version !== expectedVersion) throw new VersionMismatchError(name);
    return this.replace(name, bytes, cas, current.generation === '' ? newGeneration() : current.generation);
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    // Without check-and-set, a delete must not land between another local operation's compare and write.
    if (this.kv.createCAS === undefined) return this.serialized(name, () => this.remove(name));
    return this.remove(name);
  }

  async list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    checkListArgs(prefix, continueAt, limit);
    const req: VaultRequest = { method: 'LIST', path: this.kv.listPath };
    const res = await this.call(req);
    if (res.status === 404) return { names: [], continueAt: '' };
    this.expect(req, res, 200);
    const keys = field(field(res.body, 'data'), 'keys');
    if (!Array.isArray(keys)) throw new StoreError(`vault: LIST ${req.path}: answer has no keys`);
    // Vault returns the whole folder at once; paging happens here. Sub-folders
    // ('x/') and names no entry can have are not entries.
    const names = keys
      .filter((k): k is string => typeof k === 'string' && k.startsWith(prefix) && k >= continueAt && isValidEntryName(k))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const size = Math.min(limit, MAX_LIST_PAGE);
    return { names: names.slice(0, size), continueAt: names[size] ?? '' };
  }

  /**
   * Probes `sys/health` (root namespace, no token), then whether the token may do what
   * keygate does on its folder: StoreAccessDeniedError names the path and what is missing.
   */
  async status(): Promise<StoreStatus> {
    this.assertOpen();
    const status = await this.health.probe();
    await this.access.assert();
    return status;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.health.close();
    await this.auth.close(this.health.current === 'ok');
    this.http.close();
  }

  /** Writes and returns the new version; a check-and-set miss is VersionMismatchError (or EntryNotFoundError). */
  private async replace(name: string, bytes: Buffer, cas: number | undefined, generation = ''): Promise<string> {
    const { req, res } = await this.write(name, bytes, cas, generation);
    if (isCASMismatch(res)) {
      this.present(name, await this.read(name));
      throw new VersionMismatchError(name);
    }
    this.expect(req, res, 200, 204);
    const version = this.kv.writtenVersion(bytes, res, generation);
    if (version === undefined) throw new StoreError(`vault: ${req.method} ${req.path}: answer names no version`);
    return version;
  }

  /** Deletes after checking existence; EntryNotFoundError when there is nothing to delete. */
  private async remove(name: string): Promise<void> {
    // Vault answers 204 whether or not the entry exists, so look first.
    const current = await this.read(name);
    if (current.kind === 'missing') throw new EntryNotFoundError(name);
    const req: VaultRequest = { method: 'DELETE', path: this.kv.deletePath(name) };
    this.expect(req, await this.call(req), 200, 204);
    // A version soft-deleted outside keygate is purged too, but was already gone for get().
    if (current.kind === 'deleted') throw new EntryNotFoundError(name);
  }

  /**
   * Runs `op` after every earlier serialized operation on `name` has settled,
   * so this process never interleaves two compare-then-write sequences on one entry.
   */
  private serialized<T>(name: string, op: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const run = previous.then(op, op);
    const tail = run.catch(() => {});
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return run;
  }

  /** Reads an entry's path; any answer but 200/404 is an error. */
  private async read(name: string): Promise<KVRead> {
    const req: VaultRequest = { method: 'GET', path: this.kv.entryPath(name) };
    const res = await this.call(req);
    if (res.status !== 200 && res.status !== 404) throw vaultFailure(req, res);
    return this.kv.decodeRead(name, res);
  }

  /** The entry a read found; EntryNotFoundError or a StoreError for anything else. */
  private present(name: string, read: KVRead): Extract<KVRead, { kind: 'found' }> {
    if (read.kind === 'found') return read;
    if (read.kind === 'malformed') throw new StoreError(`vault: ${this.kv.entryPath(name)} is not a keygate entry: ${read.reason}`);
    throw new EntryNotFoundError(name);
  }

  private async write(name: string, value: Buffer, cas: number | undefined, generation?: string): Promise<{ req: VaultRequest; res: VaultResponse }> {
    const req = this.kv.writeRequest(name, value, cas, generation);
    return { req, res: await this.call(req) };
  }

  private expect(req: VaultRequest, res: VaultResponse, ...ok: number[]): void {
    if (!ok.includes(res.status)) throw vaultFailure(req, res);
  }

  /**
   * Sends a request in the keystore's namespace with the current token. Fails fast
   * while Vault is known to be down; replaces a rejected token and retries (at most
   * MAX_REFRESHES times).
   */
  private async call(req: VaultRequest): Promise<VaultResponse> {
    this.assertOpen();
    this.health.assertServing();
    // A token rejected right after a fresh login was expired or revoked in between (tokens
    // can be revoked at any moment): log in again, a bounded number of times.
    for (let refreshes = 0; ; refreshes++) {
      const token = this.auth.token;
      let res: VaultResponse;
      try {
        res = await this.http.send({ ...req, token, namespace: this.options.namespace });
      } catch (err) {
        // A dropped connection says nothing about the next one; a refusal or timeout does.
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
        if (err instanceof StoreUnreachableError && code !== 'ECONNRESET' && code !== 'EPIPE') {
          this.health.report('unreachable', err.message.replace(/^vault: /, ''));
        }
        throw err;
      }
      if (isInvalidToken(res)) {
        if (refreshes < MAX_REFRESHES && this.auth.canLogin) {
          await this.auth.refresh(token);
          continue;
        }
        throw new StoreError(`vault: ${req.method} ${req.path}: 403 token rejected (invalid or expired)`);
      }
      // Vault has no error codes: its words are the only signal (external text, allowed in test/build/no-message-matching.test.ts).
      if (res.status === 503 && res.errors.some((e) => e.includes('sealed'))) this.health.report('sealed', 'Vault is sealed');
      return res;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('vault: keystore is closed');
  }
}

function checkName(name: string): void {
  if (!isValidEntryName(name)) throw new InvalidEntryNameError(name);
}
