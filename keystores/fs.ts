/**
 * The filesystem keystore: one file per entry, named exactly like the entry,
 * directly inside one root folder. Single host, and one process per root.
 *
 * - The root is created 0700 when missing (parents too); an existing folder is
 *   used with whatever permissions its operator gave it. Entry files are 0600.
 * - Nothing escapes the root: entry names never contain '/' or NUL and never
 *   start with '.', so neither '..' nor the temporary files can be named, and
 *   entries are opened with O_NOFOLLOW so a planted symlink is not followed.
 * - No reader ever sees a partial value under an entry's name: every value is
 *   written to a '.tmp-<random>' file and fsynced first, then moved into place
 *   by `link` (create: fails atomically if the name exists) or `rename` (update:
 *   atomically replaces), and the folder is fsynced so the new name is durable.
 * - Temporary and lock files left by a crash (older than 30 s) are removed by `open`;
 *   a lock file per name serializes updates across processes sharing the root, and
 *   names its holder, so one left by a killed process is broken at once.
 * - Errors name the errno and the entry, never a path: they travel up as the
 *   `cause` of API errors and into logs.
 */
import fsp, { type FileHandle } from 'node:fs/promises';
import fs, { constants } from 'node:fs';
import { hash, randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  EntryExistsError,
  EntryNotFoundError,
  InvalidEntryNameError,
  MAX_LIST_PAGE,
  StoreError,
  StoreUnreachableError,
  VersionMismatchError,
  isValidEntryName,
  ownedCopy,
  type Entry,
  type KeyStore,
  type ListPage,
  type StoreStatus,
} from './keystore.js';
import { checkListArgs, pageFrom } from './listing.js';
import { mkdirAll } from '../src/files/mkdir-all.js';

/** Folder entries read per thread-pool call when listing (see names()). */
const LIST_READ_BATCH = 1024;

/** Prefix of temporary files; entry names cannot start with '.', so none is ever an entry. */
const TMP_PREFIX = '.tmp-';
const LOCK_PREFIX = '.lock-';
/** A lock or temporary file older than this was left by a process that died. */
const STALE_MS = 30_000;

/**
 * How long after the folder's last change a read of it may be kept: far longer than
 * the tick of the kernel's file-time clock (a few ms), so a later change cannot carry
 * the same time as the one the read saw.
 */
const LISTING_TRUST_NS = 1_000_000_000n;

/** Lock owners (`<pid> <random>`) of the stores this process opened: another with our pid is a dead predecessor's. */
const liveOwners = new Set<string>();

/**
 * Takes an exclusive lock file holding `owner`, waiting for another holder and breaking
 * stale locks: older than STALE_MS, or held by a process that is gone (killed
 * mid-update), so a restarted server need not wait out STALE_MS. The lock is a hard
 * link to a temporary file already holding `owner`: `link` fails if the lock exists,
 * and a lock never exists without its owner in it.
 */
async function acquireLockFile(path: string, name: string, owner: string): Promise<void> {
  const ticket = join(dirname(path), TMP_PREFIX + randomBytes(12).toString('hex'));
  try {
    await fsp.writeFile(ticket, owner, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw failure('lock', name, err);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.link(ticket, path);
        return;
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw failure('lock', name, err);
      }
      const age = await fsp.stat(path).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (age > STALE_MS || (await holderIsGone(path))) await removeQuietly(path);
      else if (attempt > 2000) throw new StoreError(`keystore: entry '${name}' is locked by another process`);
      else await new Promise((r) => setTimeout(r, 2 + Math.random() * 3));
    }
  } finally {
    await fsp.rm(ticket, { force: true }).catch(() => undefined);
  }
}

/** Whether a lock file names a holder that no longer runs (a restart may reuse the pid: then it is not one of our stores). */
async function holderIsGone(path: string): Promise<boolean> {
  const m = /^(\d+) ([0-9a-f]+)$/.exec(await fsp.readFile(path, 'utf8').catch(() => ''));
  if (!m) return false;
  if (Number(m[1]) === process.pid) return !liveOwners.has(m[0]);
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch (err) {
    return errno(err) === 'ESRCH';
  }
}

const WRITE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
// O_NONBLOCK: a FIFO planted under an entry name fails the read instead of hanging a thread.
const READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** First read of an entry: most values (bundles, keys, records) fit, so a read is open, read, close. */
const FIRST_READ = 16 * 1024;
/** A synchronous read slower than this blocked the event loop… */
const SLOW_READ_MS = 2;
/**
 * …and this many in a row is the disk, not chance: use the thread pool instead… (On a busy
 * machine the process is now and then descheduled in the middle of a 20 µs read; switching
 * on one such read kept a store that reads often on the thread pool most of the time, at
 * three pool round trips per read.)
 */
