/** Nodes: registration, renewal, expiry, revocation, bans, enrollment, cascades, last-seen, bundle access. */
import { describe, expect, it } from 'vitest';
import { createFleet } from './fleet.js';
import { CallbackRefusedError, type NodeVerifier } from './callback.js';
import { InvalidTokenError } from './tokens.js';
import { NodeBannedError } from './nodes.js';
import { CountingStore, catalogOf, dump, manualClock } from '../../../test/helpers/fleet.js';

const ID1 = 'a'.repeat(64);
const ID2 = 'b'.repeat(64);

function setup(verifier?: NodeVerifier) {
  const store = new CountingStore();
  const clock = manualClock();
  const catalog = catalogOf('www.example.com', 'api.example.com');
  const fleet = createFleet(store, catalog, { now: clock.now, ...(verifier ? { verifier } : {}) });
  return { store, clock, catalog, ...fleet };
}

async function group(f: ReturnType<typeof setup>, name: string, ttl = 600) {
  const { groupToken } = await f.groups.create(name, { tokenTtl: ttl }, 'admin');
  return groupToken;
}

describe('registration and renewal', () => {
  it("registers a node with the group token and the group's TTL; the token renews and expires", async () => {
    const f = setup();
    const gt = await group(f, 'edge', 60);
    const t0 = f.clock.now();
    const reg = await f.nodes.register(gt, 'node-1');
    expect(reg).toMatchObject({ group: 'edge', nodeId: 'node-1', ttl: 60 });
    expect(reg.token).toMatch(/^kgn_/);
    expect(reg.expiresAt?.getTime()).toBe(t0 + 60_000);
    expect((await f.nodes.authenticate(reg.token))?.nodeId).toBe('node-1');

    f.clock.advance(50_000);
    const renewed = await f.nodes.renew(reg.token);
    expect(renewed).toMatchObject({ token: reg.token, ttl: 60 });
    expect(renewed.expiresAt?.getTime()).toBe(f.clock.now() + 60_000);
    f.clock.advance(59_999);
    expect(await f.nodes.authenticate(reg.token)).not.toBeNull();
    f.clock.advance(1);
    expect(await f.nodes.authenticate(reg.token)).toBeNull();
    await expect(f.nodes.renew(reg.token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('re-registration always succeeds with a fresh token, and the previous one dies', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    const first = await f.nodes.register(gt, 'n1');
    const second = await f.nodes.register(gt, 'n1');
    expect(second.token).not.toBe(first.token);
    expect(await f.nodes.authenticate(first.token)).toBeNull();
    expect(await f.nodes.authenticate(second.token)).not.toBeNull();
    const tokenEntries = [...(await dump(f.store)).keys()].filter((k) => k.startsWith('token.'));
    expect(tokenEntries).toHaveLength(2); // the group token and the live node token
  });

  it("refuses bad node ids, wrong tokens and other groups' tokens", async () => {
    const f = setup();
    const a = await group(f, 'a');
    const b = await group(f, 'b');
    for (const bad of ['', 'has space', 'x'.repeat(129), 'tab\t', 'é']) {
      await expect(f.nodes.register(a, bad)).rejects.toMatchObject({ status: 400 });
    }
    await expect(f.nodes.register(b, 'n1', { group: 'a' })).rejects.toBeInstanceOf(InvalidTokenError);
    const node = await f.nodes.register(a, 'n1');
    await expect(f.nodes.register(node.token, 'n2')).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(f.nodes.renew(a)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(await f.nodes.renew(a, { allowGroupToken: true })).toMatchObject({ group: 'a', ttl: 31 * 86400, expiresAt: null });
    expect(await f.nodes.authenticate(a)).toBeNull();
  });

  it("asks the verifier with the group's settings and refuses what it refuses", async () => {
    const seen: string[] = [];
    const f = setup({
      verify: async (settings, nodeId) => {
        seen.push(`${settings.callbackUrl} ${nodeId}`);
        if (nodeId === 'intruder') throw new CallbackRefusedError('refused');
      },
    });
    const gt = await group(f, 'edge');
    await f.groups.update('edge', { callbackUrl: 'https://manager/nodes' });
    await f.nodes.register(gt, 'n1');
    await expect(f.nodes.register(gt, 'intruder')).rejects.toMatchObject({ status: 403, message: 'not authorized: node refused by the group manager' });
    expect(seen).toEqual(['https://manager/nodes n1', 'https://manager/nodes intruder']);
    expect((await f.nodes.list('edge')).nodes.map((n) => n.nodeId)).toEqual(['n1']);
  });
});

describe('cascades', () => {
  it('rotation kills every node token and enrollment of the group, and only of that group', async () => {
    const f = setup();
    const a = await group(f, 'a');
    const b = await group(f, 'b');
    await f.groups.assign('a', 'www.example.com');
    await f.groups.assign('b', 'www.example.com');
    const nodesA = await Promise.all(['n1', 'n2', 'n3'].map((n) => f.nodes.register(a, n)));
    const nodeB = await f.nodes.register(b, 'n1');
    await f.nodes.enroll(a, ID1);
    const { groupToken: a2 } = await f.groups.rotate('a');
    for (const n of nodesA) {
      expect(await f.nodes.authenticate(n.token)).toBeNull();
      await expect(f.nodes.renew(n.token)).rejects.toBeInstanceOf(InvalidTokenError);
    }
    expect(await f.nodes.canReadBundle(ID1, '', 'www.example.com')).toBeNull();
    await expect(f.nodes.register(a, 'n1')).rejects.toBeInstanceOf(InvalidTokenError);
    expect(await f.nodes.canReadBundle('', nodeB.token, 'www.example.com')).toBe('node:b/n1');
    const again = await f.nodes.register(a2, 'n1');
    expect(await f.nodes.canReadBundle('', again.token, 'www.example.com')).toBe('node:a/n1');
    const listed = (await f.nodes.list('a')).nodes;
    expect(listed.find((n) => n.nodeId === 'n2')?.tokenExpiresAt).toBeNull();
    expect(listed.find((n) => n.nodeId === 'n1')?.tokenExpiresAt).not.toBeNull();
    expect(listed.find((n) => n.nodeId === ID1)?.enrolledAt).toBeNull();
  });

  it("deletion kills every token and enrollment, purges the group's records, and leaves other groups alone", async () => {
    const f = setup();
    const a = await group(f, 'a');
    const b = await group(f, 'b');
    await f.groups.assign('b', 'www.example.com');
    const na = await f.nodes.register(a, 'n1');
    await f.nodes.enroll(a, ID1);
    await f.nodes.ban('a', 'bad', 'admin');
    const nb = await f.nodes.register(b, 'n1');
    await f.groups.delete('a');
    expect(await f.nodes.authenticate(na.token)).toBeNull();
    const entries = await dump(f.store);
    const left = [...entries.keys()];
    expect(left.filter((k) => k.includes('.a.') || k.startsWith('group.a'))).toEqual([]);
    expect(JSON.parse(entries.get(`member.${ID1}`) as string).r.groups).toEqual({}); // the emptied enrollment list
    expect(left.filter((k) => k.startsWith('token.'))).toHaveLength(2); // b's group token and its node's token
    expect(await f.nodes.canReadBundle('', nb.token, 'www.example.com')).toBe('node:b/n1');
    // A new group "a" starts empty: no nodes, no bans, and the old tokens stay dead.
    const a2 = await group(f, 'a');
    expect((await f.nodes.list('a')).nodes).toEqual([]);
    await f.nodes.register(a2, 'bad');
    await expect(f.nodes.register(a, 'n1')).rejects.toBeInstanceOf(InvalidTokenError);
  });
});

describe('revocation and bans', () => {
  it('revokes a node: its token dies, renewal fails, and it may register again', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    const n = await f.nodes.register(gt, 'n1');
    expect(await f.nodes.revoke('edge', 'n1')).toBe(true);
    expect(await f.nodes.authenticate(n.token)).toBeNull();
    await expect(f.nodes.renew(n.token)).rejects.toBeInstanceOf(InvalidTokenError);
    expect((await f.nodes.list('edge')).nodes[0]).toMatchObject({ nodeId: 'n1', tokenExpiresAt: null, revokedAt: new Date(f.clock.now()) });
    const again = await f.nodes.register(gt, 'n1');
    expect(await f.nodes.authenticate(again.token)).not.toBeNull();
    expect((await f.nodes.list('edge')).nodes[0]?.revokedAt).toBeNull();
    expect(await f.nodes.revoke('edge', 'never-seen')).toBe(false);
    await expect(f.nodes.revoke('nope', 'n1')).rejects.toMatchObject({ status: 404, message: 'group does not exist' });
  });

  it('bans a node id from registering and an identity from enrolling, until unbanned', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    await f.groups.assign('edge', 'www.example.com');
    const n = await f.nodes.register(gt, 'n1');
    await f.nodes.ban('edge', 'n1', 'admin');
    await f.nodes.ban('edge', 'n1', 'admin'); // idempotent
    expect(await f.nodes.authenticate(n.token)).toBeNull();
    await expect(f.nodes.register(gt, 'n1')).rejects.toBeInstanceOf(NodeBannedError);
    await expect(f.nodes.enroll(gt, ID1, { nodeId: 'n1' })).rejects.toThrow('not authorized: node is banned');

    await f.nodes.enroll(gt, ID2);
    expect(await f.nodes.canReadBundle(ID2, '', 'www.example.com')).toBe(`node:edge/${ID2}`);
    await f.nodes.ban('edge', ID2, 'admin');
    expect(await f.nodes.canReadBundle(ID2, '', 'www.example.com')).toBeNull();
    await expect(f.nodes.enroll(gt, ID2, { nodeId: 'other' })).rejects.toBeInstanceOf(NodeBannedError);

    expect(await f.nodes.unban('edge', 'n1')).toBe(true);
    expect(await f.nodes.unban('edge', 'n1')).toBe(false);
    await f.nodes.register(gt, 'n1');
  });

  it('a ban that lands while a registration is being checked still wins', async () => {
    // The verifier runs between the first ban check and the node record write.
    const f: ReturnType<typeof setup> = setup({ verify: async (_s, nodeId) => void (await f.nodes.ban('edge', nodeId, 'admin')) });
    const gt = await group(f, 'edge');
    await f.groups.update('edge', { callbackUrl: 'https://manager/nodes' });
    await expect(f.nodes.register(gt, 'n1')).rejects.toBeInstanceOf(NodeBannedError);
    const tokens = [...(await dump(f.store)).keys()].filter((k) => k.startsWith('token.'));
    expect(tokens).toHaveLength(1); // only the group token: the node token was revoked
  });
});

describe('enrollment and bundle access', () => {
  it('a node token reads an assigned bundle at once, and is refused at once after unassign', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    const n = await f.nodes.register(gt, 'n1');
    expect(await f.access.canReadBundle('', n.token, 'www.example.com')).toBeNull();
    await f.groups.assign('edge', 'www.example.com');
    expect(await f.access.canReadBundle('', n.token, 'www.example.com')).toBe('node:edge/n1');
    expect(await f.access.canReadBundle('', n.token, 'api.example.com')).toBeNull();
    await f.groups.unassign('edge', 'www.example.com');
    expect(await f.access.canReadBundle('', n.token, 'www.example.com')).toBeNull();
    expect(await f.access.groupsOf('www.example.com')).toEqual([]);
  });

  it('a group token never reads a bundle', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    await f.groups.assign('edge', 'www.example.com');
    expect(await f.access.canReadBundle('', gt, 'www.example.com')).toBeNull();
  });

  it('enrolls an identity, which then reads with its certificate alone; revocation by identity ends it', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    await f.groups.assign('edge', 'www.example.com');
    await expect(f.nodes.enroll(gt, '')).rejects.toMatchObject({ status: 400, message: 'tls: client certificate is required' });
    expect(await f.nodes.enroll(gt, ID1, { nodeId: 'edge-7' })).toEqual({ group: 'edge', nodeId: 'edge-7', identity: ID1 });
    expect(await f.access.canReadBundle(ID1, '', 'www.example.com')).toBe('node:edge/edge-7');
    expect(await f.access.canReadBundle(ID1, '', 'api.example.com')).toBeNull();
    expect(await f.access.canReadBundle(ID2, '', 'www.example.com')).toBeNull();
    // The same identity moving to another node id leaves one node holding it.
    await f.nodes.enroll(gt, ID1, { nodeId: 'edge-8' });
    const nodes = (await f.nodes.list('edge')).nodes;
    expect(nodes.find((n) => n.nodeId === 'edge-7')?.identity).toBeNull();
    expect(nodes.find((n) => n.nodeId === 'edge-8')).toMatchObject({ identity: ID1, enrolledAt: new Date(f.clock.now()) });
    // The identity is enrolled as edge-8 now, yet a node record named after it exists too: revoking the identity ends the enrollment.
    await f.nodes.enroll(gt, ID2);
    await f.nodes.enroll(gt, ID2, { nodeId: 'edge-9' });
    expect(await f.nodes.revoke('edge', ID2)).toBe(true);
    expect(await f.access.canReadBundle(ID2, '', 'www.example.com')).toBeNull();
    expect(await f.nodes.revoke('edge', ID1)).toBe(true);
    expect(await f.access.canReadBundle(ID1, '', 'www.example.com')).toBeNull();
    await expect(f.nodes.enroll(gt, ID1, { group: 'other' })).rejects.toBeInstanceOf(InvalidTokenError);
  });
  it('one identity may be enrolled in several groups at once, each ended on its own', async () => {
    const f = setup();
    const a = await group(f, 'a');
    const b = await group(f, 'b');
    await f.groups.assign('a', 'www.example.com');
    await f.groups.assign('b', 'api.example.com');
    await Promise.all([f.nodes.enroll(a, ID1), f.nodes.enroll(b, ID1)]);
    expect(await f.access.canReadBundle(ID1, '', 'www.example.com')).toBe(`node:a/${ID1}`);
    expect(await f.access.canReadBundle(ID1, '', 'api.example.com')).toBe(`node:b/${ID1}`);
    expect(await f.nodes.revoke('a', ID1)).toBe(true);
    expect(await f.access.canReadBundle(ID1, '', 'www.example.com')).toBeNull();
    expect(await f.access.canReadBundle(ID1, '', 'api.example.com')).toBe(`node:b/${ID1}`);
  });
});

