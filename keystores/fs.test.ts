/** The filesystem keystore: the contract, plus what only a filesystem can get wrong. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FSKeyStore, contentVersion } from './fs.js';
import { keystoreContract } from './contract.js';
import { spawnTracked } from '../test/helpers/processes.js';
import { EntryExistsError, EntryNotFoundError, InvalidEntryNameError, StoreError, StoreUnreachableError } from './keystore.js';

async function tempDir(): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), 'keygate-fs-'));
}

keystoreContract('fs', async () => {
  const dir = await tempDir();
  return { store: await FSKeyStore.open(join(dir, 'store')), cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
});

const mode = async (path: string): Promise<number> => (await fsp.stat(path)).mode & 0o777;
const errnoError = (code: string, path: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: simulated failure, open '${path}'`), { code, path });

describe('FSKeyStore', () => {
  let dir: string;
  let root: string;
  let store: FSKeyStore;

  beforeEach(async () => {
    dir = await tempDir();
    root = join(dir, 'parent', 'store');
    store = await FSKeyStore.open(root);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const visible = async (): Promise<string[]> => (await fsp.readdir(root)).sort();

  it('creates a missing root and its missing parents with mode 0700', async () => {
    expect(await mode(root)).toBe(0o700);
    expect(await mode(join(dir, 'parent'))).toBe(0o700);
  });

  it('uses an existing root as it is, without changing its mode', async () => {
    const existing = join(dir, 'existing');
    await fsp.mkdir(existing, { mode: 0o755 });
    await fsp.chmod(existing, 0o755);
    const other = await FSKeyStore.open(existing);
    await other.create('k', Buffer.from('v'));
    expect(await mode(existing)).toBe(0o755);
    expect(await mode(join(existing, 'k'))).toBe(0o600);
  });

  it('refuses a root that is not a directory, without naming the path', async () => {
    const file = join(dir, 'file');
    await fsp.writeFile(file, 'x');
    const err = await FSKeyStore.open(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/not a directory/);
    expect((err as Error).message).not.toContain(dir);
    await expect(FSKeyStore.open(join(file, 'below'))).rejects.toBeInstanceOf(StoreError);
  });

  it('writes entry files 0600, also when an update replaces the file', async () => {
    await store.create('k', Buffer.from('v1'));
    expect(await mode(join(root, 'k'))).toBe(0o600);
    await store.update('k', Buffer.from('v2'), (await store.get('k')).version);
    expect(await mode(join(root, 'k'))).toBe(0o600);
  });

  it('stores each entry as one file named like the entry, and leaves no temporary file', async () => {
    await store.create('key.one', Buffer.from('one'));
    await store.create('two', Buffer.from('two'));
    await store.update('two', Buffer.from('2'), (await store.get('two')).version);
    await expect(store.create('two', Buffer.from('again'))).rejects.toBeInstanceOf(EntryExistsError);
    expect(await visible()).toEqual(['key.one', 'two']);
    expect(await fsp.readFile(join(root, 'two'), 'utf8')).toBe('2');
  });

  it('versions entries by content: SHA-256 truncated to 16 bytes in hex', async () => {
    await store.create('k', Buffer.from('abc'));
    const expected = createHash('sha256').update('abc').digest('hex').slice(0, 32);
    expect((await store.get('k')).version).toBe(expected);
    expect(contentVersion(Buffer.from('abc'))).toBe(expected);
  });

  it('removes stale temporary and lock files on open, and nothing else', async () => {
    await store.create('keep', Buffer.from('v'));
    await fsp.writeFile(join(root, '.tmp-deadbeef'), 'half a val');
    await fsp.writeFile(join(root, '.tmp-'), '');
    await fsp.writeFile(join(root, '.lock-0123456789abcdef0123456789abcdef'), '');
    await backdate(root);
    await fsp.writeFile(join(root, '.tmp-fresh'), 'a sibling process is writing this');
    await fsp.writeFile(join(root, '.operator-notes'), 'mine');
    await store.close();
    store = await FSKeyStore.open(root);
    await store.swept; // the sweep runs after open returns, so start-up need not wait for a large root
    expect(await visible()).toEqual(['.operator-notes', '.tmp-fresh', 'keep']);
    expect((await store.list('', '', 10)).names).toEqual(['keep']);
  });

  it('keeps entries across reopening the same root', async () => {
    const value = Buffer.from([0, 1, 2, 255]);
    await store.create('persist', value);
    await store.create('gone', Buffer.from('x'));
    await store.delete('gone');
    const version = (await store.get('persist')).version;
    await store.close();
    store = await FSKeyStore.open(root);
    const entry = await store.get('persist');
    expect(entry.value.equals(value)).toBe(true);
    expect(entry.version).toBe(version);
    expect((await store.list('', '', 10)).names).toEqual(['persist']);
    await store.update('persist', Buffer.from('next'), version);
  });

  it('cannot be steered outside its root', async () => {
    await fsp.writeFile(join(dir, 'parent', 'x'), 'outside');
    for (const name of ['../x', '..', '../parent/x', '/etc/passwd', 'a/../../x']) {
      await expect(store.get(name)).rejects.toBeInstanceOf(InvalidEntryNameError);
      await expect(store.create(name, Buffer.from('evil'))).rejects.toBeInstanceOf(InvalidEntryNameError);
      await expect(store.delete(name)).rejects.toBeInstanceOf(InvalidEntryNameError);
      await expect(store.update(name, Buffer.from('evil'), contentVersion(Buffer.from('outside')))).rejects.toBeInstanceOf(InvalidEntryNameError);
      await expect(store.list(name, '', 10)).rejects.toBeInstanceOf(InvalidEntryNameError);
    }
    expect(await fsp.readFile(join(dir, 'parent', 'x'), 'utf8')).toBe('outside');
    expect(await visible()).toEqual([]);
  });

  it('does not follow a symlink planted under an entry name, and does not list it', async () => {
    const secret = join(dir, 'secret');
    await fsp.writeFile(secret, 'not yours');
    await fsp.symlink(secret, join(root, 'link'));
    const err = await store.get('link').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).not.toBeInstanceOf(EntryNotFoundError);
    expect((err as Error).message).not.toContain(dir);
    await expect(store.update('link', Buffer.from('x'), contentVersion(Buffer.from('not yours')))).rejects.toBeInstanceOf(StoreError);
    expect(await fsp.readFile(secret, 'utf8')).toBe('not yours');
    expect((await store.list('', '', 10)).names).toEqual([]);
  });

  it('pages through an unchanged folder with one read of it, and sees every change made by anyone', async () => {
    for (let i = 0; i < 30; i++) await store.create(`e${String(i).padStart(2, '0')}`, Buffer.from('v'));
    const old = new Date(Date.now() - 60_000);
    await fsp.utimes(root, old, old); // long unchanged: the read may be kept
    const folderReads = vi.spyOn(fsp, 'opendir');
    const listAll = async (): Promise<string[]> => {
      const out: string[] = [];
      let cursor = '';
      do {
        const page = await store.list('', cursor, 7);
        out.push(...page.names);
        cursor = page.continueAt;
      } while (cursor !== '');
      return out;
    };
    expect(await listAll()).toHaveLength(30);
    expect(await listAll()).toHaveLength(30);
    expect(folderReads).toHaveBeenCalledTimes(1);

    const sibling = new FSKeyStore(root); // another process on the same root
    await sibling.create('from-sibling', Buffer.from('v'));
    expect(await listAll()).toContain('from-sibling');
    await fsp.writeFile(join(root, 'restored'), 'by an operator', { mode: 0o600 });
    expect(await listAll()).toContain('restored');
    await fsp.unlink(join(root, 'e00'));
    const after = await listAll();
    expect(after).not.toContain('e00');
    expect(after).toHaveLength(31);
  });

  it('reads with system calls while they are fast, and through the thread pool for a while after three slow ones in a row', async () => {
    await store.create('k', Buffer.from('value'));
    const pooled = vi.spyOn(fs, 'open');
    const direct = vi.spyOn(fs, 'readSync');
    expect((await store.get('k')).value.toString()).toBe('value');
    expect(direct).toHaveBeenCalled();
    expect(pooled).not.toHaveBeenCalled();

    direct.mockRestore();
    const realReadSync = fs.readSync;
    const slowly = (...args: Parameters<typeof fs.readSync>) => {
      const until = performance.now() + 5;
      while (performance.now() < until); // the disk is slow, or the process was descheduled
      return realReadSync(...args);
    };
    const readSync = vi.spyOn(fs, 'readSync');
    // Slow reads with a fast one between them are chance (a busy machine): reads stay direct.
    readSync.mockImplementationOnce(slowly).mockImplementationOnce(slowly);
    for (let i = 0; i < 4; i++) expect((await store.get('k')).value.toString()).toBe('value');
    readSync.mockImplementationOnce(slowly).mockImplementationOnce(slowly);
    for (let i = 0; i < 3; i++) expect((await store.get('k')).value.toString()).toBe('value');
    expect(pooled).not.toHaveBeenCalled();
    expect(readSync).toHaveBeenCalledTimes(7);

    // Three in a row (a cold page cache): the next ones go to the pool, with the same answers.
    readSync.mockImplementationOnce(slowly).mockImplementationOnce(slowly).mockImplementationOnce(slowly);
    for (let i = 0; i < 3; i++) expect((await store.get('k')).value.toString()).toBe('value');
    readSync.mockClear();
    for (let i = 0; i < 3; i++) expect((await store.get('k')).value.toString()).toBe('value');
    expect(pooled).toHaveBeenCalledTimes(3);
    expect(readSync).not.toHaveBeenCalled();
    await expect(store.get('missing')).rejects.toBeInstanceOf(EntryNotFoundError); // both paths say not found alike
  });

  it('fails a read of a FIFO planted under an entry name instead of hanging on it', async () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const read = await store.get('pipe').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(StoreError);
    expect(read).not.toBeInstanceOf(EntryNotFoundError);
  });

  it('lists only regular files with valid entry names', async () => {
    await store.create('real', Buffer.from('v'));
    await fsp.mkdir(join(root, 'subdir'));
    await fsp.writeFile(join(root, 'has space'), 'x');
    await fsp.writeFile(join(root, 'backup~'), 'x');
    expect(await store.list('', '', 10)).toEqual({ names: ['real'], continueAt: '' });
  });

  it('never lets a reader see anything but one whole written value while 200 updates run', async () => {
    const size = 256 * 1024;
    const values = Array.from({ length: 201 }, (_, i) => Buffer.alloc(size, i % 256).fill(`<${i}>`, 0, 8));
    const written = new Map(values.map((v) => [contentVersion(v), v]));
    await store.create('hot', values[0] as Buffer);
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done) {
        const entry = await store.get('hot');
        const expected = written.get(entry.version);
        expect(expected, `read ${reads} is not a written value`).toBeDefined();
        expect(entry.value.equals(expected as Buffer)).toBe(true);
        reads++;
      }
    })();
    try {
      let version = contentVersion(values[0] as Buffer);
      for (let i = 1; i <= 200; i++) version = await store.update('hot', values[i] as Buffer, version);
    } finally {
      done = true;
      await reader;
    }
    expect(reads).toBeGreaterThan(10);
    expect((await store.get('hot')).value.equals(values[200] as Buffer)).toBe(true);
    expect(await visible()).toEqual(['hot']);
  });

  it('serializes concurrent updates and deletes of one name: a delete is never undone', async () => {
    await store.create('k', Buffer.from('v0'));
    const v0 = (await store.get('k')).version;
    const [upd, del] = await Promise.allSettled([store.update('k', Buffer.from('v1'), v0), store.delete('k')]);
    expect(upd.status).toBe('fulfilled');
    expect(del.status).toBe('fulfilled');
    await expect(store.get('k')).rejects.toBeInstanceOf(EntryNotFoundError);
  });

  it('reports errno failures as StoreErrors naming the errno and the entry, never the path', async () => {
    vi.spyOn(fsp, 'link').mockRejectedValueOnce(errnoError('ENOSPC', join(root, 'k')));
    const created = await store.create('k', Buffer.from('v')).catch((e: unknown) => e);
    expect(created).toBeInstanceOf(StoreError);
    expect(created).not.toBeInstanceOf(EntryExistsError);
    expect((created as Error).message).toMatch(/ENOSPC/);
    expect((created as Error).message).toContain("'k'");
    expect((created as Error).message).not.toContain(dir);
    expect(await visible()).toEqual([]);

    await store.create('k', Buffer.from('v'));
    const version = (await store.get('k')).version;
    vi.spyOn(fsp, 'rename').mockRejectedValueOnce(errnoError('EIO', join(root, 'k')));
    const updated = await store.update('k', Buffer.from('w'), version).catch((e: unknown) => e);
    expect(updated).toBeInstanceOf(StoreError);
    expect((updated as Error).message).toMatch(/EIO/);
    expect((updated as Error).message).not.toContain(dir);
    expect((await store.get('k')).value.toString()).toBe('v');
    expect(await visible()).toEqual(['k']);

    // Reads open synchronously while they are fast, through the thread pool after a slow one
    // (a busy machine): both ways are tried, each forced, and each fails the same way.
    const pool = store as unknown as { poolReadsUntil: number };
    const reads: unknown[] = [];
    for (const viaPool of [false, true]) {
      pool.poolReadsUntil = viaPool ? Number.POSITIVE_INFINITY : 0;
      const openSync = vi.spyOn(fs, 'openSync').mockImplementationOnce(() => {
        throw errnoError('EACCES', join(root, 'k'));
      });
      const open = vi
        .spyOn(fs, 'open')
        .mockImplementationOnce(((_path: fs.PathLike, _flags: unknown, cb: (err: NodeJS.ErrnoException) => void) =>
          cb(errnoError('EACCES', join(root, 'k')))) as unknown as typeof fs.open);
      reads.push(await store.get('k').catch((e: unknown) => e));
      openSync.mockRestore();
      open.mockRestore();
    }
    pool.poolReadsUntil = 0;
    const [read, pooled] = reads;
    expect(pooled).toBeInstanceOf(StoreError);
    expect((pooled as Error).message).toMatch(/EACCES/);
    expect(read).toBeInstanceOf(StoreError);
    expect(read).not.toBeInstanceOf(EntryNotFoundError);
    expect((read as Error).message).toMatch(/EACCES/);
    expect((read as Error).message).not.toContain(dir);

    vi.spyOn(fsp, 'unlink').mockRejectedValueOnce(errnoError('EACCES', join(root, 'k')));
    await expect(store.delete('k')).rejects.toThrow(/EACCES/);
    expect((await store.get('k')).value.toString()).toBe('v');
  });

  it('fails writes, not with "not found", when the root is gone or replaced, and status says unreachable', async () => {
    await fsp.rm(root, { recursive: true });
    const err = await store.create('k', Buffer.from('v')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).not.toBeInstanceOf(EntryNotFoundError);
    expect((err as Error).message).not.toContain(dir);
    await expect(store.list('', '', 10)).rejects.toBeInstanceOf(StoreError);
    await expect(store.status()).rejects.toBeInstanceOf(StoreUnreachableError);
    await fsp.writeFile(root, 'a file where the root was');
    await expect(store.status()).rejects.toThrow(/not a directory/);
    await expect(store.status()).rejects.toBeInstanceOf(StoreUnreachableError);
  });

  it('leaves only whole values under entry names when its process is killed mid-write', async () => {
    // Its own process group, so the kill reaches tsx's helper process too.
    const child = spawnTracked(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CRASH_WRITER, root], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    // Let it get well into its loop of creates and updates, then kill it without warning.
    await child.waitFor(/(.*\n){31}/, 'stdout');
    await child.killGroup('SIGKILL');

    // The next start comes later: leftovers are old by then (fresh ones may belong to a live sibling process).
    await backdate(root);
    store = await FSKeyStore.open(root);
    await store.swept;
    expect((await fsp.readdir(root)).filter((n) => n.startsWith('.'))).toEqual([]);
    const { names } = await store.list('', '', 1000);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const { value } = await store.get(name);
      // Each value ends with the SHA-256 of what precedes it: a torn write cannot pass.
      const body = value.subarray(0, value.length - 32);
      expect(
        createHash('sha256')
          .update(body)
          .digest()
          .equals(value.subarray(value.length - 32)),
        name,
      ).toBe(true);
    }
  });
});

/** Creates and rewrites self-checking values as fast as it can until killed; prints a line per write. */
const CRASH_WRITER = `
import { createHash, randomBytes } from 'node:crypto';
const { FSKeyStore } = await import('./keystores/fs.ts');
const store = await FSKeyStore.open(process.argv[1]);
const make = () => { const body = randomBytes(64 * 1024 + Math.floor(Math.random() * 65536)); return Buffer.concat([body, createHash('sha256').update(body).digest()]); };
for (let i = 0; ; i++) {
  const name = 'e' + (i % 8);
  try { await store.create(name, make()); }
  catch { const { version } = await store.get(name); await store.update(name, make(), version); }
  process.stdout.write(i + '\\n');
}
`;

/** Makes every dot-file of `root` a minute old, as leftovers of an earlier run would be. */
async function backdate(root: string): Promise<void> {
  const old = new Date(Date.now() - 60_000);
  for (const name of await fsp.readdir(root)) {
    if (name.startsWith('.')) await fsp.utimes(join(root, name), old, old);
  }
}

describe('several processes on one root', () => {
  it('serializes conditional updates across processes: exactly one of two racing updates wins each round', async () => {
    const root = join(await tempDir(), 'store');
    const store = await FSKeyStore.open(root);
    await store.create('shared', Buffer.from('0'));
    const other = await FSKeyStore.open(root); // a second instance has its own in-process locks, like a second worker
    for (let round = 0; round < 20; round++) {
      const { version } = await store.get('shared');
      const results = await Promise.allSettled([
        store.update('shared', Buffer.from(`a${round}`), version),
        other.update('shared', Buffer.from(`b${round}`), version),
      ]);
      expect(
        results.filter((r) => r.status === 'fulfilled'),
        `round ${round}`,
      ).toHaveLength(1);
    }
    expect((await fsp.readdir(root)).filter((n) => n.startsWith('.lock-'))).toEqual([]);
  });
});
