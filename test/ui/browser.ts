/// <reference lib="dom" />
/**
 * Headless Debian Chromium for the dashboard tests, driven over the DevTools protocol
 * with puppeteer-core. The browser is spawned through test/helpers/processes.ts (its
 * own process group, killed after the file) and puppeteer connects to it; one browser
 * per test file, pages reused. Also: the axe-core scan, screenshots under
 * test-results/ and the check that a screenshot is not blank.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { createRequire } from 'node:module';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { spawnTracked, type Spawned } from '../helpers/processes.js';
import { packageRoot } from '../../src/api/docs/spec.js';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumPresent = existsSync(CHROMIUM);
export const RESULTS = join(packageRoot(), 'test-results', 'ui');

export interface TestBrowser {
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

/**
 * A fresh profile; `home` is the HOME Chromium runs with (its NSS database of client
 * certificates lives in `$HOME/.pki/nssdb`).
 */
export async function openBrowser(home: string = mkdtempSync(join(tmpdir(), 'keygate-ui-home-'))): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'keygate-ui-profile-'));
  const chromium: Spawned = spawnTracked(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--ignore-certificate-errors',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { env: { ...process.env, HOME: home } },
    'file',
  );
  const ws = (await chromium.waitFor(/DevTools listening on (ws:\/\/\S+)/))[1] as string;
  const browser = await puppeteer.connect({ browserWSEndpoint: ws, acceptInsecureCerts: true, defaultViewport: { width: 1280, height: 800 } });
  const page = await browser.newPage();
  return {
    browser,
    page,
    async close() {
      await browser.close().catch(() => undefined);
      await chromium.killGroup();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens a dashboard location and waits until its page has rendered (no request pending). */
export async function show(page: Page, url: string): Promise<void> {
  // A change of the hash alone is no new document: forget the page shown, so the wait is for the next one.
  await page.evaluate(() => document.querySelector('main')?.removeAttribute('data-page'));
  if (page.url() === url) await page.reload({ waitUntil: 'domcontentloaded' });
  else await page.goto(url, { waitUntil: 'domcontentloaded' });
  await settled(page);
}

/** Waits until the dashboard finished rendering its current page. */
export async function settled(page: Page): Promise<void> {
  await page.waitForSelector('main[data-page]:not([aria-busy]) h1');
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is (the CSP does not apply to DevTools' evaluation). */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: unknown }> }> }> };
      }
    ).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${JSON.stringify(v.nodes.map((n) => n.target))}`);
  });
  return found;
}

export const WIDTHS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;

/** Screenshots of the page at both widths under test-results/ui/, each checked not to be blank. */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  for (const w of WIDTHS) {
    await page.setViewport({ width: w.width, height: w.height });
    // Laid out again at this width before the picture is taken.
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(null)))));
    const png = Buffer.from(await page.screenshot({ fullPage: true }));
    writeFileSync(join(RESULTS, `${name}-${w.name}.png`), png);
    if (!hasContent(png)) throw new Error(`screenshot ${name}-${w.name}.png is blank`);
  }
  await page.setViewport({ width: 1280, height: 800 });
}

/**
 * Whether a PNG shows more than a plain background: its decompressed scanlines hold
 * many different byte values (a one-colour image, filtered, holds a handful).
 */
export function hasContent(png: Buffer): boolean {
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const pixels = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (const byte of pixels) seen.add(byte);
  return seen.size >= 48;
}
