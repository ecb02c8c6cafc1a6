/**
 * Writes bundles to the output directory so that no reader ever sees a partial
 * file, and a certificate and its key are switched together, in one atomic step.
 *
 * Layout for bundle `site.test` (a wildcard `*.example.com` is written `_.example.com`,
 * as the server stores it: plain names never start with `_.`):
 *
 *   <dir>/site.test.crt  -> .keygate/site.test.live/site.test.crt   full chain, 0644
 *   <dir>/site.test.key  -> .keygate/site.test.live/site.test.key   private key, 0600
 *   <dir>/site.test.pem  -> .keygate/site.test.live/site.test.pem   chain + key (haproxy), 0600, optional
 *   <dir>/.keygate/site.test.live -> site.test.g<16 hex>            the one pointer that is swapped
 *   <dir>/.keygate/site.test.g<16 hex>/                             one directory per generation
 *
 * A new generation is written into a fresh directory (each file: exclusive create,
 * write, fsync; then the directory is fsynced), and only then does a single rename
 * swap `site.test.live` to it (then that directory is fsynced). Every path a reader
 * opens resolves through that one link, so at every instant the `.crt`, `.key` and
 * `.pem` on disk are one generation: there is no moment at which the key is new and
 * the certificate old, as there would be between two renames of two files. The
 * previous generation is kept until the next swap, so a reader already resolving
 * through the old link never hits a missing file; older ones are deleted.
 * A reader that opens the two files at two different times can of course straddle a
 * swap (no file system can prevent that): the web server is reloaded only after the
 * swap, and a reader that must be sure re-reads the certificate after the key and
 * retries when it changed, or reads the combined `.pem`.
 *
 * Containment: the agent often runs as root and takes bundle names from the server,
 * so no name reaches a path unchecked. Every public method refuses a name that is
 * not a valid bundle name (src/core/bundles/names.ts: no '/', no '..', no leading
 * '.'), every path is built from one checked file-name component under the real
 * output directory, `.keygate` must be a real directory (not a symlink) inside it,
 * and a path is only replaced or deleted when it is the agent's own: absent, or the
 * very symlink the agent makes there. A file someone else put at `site.test.key` is
 * left alone and the write fails, loudly.
 *
 * Temporary links are `.keygate/.tmp-<12 hex>`. No bundle's entry in `.keygate` can
 * look like that (bundle names never start with '.'), so the sweep of an interrupted
 * run removes exactly the agent's debris and never a bundle whose name contains
 * `.tmp-`.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, readdir, readlink, realpath, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { isValidBundleName } from '../core/bundles/names.js';
import { mkdirAll } from '../files/mkdir-all.js';

/** What one bundle puts on disk. */
export interface BundleFiles {
  chainPem: string;
  keyPem: string;
}

export interface BundlePaths {
  cert: string;
  key: string;
  /** Present when combined files are configured. */
  combined?: string;
}

const STATE_DIR = '.keygate';
const GENERATION = /^g[0-9a-f]{16}$/;
const LIVE = '.live';
const EXTENSIONS = ['crt', 'key', 'pem'] as const;
type Extension = (typeof EXTENSIONS)[number];
const CERT_MODE = 0o644;
const KEY_MODE = 0o600;
/** Temporary links: the leading '.' is what no bundle name has, so no bundle's entry matches. */
const TEMP = /^\.tmp-[0-9a-f]{12}$/;
/**
 * Debris of agents before the '.tmp-' scheme (`link.tmp-<hex>`). Matched whole, with no dot
 * after `tmp-`: every entry of a bundle ends in `.live` or `.g<16 hex>`, so the entries of
 * a bundle called `link.tmp-1` or `a.tmp-1.example.com` never match.
 */
const LEGACY_TEMP = /^link\.tmp-[0-9a-f]+$/;

/** The writer refused a name or a path: nothing was written, replaced or deleted for it. */
export class UnsafeWriteError extends Error {}

/**
 * A name from elsewhere (the server, the disk) in one printable piece: quoted and escaped,
 * so a name with a newline cannot forge a log line; cut short, so it cannot flood one.
 */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 100 ? name.slice(0, 100) + '…' : name);
}

/** @throws UnsafeWriteError unless `name` is a valid bundle name (src/core/bundles/names.ts) */
export function checkBundleName(name: string): void {
  if (!isValidBundleName(name)) throw new UnsafeWriteError(`${quoteName(name)} is not a valid bundle name`);
}

/** The file-name stem of a bundle: `*.example.com` becomes `_.example.com`. */
export function fileBase(name: string): string {
  return name.startsWith('*.') ? '_' + name.slice(1) : name;
}

/** The bundle name of a file-name stem (inverse of fileBase). */
export function nameOfBase(base: string): string {
  return base.startsWith('_.') ? '*' + base.slice(1) : base;
}

/** The real output directory and its state directory, checked for this operation. */
interface Roots {
  dir: string;
  state: string;
}

