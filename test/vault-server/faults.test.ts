// Fault injection, in-process and over the /__test/ HTTP API.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startVaultTestServer, type VaultTestServer } from './index.js';
import { Client } from './testkit.js';

let vault: VaultTestServer;
let root: Client;

beforeAll(async () => {
  vault = await startVaultTestServer({ rootToken: 'root' });
  root = new Client(vault.url, 'root');
});
afterAll(() => vault.close());
beforeEach(() => {
  vault.faults.reset();
  vault.unseal();
});

describe('in-process controls', () => {
  it('failNext answers the next n requests with a Vault-shaped error', async () => {
    vault.faults.failNext(2);
    for (let i = 0; i < 2; i++) {
      const r = await root.get('/v1/sys/health');
      expect(r.status).toBe(500);
      expect(r.text).toBe('{"errors":["internal error"]}\n');
      expect(r.headers['content-type']).toBe('application/json');
    }
    expect((await root.get('/v1/sys/health')).status).toBe(200);
    vault.faults.failNext(1, 503, 'Vault is sealed');
    expect((await root.get('/v1/secret/data/x')).json).toEqual({ errors: ['Vault is sealed'] });
  });

  it('dropNext destroys the connection without a response', async () => {
    vault.faults.dropNext(1);
    await expect(root.get('/v1/sys/health')).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect((await root.get('/v1/sys/health')).status).toBe(200);
  });

  it('latencyMs delays every request', async () => {
    vault.faults.latencyMs = 150;
    const t = Date.now();
    await root.get('/v1/sys/health');
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
  });

  it('expireAllTokens invalidates every token but the server root token', async () => {
    const t = (await root.post('/v1/auth/token/create', { policies: ['default'] })).json.auth.client_token;
    const rootChild = (await root.post('/v1/auth/token/create', { policies: ['root'] })).json.auth.client_token;
    expect(vault.faults.expireAllTokens()).toBeGreaterThanOrEqual(2);
    expect((await root.with(t).get('/v1/auth/token/lookup-self')).json).toEqual({ errors: ['permission denied'] });
    expect((await root.with(rootChild).get('/v1/auth/token/lookup-self')).status).toBe(403);
    expect((await root.get('/v1/auth/token/lookup-self')).status).toBe(200);
  });

  it('advanceClock moves token expiry', async () => {
    const t = (await root.post('/v1/auth/token/create', { ttl: '1h' })).json.auth.client_token;
    vault.advanceClock(3600_000);
    expect((await root.with(t).get('/v1/auth/token/lookup-self')).status).toBe(403);
  });

  it('records requests', async () => {
    vault.requests.length = 0;
    await root.get('/v1/sys/health', { ns: 'x' });
    expect(vault.requests).toEqual([{ method: 'GET', path: '/v1/sys/health', namespace: 'x', status: 200, at: expect.any(Number) }]);
  });
});

describe('HTTP control API (/__test/)', () => {
  const ctl = (): Client => new Client(vault.url);

  it('reports and changes the fault state', async () => {
    const s = await ctl().get('/__test/faults');
    expect(s.json).toMatchObject({ latency_ms: 0, fail_next: 0, drop_next: 0, sealed: false, initialized: true, role: 'active' });
    const r = await ctl().post('/__test/faults', { fail_next: 1, fail_status: 502, fail_message: 'upstream' });
    expect(r.json.fail_next).toBe(1);
    const failed = await root.get('/v1/sys/health');
    expect(failed.status).toBe(502);
    expect(failed.json).toEqual({ errors: ['upstream'] });
  });

  it('seals, unseals, expires tokens and advances the clock', async () => {
    await ctl().post('/__test/faults', { sealed: true });
    expect((await root.get('/v1/secret/data/x')).status).toBe(503);
    await ctl().post('/__test/faults', { sealed: false });
    const t = (await root.post('/v1/auth/token/create', { ttl: '10m' })).json.auth.client_token;
    const before = (await ctl().get('/__test/faults')).json.now_ms;
    const adv = await ctl().post('/__test/faults', { advance_clock_ms: 5 * 60_000 });
    expect(adv.json.now_ms - before).toBeGreaterThanOrEqual(5 * 60_000);
    expect((await root.with(t).get('/v1/auth/token/lookup-self')).json.data.ttl).toBeLessThanOrEqual(300);
    await ctl().post('/__test/faults', { expire_all_tokens: true });
    expect((await root.with(t).get('/v1/auth/token/lookup-self')).status).toBe(403);
  });

  it('drops connections and resets', async () => {
    await ctl().post('/__test/faults', { drop_next: 5, latency_ms: 10 });
    await ctl().post('/__test/faults', { reset: true });
    expect((await ctl().get('/__test/faults')).json).toMatchObject({ drop_next: 0, latency_ms: 0 });
    expect((await root.get('/v1/sys/health')).status).toBe(200);
  });

  it('exposes the root token and unseal keys, and is never subject to faults', async () => {
    vault.faults.failNext(1);
    const info = await ctl().get('/__test/info');
    expect(info.json).toMatchObject({ root_token: 'root', flavor: 'vault', unseal_keys: vault.unsealKeys });
    expect(vault.faults.state().fail_next).toBe(1);
    expect((await ctl().get('/__test/unknown')).status).toBe(404);
  });
});
