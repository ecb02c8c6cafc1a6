/**
 * Several Vault endpoints (the nodes of one HA cluster): which node a request goes to,
 * when it moves on, and what sys/health reports — against small HTTP servers that answer
 * as Vault 1.4 nodes do (measured on a real 3-node Raft cluster, see docs/operations.md):
 * the active node serves, a standby forwards to it, and while there is no active node a
 * standby answers 307 with a Location naming the old one (or 500 "local node not active
 * but active cluster node not found"). test/vault/raft-ha.test.ts runs the real cluster.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError, StoreUnreachableError } from '../keystore.js';
import { VaultHTTP, type VaultRequest } from './http.js';
import { resolveOptions } from './options.js';
import { freePort } from '../../test/helpers/ports.js';

type Role = 'active' | 'standby' | 'orphan-307' | 'orphan-500' | 'sealed' | 'hang';

interface FakeNode {
  url: URL;
  role: Role;
  /** Requests seen: method, path and token. */
  seen: Array<{ method: string; path: string; token: string | undefined }>;
  /** The leader this node names in sys/leader. */
  leader: string;
}

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function node(role: Role): Promise<FakeNode> {
  const n: FakeNode = { url: new URL('http://127.0.0.1'), role, seen: [], leader: '' };
  const server = http.createServer((req, res) => {
    n.seen.push({ method: req.method as string, path: req.url as string, token: req.headers['x-vault-token'] as string | undefined });
    req.resume();
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url as string).split('?')[0];
    if (n.role === 'hang') return; // never answers
    if (path === '/v1/sys/health') {
      const standby = n.role !== 'active';
      const query = new URL(req.url as string, 'http://x').searchParams;
      if (n.role === 'sealed') return json(503, { initialized: true, sealed: true, standby: true });
      return json(standby && query.get('standbyok') !== 'true' ? 429 : 200, { initialized: true, sealed: false, standby });
    }
    if (path === '/v1/sys/leader') return json(200, { ha_enabled: true, is_self: n.role === 'active', leader_address: n.leader });
    switch (n.role) {
      case 'active':
      case 'standby':
        return json(200, { data: { served: n.url.port } });
      case 'orphan-307':
        res.writeHead(307, { Location: `${n.leader}${req.url}` });
        return res.end();
      case 'orphan-500':
        return json(500, { errors: ['local node not active but active cluster node not found'] });
      case 'sealed':
        return json(503, { errors: ['Vault is sealed'] });
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  n.url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return n;
}

/** A loopback URL nothing listens on: connections are refused. */
async function dead(): Promise<URL> {
  return new URL(`http://127.0.0.1:${await freePort()}`);
}

const GET: VaultRequest = { method: 'GET', path: 'kv/data/a', token: 'tok' };
const PUT: VaultRequest = { method: 'PUT', path: 'kv/data/a', token: 'tok', body: { data: {} } };
const HEALTH: VaultRequest = { method: 'GET', path: 'sys/health', query: { standbyok: 'true', perfstandbyok: 'true' } };

describe('requests with several endpoints', () => {
  it('move past a refused node, and go straight to the node that served from then on', async () => {
    const b = await node('active');
    const client = new VaultHTTP([await dead(), b.url], {}, 5_000);
    expect((await client.send(GET)).status).toBe(200);
    expect((await client.send(PUT)).status).toBe(200);
    expect(b.seen.map((s) => s.method)).toEqual(['GET', 'PUT']);
    client.close();
  });

  it('move past standbys without an active node (307 and 500), never following the Location', async () => {
    const location = await node('active');
    const a = await node('orphan-307');
    const b = await node('orphan-500');
    const c = await node('active');
    a.leader = location.url.origin;
    const client = new VaultHTTP([a.url, b.url, c.url], {}, 5_000);
    for (const req of [GET, PUT]) {
      const res = await client.send(req);
      expect(res.body).toEqual({ data: { served: c.url.port } });
    }
    expect(location.seen).toEqual([]);
    expect([a.seen.length, b.seen.length, c.seen.length]).toEqual([1, 1, 2]);
    client.close();
  });

  it('fail as unreachable, naming each node, when no node can serve', async () => {
    const a = await node('orphan-307');
    const client = new VaultHTTP([a.url, await dead()], {}, 5_000);
    const err = await client.send(PUT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnreachableError);
    expect((err as Error).message).toMatch(
      /^vault: PUT kv\/data\/a: no Vault node could serve \(127\.0\.0\.1:\d+: 307 standby without an active node; 127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
    expect((err as Error).message).not.toContain('tok');
    client.close();
  });

  it('with one endpoint, a standby without an active node is unreachable, not a failed request', async () => {
    const a = await node('orphan-307');
    const client = new VaultHTTP(a.url, {}, 5_000);
    await expect(client.send(GET)).rejects.toThrow(new StoreUnreachableError('vault: GET kv/data/a: 307 standby node cannot reach an active node'));
    client.close();
  });

  it('skip a sealed node, and answer sealed only when every node is', async () => {
    const a = await node('sealed');
    const b = await node('standby');
    const client = new VaultHTTP([a.url, b.url], {}, 5_000);
    expect((await client.send(GET)).status).toBe(200);
    b.role = 'sealed';
    expect((await client.send(GET)).status).toBe(503);
    client.close();
  });

  it('send a write that may have reached a node only once: a timeout moves a read on, not a write', async () => {
    const a = await node('hang');
    const b = await node('active');
    const client = new VaultHTTP([a.url, b.url], {}, 300);
    await expect(client.send(PUT)).rejects.toThrow(/no response within 300 ms/);
    expect(b.seen).toEqual([]);
    expect((await client.send(GET)).status).toBe(200);
    expect(b.seen.map((s) => s.method)).toEqual(['GET']);
    client.close();
  });
});

describe('sys/health with several endpoints', () => {
  it('counts only an active node, which becomes the preferred one', async () => {
    const a = await node('standby');
    const b = await node('active');
    const client = new VaultHTTP([await dead(), a.url, b.url], {}, 5_000);
    expect((await client.health(HEALTH)).status).toBe(200);
    // The standby was asked without standbyok (which makes a standby say 200).
    expect(a.seen[0]?.path).toBe('/v1/sys/health?perfstandbyok=true');
    await client.send(GET);
    expect(b.seen.map((s) => s.path)).toEqual(['/v1/sys/health?perfstandbyok=true', '/v1/kv/data/a']);
    client.close();
  });

  it('is unreachable while the standbys name a leader that is one of the endpoints and not active', async () => {
    const gone = await dead();
    const a = await node('standby');
    a.leader = gone.origin;
    const client = new VaultHTTP([gone, a.url], {}, 5_000);
    const err = await client.health(HEALTH).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnreachableError);
    expect((err as Error).message).toMatch(/^vault: no active Vault node \(127\.0\.0\.1:\d+ unreachable, 127\.0\.0\.1:\d+ standby\)$/);
    client.close();
  });

  it('trusts a standby whose leader is none of the endpoints (an active node it cannot check)', async () => {
    const a = await node('standby');
    const b = await node('standby');
    a.leader = b.leader = 'http://10.0.0.9:8200';
    const client = new VaultHTTP([a.url, b.url], {}, 5_000);
    expect((await client.health(HEALTH)).status).toBe(200);
    client.close();
  });

  it('answers sealed when no node is active and some are sealed', async () => {
    const a = await node('sealed');
    const client = new VaultHTTP([a.url, await dead()], {}, 5_000);
    expect((await client.health(HEALTH)).status).toBe(503);
    client.close();
  });

  it('with one endpoint, asks it as before (standbyok: a standby forwards)', async () => {
    const a = await node('standby');
    const client = new VaultHTTP([a.url], {}, 5_000);
    expect((await client.health(HEALTH)).status).toBe(200);
    expect(a.seen[0]?.path).toBe('/v1/sys/health?standbyok=true&perfstandbyok=true');
    client.close();
  });
});

describe('endpoint options', () => {
  const token = { kind: 'token', token: 't' } as const;

  it('lists endpoint first, then the others, each node once', () => {
    const o = resolveOptions({ endpoint: 'http://a:8200', endpoints: ['http://b:8200', 'http://a:8200', 'http://c:8200/'], version: 'v2', auth: token });
    expect(o.endpoints.map((u) => u.origin)).toEqual(['http://a:8200', 'http://b:8200', 'http://c:8200']);
    expect(o.endpoint.origin).toBe('http://a:8200');
  });

  it.each([
    [['https://b:8200'], /must all be http or all https/],
    [['b:8200'], /must be http or https|not a URL/],
    [['http://u:p@b:8200'], /credentials/],
  ])('refuses endpoints %j', (endpoints, message) => {
    expect(() => resolveOptions({ endpoint: 'http://a:8200', endpoints, version: 'v2', auth: token })).toThrow(StoreError);
    expect(() => resolveOptions({ endpoint: 'http://a:8200', endpoints, version: 'v2', auth: token })).toThrow(message);
  });
});
