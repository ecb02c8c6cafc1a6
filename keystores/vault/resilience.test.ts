/**
 * The Vault adapter under adverse conditions: expiring tokens, renewal at 80%
 * of the TTL, a sealed Vault, injected errors, dropped connections, latency
 * beyond the timeout, a Vault that disappears — and no token or credential in
 * any error or log line along the way.
 *
 * In the project 'real Vault' (test/vault/under-test.ts) the tests that need the
 * test server's fault injection, clock or request log are skipped with their
 * reason; real tokens reach their real TTL, and real Vault seals and unseals.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startVaultTestServer, type RecordedRequest, type VaultTestServer } from '../../test/vault-server/index.js';
import { REAL_VAULT, realVaultOnly, startVault, testServerOnly, type VaultUnderTest } from '../../test/vault/under-test.js';
import { StoreError, StoreUnreachableError } from '../keystore.js';
import { VaultHTTP } from './http.js';
import { VaultKeyStore, type VaultOptions } from './index.js';
import { VaultAdmin } from './testing.js';

let vault: VaultUnderTest;
/** The project's test server (fault injection, clock, request log); only in tests marked testServerOnly. */
let server: VaultTestServer;
let root: VaultAdmin;
const open: VaultKeyStore[] = [];
/** Every log line any store in this file wrote. */
const logged: string[] = [];

beforeAll(async () => {
  vault = await startVault();
  if (vault.server) server = vault.server;
  root = vault.admin();
  await root.mountKV('kv', 'v2');
  await root.keygatePolicy('keygate', { version: 'v2', engine: 'kv', prefix: 'app' });
  await root.enableAuth('approle', 'approle');
});
afterEach(async () => {
  vault.server?.faults.reset();
  await vault.unseal();
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await vault?.close();
});

let roles = 0;
let stores = 0;
/** Each store works in its own folder under `app/`, which the `keygate` policy covers. */
const folders = new Map<VaultKeyStore, string>();
const dataPath = (store: VaultKeyStore, name: string): string => `kv/data/${folders.get(store) ?? '?'}/${name}`;

async function connect(auth: VaultOptions['auth'], extra: Partial<VaultOptions> = {}): Promise<VaultKeyStore> {
  const prefix = `app/s${++stores}`;
  const store = await VaultKeyStore.connect({
    endpoint: vault.url,
    version: 'v2',
    prefix,
    auth,
    log: (level, message) => logged.push(`${level} ${message}`),
    ...extra,
  });
  open.push(store);
  folders.set(store, prefix);
  return store;
}

/** A store logged in through a new AppRole role whose tokens live `ttl` (at most `maxTTL`). */
async function appRoleStore(
  ttl = '1h',
  maxTTL = '24h',
  extra: Partial<VaultOptions> = {},
): Promise<{ store: VaultKeyStore; roleId: string; secretId: string }> {
  const role = `keygate-${++roles}`;
  await root.ok('POST', `auth/approle/role/${role}`, { token_policies: ['keygate'], token_ttl: ttl, token_max_ttl: maxTTL });
  const roleId = (await root.ok('GET', `auth/approle/role/${role}/role-id`)).data.role_id as string;
  const secretId = (await root.ok('POST', `auth/approle/role/${role}/secret-id`, {})).data.secret_id as string;
  return { store: await connect({ kind: 'approle', engine: 'approle', roleId, secretId }, extra), roleId, secretId };
}

