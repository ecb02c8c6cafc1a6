/**
 * The documentation page's files (HTML, script, style sheet), read once from
 * `src/api/docs/assets/` under the package root: tsc does not copy them into
 * `dist/`, so the built server reads the same files the tests do.
 */
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Asset {
  readonly body: string;
  readonly contentType: string;
  /** Strong validator: a hash of the body, quoted as HTTP wants it. */
  readonly etag: string;
  /** The hash alone, used as the `?v=` of versioned links. */
  readonly version: string;
}

export interface DocsAssets {
  readonly page: Asset;
  /** Served at `/docs/<name>`. */
  readonly files: ReadonlyMap<string, Asset>;
}

const FILES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export function asset(body: string, contentType: string): Asset {
  const version = hash('sha256', body, 'hex').slice(0, 20);
  return { body, contentType, etag: `"${version}"`, version };
}

/**
 * Reads the assets under `root`. The page links each file with its `?v=` hash,
 * so a browser may cache a file for good and still never run a stale one.
 */
export function loadDocsAssets(root: string): DocsAssets {
  const dir = join(root, 'src', 'api', 'docs', 'assets');
  const files = new Map<string, Asset>();
  for (const [name, type] of Object.entries(FILES)) files.set(name, asset(readFileSync(join(dir, name), 'utf8'), type));
  const html = readFileSync(join(dir, 'index.html'), 'utf8').replace(/\{\{asset:([\w.-]+)\}\}/g, (_, name: string) => {
    const file = files.get(name);
    if (!file) throw new Error(`docs: index.html links an unknown asset '${name}'`);
    return `/docs/${name}?v=${file.version}`;
  });
  return { page: asset(html, 'text/html; charset=utf-8'), files };
}

/** Whether an `If-None-Match` header value names `etag` (or is `*`); weak validators compare equal. */
export function matchesETag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || (t.startsWith('W/') ? t.slice(2) : t) === etag;
  });
}