export class BundleWriter {
  constructor(
    readonly dir: string,
    private readonly combined: boolean,
  ) {}

  /** Creates the output directories and removes leftovers of an interrupted run. */
  async init(): Promise<void> {
    await mkdirAll(this.dir, 0o755);
    await mkdir(join(await realpath(this.dir), STATE_DIR), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const { state } = await this.roots();
    for (const entry of await readdir(state)) {
      if (TEMP.test(entry) || LEGACY_TEMP.test(entry)) await rm(child(state, entry), { recursive: true, force: true });
    }
  }

  /** The paths a web server is configured with. */
  paths(name: string): BundlePaths {
    checkBundleName(name);
    const base = fileBase(name);
    const at = (ext: Extension) => child(this.dir, `${base}.${ext}`);
    return { cert: at('crt'), key: at('key'), ...(this.combined ? { combined: at('pem') } : {}) };
  }

  /**
   * Puts a bundle on disk unless the same content is already there.
   * Returns true when a new generation was written (a reload is due).
   * @throws UnsafeWriteError for an invalid name, or when a path it would replace is not the agent's
   */
  async write(name: string, files: BundleFiles): Promise<boolean> {
    checkBundleName(name);
    const roots = await this.roots();
    const { state } = roots;
    const base = fileBase(name);
    const live = child(state, base + LIVE);
    // Everything that would be replaced is checked before anything is written, so a refusal leaves no trace.
    await ownership(live, (target) => isGenerationOf(base, target));
    for (const ext of this.extensions()) await ownership(child(roots.dir, `${base}.${ext}`), (target) => target === linkTarget(base, ext));
    const contents = this.contents(base, files);
    const previous = await this.liveGeneration(state, base);
    if (previous !== null && (await this.sameContent(state, base, previous, contents))) {
      await this.linkFiles(roots, base); // in case `combined` was switched on or a link was deleted by hand
      return false;
    }
    const generation = 'g' + randomBytes(8).toString('hex');
    const genDir = child(state, `${base}.${generation}`);
    await mkdir(genDir, { mode: 0o755 });
    // A directory swapped for a symlink between mkdir and the first write would carry the key elsewhere.
    if ((await realpath(genDir)) !== genDir) throw new UnsafeWriteError(`${genDir} does not stay inside ${roots.dir}`);
    for (const [file, { data, mode }] of contents) await writeDurable(child(genDir, file), data, mode);
    await syncDir(genDir);
    await ownership(live, (target) => isGenerationOf(base, target));
    await replaceSymlink(`${base}.${generation}`, live, state);
    await syncDir(state);
    await this.linkFiles(roots, base);
    await this.prune(state, base, [generation, ...(previous !== null ? [previous] : [])]);
    return true;
  }

  /**
   * Removes a bundle's files and every generation of it; false when there was nothing.
   * A file at one of its paths that is not the agent's link is left where it is.
   */
  async remove(name: string): Promise<boolean> {
    checkBundleName(name);
    const { dir, state } = await this.roots();
    const base = fileBase(name);
    let found = false;
    for (const ext of EXTENSIONS) found = (await unlinkIfOwn(child(dir, `${base}.${ext}`), (t) => t === linkTarget(base, ext))) || found;
    await syncDir(dir);
    found = (await unlinkIfOwn(child(state, base + LIVE), (t) => isGenerationOf(base, t))) || found;
    found = (await this.prune(state, base, [])) || found;
    await syncDir(state);
    return found;
  }

  /** Names of the bundles currently on disk (entries that do not spell a valid name are not bundles). */
  async bundlesOnDisk(): Promise<string[]> {
    const entries = await this.roots().then(
      ({ state }) => readdir(state),
      () => [] as string[],
    );
    return entries
      .filter((e) => e.endsWith(LIVE))
      .map((e) => e.slice(0, -LIVE.length))
      .filter((base) => isValidBundleName(nameOfBase(base)) && fileBase(nameOfBase(base)) === base)
      .map(nameOfBase);
  }

  /**
   * The real output directory, and its `.keygate`, which must be a directory of its own:
   * a symlink there would carry every generation and temporary link out of `output.dir`.
   * Checked on every operation, not once, since the tree can change while the agent runs.
   */
  private async roots(): Promise<Roots> {
    const dir = await realpath(this.dir);
    const state = child(dir, STATE_DIR);
    const st = await lstat(state);
    if (!st.isDirectory()) throw new UnsafeWriteError(`${state} is not a directory (a symlink is refused: files stay inside ${dir})`);
    return { dir, state };
  }

  private extensions(): Extension[] {
    return this.combined ? ['crt', 'key', 'pem'] : ['crt', 'key'];
  }

  private contents(base: string, files: BundleFiles): Map<string, { data: string; mode: number }> {
    const key = files.keyPem.endsWith('\n') ? files.keyPem : files.keyPem + '\n';
    const chain = files.chainPem.endsWith('\n') ? files.chainPem : files.chainPem + '\n';
    const out = new Map([
      [`${base}.crt`, { data: chain, mode: CERT_MODE }],
      [`${base}.key`, { data: key, mode: KEY_MODE }],
    ]);
    if (this.combined) out.set(`${base}.pem`, { data: chain + key, mode: KEY_MODE });
    return out;
  }

  private async liveGeneration(state: string, base: string): Promise<string | null> {
    try {
      const target = await readlink(child(state, base + LIVE));
      return isGenerationOf(base, target) ? target.slice(base.length + 1) : null;
    } catch {
      return null;
    }
  }

  private async sameContent(state: string, base: string, generation: string, contents: Map<string, { data: string; mode: number }>): Promise<boolean> {
    const genDir = child(state, `${base}.${generation}`);
    const present = await readdir(genDir).catch(() => [] as string[]);
    if (present.length !== contents.size) return false;
    for (const [file, { data }] of contents) {
      const current = await readFile(child(genDir, file), 'utf8').catch(() => null);
      if (current !== data) return false;
    }
    return true;
  }

  /** Points `<dir>/<base>.{crt,key,pem}` through the live link (each link replaced atomically when missing). */
  private async linkFiles({ dir, state }: Roots, base: string): Promise<void> {
    let changed = false;
    for (const ext of this.extensions()) {
      const path = child(dir, `${base}.${ext}`);
      const target = linkTarget(base, ext);
      if ((await ownership(path, (t) => t === target)) === 'own') continue;
      await replaceSymlink(target, path, state);
      changed = true;
    }
    if (!this.combined) changed = (await unlinkIfOwn(child(dir, `${base}.pem`), (t) => t === linkTarget(base, 'pem'))) || changed;
    if (changed) await syncDir(dir);
  }

  /** Deletes the generations of `base` other than `keep`; true when any was deleted. */
  private async prune(state: string, base: string, keep: string[]): Promise<boolean> {
    let removed = false;
    for (const entry of await readdir(state)) {
      if (!isGenerationOf(base, entry) || keep.includes(entry.slice(base.length + 1))) continue;
      await rm(child(state, entry), { recursive: true, force: true });
      removed = true;
    }
    return removed;
  }
}

/**
 * `parent/file` for a single file-name component. Names are checked long before they get
 * here; this is the last line, so that no later change can build a path that climbs out.
 */
function child(parent: string, file: string): string {
  if (file === '' || file === '.' || file === '..' || file.includes('/') || file.includes(sep) || file.includes('\0')) {
    throw new UnsafeWriteError(`refusing the path component ${quoteName(file)}`);
  }
  return join(parent, file);
}

/** What `<dir>/<base>.<ext>` points to: the file of the same name in the live generation. */
function linkTarget(base: string, ext: Extension): string {
  return join(STATE_DIR, base + LIVE, `${base}.${ext}`);
}

/** Whether `entry` (in `.keygate`) is a generation directory of `base`. */
function isGenerationOf(base: string, entry: string): boolean {
  return entry.startsWith(base + '.') && GENERATION.test(entry.slice(base.length + 1));
}

/**
 * Whether `path` may be replaced: absent, or the agent's own symlink (its target passes `own`).
 * @throws UnsafeWriteError for anything else: a file, a directory, someone else's link
 */
async function ownership(path: string, own: (target: string) => boolean): Promise<'absent' | 'own'> {
  const state = await linkState(path, own);
  if (state === 'foreign') throw new UnsafeWriteError(`${path} exists and is not the agent's link: left alone`);
  return state;
}

async function linkState(path: string, own: (target: string) => boolean): Promise<'absent' | 'own' | 'foreign'> {
  try {
    const st = await lstat(path);
    return st.isSymbolicLink() && own(await readlink(path)) ? 'own' : 'foreign';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}

/** Creates `path` (which must not exist) with exactly `mode`, writes it and fsyncs it. */
async function writeDurable(path: string, data: string, mode: number): Promise<void> {
  // 'wx' is O_CREAT|O_EXCL: never follows a symlink someone put there, never opens an existing file.
  const fh = await open(path, 'wx', mode);
  try {
    await fh.chmod(mode); // the umask may have taken bits away; a key must be exactly 0600
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Makes `path` a symlink to `target` in one rename (callers have checked that what is
 * at `path` is the agent's). The temporary link is made in `tmpDir` (same file system),
 * where init() finds leftovers.
 */
async function replaceSymlink(target: string, path: string, tmpDir: string): Promise<void> {
  const tmp = child(tmpDir, `.tmp-${randomBytes(6).toString('hex')}`);
  await symlink(target, tmp);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Deletes `path` when it is the agent's own link; true when it did. */
async function unlinkIfOwn(path: string, own: (target: string) => boolean): Promise<boolean> {
  if ((await linkState(path, own)) !== 'own') return false;
  await unlink(path);
  return true;
}