const SLOW_READS_IN_A_ROW = 3;
/** …for this long, then try again. */
const POOL_READS_FOR_MS = 10_000;

export class FSKeyStore implements KeyStore {
  private readonly root: string;
  private closed = false;
  /** Tail of each name's queue of updates and deletes; absent when the name is idle. */
  private readonly locks = new Map<string, Promise<void>>();
  /** Until when reads go through the thread pool (after slow synchronous reads). */
  private poolReadsUntil = 0;
  /** Synchronous reads in a row slower than SLOW_READ_MS. */
  private slowReads = 0;
  /** The sorted names of the last folder read, valid while the folder's times are these. */
  private listing: { names: string[]; mtimeNs: bigint; ctimeNs: bigint } | undefined;
  /** Written into this store's lock files, so others can tell when its process is gone. */
  private readonly lockOwner = `${process.pid} ${randomBytes(8).toString('hex')}`;

  /**
   * Uses `root` as it is, without any I/O: the folder must exist. `open` is
   * how a server starts a store (creating the folder, removing crash debris).
   */
  constructor(root: string) {
    // Resolved once, so a later chdir cannot move the store.
    this.root = resolve(root);
    liveOwners.add(this.lockOwner);
  }

  /**
   * Creates `root` (mode 0700, with any missing parents) unless it exists,
   * refuses a root that is not a directory, and removes temporary files a
   * crashed process left behind — which is why only one process may use a
   * root at a time: another one's in-flight write would lose its temporary file.
   */
  static async open(root: string): Promise<FSKeyStore> {
    const store = new FSKeyStore(root);
    try {
      await mkdirAll(store.root, 0o700);
    } catch (err) {
      if (errno(err) === 'EEXIST' || errno(err) === 'ENOTDIR') throw new StoreError('keystore: root is not a directory');
      throw failure('create the root', '', err);
    }
    try {
      if (!(await fsp.stat(store.root)).isDirectory()) throw new StoreError('keystore: root is not a directory');
    } catch (err) {
      throw failure('open the root', '', err);
    }
    // In the background: a root of 100 000 entries takes a while to read, and debris is
    // invisible to readers anyway, so serving need not wait for it.
    store.swept = store.sweep().catch(() => undefined);
    return store;
  }

  /** Resolves when the start-up sweep of crash debris has finished (tests). */
  swept: Promise<void> = Promise.resolve();

  /** Removes temporary and lock files left by a process that died. */
  private async sweep(): Promise<void> {
    // Only old leftovers: another process (a sibling worker) may be writing right now.
    const now = Date.now();
    for (const name of await fsp.readdir(this.root)) {
      if (!name.startsWith(TMP_PREFIX) && !name.startsWith(LOCK_PREFIX)) continue;
      const path = join(this.root, name);
      const age = await fsp.stat(path).then(
        (st) => now - st.mtimeMs,
        () => 0,
      );
      if (age > STALE_MS || (name.startsWith(LOCK_PREFIX) && (await holderIsGone(path)))) await removeQuietly(path);
    }
  }

  async create(name: string, value: Uint8Array): Promise<void> {
    this.check(name);
    const data = copyIn(value);
    const tmp = await this.writeTemp(data, 'create', name);
    try {
      await fsp.link(tmp, this.path(name));
    } catch (err) {
      if (errno(err) === 'EEXIST') throw new EntryExistsError(name);
      throw failure('create', name, err);
    } finally {
      // A leftover is invisible to every reader and removed by the next `open`.
      await removeQuietly(tmp);
    }
    await this.syncRoot('create', name);
  }

  async get(name: string): Promise<Entry> {
    this.check(name);
    const value = await this.read(name, 'read');
    return { value, version: contentVersion(value) };
  }

