import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleWriter, UnsafeWriteError, fileBase, nameOfBase } from './writer.js';
import { BundleCerts, type TestBundle } from '../../test/helpers/bundle-certs.js';

const certs = new BundleCerts();
let a: TestBundle;
let b: TestBundle;
let c: TestBundle;
const dirs: string[] = [];

beforeAll(() => {
  a = certs.bundle({ dnsNames: ['site.test'], keyType: 'ecdsa-p256' });
  b = certs.bundle({ dnsNames: ['site.test'], keyType: 'ecdsa-p256' });
  c = certs.bundle({ dnsNames: ['site.test'], keyType: 'ed25519' });
});

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function outDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'keygate-writer-'));
  dirs.push(d);
  return d;
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('BundleWriter', () => {
  it('fails at once with the errno for an output folder the file system cannot create (procfs), instead of spinning', async () => {
    // Node's recursive mkdir never returns here; a hang would time this test out.
    await expect(new BundleWriter('/proc/keygate-nope/certs', true).init()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes the full chain 0644, the key 0600 and the combined PEM 0600, whatever the umask', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, true);
    await w.init();
    const old = process.umask(0o077);
    try {
      expect(await w.write('site.test', a)).toBe(true);
    } finally {
      process.umask(old);
    }
    const p = w.paths('site.test');
    expect(p).toEqual({ cert: join(dir, 'site.test.crt'), key: join(dir, 'site.test.key'), combined: join(dir, 'site.test.pem') });
    expect(readFileSync(p.cert, 'utf8')).toBe(a.chainPem);
    expect(readFileSync(p.key, 'utf8')).toBe(a.keyPem);
    expect(readFileSync(p.combined as string, 'utf8')).toBe(a.chainPem + a.keyPem);
    expect([mode(p.cert), mode(p.key), mode(p.combined as string)]).toEqual([0o644, 0o600, 0o600]);
    const leaf = new X509Certificate(readFileSync(p.cert));
    expect(leaf.checkPrivateKey(createPrivateKey(readFileSync(p.key)))).toBe(true);
  });

  it('switches a bundle through one link: the visible files are links into the live generation', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, false);
    await w.init();
    await w.write('site.test', a);
    expect(lstatSync(join(dir, 'site.test.crt')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'site.test.crt'))).toBe(join('.keygate', 'site.test.live', 'site.test.crt'));
    expect(readlinkSync(join(dir, '.keygate', 'site.test.live'))).toMatch(/^site\.test\.g[0-9a-f]{16}$/);
    expect(readdirSync(dir).sort()).toEqual(['.keygate', 'site.test.crt', 'site.test.key']);
  });

  it('writes nothing when the content is unchanged, and a new generation when it changed', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, false);
    await w.init();
    expect(await w.write('site.test', a)).toBe(true);
    const live = readlinkSync(join(dir, '.keygate', 'site.test.live'));
    expect(await w.write('site.test', a)).toBe(false);
    expect(readlinkSync(join(dir, '.keygate', 'site.test.live'))).toBe(live);
    expect(await w.write('site.test', b)).toBe(true);
    expect(readFileSync(join(dir, 'site.test.key'), 'utf8')).toBe(b.keyPem);
    expect(await w.write('site.test', c)).toBe(true);
    // The live generation and the one before it; older ones (and their keys) are gone.
    const generations = readdirSync(join(dir, '.keygate')).filter((e) => /\.g[0-9a-f]{16}$/.test(e));
    expect(generations).toHaveLength(2);
    expect(generations).toContain(readlinkSync(join(dir, '.keygate', 'site.test.live')));
  });

  it('adds and drops the combined file when the setting changes, without a new generation', async () => {
    const dir = outDir();
    const plain = new BundleWriter(dir, false);
    await plain.init();
    await plain.write('site.test', a);
    const combined = new BundleWriter(dir, true);
    expect(await combined.write('site.test', a)).toBe(true); // the generation lacks the .pem
    expect(readFileSync(join(dir, 'site.test.pem'), 'utf8')).toBe(a.chainPem + a.keyPem);
    expect(await plain.write('site.test', a)).toBe(true);
    expect(() => lstatSync(join(dir, 'site.test.pem'))).toThrow();
  });

  it('removes every file and generation of a bundle, and only of that bundle', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, true);
    await w.init();
    await w.write('site.test', a);
    await w.write('site.test', b);
    await w.write('other.test', c);
    expect((await w.bundlesOnDisk()).sort()).toEqual(['other.test', 'site.test']);
    expect(await w.remove('site.test')).toBe(true);
    expect(await w.remove('site.test')).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['.keygate', 'other.test.crt', 'other.test.key', 'other.test.pem']);
    expect(readdirSync(join(dir, '.keygate')).filter((e) => e.startsWith('site.test'))).toEqual([]);
    expect(await w.bundlesOnDisk()).toEqual(['other.test']);
  });

  it('names wildcard bundles the way the server stores them', async () => {
    expect(fileBase('*.example.com')).toBe('_.example.com');
    expect(nameOfBase('_.example.com')).toBe('*.example.com');
    expect(fileBase('www.example.com')).toBe('www.example.com');
    const dir = outDir();
    const w = new BundleWriter(dir, false);
    await w.init();
    await w.write('*.example.com', a);
    expect(readFileSync(join(dir, '_.example.com.crt'), 'utf8')).toBe(a.chainPem);
    expect(await w.bundlesOnDisk()).toEqual(['*.example.com']);
  });

  it('cleans up the temporary links of an interrupted run', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, false);
    await w.init();
    writeFileSync(join(dir, '.keygate', 'link.tmp-abcdef'), 'x');
    await w.init();
    expect(readdirSync(join(dir, '.keygate'))).toEqual([]);
  });
});

