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
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';

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
const CERT_MODE = 0o644;
const KEY_MODE = 0o600;

/** The file-name stem of a bundle: `*.example.com` becomes `_.example.com`. */
export function fileBase(name: string): string {
  return name.startsWith('*.') ? '_' + name.slice(1) : name;
}

/** The bundle name of a file-name stem (inverse of fileBase). */
export function nameOfBase(base: string): string {
  return base.startsWith('_.') ? '*' + base.slice(1) : base;
}

export class BundleWriter {
  private readonly state: string;

  constructor(
    readonly dir: string,
    private readonly combined: boolean,
  ) {
    this.state = join(dir, STATE_DIR);
  }

  /** Creates the output directories and removes leftovers of an interrupted run. */
  async init(): Promise<void> {
    await mkdir(this.state, { recursive: true, mode: 0o755 });
    for (const entry of await readdir(this.state)) {
      if (entry.includes('.tmp-')) await rm(join(this.state, entry), { recursive: true, force: true });
    }
  }

  /** The paths a web server is configured with. */
  paths(name: string): BundlePaths {
    const base = fileBase(name);
    const at = (ext: string) => join(this.dir, `${base}.${ext}`);
    return { cert: at('crt'), key: at('key'), ...(this.combined ? { combined: at('pem') } : {}) };
  }

  /**
   * Puts a bundle on disk unless the same content is already there.
   * Returns true when a new generation was written (a reload is due).
   */
  async write(name: string, files: BundleFiles): Promise<boolean> {
    const base = fileBase(name);
    const contents = this.contents(base, files);
    const previous = await this.liveGeneration(base);
    if (previous !== null && (await this.sameContent(base, previous, contents))) {
      await this.linkFiles(base); // in case `combined` was switched on or a link was deleted by hand
      return false;
    }
    const generation = 'g' + randomBytes(8).toString('hex');
    const genDir = join(this.state, `${base}.${generation}`);
    await mkdir(genDir, { mode: 0o755 });
    for (const [file, { data, mode }] of contents) await writeDurable(join(genDir, file), data, mode);
    await syncDir(genDir);
    await replaceSymlink(`${base}.${generation}`, join(this.state, base + LIVE), this.state);
    await syncDir(this.state);
    await this.linkFiles(base);
    await this.prune(base, [generation, ...(previous !== null ? [previous] : [])]);
    return true;
  }

  /** Removes a bundle's files and every generation of it; false when there was nothing. */
  async remove(name: string): Promise<boolean> {
    const base = fileBase(name);
    let found = false;
    for (const ext of ['crt', 'key', 'pem']) found = (await unlinkIfPresent(join(this.dir, `${base}.${ext}`))) || found;
    await syncDir(this.dir);
    found = (await unlinkIfPresent(join(this.state, base + LIVE))) || found;
    found = (await this.prune(base, [])) || found;
    await syncDir(this.state);
    return found;
  }

  /** Names of the bundles currently on disk. */
  async bundlesOnDisk(): Promise<string[]> {
    const entries = await readdir(this.state).catch(() => []);
    return entries.filter((e) => e.endsWith(LIVE)).map((e) => nameOfBase(e.slice(0, -LIVE.length)));
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

  private async liveGeneration(base: string): Promise<string | null> {
    try {
      const target = await readlink(join(this.state, base + LIVE));
      const generation = target.slice(base.length + 1);
      return target.startsWith(base + '.') && GENERATION.test(generation) ? generation : null;
    } catch {
      return null;
    }
  }

  private async sameContent(base: string, generation: string, contents: Map<string, { data: string; mode: number }>): Promise<boolean> {
    const genDir = join(this.state, `${base}.${generation}`);
    const present = await readdir(genDir).catch(() => [] as string[]);
    if (present.length !== contents.size) return false;
    for (const [file, { data }] of contents) {
      const current = await readFile(join(genDir, file), 'utf8').catch(() => null);
      if (current !== data) return false;
    }
    return true;
  }

  /** Points `<dir>/<base>.{crt,key,pem}` through the live link (each link replaced atomically when wrong). */
  private async linkFiles(base: string): Promise<void> {
    let changed = false;
    for (const ext of ['crt', 'key', ...(this.combined ? ['pem'] : [])]) {
      const path = join(this.dir, `${base}.${ext}`);
      const target = join(STATE_DIR, base + LIVE, `${base}.${ext}`);
      if ((await readlink(path).catch(() => null)) === target) continue;
      await replaceSymlink(target, path, this.state);
      changed = true;
    }
    if (!this.combined) changed = (await unlinkIfPresent(join(this.dir, `${base}.pem`))) || changed;
    if (changed) await syncDir(this.dir);
  }

  /** Deletes the generations of `base` other than `keep`; true when any was deleted. */
  private async prune(base: string, keep: string[]): Promise<boolean> {
    let removed = false;
    for (const entry of await readdir(this.state)) {
      if (!entry.startsWith(base + '.')) continue;
      const generation = entry.slice(base.length + 1);
      if (!GENERATION.test(generation) || keep.includes(generation)) continue;
      await rm(join(this.state, entry), { recursive: true, force: true });
      removed = true;
    }
    return removed;
  }
}

/** Creates `path` (which must not exist) with exactly `mode`, writes it and fsyncs it. */
async function writeDurable(path: string, data: string, mode: number): Promise<void> {
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
 * Makes `path` a symlink to `target` in one rename (whatever was at `path` before is replaced).
 * The temporary link is made in `tmpDir` (same file system), where init() finds leftovers.
 */
async function replaceSymlink(target: string, path: string, tmpDir: string): Promise<void> {
  const tmp = join(tmpDir, `link.tmp-${randomBytes(6).toString('hex')}`);
  await symlink(target, tmp);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await lstat(path);
  } catch {
    return false;
  }
  await unlink(path);
  return true;
}
