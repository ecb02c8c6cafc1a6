/// <reference lib="dom" />
/**
 * The dashboard with the RKS admin login (issue 16; the session on the wire is in
 * session-wire.test.ts): the operator's morning in headless Chromium — log in, see a bundle expiring in 5 days highlighted, import a replacement,
 * assign it, revoke a node, rotate a group token and see it once, follow the audit
 * stream — with screenshots of every page at two widths and an axe-core scan of each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'puppeteer-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { SESSION_COOKIE } from '../../src/auth/session.js';
import { chromiumPresent, CHROMIUM, openBrowser, screenshots, seriousViolations, settled, show, type TestBrowser } from './browser.js';

const ADMIN = { login: 'ops', password: 'correct horse battery staple' };
const certs = new BundleCerts();
let s: TestServer;
let nodeToken = '';

beforeAll(async () => {
  s = await startTestServer({ config: { rks: { admin: ADMIN } } });
  const put = async (path: string, body?: unknown) => {
    const r = await s.call(s.admin, path, { method: 'PUT', ...(body === undefined ? {} : { body }) });
    expect(r.status, `${path}: ${r.text}`).toBe(200);
    return r.json;
  };
  const soon = certs.expiringIn(5, { dnsNames: ['soon.example.com'] });
  const later = certs.expiringIn(200, { dnsNames: ['later.example.com'] });
  await put('/v1/cert/import/soon.example.com', { certificate: soon.chainPem, private_key: soon.keyPem, ttl: 600, labels: { team: 'web' } });
  await put('/v1/cert/import/later.example.com', { certificate: later.chainPem, private_key: later.keyPem, ttl: 600, labels: { team: 'api' } });
  const edge = (await put('/v1/group/create/edge', {})).group_token as string;
  await put('/v1/group/create/backup', {});
  await put('/v1/group/assign/edge/soon.example.com');
  const reg = await s.call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'cache-1' }, headers: { Authorization: `Bearer ${edge}` } });
  expect(reg.status).toBe(200);
  nodeToken = reg.json.node_token;
  // The node fetches its bundle: its "last seen" is now.
  expect((await s.call(null, '/v1/cert/get/soon.example.com', { headers: { Authorization: `Bearer ${nodeToken}` } })).status).toBe(200);
});
afterAll(() => s.close());

describe('the dashboard in headless Chromium, logged in as the RKS admin', () => {
  if (!chromiumPresent) console.warn(`ui/session.test: ${CHROMIUM} is missing; the browser tests are skipped (CI installs it: .ci/run)`);
  let b: TestBrowser;
  let page: Page;
  const base = () => `https://127.0.0.1:${s.port}/ui/`;

  beforeAll(async () => {
    if (!chromiumPresent) return;
    b = await openBrowser();
    page = b.page;
  }, 60_000);
  afterAll(async () => b?.close());

  /** Screenshots at both widths and the accessibility scan of the page on screen. */
  async function check(name: string): Promise<void> {
    await screenshots(page, name);
    expect(await seriousViolations(page), name).toEqual([]);
  }

  it.skipIf(!chromiumPresent)('offers the login, logs in, and shows the overview', { timeout: 90_000 }, async () => {
    await show(page, base());
    expect(await page.$eval('h1', (e) => e.textContent)).toBe('Sign in to keygate');
    await check('sign-in');
    await page.type('#login', ADMIN.login);
    await page.type('#password', ADMIN.password);
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-page="overview"]:not([aria-busy])');
    const cookies = await b.browser.defaultBrowserContext().cookies();
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const text = await page.$eval('main', (e) => e.textContent ?? '');
    expect(text).toContain('Certificate bundles');
    expect(text).toContain('soon.example.com');
    expect(text).toMatch(/1 alive, 0 stale/);
    await page.waitForFunction(() => /\/s/.test(document.querySelector('main')?.textContent ?? ''));
    await check('overview');
  });

  it.skipIf(!chromiumPresent)('highlights the bundle expiring in 5 days, in colour and in words', { timeout: 90_000 }, async () => {
    await show(page, base() + '#/bundles');
    const row = await page.$$eval('tbody tr', (rows) => rows.map((r) => ({ cls: r.className, text: r.textContent ?? '' })));
    const soon = row.find((r) => r.text.startsWith('soon.example.com'));
    expect(soon?.cls).toBe('week');
    expect(soon?.text).toMatch(/expires in [45] days/);
    expect(row.find((r) => r.text.startsWith('later.example.com'))?.cls).toBe('later');
    expect(await page.$$eval('svg.chart circle.p-week', (c) => c.length)).toBe(1);
    // Times are local, with UTC on hover.
    expect(await page.$eval('tbody time', (t) => t.getAttribute('title'))).toMatch(/^UTC: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await page.type('#filter-label', 'team=api');
    await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);
    expect(await page.$eval('tbody tr', (r) => r.textContent)).toContain('later.example.com');
    await check('bundles');
  });

  it.skipIf(!chromiumPresent)('imports a replacement (an error inline first), then assigns it to a group', { timeout: 90_000 }, async () => {
    await show(page, base() + '#/bundle/soon.example.com');
    expect(await page.$eval('main', (e) => e.textContent)).toContain('expires in');
    const fresh = certs.expiringIn(300, { dnsNames: ['soon.example.com'] });
    const other = certs.expiringIn(300, { dnsNames: ['soon.example.com'] });
    // A key that is not the leaf's: the API's own validation, shown inline.
    await page.$eval('#replace-cert', (e, v) => ((e as HTMLTextAreaElement).value = v), fresh.chainPem);
    await page.$eval('#replace-key', (e, v) => ((e as HTMLTextAreaElement).value = v), other.keyPem);
    await page.click('#replace-form button[type=submit]');
    const error = await page.waitForSelector('#replace-form .error');
    expect(await error?.evaluate((e) => e.textContent)).toMatch(/private_key: .*does not match/);
    // Both files dropped on the chain's field: the key goes to its own field.
    await page.$eval(
      '#replace-cert',
      (e, chain, key) => {
        const files = new DataTransfer();
        files.items.add(new File([chain], 'soon.crt'));
        files.items.add(new File([key], 'soon.key'));
        e.dispatchEvent(new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }));
      },
      fresh.chainPem,
      fresh.keyPem,
    );
    await page.waitForFunction(() => (document.querySelector('#replace-key') as HTMLTextAreaElement).value.includes('PRIVATE KEY'));
    expect(await page.$eval('#replace-cert', (e) => (e as HTMLTextAreaElement).value)).not.toContain('PRIVATE KEY');
    await page.click('#replace-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('main p .badge')?.classList.contains('b-later'));
    await settled(page);
    const described = await s.call(s.admin, '/v1/cert/describe/soon.example.com');
    expect(described.json.fingerprint_sha256).toBe(fresh.leaf.cert.fingerprint256);
    // No private key on the page, ever.
    expect(await page.content()).not.toContain('PRIVATE KEY');

    await page.select('#assign-group', 'backup');
    await page.click('button[data-action=assign]');
    await page.waitForFunction(() => [...document.querySelectorAll('main a')].some((a) => a.textContent === 'backup'));
    await settled(page);
    expect((await s.call(s.admin, '/v1/group/describe/backup')).json.bundles).toEqual(['soon.example.com']);
    await check('bundle');
  });

  it.skipIf(!chromiumPresent)('revokes a node and shows it revoked', { timeout: 90_000 }, async () => {
    await show(page, base() + '#/groups');
    await check('groups');
    await show(page, base() + '#/group/edge');
    const row = 'tr[data-node="cache-1"]';
    expect(await page.$eval(row, (r) => r.textContent)).toMatch(/just now|min ago/);
    expect(await page.$eval(row, (r) => r.textContent)).toContain('alive');
    await page.click(`${row} button[data-action=revoke]`);
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent?.includes('revoked'), {}, row);
    expect(await page.$(`${row} button[data-action=revoke]`)).toBeNull();
    expect((await s.call(null, '/v1/cert/get/soon.example.com', { headers: { Authorization: `Bearer ${nodeToken}` } })).status).toBe(403);
    await check('group');
  });

  it.skipIf(!chromiumPresent)('rotates the group token and shows it once', { timeout: 90_000 }, async () => {
    await show(page, base() + '#/group/edge');
    await page.click('button[data-action=rotate]');
    await page.waitForSelector('dialog[open] #token-value');
    const token = await page.$eval('#token-value', (e) => (e as HTMLInputElement).value);
    expect(token).toMatch(/^kgg_[\w-]{43}$/);
    expect(await page.$eval('dialog[open]', (d) => d.textContent)).toContain('only time');
    await screenshots(page, 'rotate-dialog');
    expect(await seriousViolations(page)).toEqual([]);
    // The token works: a node registers with it.
    const reg = await s.call(null, '/v1/node/register/edge', { method: 'PUT', body: { node_id: 'cache-2' }, headers: { Authorization: `Bearer ${token}` } });
    expect(reg.status).toBe(200);
    await page.click('dialog[open] button:not(.secondary)');
    await page.waitForFunction(() => !document.querySelector('dialog'));
    await settled(page);
    expect(await page.content()).not.toContain(token);
    await show(page, base() + '#/group/edge');
    expect(await page.content()).not.toContain(token);
  });

  it.skipIf(!chromiumPresent)('follows the audit stream live, with filters', { timeout: 90_000 }, async () => {
    await show(page, base() + '#/audit');
    await page.waitForFunction(() => document.querySelector('#audit-state')?.textContent?.startsWith('Live'));
    await s.call(s.admin, '/v1/cert/describe/later.example.com');
    await page.waitForFunction(() => document.querySelector('main tbody')?.textContent?.includes('/v1/cert/describe/later.example.com'));
    await page.type('#audit-path', 'later.example');
    await page.waitForFunction(() => [...document.querySelectorAll('main tbody tr')].every((r) => r.textContent?.includes('later.example')));
    await check('audit');
  });

  it.skipIf(!chromiumPresent)('shows who may do what', { timeout: 90_000 }, async () => {
    await show(page, base() + '#/access');
    expect(await page.$eval('main', (e) => e.textContent)).toContain('admin (everything)');
    await check('access');
  });

  it.skipIf(!chromiumPresent)('is keyboard navigable: skip link, then the navigation in order', { timeout: 60_000 }, async () => {
    // A fresh load leaves the focus at the top of the document (later pages move it to their heading).
    await page.goto('about:blank');
    await show(page, base() + '#/overview');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      seen.push(await page.evaluate(() => document.activeElement?.textContent ?? ''));
    }
    expect(seen.join('|')).toContain('Overview|Certificates|Groups and nodes|Audit|Access');
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-page="accessPage"]:not([aria-busy])');
  });

  it.skipIf(!chromiumPresent)('refuses a write without the CSRF token and the cookie from another origin, in the browser', { timeout: 60_000 }, async () => {
    await show(page, base() + '#/overview');
    const status = await page.evaluate(
      async () => (await fetch('/v1/group/create/from-console', { method: 'PUT', body: '{}', headers: { 'Content-Type': 'application/json' } })).status,
    );
    expect(status).toBe(403);
    // A page of another origin (another name of this server) posts with the browser's cookies.
    await show(page, `https://localhost:${s.port}/ui/`);
    expect(await page.$eval('h1', (e) => e.textContent)).toBe('Sign in to keygate');
    await page.evaluate(async (target) => {
      await fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' }).catch(() => undefined);
    }, `https://127.0.0.1:${s.port}/v1/group/create/cross-origin`);
    expect((await s.call(s.admin, '/v1/group/describe/cross-origin')).status).toBe(404);
    expect((await s.call(s.admin, '/v1/group/describe/from-console')).status).toBe(404);
  });

  it.skipIf(!chromiumPresent)(
    'after a session ended elsewhere, offers the login again: the dead cookie is refused, cleared, and the page starts anonymous',
    { timeout: 60_000 },
    async () => {
      const rks = await s.call(null, '/rks/v1/admin/login', { method: 'POST', body: ADMIN, headers: { 'Content-Type': 'application/json' } });
      expect((await s.call(null, '/rks/v1/admin/tokens', { method: 'DELETE', headers: { 'X-Vault-Token': rks.json.adminToken } })).status).toBe(200);
      expect((await b.browser.defaultBrowserContext().cookies()).find((c) => c.name === SESSION_COOKIE)).toBeDefined();
      await show(page, base() + '#/overview');
      await page.waitForSelector('main[data-page="sign-in"]');
      expect((await b.browser.defaultBrowserContext().cookies()).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
      await page.type('#login', ADMIN.login);
      await page.type('#password', ADMIN.password);
      await page.keyboard.press('Enter');
      await page.waitForSelector('main[data-page="overview"]:not([aria-busy])');
    },
  );

  it.skipIf(!chromiumPresent)('logs out', { timeout: 60_000 }, async () => {
    await show(page, base() + '#/overview');
    await page.click('#who button');
    await page.waitForSelector('main[data-page="sign-in"]');
    const cookies = await b.browser.defaultBrowserContext().cookies();
    expect(cookies.find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
  });
});
