/**
 * bench/stime.ts against a real TLS server (node:https, client certificates required,
 * TLS 1.3 tickets): connections counted, resumption seen, short answers and a refused
 * client certificate reported. Needs an openssl binary with s_time.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl, runSTime, type STimeJob } from '../../bench/stime.js';
import { TestPki } from '../helpers/certs.js';

const available = openssl() !== null;
if (!available) console.log('bench/stime: no openssl binary with s_time on PATH; skipping its tests');

const BODY = Buffer.alloc(3000, 'x');

describe.skipIf(!available)('openssl s_time generator', () => {
  const pki = new TestPki();
  const client = pki.client();
  let server: https.Server;
  let port = 0;

  beforeAll(async () => {
    server = https.createServer(
      { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        res.end(req.url === '/bundle' ? BODY : 'no');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const job = (over: Partial<STimeJob>): STimeJob => ({
    port,
    caFile: pki.caFile,
    identity: client,
    dir: pki.dir,
    path: '/bundle',
    resume: false,
    processes: 2,
    warmupMs: 300,
    durationMs: 1000,
    serverPid: process.pid,
    minBytesPerConnection: BODY.length,
    ...over,
  });

  it('counts full handshakes, none resumed, and the CPU of the generator', async () => {
    const r = await runSTime(job({}));
    expect(r.errorSamples).toEqual([]);
    expect(r.completed).toBeGreaterThan(0);
    expect(r.perSecond).toBeGreaterThan(0);
    expect(r.resumedShare).toBeNull();
    expect(r.generatorCores).toBeGreaterThanOrEqual(0); // processes that exited inside the window made this negative once
  }, 30_000);

  it('resumes every connection with -reuse (TLS 1.3 tickets)', async () => {
    const r = await runSTime(job({ resume: true }));
    expect(r.errorSamples).toEqual([]);
    expect(r.completed).toBeGreaterThan(0);
    expect(r.resumedShare).toBe(1);
  }, 30_000);

  it('reports answers shorter than expected, and a client certificate the server refuses', async () => {
    const short = await runSTime(job({ path: '/other', processes: 1 }));
    expect(short.mismatches).toBe(1);
    expect(short.errorSamples[0]).toMatch(/bytes per connection/);
    const stranger = new TestPki().client();
    const refused = await runSTime(job({ identity: stranger, processes: 1 }));
    expect(refused.errors + refused.mismatches).toBe(1);
  }, 30_000);
});
