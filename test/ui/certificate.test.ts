/**
 * The dashboard by client certificate (issue 16): Chromium holds two client
 * certificates in its NSS database (`$HOME/.pki/nssdb`, filled with certutil and
 * pk12util) and picks one by itself through the AutoSelectCertificateForUrls policy:
 * the admin's for `https://localhost:<port>`, a viewer's whose policy allows only
 * `/v1/cert/describe/*` for `https://127.0.0.1:<port>`. The admin sees everything
 * with no login; the viewer sees a bundle but no button that would fail.
 *
 * On Linux Chromium reads policies only from /etc/chromium/policies/managed: the
 * test writes its own file there (named after its process, removed afterwards) and
 * skips with one line where it cannot (not root, no NSS tools, no Chromium).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Page } from 'puppeteer-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/certs.js';
import { BundleCerts } from '../helpers/bundle-certs.js';
import { chromiumPresent, openBrowser, screenshots, seriousViolations, show, type TestBrowser } from './browser.js';

const POLICY_DIR = '/etc/chromium/policies/managed';
const nssTools = ['/usr/bin/certutil', '/usr/bin/pk12util'].every((t) => existsSync(t));
const policyWritable = (() => {
  try {
    mkdirSync(POLICY_DIR, { recursive: true });
    accessSync(POLICY_DIR, constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();
const missing = !chromiumPresent
  ? 'Chromium (/usr/bin/chromium)'
  : !nssTools
    ? 'the NSS tools (certutil, pk12util: Debian libnss3-tools)'
    : !policyWritable
      ? `a writable ${POLICY_DIR} (run as root)`
      : '';
if (missing) console.warn(`ui/certificate.test: ${missing} is missing; the client-certificate browser tests are skipped (CI installs them: .ci/run)`);

let s: TestServer;
let viewer: TestClient;
let b: TestBrowser;
let page: Page;
let home = '';
const policyFile = join(POLICY_DIR, `keygate-ui-test-${process.pid}.json`);

/** A PKCS#12 file of a client's certificate and key, without a password, for pk12util. */
function pkcs12(client: TestClient, name: string, file: string): void {
  execFileSync('openssl', ['pkcs12', '-export', '-in', client.certFile, '-inkey', client.keyFile, '-name', name, '-out', file, '-passout', 'pass:'], {
    stdio: 'ignore',
  });
}

beforeAll(async () => {
  s = await startTestServer({
    prepare: (pki) => {
      viewer = pki.client({ commonName: 'viewer' });
      return { policy: { viewer: { allow: ['/v1/cert/describe/*'], identities: [viewer.identity] } } };
    },
  });
  const certs = new BundleCerts();
  const soon = certs.expiringIn(5, { dnsNames: ['soon.example.com'] });
  const r = await s.call(s.admin, '/v1/cert/import/soon.example.com', {
    method: 'PUT',
    body: { certificate: soon.chainPem, private_key: soon.keyPem, ttl: 600 },
  });
  expect(r.status, r.text).toBe(200);
  expect((await s.call(s.admin, '/v1/group/create/edge', { method: 'PUT', body: {} })).status).toBe(200);
  if (missing) return;

  home = mkdtempSync(join(tmpdir(), 'keygate-ui-nss-'));
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  execFileSync('certutil', ['-N', '-d', db, '--empty-password']);
  for (const [who, name] of [
    [s.admin, 'admin'],
    [viewer, 'viewer'],
  ] as const) {
    const file = join(home, `${name}.p12`);
    pkcs12(who, name, file);
    execFileSync('pk12util', ['-i', file, '-d', db, '-W', ''], { stdio: 'ignore' });
  }
  const pick = (host: string, cn: string) =>
    JSON.stringify({ pattern: `https://${host}:${s.port}`, filter: { ISSUER: { CN: 'keygate test CA' }, SUBJECT: { CN: cn } } });
  writeFileSync(policyFile, JSON.stringify({ AutoSelectCertificateForUrls: [pick('localhost', 'admin'), pick('127.0.0.1', 'viewer')] }));
  b = await openBrowser(home);
  page = b.page;
}, 90_000);

afterAll(async () => {
  await b?.close();
  if (!missing) rmSync(policyFile, { force: true });
  if (home) rmSync(home, { recursive: true, force: true });
  await s?.close();
});

describe('the dashboard by client certificate', () => {
  it.skipIf(missing !== '')('lets the admin in by certificate, without a login, with every action', { timeout: 90_000 }, async () => {
    await show(page, `https://localhost:${s.port}/ui/#/overview`);
    expect(await page.$eval('#who', (e) => e.textContent)).toContain('Certificate');
    expect(await page.$('#who button')).toBeNull(); // nothing to log out of
    expect(await page.$eval('main', (e) => e.textContent)).toContain('soon.example.com');
    await show(page, `https://localhost:${s.port}/ui/#/bundle/soon.example.com`);
    expect(await page.$('button[data-action=assign]')).not.toBeNull();
    expect(await page.$('#replace-form')).not.toBeNull();
    expect(s.logLines.some((l) => l.includes(`"identity":"${s.admin.identity}"`) && l.includes('/v1/cert/describe/soon.example.com'))).toBe(true);
  });

  it.skipIf(missing !== '')(
    'shows a viewer whose policy allows only /v1/cert/describe/* the bundle, and no button that would fail',
    { timeout: 90_000 },
    async () => {
      await show(page, `https://127.0.0.1:${s.port}/ui/#/bundle/soon.example.com`);
      const text = await page.$eval('main', (e) => e.textContent ?? '');
      expect(text).toContain('soon.example.com');
      expect(text).toMatch(/expires in [45] days/);
      expect(await page.$$('main button, main form')).toEqual([]);
      expect(await page.$('[data-action]')).toBeNull();
      await screenshots(page, 'viewer-bundle');
      expect(await seriousViolations(page)).toEqual([]);
      // The other pages say what the policy does not allow instead of failing.
      await show(page, `https://127.0.0.1:${s.port}/ui/#/groups`);
      expect(await page.$eval('main', (e) => e.textContent)).toContain('may not list groups');
      expect(await page.$$('main button')).toEqual([]);
      await show(page, `https://127.0.0.1:${s.port}/ui/#/bundles`);
      expect(await page.$eval('main', (e) => e.textContent)).toContain('may not list certificate bundles');
      await screenshots(page, 'viewer-bundles');
      expect(await seriousViolations(page)).toEqual([]);
    },
  );
});
