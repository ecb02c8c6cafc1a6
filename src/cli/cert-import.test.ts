/** `keygate cert import DIR` skips and names pairs whose certificate is a CA (issue 11, "Also"). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importDirectory, importOne, isCACertificateFile, type ImportSettings } from './cert-import.js';
import type { Client } from './client.js';
import { BundleCerts } from '../../test/helpers/bundle-certs.js';

const certs = new BundleCerts();
const settings: ImportSettings = { ttl: 300, labels: undefined, replace: false, allowExpired: false };

function fakeClient() {
  const calls: Array<{ method: string; path: string; body: Record<string, unknown> }> = [];
  const client = {
    call: async (method: string, path: string, body?: unknown) => (calls.push({ method, path, body: body as Record<string, unknown> }), { version: 'v1' }),
  };
  return { client: client as unknown as Client, calls };
}

function output() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
  return { out, err };
}
afterEach(() => vi.restoreAllMocks());

/** A directory as `make run` leaves one: its CA with key, beside the bundles. */
function directory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-import-'));
  const www = certs.bundle({ dnsNames: ['www.example.com'] });
  writeFileSync(join(dir, 'www.example.com.crt'), www.chainPem);
  writeFileSync(join(dir, 'www.example.com.key'), www.keyPem);
  writeFileSync(join(dir, 'ca.crt'), certs.root.certPem);
  writeFileSync(join(dir, 'ca.key'), certs.root.keyPem);
  // A CA with its chain in a .pem: the first certificate decides.
  writeFileSync(join(dir, 'sub.pem'), certs.intermediate.certPem + certs.root.certPem);
  writeFileSync(join(dir, 'sub.key'), certs.intermediate.keyPem);
  return dir;
}

describe('importing a directory that holds CA certificates', () => {
  it('skips them without sending them, names them, and still succeeds', async () => {
    const dir = directory();
    expect(isCACertificateFile(join(dir, 'ca.crt'))).toBe(true);
    expect(isCACertificateFile(join(dir, 'sub.pem'))).toBe(true);
    expect(isCACertificateFile(join(dir, 'www.example.com.crt'))).toBe(false);
    const { client, calls } = fakeClient();
    const { out, err } = output();
    await importDirectory(client, dir, settings, false);
    expect(calls.map((c) => c.path)).toEqual(['/v1/cert/import/www.example.com']);
    expect(calls.flatMap((c) => JSON.stringify(c.body))).not.toContain(certs.root.keyPem.split('\n')[1]);
    expect(out.join('')).toBe(
      'imported 1 of 1 bundles\n' + 'skipped 2 CA certificates (import with --allow-ca-leaf if meant as bundles):\n' + '  ca: ca.crt\n' + '  sub: sub.pem\n',
    );
    expect(err.join('')).toContain('skipped  ca: ca.crt is a CA certificate (basicConstraints CA:TRUE), not a bundle\n');
  });

  it('lists them in the JSON summary', async () => {
    const { client } = fakeClient();
    const { out } = output();
    await importDirectory(client, directory(), settings, true);
    const summary = JSON.parse(out.join(''));
    expect(summary.skipped).toEqual([
      { name: 'ca', file: 'ca.crt', reason: 'a CA certificate (basicConstraints CA:TRUE), not a bundle' },
      { name: 'sub', file: 'sub.pem', reason: 'a CA certificate (basicConstraints CA:TRUE), not a bundle' },
    ]);
    expect(summary.imported).toHaveLength(1);
  });

  it('imports them, with allow_ca_leaf, when explicitly allowed', async () => {
    const { client, calls } = fakeClient();
    output();
    await importDirectory(client, directory(), { ...settings, allowCaLeaf: true }, false);
    expect(calls.map((c) => c.path).sort()).toEqual(['/v1/cert/import/ca', '/v1/cert/import/sub', '/v1/cert/import/www.example.com']);
    expect(calls.every((c) => c.body['allow_ca_leaf'] === true)).toBe(true);
    await importOne(client, 'x', 'c', 'k', settings);
    expect(calls.at(-1)?.body).not.toHaveProperty('allow_ca_leaf');
  });
});