  /**
   * Compare-and-set within this process: updates and deletes of one name run
   * one at a time. Versions are content hashes (see `contentVersion`).
   */
  async update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    this.check(name);
    const data = copyIn(value);
    return this.locked(name, async () => {
      const current = await this.read(name, 'update');
      if (contentVersion(current) !== expectedVersion) throw new VersionMismatchError(name);
      const tmp = await this.writeTemp(data, 'update', name);
      try {
        await fsp.rename(tmp, this.path(name));
      } catch (err) {
        await removeQuietly(tmp);
        throw failure('update', name, err);
      }
      await this.syncRoot('update', name);
      return contentVersion(data);
    });
  }

  async delete(name: string): Promise<void> {
    this.check(name);
    // Under the name's lock, so an update that already read the old value cannot resurrect the entry.
    await this.locked(name, async () => {
      try {
        await fsp.unlink(this.path(name));
      } catch (err) {
        if (errno(err) === 'ENOENT') throw new EntryNotFoundError(name);
        throw failure('delete', name, err);
      }
      await this.syncRoot('delete', name);
    });
  }

  /**
   * The folder is the only truth (an operator may restore files into it), so a
   * listing is served from the sorted names of the last read only while the
   * folder's modification time is unchanged: every create, rename and unlink in
   * it (this process's, a sibling worker's, an operator's) changes that time.
   * Names before the page are found by binary search, so paging through 100 000
   * entries reads the folder once, not once per page.
   */
  async list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    this.open();
    checkListArgs(prefix, continueAt, limit);
    return pageFrom(await this.names(), prefix, continueAt, Math.min(limit, MAX_LIST_PAGE));
  }

  /** Every entry name, sorted: the folder's regular files with valid entry names. */
  private async names(): Promise<string[]> {
    let st;
    const names: string[] = [];
    try {
      st = await fsp.stat(this.root, { bigint: true });
      if (this.listing && this.listing.mtimeNs === st.mtimeNs && this.listing.ctimeNs === st.ctimeNs) return this.listing.names;
      // A thousand entries at a time: readdir hands over the whole folder at once, and turning
      // 200 000 names into strings held the event loop for a quarter of a second (every request
      // waited); read in batches, the longest hold is the sort below.
      for await (const d of await fsp.opendir(this.root, { bufferSize: LIST_READ_BATCH })) {
        if (d.isFile() && isValidEntryName(d.name)) names.push(d.name);
      }
    } catch (err) {
      throw failure('list', '', err);
    }
    names.sort();
    // Folder times come from a coarse clock: a change within the same tick as the time we
    // read would not move it. So a read is kept only once that tick is safely past.
    const age = BigInt(Date.now()) * 1_000_000n - st.mtimeNs;
    this.listing = age > LISTING_TRUST_NS ? { names, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs } : undefined;
    return names;
  }

  /** Stats the root; StoreUnreachableError when it is gone or no longer a directory. */
  async status(): Promise<StoreStatus> {
    this.open();
    const started = performance.now();
    let isDirectory: boolean;
    try {
      isDirectory = (await fsp.stat(this.root)).isDirectory();
    } catch (err) {
      throw new StoreUnreachableError(`keystore: root is not reachable: ${describe(err)}`);
    }
    if (!isDirectory) throw new StoreUnreachableError('keystore: root is not a directory');
    return { latencyMs: performance.now() - started };
  }

  /** Holds no handles between calls: only marks the store closed. Calls already running finish. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private path(name: string): string {
    return join(this.root, name);
  }

  private open(): void {
    if (this.closed) throw new StoreError('keystore: closed');
  }

  private check(name: string): void {
    this.open();
    if (!isValidEntryName(name)) throw new InvalidEntryNameError(name);
  }

  private async read(name: string, action: string): Promise<Buffer> {
    try {
      // Like nginx serving a static file: a read the page cache can answer costs a few
      // microseconds of system calls, far less than three round trips through the thread
      // pool. Once several in a row take long (a cold cache, a slow disk), reads go to the pool for a while.
      const now = performance.now();
      if (now >= this.poolReadsUntil) {
        const value = readWholeSync(this.path(name));
        this.slowReads = performance.now() - now > SLOW_READ_MS ? this.slowReads + 1 : 0;
        if (this.slowReads >= SLOW_READS_IN_A_ROW) {
          this.slowReads = 0;
          this.poolReadsUntil = performance.now() + POOL_READS_FOR_MS;
        }
        return value;
      }
      return await readWhole(this.path(name));
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new EntryNotFoundError(name);
      throw failure(action, name, err);
    }
  }

  /** Writes `data` to a new fsynced temporary file (0600) in the root and returns its path. */
  private async writeTemp(data: Buffer, action: string, name: string): Promise<string> {
    const tmp = join(this.root, TMP_PREFIX + randomBytes(12).toString('hex'));
    let fh: FileHandle;
    try {
      fh = await fsp.open(tmp, WRITE_NEW, 0o600);
    } catch (err) {
      throw failure(action, name, err);
    }
    try {
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      await removeQuietly(tmp);
      throw failure(action, name, err);
    }
    return tmp;
  }

  /**
   * Makes the folder's new or removed name durable. A failure here is reported
   * although the change is already visible: the caller cannot know it survives
   * a power loss, just as with a network store whose answer was lost.
   */
  private async syncRoot(action: string, name: string): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await fsp.open(this.root, constants.O_RDONLY | constants.O_DIRECTORY);
      await fh.sync();
    } catch (err) {
      // Some filesystems cannot fsync a directory at all; there is nothing stronger to do there.
      if (errno(err) !== 'EINVAL') throw failure(action, name, err);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  /**
   * Runs `fn` after every earlier `locked` call for `name` has settled, holding a
   * lock file too, so that several processes on one root (server workers) also
   * serialize their read-compare-replace of a name.
   */
  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(name);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before ? before.then(() => mine) : mine;
    this.locks.set(name, tail);
    try {
      await before;
      // Hashed: a 255-character entry name plus the prefix would exceed the file name limit.
      const lockFile = join(this.root, LOCK_PREFIX + hash('sha256', name, 'hex').slice(0, 32));
      await acquireLockFile(lockFile, name, this.lockOwner);
      try {
        return await fn();
      } finally {
        await removeQuietly(lockFile);
      }
    } finally {
      release();
      if (this.locks.get(name) === tail) this.locks.delete(name);
    }
  }
}