/** Requests under `path` recorded from index `since` (a `server.requests.length` taken earlier). */
function requestsTo(path: string, since = 0): RecordedRequest[] {
  return server.requests.slice(since).filter((r) => r.path.startsWith(path));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What `run` failed with, or undefined when it succeeded. */
function errorOf(run: () => Promise<unknown>): Promise<unknown> {
  return run().then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('token expiry', () => {
  testServerOnly('expires tokens on command; the request log')('logs in again when the token expired mid-run, and retries the operation once', async () => {
    const { store } = await appRoleStore();
    await store.create('k', Buffer.from('v'));
    const since = server.requests.length;
    server.faults.expireAllTokens();
    expect((await store.get('k')).value.toString()).toBe('v');
    expect(requestsTo(`/v1/${dataPath(store, 'k')}`, since).map((r) => r.status)).toEqual([403, 200]);
    expect(requestsTo('/v1/auth/approle/login', since)).toHaveLength(1);
  });

  testServerOnly('moves the server clock')('logs in again when the server clock passes the TTL', async () => {
    const { store } = await appRoleStore('1m');
    await store.create('k', Buffer.from('v'));
    const since = server.requests.length;
    server.advanceClock(5 * 60_000);
    expect((await store.get('k')).value.toString()).toBe('v');
    expect(requestsTo('/v1/auth/approle/login', since)).toHaveLength(1);
  });

  testServerOnly('expires tokens on command; the request log')('shares one login among concurrent operations that hit the expired token', async () => {
    const { store } = await appRoleStore();
    for (let i = 0; i < 10; i++) await store.create(`k${i}`, Buffer.from(`v${i}`));
    const since = server.requests.length;
    server.faults.expireAllTokens();
    const values = await Promise.all(Array.from({ length: 10 }, (_, i) => store.get(`k${i}`)));
    expect(values.map((e) => e.value.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
    expect(requestsTo('/v1/auth/approle/login', since)).toHaveLength(1);
  });

  testServerOnly('expires tokens on command; the request log')('fails with a StoreError, not a retry loop, when a static token expired', async () => {
    const token = await root.createToken(['keygate']);
    const store = await connect({ kind: 'token', token });
    server.faults.expireAllTokens();
    const since = server.requests.length;
    const err = (await errorOf(() => store.get('k'))) as Error;
    expect(err).toBeInstanceOf(StoreError);
    expect(err).not.toBeInstanceOf(StoreUnreachableError);
    expect(err.message).toBe(`vault: GET ${dataPath(store, 'k')}: 403 token rejected (invalid or expired)`);
    expect(requestsTo('/v1/', since).map((r) => r.path)).toEqual([`/v1/${dataPath(store, 'k')}`]);
  });
});

describe('token expiry on a real clock', () => {
  realVaultOnly('the test server keeps time on command')(
    'logs in again each time an AppRole token reaches its max TTL, and no operation fails meanwhile',
    async () => {
      const { store } = await appRoleStore('2s', '3s');
      const logins = (): number => logged.filter((l) => l.includes(`logged in with approle`)).length;
      const before = logins();
      await store.create('k', Buffer.from('v0'));
      // Operations one after another until two more logins happened: every one must succeed.
      let version = (await store.get('k')).version;
      let i = 0;
      while (logins() < before + 2) {
        version = await store.update('k', Buffer.from(`v${++i}`), version);
        expect((await store.get('k')).value.toString()).toBe(`v${i}`);
        // Paces the loop (the condition is the number of logins), not a wait for something.
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(i).toBeGreaterThan(0);
    },
    30_000,
  );

  it('fails with a StoreError, not a retry loop, when a static token was revoked', async () => {
    const token = await root.createToken(['keygate']);
    const store = await connect({ kind: 'token', token });
    await root.ok('POST', 'auth/token/revoke', { token });
    const err = (await errorOf(() => store.get('k'))) as Error;
    expect(err).toBeInstanceOf(StoreError);
    expect(err).not.toBeInstanceOf(StoreUnreachableError);
    expect(err.message).toBe(`vault: GET ${dataPath(store, 'k')}: 403 token rejected (invalid or expired)`);
  });
});

describe('renewal', () => {
  testServerOnly('times renewals in the request log')('renews an AppRole token with renew-self at about 80% of its TTL, before it expires', async () => {
    const since = server.requests.length;
    const { store } = await appRoleStore('3s');
    const login = requestsTo('/v1/auth/approle/login', since)[0] as RecordedRequest;
    await vi.waitFor(() => expect(requestsTo('/v1/auth/token/renew-self', since)).not.toHaveLength(0), { timeout: 5_000, interval: 50 });
    const renewal = requestsTo('/v1/auth/token/renew-self', since)[0] as RecordedRequest;
    expect(renewal.status).toBe(200);
    // Not before 80% of the TTL (a timer never fires early); that it came before the TTL ran
    // out is shown by what follows, not by a clock: past the first TTL the renewed token still
    // works, with no second login and no rejection.
    expect(renewal.at - login.at).toBeGreaterThanOrEqual(2_100);
    await sleep(login.at + 3_300 - server.now());
    await store.create('after-ttl', Buffer.from('v'));
    expect(requestsTo('/v1/auth/approle/login', since)).toHaveLength(1);
    expect(requestsTo('/v1/kv/', since).every((r) => r.status !== 403)).toBe(true);
  });

  testServerOnly('times renewals in the request log')('renews a renewable static token too', async () => {
    const since = server.requests.length;
    const created = server.now();
    const token = await root.createToken(['keygate'], '3s');
    await connect({ kind: 'token', token });
    await vi.waitFor(() => expect(requestsTo('/v1/auth/token/renew-self', since)).not.toHaveLength(0), { timeout: 4_000, interval: 50 });
    const renewal = requestsTo('/v1/auth/token/renew-self', since)[0] as RecordedRequest;
    // lookup-self reports whole seconds left (2 or 3 here): 80% of that.
    // In time is shown by its answer: renew-self of an expired token is refused.
    expect(renewal.at - created).toBeGreaterThanOrEqual(1_500);
    expect(renewal.status).toBe(200);
  });

  testServerOnly('times logins in the request log')('logs in again before expiry when renewal can no longer extend the token (max TTL)', async () => {
    const since = server.requests.length;
    const { store } = await appRoleStore('2s', '2s');
    await vi.waitFor(() => expect(requestsTo('/v1/auth/approle/login', since)).toHaveLength(2), { timeout: 4_000, interval: 50 });
    const [first] = requestsTo('/v1/auth/approle/login', since) as [RecordedRequest];
    // Before expiry is shown by the requests, not by a clock: none was refused, before or after the first token's end.
    await sleep(first.at + 2_300 - server.now());
    await store.create('k', Buffer.from('v'));
    expect(requestsTo('/v1/kv/', since).every((r) => r.status !== 403)).toBe(true);
  });

  testServerOnly('the request log')('stops renewing once closed', async () => {
    const since = server.requests.length;
    const { store } = await appRoleStore('1s');
    await store.close();
    // Proves a renewal does NOT happen: past the point (80% of 1 s) where one was due, nothing is sent.
    await sleep(1_200);
    expect(requestsTo('/v1/auth/token/renew-self', since)).toHaveLength(0);
    expect(requestsTo('/v1/auth/token/revoke-self', since)).toHaveLength(1);
  });
});

describe('sealed Vault', () => {
  testServerOnly('the request log')('fails fast with StoreUnreachableError while sealed, and recovers after unseal without a new adapter', async () => {
    const { store } = await appRoleStore();
    await store.create('k', Buffer.from('v'));
    await vault.seal();
    const first = { error: await errorOf(() => store.get('k')) };
    expect(first.error).toBeInstanceOf(StoreUnreachableError);
    // Told by the health check, not by waiting for a request to time out.
    expect((first.error as Error).message).not.toMatch(/no response within/);
    await expect(store.status()).rejects.toBeInstanceOf(StoreUnreachableError);
    const since = server.requests.length;
    for (const op of [() => store.get('k'), () => store.create('n', Buffer.from('v')), () => store.list('', '', 10), () => store.delete('k')]) {
      const error = await errorOf(op);
      expect(error).toBeInstanceOf(StoreUnreachableError);
      expect((error as Error).message).toMatch(/^vault: Vault is sealed/);
    }
    // Fast because nothing was sent: the count below, not a clock.
    expect(requestsTo('/v1/kv/', since)).toHaveLength(0);
    await vault.unseal();
    await vi.waitFor(() => store.get('k'), { timeout: 3_000, interval: 100 });
    expect((await store.get('k')).value.toString()).toBe('v');
  });

  it('lets status() notice the unseal at once', async () => {
    const { store } = await appRoleStore();
    await vault.seal();
    await expect(store.status()).rejects.toThrow('vault: Vault is sealed');
    await expect(store.list('', '', 1)).rejects.toBeInstanceOf(StoreUnreachableError);
    await vault.unseal();
    expect((await store.status()).latencyMs).toBeGreaterThanOrEqual(0);
    await store.list('', '', 1);
  });

  it('refuses to connect to a sealed Vault with StoreUnreachableError', async () => {
    const token = await root.createToken(['keygate']);
    await vault.seal();
    await expect(connect({ kind: 'token', token })).rejects.toBeInstanceOf(StoreUnreachableError);
  });
});

describe('faults', () => {
  testServerOnly('injects errors')('turns a 500 into a StoreError naming the request, and carries on', async () => {
    const { store } = await appRoleStore();
    await store.create('k', Buffer.from('v'));
    server.faults.failNext(1, 500, 'internal error');
    const error = await errorOf(() => store.get('k'));
    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(StoreUnreachableError);
    expect((error as Error).message).toBe(`vault: GET ${dataPath(store, 'k')}: 500 internal error`);
    expect((await store.get('k')).value.toString()).toBe('v');
  });

  testServerOnly('injects errors')('turns 502/503/504 into StoreUnreachableError', async () => {
    const { store } = await appRoleStore();
    for (const status of [502, 503, 504]) {
      server.faults.failNext(1, status, 'upstream trouble');
      await expect(store.list('', '', 1)).rejects.toBeInstanceOf(StoreUnreachableError);
    }
  });

  testServerOnly('drops connections')(
    'survives dropped connections: idempotent reads retry once, writes fail cleanly and do not poison later calls',
    async () => {
      const { store } = await appRoleStore();
      await store.create('k', Buffer.from('v'));
      server.faults.dropNext(1);
      expect((await store.get('k')).value.toString()).toBe('v');
      server.faults.dropNext(2);
      await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnreachableError);
      server.faults.dropNext(1);
      await expect(store.create('dropped', Buffer.from('v'))).rejects.toBeInstanceOf(StoreUnreachableError);
      await store.create('dropped', Buffer.from('v'));
      expect((await store.get('dropped')).value.toString()).toBe('v');
    },
  );

  testServerOnly('injects latency')('gives up after timeoutMs when Vault is slow, fails fast meanwhile, and recovers', async () => {
    const { store } = await appRoleStore('1h', '24h', { timeoutMs: 200 });
    await store.create('k', Buffer.from('v'));
    server.faults.latencyMs = 1_500;
    const slow = { error: await errorOf(() => store.get('k')) };
    expect(slow.error).toBeInstanceOf(StoreUnreachableError);
    expect((slow.error as Error).message).toBe(`vault: GET ${dataPath(store, 'k')}: no response within 200 ms`);
    const fast = { error: await errorOf(() => store.get('k')) };
    expect(fast.error).toBeInstanceOf(StoreUnreachableError);
    // Failing fast: refused before any request, by the health state, not after another timeout.
    expect((fast.error as Error).message).toMatch(/failing fast until sys\/health recovers/);
    server.faults.latencyMs = 0;
    await vi.waitFor(() => store.get('k'), { timeout: 3_000, interval: 100 });
  });

  testServerOnly('stops a server of its own')('reports a Vault that went away as unreachable, in operations, status and connect', async () => {
    const gone = await startVaultTestServer();
    const store = await VaultKeyStore.connect({ endpoint: gone.url, version: 'v2', engine: 'secret', auth: { kind: 'token', token: gone.rootToken } });
    open.push(store);
    await store.create('k', Buffer.from('v'));
    await gone.close();
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnreachableError);
    await expect(store.status()).rejects.toBeInstanceOf(StoreUnreachableError);
    const err = await VaultKeyStore.connect({ endpoint: gone.url, version: 'v2', auth: { kind: 'token', token: gone.rootToken } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(StoreUnreachableError);
    expect((err as Error).message).toMatch(/^vault: cannot connect to http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});

describe('secret hygiene', () => {
  testServerOnly('injects answers that echo secrets')('never puts a token, secret ID or JWT into an error message or a log line', async () => {
    const token = await root.createToken(['keygate']);
    const secrets = [token, vault.rootToken];
    const errors: unknown[] = [];
    const collect = (p: Promise<unknown>): Promise<void> =>
      p.then(
        () => undefined,
        (e: unknown) => void errors.push(e),
      );

    const store = await connect({ kind: 'token', token });
    // A proxy (or a buggy Vault) echoing the token back must not leak it either.
    server.faults.failNext(1, 500, `token ${token} is odd`);
    await collect(store.get('k'));
    server.faults.failNext(1, 403, `1 error occurred:\n\t* permission denied for ${token}\n\n`);
    await collect(store.create('k', Buffer.from('v')));
    server.faults.expireAllTokens();
    await collect(store.get('k'));
    await collect(store.update('k', Buffer.from('v'), '1'));

    const approle = await appRoleStore();
    secrets.push(approle.roleId, approle.secretId);
    await collect(
      VaultKeyStore.connect({
        endpoint: vault.url,
        version: 'v2',
        auth: { kind: 'approle', engine: 'approle', roleId: approle.roleId, secretId: `${approle.secretId}x` },
      }),
    );
    secrets.push(`${approle.secretId}x`);
    server.faults.failNext(1, 400, `invalid secret ${approle.secretId}x`);
    await collect(
      VaultKeyStore.connect({
        endpoint: vault.url,
        version: 'v2',
        auth: { kind: 'approle', engine: 'approle', roleId: approle.roleId, secretId: `${approle.secretId}x` },
      }),
    );
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    secrets.push(jwt);
    server.faults.failNext(1, 403, `bad jwt ${jwt}`);
    await collect(VaultKeyStore.connect({ endpoint: vault.url, version: 'v2', auth: { kind: 'kubernetes', engine: 'kubernetes', role: 'r', jwt } }));

    expect(errors.length).toBeGreaterThanOrEqual(7);
    for (const e of errors) {
      expect(e).toBeInstanceOf(StoreError);
      const text = `${String(e)} ${(e as Error).stack ?? ''} ${String((e as Error).cause ?? '')}`;
      expect(text).toMatch(/vault: /);
      for (const s of secrets) expect(text).not.toContain(s);
    }
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) for (const s of secrets) expect(line).not.toContain(s);
  });
});

describe('renewal on a controlled clock', () => {
  // The server reads the (faked) Date on every call, so token expiry follows vi's clock.
  let clocked: VaultTestServer;
  let admin: VaultAdmin;
  beforeAll(async () => {
    if (REAL_VAULT) return;
    clocked = await startVaultTestServer({ clock: () => Date.now() });
    admin = new VaultAdmin(clocked.url, clocked.rootToken);
    await admin.keygatePolicy('keygate', { version: 'v2', engine: 'secret' });
    await admin.enableAuth('approle', 'approle');
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await clocked?.close();
  });

  /** Lets real I/O run while the fake clock stands still. */
  async function until(done: () => boolean): Promise<void> {
    for (let i = 0; i < 2_000 && !done(); i++) await new Promise((r) => setImmediate(r));
    expect(done()).toBe(true);
  }

  testServerOnly('runs the server on a fake clock')(
    'renews an hour-long token at 48 minutes, and uses a background login only after min(remaining / 2, 30 s)',
    async () => {
      const creds = await admin.appRole('approle', 'hourly', ['keygate'], '1h');
      await admin.ok('POST', 'auth/approle/role/hourly', { token_max_ttl: '1h' });
      const tokens: Array<string | undefined> = [];
      const send = VaultHTTP.prototype.send;
      vi.spyOn(VaultHTTP.prototype, 'send').mockImplementation(function (this: VaultHTTP, req) {
        if (req.path.startsWith('secret/')) tokens.push(req.token);
        return send.call(this, req);
      });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const since = clocked.requests.length;
      const calls = (path: string): RecordedRequest[] => clocked.requests.slice(since).filter((r) => r.path === path);
      const store = await VaultKeyStore.connect({
        endpoint: clocked.url,
        version: 'v2',
        engine: 'secret',
        pingIntervalMs: 3_600_000,
        auth: { kind: 'approle', engine: 'approle', ...creds },
      });
      open.push(store);
      await store.create('k', Buffer.from('v'));

      await vi.advanceTimersByTimeAsync(48 * 60_000 - 1_000);
      expect(calls('/v1/auth/token/renew-self')).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1_000);
      // renew-self cannot pass the 1 h max TTL, so keygate logs in again in the background.
      await until(() => calls('/v1/auth/approle/login').length === 2);
      expect(calls('/v1/auth/token/renew-self')).toHaveLength(1);
      const first = tokens[0];
      await store.get('k');
      expect(tokens.at(-1)).toBe(first);
      await vi.advanceTimersByTimeAsync(29_000);
      await store.get('k');
      expect(tokens.at(-1)).toBe(first);
      await vi.advanceTimersByTimeAsync(1_000);
      await store.get('k');
      expect(tokens.at(-1)).not.toBe(first);
      expect(clocked.requests.slice(since).every((r) => r.status !== 403)).toBe(true);
    },
  );
});
