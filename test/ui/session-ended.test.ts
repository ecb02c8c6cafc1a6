/// <reference lib="dom" />
/**
 * The dashboard notices that its session ended by the error's code (issue 18): the page reads
 * `Keygate-Error-Code: SESSION_ENDED` from the API's 403, not the message's words, and starts
 * again at the sign-in. In headless Chromium, against a real server whose admin tokens (the
 * session's among them) are revoked while the page is open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'puppeteer-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumPresent, CHROMIUM, openBrowser, settled, show, type TestBrowser } from './browser.js';

const ADMIN = { login: 'ops', password: 'correct horse battery staple' };
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ config: { rks: { admin: ADMIN } } });
});
afterAll(() => s.close());

describe('the dashboard whose session ends', () => {
  if (!chromiumPresent) console.warn(`ui/session-ended.test: ${CHROMIUM} is missing; the browser test is skipped (CI installs it: .ci/run)`);
  let b: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    if (!chromiumPresent) return;
    b = await openBrowser();
    page = b.page;
  }, 60_000);
  afterAll(async () => b?.close());

  it.skipIf(!chromiumPresent)('goes back to the sign-in when the API answers SESSION_ENDED', { timeout: 90_000 }, async () => {
    const base = `https://127.0.0.1:${s.port}/ui/`;
    await show(page, base);
    await page.type('#login', ADMIN.login);
    await page.type('#password', ADMIN.password);
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-page="overview"]:not([aria-busy])');

    // Every admin token dies, the page's session with them.
    const login = await s.call(null, '/rks/v1/admin/login', { method: 'POST', body: ADMIN, headers: { 'Content-Type': 'application/json' } });
    const revoked = await s.call(null, '/rks/v1/admin/tokens', { method: 'DELETE', headers: { 'X-Vault-Token': login.json.adminToken } });
    expect(revoked.status).toBe(200);

    // The next page asks the API, is refused SESSION_ENDED, and the page starts again.
    const codes: string[] = [];
    page.on('response', (r) => {
      const code = r.headers()['keygate-error-code'];
      if (code !== undefined) codes.push(code);
    });
    await page.evaluate(() => (location.hash = '#/bundles'));
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Sign in to keygate');
    await settled(page);
    expect(await page.$eval('h1', (e) => e.textContent)).toBe('Sign in to keygate');
    expect(codes).toContain('SESSION_ENDED');
  });
});