/** Every entry under `dir`: its type and content or link target. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const e of readdirSync(at).sort()) {
      const path = join(at, e);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out[join(rel, e)] = `-> ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[join(rel, e) + '/'] = '';
        walk(path, join(rel, e));
      } else out[join(rel, e)] = readFileSync(path, 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

describe('BundleWriter containment (issue 11)', () => {
  const INVALID = ['../x', '../../escape/pwned', 'a/b', '..', '.', '', '.hidden', '.keygate', '_.x', '*./x', 'a\0b', 'x'.repeat(249)];

  it('refuses every name that is not a bundle name, before touching anything', async () => {
    const root = outDir();
    const dir = join(root, 'out');
    writeFileSync(join(root, 'x.key'), 'mine\n');
    mkdirSync(join(root, 'escape'));
    const w = new BundleWriter(dir, true);
    await w.init();
    const before = tree(root);
    for (const name of INVALID) {
      await expect(w.write(name, a), name).rejects.toBeInstanceOf(UnsafeWriteError);
      await expect(w.remove(name), name).rejects.toBeInstanceOf(UnsafeWriteError);
      expect(() => w.paths(name), name).toThrow(UnsafeWriteError);
    }
    expect(tree(root)).toEqual(before);
  });

  it("replaces and removes only its own links: a file or a foreign link at a bundle's path is left alone", async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, true);
    await w.init();
    writeFileSync(join(dir, 'site.test.pem'), 'operator\n');
    const before = tree(dir);
    await expect(w.write('site.test', a)).rejects.toThrow(/site\.test\.pem exists and is not the agent's link/);
    expect(tree(dir)).toEqual(before); // checked before the generation was written: no trace

    // Without combined files the writer has no business with the .pem: written, and the .pem kept.
    const plain = new BundleWriter(dir, false);
    expect(await plain.write('site.test', a)).toBe(true);
    expect(await plain.write('site.test', b)).toBe(true);
    expect(readFileSync(join(dir, 'site.test.pem'), 'utf8')).toBe('operator\n');
    symlinkSync('/etc/hostname', join(dir, 'other.test.crt'));
    expect(await plain.remove('site.test')).toBe(true);
    expect(await plain.remove('other.test')).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['.keygate', 'other.test.crt', 'site.test.pem']);
    expect(readlinkSync(join(dir, 'other.test.crt'))).toBe('/etc/hostname');
    await expect(plain.write('other.test', a)).rejects.toThrow(/not the agent's link/);
  });

  it('refuses a .keygate that is a symlink (every generation would land where it points)', async () => {
    const root = outDir();
    const dir = join(root, 'out');
    mkdirSync(dir);
    mkdirSync(join(root, 'elsewhere'));
    symlinkSync('../elsewhere', join(dir, '.keygate'));
    const w = new BundleWriter(dir, false);
    await expect(w.init()).rejects.toThrow(/\.keygate is not a directory/);
    await expect(w.write('site.test', a)).rejects.toBeInstanceOf(UnsafeWriteError);
    expect(await w.bundlesOnDisk()).toEqual([]);
    expect(readdirSync(join(root, 'elsewhere'))).toEqual([]);
    expect(readdirSync(dir)).toEqual(['.keygate']);
  });

  it("writes through an output.dir that is itself a symlink (the operator's choice), inside its target", async () => {
    const root = outDir();
    mkdirSync(join(root, 'real'));
    symlinkSync('real', join(root, 'out'));
    const w = new BundleWriter(join(root, 'out'), false);
    await w.init();
    expect(await w.write('site.test', a)).toBe(true);
    expect(readFileSync(join(root, 'out', 'site.test.key'), 'utf8')).toBe(a.keyPem);
    expect(readdirSync(join(root, 'real')).sort()).toEqual(['.keygate', 'site.test.crt', 'site.test.key']);
  });

  it('temporary links cannot be taken for a bundle: the sweep keeps `a.tmp-1.example.com` and `link.tmp-1`', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, false);
    await w.init();
    await w.write('a.tmp-1.example.com', a);
    await w.write('link.tmp-1', b);
    await w.write('link.tmp-abcdef', c);
    const state = join(dir, '.keygate');
    const kept = tree(dir);
    symlinkSync('x', join(state, '.tmp-0123456789ab'));
    writeFileSync(join(state, 'link.tmp-0123456789ab'), 'x'); // what agents before this scheme left
    await new BundleWriter(dir, false).init();
    expect(tree(dir)).toEqual(kept);
    expect((await w.bundlesOnDisk()).sort()).toEqual(['a.tmp-1.example.com', 'link.tmp-1', 'link.tmp-abcdef']);
    // Nothing but the bundles' own entries is left in .keygate.
    expect(readdirSync(state).every((e) => /\.(live|g[0-9a-f]{16})$/.test(e))).toBe(true);
  });

  it('lists as bundles on disk only entries that spell a valid name', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, false);
    await w.init();
    await w.write('*.example.com', a);
    const state = join(dir, '.keygate');
    for (const e of ['.live', '..live', '.hidden.live', '*.example.org.live', '_.live']) symlinkSync('x', join(state, e));
    expect(await w.bundlesOnDisk()).toEqual(['*.example.com']);
  });
});

/**
 * A reader in another thread reads the certificate, the key and the certificate again,
 * in a tight loop, the way a careful consumer does, and the combined PEM; it counts
 * files that do not parse and pairs that do not match.
 */
