/**
 * The dashboard's files (HTML, script, style sheet), read once from
 * `src/api/ui/assets/` under the package root (tsc does not copy them into
 * `dist/`, so the built server reads the same files the tests do). The page links
 * each file with its content hash (`?v=`), so a browser may cache it for good.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asset, type DocsAssets } from '../docs/assets.js';

const FILES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export function loadUIAssets(root: string): DocsAssets {
  const dir = join(root, 'src', 'api', 'ui', 'assets');
  const files = new Map(Object.entries(FILES).map(([name, type]) => [name, asset(readFileSync(join(dir, name), 'utf8'), type)] as const));
  const html = readFileSync(join(dir, 'index.html'), 'utf8').replace(/\{\{asset:([\w.-]+)\}\}/g, (_, name: string) => {
    const file = files.get(name);
    if (!file) throw new Error(`ui: index.html links an unknown asset '${name}'`);
    return `/ui/${name}?v=${file.version}`;
  });
  return { page: asset(html, 'text/html; charset=utf-8'), files };
}