/**
 * An entry's version: the first 16 bytes of SHA-256 of its value, in hex (the
 * same as the Vault KV v1 adapter). Content hashing is enough for
 * compare-and-set here because every writer is in this one process on this
 * one host and updates of a name are serialized, so there is no clock or
 * counter to keep in step. The one thing a hash cannot tell apart is A→B→A (or
 * delete and re-create with the same bytes): an update then succeeds against a
 * value that was rewritten since it was read — which is harmless, because the
 * value is byte for byte the one the writer read, so the outcome is the same as
 * if the writer had read it just now. It also means rewriting identical bytes
 * keeps the version.
 */
export function contentVersion(value: Uint8Array): string {
  return hash('sha256', value, 'hex').slice(0, 32);
}

/**
 * A whole file, with the callback API: reads are the store's hot path, and this is
 * three thread-pool round trips (open, read, close) for a value that fits the first
 * read, against five for FileHandle.readFile. Reads until EOF, so a value of any size works.
 */
function readWhole(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fs.open(path, READ, (err, fd) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      let total = 0;
      const finish = (failed: NodeJS.ErrnoException | null) =>
        fs.close(fd, () => (failed ? reject(failed) : resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total))));
      const next = (size: number) => {
        const buf = Buffer.allocUnsafe(size);
        fs.read(fd, buf, 0, size, null, (readErr, n) => {
          if (readErr) return finish(readErr);
          // Copied out so a small value does not pin the whole read buffer (values live long in caches).
          if (n > 0) chunks.push(ownedCopy(buf.subarray(0, n)));
          total += n;
          // Regular files read short only at EOF; a full buffer may have more behind it.
          if (n === size) next(size * 4);
          else if (total > 0) finish(null);
          // Nothing read: an empty entry, or something that is no regular file (a FIFO reads as empty too).
          else fs.fstat(fd, (statErr, st) => finish(statErr ?? (st.isFile() ? null : Object.assign(new Error('not a regular file'), { code: 'EINVAL' }))));
        });
      };
      next(FIRST_READ);
    });
  });
}

/**
 * The first read's buffer for synchronous reads, reused: nothing else runs during a
 * synchronous read, and a fresh 16 KiB buffer per read is external memory that makes
 * V8 collect garbage far more often than the values themselves would.
 */
const scratch = Buffer.allocUnsafe(FIRST_READ);

/** readWhole with synchronous system calls (see `read`). */
function readWholeSync(path: string): Buffer {
  const fd = fs.openSync(path, READ);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (let size = FIRST_READ; ; size *= 4) {
      const buf = size === FIRST_READ ? scratch : Buffer.allocUnsafe(size);
      const n = fs.readSync(fd, buf, 0, size, null);
      if (n > 0) chunks.push(ownedCopy(buf.subarray(0, n)));
      total += n;
      if (n === size) continue;
      if (total === 0 && !fs.fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function copyIn(value: Uint8Array): Buffer {
  if (!(value instanceof Uint8Array)) throw new TypeError('keystore: value must be a Uint8Array');
  return Buffer.from(value);
}

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The errno, or the error class for anything else: never Node's message, which holds the full path. */
function describe(err: unknown): string {
  return errno(err) ?? (err instanceof Error ? err.name : 'unknown error');
}

/** A StoreError naming the action, the entry and the errno; keystore errors pass through. */
function failure(action: string, name: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  return new StoreError(`keystore: cannot ${action}${name === '' ? '' : ` entry '${name}'`}: ${describe(err)}`);
}

async function removeQuietly(path: string): Promise<void> {
  await fsp.unlink(path).catch(() => undefined);
}