describe('inventory', () => {
  it('lists nodes with registration, last seen, identity and token expiry, page by page', async () => {
    const f = setup();
    const gt = await group(f, 'edge', 120);
    const t0 = f.clock.now();
    for (let i = 0; i < 5; i++) await f.nodes.register(gt, `n${i}`);
    await f.nodes.enroll(gt, ID1);
    const first = await f.nodes.list('edge', '', 4);
    expect(first.nodes).toHaveLength(4);
    expect(first.continueAt).toMatch(/^[0-9a-f]{64}$/);
    const rest = await f.nodes.list('edge', first.continueAt, 4);
    expect(rest.continueAt).toBe('');
    const all = [...first.nodes, ...rest.nodes];
    expect(all.map((n) => n.nodeId).sort()).toEqual([ID1, 'n0', 'n1', 'n2', 'n3', 'n4']);
    expect(all.find((n) => n.nodeId === 'n0')).toEqual({
      nodeId: 'n0',
      identity: null,
      registeredAt: new Date(t0),
      lastSeen: new Date(t0),
      tokenExpiresAt: new Date(t0 + 120_000),
      enrolledAt: null,
      revokedAt: null,
    });
    await expect(f.nodes.list('nope')).rejects.toMatchObject({ status: 404 });
  });

  it('writes last_seen at most once a minute per node, whatever the number of reads', async () => {
    const f = setup();
    const gt = await group(f, 'edge');
    await f.groups.assign('edge', 'www.example.com');
    const n = await f.nodes.register(gt, 'n1');
    const t0 = f.clock.now();
    const writes = f.store.writes();
    for (let i = 0; i < 30; i++) {
      f.clock.advance(1000);
      expect(await f.access.canReadBundle('', n.token, 'www.example.com')).toBe('node:edge/n1');
    }
    await f.nodes.settled();
    expect(f.store.writes()).toBe(writes); // 30 s: nothing written
    const listed = (await f.nodes.list('edge')).nodes[0];
    expect(listed?.lastSeen).toEqual(new Date(t0 + 30_000)); // this replica still knows
    f.clock.advance(31_000);
    await f.access.canReadBundle('', n.token, 'www.example.com');
    await f.access.canReadBundle('', n.token, 'www.example.com');
    await f.nodes.settled();
    expect(f.store.writes()).toBe(writes + 1);
    const stored = JSON.parse((await dump(f.store)).get([...(await dump(f.store)).keys()].find((k) => k.startsWith('node.')) as string) as string);
    expect(stored.r.lastSeen).toBe(t0 + 61_000);
  });
});
