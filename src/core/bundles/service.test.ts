/** The BundleService over the memory keystore, with a fake assignments service. */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../../../keystores/memory.js';
import { StoreUnreachableError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { BundleService, type BundleInput, type BundleSecret } from './service.js';
import { CachedKeyStore } from '../../../keystores/cache.js';
import { indexEntryName } from './san-index.js';
import type { BundleAssignments } from '../access.js';
import { KeygateError } from '../../errors.js';
import { BundleCerts, pemBodyLines, type TestBundle } from '../../../test/helpers/bundle-certs.js';

const certs = new BundleCerts();
const www = certs.bundle({ dnsNames: ['www.example.com', 'example.com'], ipAddresses: ['192.0.2.7'] });
const wild = certs.bundle({ dnsNames: ['*.example.com'] });
const api = certs.bundle({ dnsNames: ['api.example.com'], keyType: 'ed25519' });

class FakeAssignments implements BundleAssignments {
  readonly groups = new Map<string, string[]>();
  async groupsOf(bundle: string): Promise<string[]> {
    return this.groups.get(bundle) ?? [];
  }
  async unassignEverywhere(bundle: string): Promise<string[]> {
    const was = this.groups.get(bundle) ?? [];
    this.groups.delete(bundle);
    return was;
  }
}

let store: MemoryKeyStore;
let assignments: FakeAssignments;
let clock: Date;
let svc: BundleService;

const input = (b: TestBundle, extra: Partial<BundleInput> = {}): BundleInput => ({ chainPem: b.chainPem, keyPem: b.keyPem, ttl: 3600, ...extra });
const all = async () => true;

async function failure(work: Promise<unknown>): Promise<[number, string]> {
  try {
    await work;
  } catch (err) {
    if (err instanceof KeygateError) return [err.status, err.message];
    throw err;
  }
  throw new Error('expected a failure');
}

/** Every value in the keystore, as text. */
async function dump(s: KeyStore): Promise<string[]> {
  const { names } = await s.list('', '', 1000);
  return Promise.all(names.map(async (n) => `${n}=${(await s.get(n)).value.toString()}`));
}

beforeEach(() => {
  store = new MemoryKeyStore();
  assignments = new FakeAssignments();
  clock = new Date();
  svc = new BundleService(store, assignments, { now: () => clock });
});

describe('import, describe, get', () => {
  it('stores a validated bundle and describes it without the key', async () => {
    const { version } = await svc.import('www.example.com', input(www, { labels: { env: 'prod' } }), 'alice');
    expect(version).toMatch(/.+/);
    assignments.groups.set('www.example.com', ['edge-b', 'edge-a']);
    const d = await svc.describe('www.example.com');
    expect(d).toMatchObject({
      name: 'www.example.com',
      version,
      subject: 'CN=www.example.com',
      issuer: 'CN=bundle test intermediate',
      dnsNames: ['www.example.com', 'example.com'],
      ipAddresses: ['192.0.2.7'],
      serial: www.leaf.cert.serialNumber.toUpperCase(),
      fingerprintSHA256: www.leaf.cert.fingerprint256,
      keyType: 'ECDSA',
      keySize: 256,
      chainLength: 2,
      ttl: 3600,
      labels: { env: 'prod' },
      groups: ['edge-a', 'edge-b'],
      createdBy: 'alice',
      updatedBy: 'alice',
    });
    expect(d.notAfter.getTime()).toBe(new Date(www.leaf.cert.validTo).getTime());
    expect(JSON.stringify(d)).not.toContain('PRIVATE KEY');
  });

  it('returns the chain and the key to get, and stores the entry as bundle.<name>', async () => {
    await svc.import('api', input(api), 'alice');
    const b = await svc.get('api');
    expect(b).toMatchObject({ name: 'api', chainPem: api.chainPem, keyPem: api.keyPem, ttl: 3600 });
    expect(JSON.parse((await store.get('bundle.api')).value.toString()).certificate).toBe(api.chainPem);
  });

  it('refuses an existing name with 409 and leaves it unchanged', async () => {
    await svc.import('www', input(www), 'alice');
    const before = await dump(store);
    expect(await failure(svc.import('www', input(api), 'bob'))).toEqual([409, 'bundle already exists']);
    expect(await dump(store)).toEqual(before);
  });

  it('changes nothing on bad input: name, ttl, labels, certificate', async () => {
    const bad: Array<[string, Partial<BundleInput>, string]> = [
      [
        'a..b',
        {},
        "invalid bundle name 'a..b': use 1–248 characters of [0-9A-Za-z_.-], optionally after a leading '*.', not starting with '.' or '_.', without '..'",
      ],
      ['ok', { ttl: 0 }, 'ttl must be a whole number of seconds from 1 to 31536000'],
      ['ok', { ttl: 31_536_001 }, 'ttl must be a whole number of seconds from 1 to 31536000'],
      ['ok', { ttl: 60.5 }, 'ttl must be a whole number of seconds from 1 to 31536000'],
      ['ok', { labels: { '-x': 'y' } }, "labels: invalid key '-x': 1–63 characters of [A-Za-z0-9_.-], starting with a letter or digit"],
      ['ok', { labels: { k: 'v\n' } }, "labels: the value of 'k' must be a string of at most 256 printable characters"],
      ['ok', { labels: { k: 'v'.repeat(257) } }, "labels: the value of 'k' must be a string of at most 256 printable characters"],
      ['ok', { labels: { k: 1 as unknown as string } }, "labels: the value of 'k' must be a string of at most 256 printable characters"],
      ['ok', { labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, 'labels: at most 32 labels'],
      ['ok', { keyPem: api.keyPem }, 'private_key: does not match the leaf certificate (the first of the chain)'],
    ];
    for (const [name, extra, message] of bad) {
      expect(await failure(svc.import(name, input(www, extra), 'alice'))).toEqual([400, message]);
    }
    expect(await dump(store)).toEqual([]);
  });

  it('answers 404 for missing bundles', async () => {
    expect(await failure(svc.describe('nope'))).toEqual([404, 'bundle does not exist']);
    expect(await failure(svc.get('nope'))).toEqual([404, 'bundle does not exist']);
    expect(await failure(svc.delete('nope', false))).toEqual([404, 'bundle does not exist']);
  });

  it('translates keystore outages into 503 and corrupt entries into 502', async () => {
    const down = new BundleService(
      {
        ...store,
        get: async () => {
          throw new StoreUnreachableError('down');
        },
      } as unknown as KeyStore,
      assignments,
    );
    expect(await failure(down.describe('x'))).toEqual([503, 'key store is not reachable']);
    await store.create('bundle.corrupt', Buffer.from('{"format":2}'));
    expect(await failure(svc.get('corrupt'))).toEqual([502, 'failed to read bundle']);
    // The error log shows the cause: it must not quote the entry (a private key).
    await store.create('bundle.torn', Buffer.from('x{"private_key":"SECRET-KEY-MATERIAL"'));
    const err = (await svc.get('torn').then(
      () => null,
      (e: unknown) => e,
    )) as KeygateError;
    expect(err.status).toBe(502);
    expect(String((err.cause as Error).message)).not.toContain('SECRET');
  });
});

describe('encoded reads (the fast path)', () => {
  /** A pure encoder that counts its calls. */
  const counting = () => {
    const calls: string[] = [];
    const encode = (b: BundleSecret) => {
      calls.push(b.version);
      return Buffer.from(`${b.name} ${b.version} ${b.keyPem}`);
    };
    return { calls, encode };
  };

  it('encodes a stored version once, and again only when it changes, never handing out the old key', async () => {
    const { calls, encode } = counting();
    const { version } = await svc.import('www', input(www), 'alice');
    const first = svc.peekEncoded('www', encode);
    expect(first?.toString()).toBe(`www ${version} ${www.keyPem}`);
    expect(first?.buffer.byteLength).toBe(first?.length); // kept long: not a slice of Node's shared pool
    expect(svc.peekEncoded('www', encode)).toBe(first);
    expect(await svc.getEncoded('www', encode)).toBe(first);
    expect(calls).toEqual([version]);
    const renewed = certs.bundle({ dnsNames: ['www.example.com'] });
    const next = await svc.replace('www', input(renewed), version as string, 'alice');
    const second = svc.peekEncoded('www', encode);
    expect(second?.toString()).toBe(`www ${next.version} ${renewed.keyPem}`);
    expect(calls).toEqual([version, next.version]);
    await svc.delete('www', false);
    expect(svc.peekEncoded('www', encode)).toBeUndefined();
    expect(await failure(svc.getEncoded('www', encode))).toEqual([404, 'bundle does not exist']);
  });

  it('keeps one encoding per encoder on the same stored version (each API surface has its own)', async () => {
    const [a, b, c] = [counting(), counting(), counting()];
    const { version } = await svc.import('www', input(www), 'alice');
    const bodies = [a, b, c].map(({ encode }) => svc.peekEncoded('www', encode));
    expect(new Set(bodies.map((x) => x?.toString())).size).toBe(1);
    expect(new Set(bodies).size).toBe(3);
    for (const [i, { encode }] of [a, b, c].entries()) expect(svc.peekEncoded('www', encode)).toBe(bodies[i]);
    for (const { calls } of [a, b, c]) expect(calls).toEqual([version]);
  });

  it('over the read cache: a miss is read once, counted once, and its encoding kept for the next read', async () => {
    const cache = new CachedKeyStore(store, { anyMs: 60_000, unusedMs: 60_000, offlineMs: 0, maxBytes: 1 << 20, sweepIntervalMs: 0 });
    const cached = new BundleService(cache, assignments);
    await svc.import('www', input(www), 'alice');
    const { calls, encode } = counting();
    expect(cached.peekEncoded('www', encode)).toBeUndefined(); // not in memory yet: ask getEncoded
    const body = await cached.getEncoded('www', encode);
    expect(cache.snapshot()).toMatchObject({ hits: 0, misses: 1 });
    expect(cached.peekEncoded('www', encode)).toBe(body);
    expect(cache.snapshot()).toMatchObject({ hits: 1, misses: 1 });
    expect(calls).toHaveLength(1);
  });

  it("leaves a corrupt entry to getEncoded, which reports it as the keystore's fault", async () => {
    const { encode } = counting();
    await store.create('bundle.corrupt', Buffer.from('{"format":2}'));
    expect(svc.peekEncoded('corrupt', encode)).toBeUndefined();
    expect(await failure(svc.getEncoded('corrupt', encode))).toEqual([502, 'failed to read bundle']);
  });
});

describe('replace and delete', () => {
  it('replaces at the expected version only, keeping created and (by default) labels', async () => {
    const { version } = await svc.import('www', input(www, { labels: { a: '1' } }), 'alice');
    clock = new Date(clock.getTime() + 1000);
    const renewed = certs.bundle({ dnsNames: ['www.example.com'] });
    const next = await svc.replace('www', input(renewed, { ttl: 120 }), version as string, 'bob');
    expect(next.version).not.toBe(version);
    const d = await svc.describe('www');
    expect(d).toMatchObject({ version: next.version, ttl: 120, labels: { a: '1' }, createdBy: 'alice', updatedBy: 'bob' });
    expect(d.updatedAt.getTime()).toBeGreaterThan(d.createdAt.getTime());
    expect(await failure(svc.replace('www', input(renewed), version as string, 'carol'))).toEqual([409, 'bundle was changed concurrently']);
    expect(await failure(svc.replace('gone', input(renewed), '1', 'carol'))).toEqual([404, 'bundle does not exist']);
    await svc.replace('www', input(renewed, { labels: {} }), next.version, 'bob');
    expect((await svc.describe('www')).labels).toEqual({});
  });

  it('keeps no old private key anywhere after a replace or a delete', async () => {
    const { version } = await svc.import('www', input(www), 'alice');
    const renewed = certs.bundle({ dnsNames: ['www.example.com'] });
    await svc.replace('www', input(renewed), version as string, 'alice');
    const afterReplace = (await dump(store)).join('\n');
    for (const line of pemBodyLines(www.keyPem)) expect(afterReplace).not.toContain(line);
    expect(afterReplace).toContain(pemBodyLines(renewed.keyPem)[0]);
    await svc.delete('www', false);
    const afterDelete = (await dump(store)).join('\n');
    for (const line of pemBodyLines(renewed.keyPem)) expect(afterDelete).not.toContain(line);
    expect(afterDelete).not.toContain('PRIVATE KEY');
  });

  it('refuses to delete an assigned bundle unless forced', async () => {
    await svc.import('www', input(www), 'alice');
    assignments.groups.set('www', ['edge', 'lab']);
    expect(await failure(svc.delete('www', false))).toEqual([409, 'bundle is assigned to groups (edge, lab): unassign it first or force the deletion']);
    await svc.get('www');
    await svc.delete('www', true);
    expect(await failure(svc.get('www'))).toEqual([404, 'bundle does not exist']);
    // Forced: no group keeps the name, so a new bundle called 'www' is granted to nobody.
    expect(await assignments.groupsOf('www')).toEqual([]);
  });
});

describe('list', () => {
  it('pages by name with a prefix, wildcard names included', async () => {
    for (const n of ['b1', 'b2', 'b3', 'c1']) await svc.import(n, input(api), 'alice');
    await svc.import('*.example.com', input(wild), 'alice');
    await svc.import('_acme', input(api), 'alice');
    expect(await svc.list({ prefix: '' })).toEqual({ names: ['*.example.com', '_acme', 'b1', 'b2', 'b3', 'c1'], continueAt: '' });
    expect(await svc.list({ prefix: 'b', limit: 2 })).toEqual({ names: ['b1', 'b2'], continueAt: 'b3' });
    expect(await svc.list({ prefix: 'b', limit: 2, continueAt: 'b3' })).toEqual({ names: ['b3'], continueAt: '' });
    expect(await svc.list({ prefix: '*' })).toEqual({ names: ['*.example.com'], continueAt: '' });
    expect(await svc.list({ prefix: '_' })).toEqual({ names: ['_acme'], continueAt: '' });
    expect(await failure(svc.list({ prefix: 'a..' }))).toEqual([400, expect.stringMatching(/^invalid bundle name prefix/)]);
    expect(await failure(svc.list({ prefix: '', continueAt: '.x' }))).toEqual([400, expect.stringMatching(/^invalid continue_at/)]);
  });

  it('filters by expiry within N days, counting already expired bundles', async () => {
    await svc.import('soon', input(certs.expiringIn(5)), 'alice');
    await svc.import('later', input(certs.expiringIn(60)), 'alice');
    await svc.import('past', input(certs.expiringIn(-2), { allowExpired: true }), 'alice');
    expect((await svc.list({ prefix: '', expiringWithinDays: 10 })).names).toEqual(['past', 'soon']);
    expect((await svc.list({ prefix: '', expiringWithinDays: 0 })).names).toEqual(['past']);
    clock = new Date(clock.getTime() + 30 * 86_400_000);
    expect((await svc.list({ prefix: '', expiringWithinDays: 31 })).names).toEqual(['later', 'past', 'soon']);
    expect(await failure(svc.list({ prefix: '', expiringWithinDays: -1 }))).toEqual([400, 'expiring_within_days must be a whole number from 0 to 36500']);
  });

  it('follows a replaced bundle: the expiry of the current version, never one remembered from the old', async () => {
    const { version } = await svc.import('www', input(certs.expiringIn(5)), 'alice');
    expect((await svc.list({ prefix: '', expiringWithinDays: 10 })).names).toEqual(['www']);
    await svc.replace('www', input(certs.expiringIn(60)), version as string, 'alice');
    expect((await svc.list({ prefix: '', expiringWithinDays: 10 })).names).toEqual([]);
  });

  it('walks past the read cache: an expiry listing counts no read, adds nothing and moves nothing up the eviction order', async () => {
    const cache = new CachedKeyStore(store, { anyMs: 60_000, unusedMs: 60_000, offlineMs: 0, maxBytes: 1 << 20, sweepIntervalMs: 0 });
    const cached = new BundleService(cache, assignments, { now: () => clock, walkStore: store });
    await svc.import('soon', input(certs.expiringIn(5)), 'alice');
    await svc.import('later', input(certs.expiringIn(60)), 'alice');
    await cached.getEncoded('soon', (b) => Buffer.from(b.name)); // a node's read: now held
    const before = cache.snapshot();
    expect((await cached.list({ prefix: '', expiringWithinDays: 10 })).names).toEqual(['soon']);
    expect((await cached.list({ prefix: '', expiringWithinDays: 90 })).names).toEqual(['later', 'soon']);
    expect(cache.snapshot()).toEqual(before);
    expect(cache.peek('bundle.later', false)).toBeUndefined();
  });
});

describe('lookup', () => {
  beforeEach(async () => {
    await svc.import('www', input(www), 'alice');
    await svc.import('wild', input(wild), 'alice');
    await svc.import('api', input(api), 'alice');
  });

  it('matches exact SANs first, then the one-label wildcard', async () => {
    const names = async (s: string) => (await svc.lookup(s, all)).map((m) => `${m.name}:${m.match}`);
    expect(await names('www.example.com')).toEqual(['www:exact', 'wild:wildcard']);
    expect(await names('WWW.EXAMPLE.COM.')).toEqual(['www:exact', 'wild:wildcard']);
    expect(await names('other.example.com')).toEqual(['wild:wildcard']);
    expect(await names('example.com')).toEqual(['www:exact']);
    expect(await names('a.b.example.com')).toEqual([]);
    expect(await names('example.org')).toEqual([]);
    expect(await names('192.0.2.7')).toEqual(['www:exact']);
    expect(await names('192.0.2.8')).toEqual([]);
  });

  it('returns only what the caller may read', async () => {
    const onlyWild = async (b: string) => b === 'wild';
    expect((await svc.lookup('www.example.com', onlyWild)).map((m) => m.name)).toEqual(['wild']);
    expect(await svc.lookup('example.com', onlyWild)).toEqual([]);
  });

  it('lists a bundle naming both the host and its wildcard once, as exact', async () => {
    await svc.import('both', input(certs.bundle({ dnsNames: ['x.example.com', '*.example.com'] })), 'alice');
    expect((await svc.lookup('x.example.com', all)).map((m) => `${m.name}:${m.match}`)).toEqual(['both:exact', 'wild:wildcard']);
  });

  it('follows replaces and deletes', async () => {
    const d = await svc.describe('www');
    await svc.replace('www', input(certs.bundle({ dnsNames: ['new.example.com'] })), d.version, 'alice');
    expect((await svc.lookup('www.example.com', all)).map((m) => m.name)).toEqual(['wild']);
    expect((await svc.lookup('new.example.com', all)).map((m) => m.name)).toEqual(['www', 'wild']);
    await svc.delete('wild', false);
    expect((await svc.lookup('new.example.com', all)).map((m) => m.name)).toEqual(['www']);
  });

  it('ignores stale index pairs left by a lost race or a crash', async () => {
    // A replace that lost its compare-and-set filed its pairs but never wrote the bundle.
    const lost = certs.bundle({ dnsNames: ['ghost.example.com'] });
    expect(await failure(svc.replace('api', input(lost), 'stale-version', 'alice'))).toEqual([409, 'bundle was changed concurrently']);
    const entry = indexEntryName('dns:www.example.com');
    const refs = JSON.parse((await store.get(entry)).value.toString());
    refs.refs.push({ name: 'api', id: 'dead' }, { name: 'deleted', id: 'x' }, { name: '../bad', id: 'x' });
    await store.update(entry, Buffer.from(JSON.stringify(refs)), (await store.get(entry)).version);
    expect((await svc.lookup('www.example.com', all)).map((m) => m.name)).toEqual(['www', 'wild']);
    expect((await svc.lookup('ghost.example.com', all)).map((m) => m.name)).toEqual(['wild']);
  });

  it('keeps the index consistent under concurrent imports of one SAN', async () => {
    const many = Array.from({ length: 12 }, (_, i) => `c${i}`);
    const shared = certs.bundle({ dnsNames: ['shared.example.com'] });
    await Promise.all(many.map((n) => svc.import(n, input(shared), 'alice')));
    const exact = (await svc.lookup('shared.example.com', all)).filter((m) => m.match === 'exact');
    expect(exact.map((m) => m.name).sort()).toEqual([...many].sort());
  });

  it('refuses a server name that is not a DNS name or an IP address', async () => {
    expect(await failure(svc.lookup('*.example.com', all))).toEqual([400, 'invalid server name: expected a DNS name or an IP address']);
  });

  it('gives up on an index entry that keeps changing, with a 409 and no bundle written', async () => {
    const racing = new MemoryKeyStore();
    const hot = Object.assign(Object.create(racing) as MemoryKeyStore, {
      update: async () => {
        throw new VersionMismatchError('san');
      },
    });
    const s2 = new BundleService(hot, assignments);
    await s2.import('first', input(api), 'alice');
    expect(await failure(s2.import('second', input(api), 'alice'))).toEqual([409, 'bundle index was changed concurrently too often; retry']);
    expect((await racing.list('bundle.', '', 10)).names).toEqual(['bundle.first']);
  });

  it('orders matches of one kind by the latest expiry first', async () => {
    await svc.import('older', input(certs.expiringIn(3, { dnsNames: ['api.example.com'] })), 'alice');
    await svc.import('newer', input(certs.expiringIn(300, { dnsNames: ['api.example.com'] })), 'alice');
    expect((await svc.lookup('api.example.com', all)).map((m) => m.name)).toEqual(['newer', 'api', 'older', 'wild']);
  });
});
