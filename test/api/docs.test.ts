/**
 * `/v1/openapi.json` and the `/docs` page: public, served by keygate itself with
 * the right types, caching and CSP, and rendered by headless Chromium into a
 * page that lists every operation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { loadOpenAPI, operations, packageRoot } from '../../src/api/docs/spec.js';
import { DOCS_CSP } from '../../src/api/docs/index.js';
import { matchesETag } from '../../src/api/docs/assets.js';
import { runToEnd } from '../helpers/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const root = packageRoot();

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

describe('GET /v1/openapi.json', () => {
  it('serves the merged document to anyone, without a certificate', async () => {
    const r = await s.call(null, '/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.json).toEqual(loadOpenAPI());
    expect(r.json.paths['/v1/key/create/{name}'].put.operationId).toBe('createKey');
  });

  it('answers 304 without a body when the ETag still matches, and audits it', async () => {
    const first = await s.call(null, '/v1/openapi.json');
    const etag = first.headers['etag'] as string;
    expect(etag).toMatch(/^"[0-9a-f]{20}"$/);
    const again = await s.call(null, '/v1/openapi.json', { headers: { 'If-None-Match': `W/"other", ${etag}` } });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers['etag']).toBe(etag);
    expect(again.headers['content-length']).toBeUndefined();
    expect(s.logLines.some((l) => l.includes('"path":"/v1/openapi.json"') && l.includes('"status":304'))).toBe(true);
    expect((await s.call(null, '/v1/openapi.json', { headers: { 'If-None-Match': '"stale"' } })).status).toBe(200);
  });

  it('refuses other methods with 405', async () => {
    const r = await s.call(null, '/v1/openapi.json', { method: 'PUT' });
    expect(r.status).toBe(405);
    expect(r.json).toEqual({ message: "received method 'PUT' expected 'GET'" });
  });
});

describe('GET /docs and its assets', () => {
  it('serves the page with a strict Content-Security-Policy and versioned asset links', async () => {
    const r = await s.call(null, '/docs');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(DOCS_CSP).toMatch(/^default-src 'self';/);
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.text).toMatch(/<script src="\/docs\/app\.js\?v=[0-9a-f]{20}" defer><\/script>/);
    expect(r.text).toMatch(/<link rel="stylesheet" href="\/docs\/style\.css\?v=[0-9a-f]{20}">/);
    expect(r.text).not.toContain('{{');
  });

  it('serves the script and style sheet with their types; only the versioned link is cached for good', async () => {
    const page = (await s.call(null, '/docs')).text;
    for (const [name, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
    ] as const) {
      const link = new RegExp(`/docs/${name.replace('.', '\\.')}\\?v=[0-9a-f]+`).exec(page)?.[0] as string;
      const versioned = await s.call(null, link);
      expect(versioned.status).toBe(200);
      expect(versioned.headers['content-type']).toBe(type);
      expect(versioned.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(versioned.text).toBe(readFileSync(join(root, 'src/api/docs/assets', name), 'utf8'));
      const bare = await s.call(null, `/docs/${name}`);
      expect(bare.headers['cache-control']).toBe('no-cache');
      expect(bare.headers['etag']).toBe(versioned.headers['etag']);
      const stale = await s.call(null, `/docs/${name}?v=0000`);
      expect(stale.headers['cache-control']).toBe('no-cache');
      expect((await s.call(null, `/docs/${name}`, { headers: { 'If-None-Match': bare.headers['etag'] as string } })).status).toBe(304);
    }
  });

  it('answers 404 for anything else under /docs/', async () => {
    for (const path of ['/docs/', '/docs/index.html', '/docs/app.js.map', '/docs/..%2Fspec.ts', '/docs/assets/app.js']) {
      const r = await s.call(null, path);
      expect(r.status, path).toBe(404);
      expect(r.json, path).toEqual({ message: 'not found' });
    }
  });

  it('loads nothing from another origin', () => {
    for (const name of ['index.html', 'app.js', 'style.css']) {
      const text = readFileSync(join(root, 'src/api/docs/assets', name), 'utf8');
      expect(text, name).not.toMatch(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
      expect(text, name).not.toMatch(/@import|@font-face|url\(/);
    }
  });
});

describe('files found from the package root', () => {
  it('walks up from src/ and from dist/src/ to the directory holding package.json', () => {
    expect(existsSync(join(root, 'package.json'))).toBe(true);
    expect(existsSync(join(root, 'openapi/openapi.yaml'))).toBe(true);
    expect(packageRoot(pathToFileURL(join(root, 'dist/src/api/docs/index.js')).href)).toBe(root);
    expect(packageRoot(pathToFileURL(join(root, 'src/api/docs/index.ts')).href)).toBe(root);
    expect(() => packageRoot(pathToFileURL('/no-package-here/x/y.js').href)).toThrow(/no package\.json above/);
  });

  it('refuses a broken document, naming the file', () => {
    const fake = (files: Record<string, string>): string => {
      const dir = mkdtempSync(join(tmpdir(), 'keygate-openapi-'));
      mkdirSync(join(dir, 'openapi'));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'openapi', name), text);
      return dir;
    };
    const head = 'openapi: 3.1.0\ninfo: {title: t, version: "0"}\nx-keygate-parts: [a.yaml, b.yaml]\npaths: {}\n';
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'openapi.yaml': head, 'a.yaml': 'paths: {/x: {}}\n', 'b.yaml': 'paths: {/x: {}}\n' }, /b\.yaml: path '\/x' is defined twice/],
      [
        { 'openapi.yaml': head, 'a.yaml': 'components: {schemas: {A: {}}}\n', 'b.yaml': 'components: {schemas: {A: {}}}\n' },
        /components\.schemas 'A' is defined twice/,
      ],
      [{ 'openapi.yaml': head, 'a.yaml': 'info: {}\n', 'b.yaml': '{}\n' }, /a\.yaml: unexpected top-level key 'info'/],
      [{ 'openapi.yaml': head, 'a.yaml': 'paths: [\n', 'b.yaml': '{}\n' }, /a\.yaml: /],
      [{ 'openapi.yaml': head, 'a.yaml': '{}\n' }, /b\.yaml/],
    ];
    for (const [files, error] of cases) {
      const dir = fake(files);
      try {
        expect(() => loadOpenAPI(dir)).toThrow(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('compares ETags as If-None-Match wants', () => {
    expect(matchesETag('"a"', '"a"')).toBe(true);
    expect(matchesETag('W/"a"', '"a"')).toBe(true);
    expect(matchesETag('"b", "a"', '"a"')).toBe(true);
    expect(matchesETag('*', '"a"')).toBe(true);
    expect(matchesETag('"b"', '"a"')).toBe(false);
    expect(matchesETag(undefined, '"a"')).toBe(false);
  });
});

describe('the page in headless Chromium', () => {
  const present = existsSync(CHROMIUM);
  if (!present) console.warn(`docs.test: ${CHROMIUM} is missing; the browser test is skipped (CI installs it: .ci/run)`);

  it.skipIf(!present)('renders every operation of the document', { timeout: 120_000 }, async () => {
    const dom = await dumpDOM(`${s.url}/docs`);
    const text = dom.replace(/<[^>]*>/g, '');
    expect(dom).not.toContain('Could not load the API description');
    const ops = operations(loadOpenAPI());
    expect(ops.length).toBeGreaterThan(20);
    for (const { path, method } of ops) {
      expect(dom, `${method} ${path}`).toContain(`data-method="${method.toUpperCase()}" data-path="${path}"`);
      expect(text, path).toContain(path);
    }
    expect(text).toContain('client certificate');
    expect(text).toContain('tls: client certificate is required');
  });
});

/** The DOM after the page's script ran, from headless Chromium (a fresh profile, no network but the server). */
async function dumpDOM(url: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'keygate-chromium-'));
  try {
    // Chromium starts helper processes of its own: a group of its own (test/helpers/processes.ts)
    // is killed whole when the test ends, where a timeout would kill the browser process alone.
    const r = await runToEnd(CHROMIUM, [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--ignore-certificate-errors',
      '--virtual-time-budget=10000',
      '--dump-dom',
      url,
    ]);
    if (r.code !== 0) throw new Error(`chromium exited with ${r.code ?? r.signal}: ${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