const READER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { X509Certificate, createPrivateKey } = require('node:crypto');
const { cert, key, pem, stop } = workerData;
const flag = new Int32Array(stop);
const n = { reads: 0, straddled: 0, partial: 0, mismatched: 0, missing: 0, pem: 0 };
const pair = (c, k) => {
  let x, pk;
  try { x = new X509Certificate(c); pk = createPrivateKey(k); } catch { n.partial++; return; }
  if (!x.checkPrivateKey(pk)) n.mismatched++;
};
while (Atomics.load(flag, 0) === 0) {
  let c1, k, c2, p;
  try { c1 = readFileSync(cert, 'utf8'); k = readFileSync(key, 'utf8'); c2 = readFileSync(cert, 'utf8'); p = readFileSync(pem, 'utf8'); }
  catch (e) { n.missing++; continue; }
  n.reads++;
  if (!c1.endsWith('-----END CERTIFICATE-----\\n') || !k.endsWith('-----\\n')) n.partial++;
  if (c1 !== c2) n.straddled++; else pair(c1, k);
  const at = p.indexOf('-----BEGIN PRIVATE KEY-----');
  if (at < 0) n.partial++; else { n.pem++; pair(p.slice(0, at), p.slice(at)); }
}
parentPort.postMessage(n);
`;

describe('BundleWriter under a concurrent reader', () => {
  it('never lets a reader see a partial file or a key that does not match its certificate', async () => {
    const dir = outDir();
    const w = new BundleWriter(dir, true);
    await w.init();
    await w.write('site.test', a);
    const stop = new SharedArrayBuffer(4);
    const p = w.paths('site.test');
    const worker = new Worker(READER, { eval: true, workerData: { cert: p.cert, key: p.key, pem: p.combined, stop } });
    const result = new Promise<Record<string, number>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const rotation = [b, c, a];
    let writes = 0;
    for (let i = 0; i < 150; i++) {
      if (await w.write('site.test', rotation[i % 3] as TestBundle)) writes++;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const n = await result;
    await worker.terminate();
    expect(writes).toBe(150);
    expect(n['partial']).toBe(0);
    expect(n['mismatched']).toBe(0);
    expect(n['missing']).toBe(0);
    expect(n['reads']).toBeGreaterThan(50);
    expect(n['pem']).toBe(n['reads']);
  });
});
