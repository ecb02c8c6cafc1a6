/**
 * Issue 11 item 10 at the service: one rule decides what a node id is, and registration,
 * enrollment and bans all apply it before the group manager (or the keystore) is asked.
 */
import { describe, expect, it } from 'vitest';
import { createFleet } from './fleet.js';
import { NODE_ID_RULES } from './node-id.js';
import type { NodeVerifier } from './callback.js';
import { CountingStore, catalogOf, dump, manualClock } from '../../../test/helpers/fleet.js';

const IDENTITY = 'c'.repeat(64);
const BAD = ['.', '..', '%2e%2e', '%2E.', '', 'a\0b', 'a\tb', 'with space', '\x7f'];

describe('node ids on every path into the node service', () => {
  it('registration, enrollment and bans refuse them before the verifier or the keystore', async () => {
    const asked: string[] = [];
    const verifier: NodeVerifier = { verify: async (_s, id) => void asked.push(id) };
    const store = new CountingStore();
    const f = createFleet(store, catalogOf(), { now: manualClock().now, verifier });
    const { groupToken } = await f.groups.create('edge', {}, 'admin');
    const before = await dump(store);
    for (const id of BAD) {
      await expect(f.nodes.register(groupToken, id), JSON.stringify(id)).rejects.toThrow(NODE_ID_RULES);
      await expect(f.nodes.enroll(groupToken, IDENTITY, { nodeId: id }), JSON.stringify(id)).rejects.toThrow(NODE_ID_RULES);
      await expect(f.nodes.ban('edge', id, 'admin'), JSON.stringify(id)).rejects.toThrow(NODE_ID_RULES);
    }
    expect(asked).toEqual([]);
    expect(await dump(store)).toEqual(before);
    await f.nodes.register(groupToken, '..n1');
    expect(asked).toEqual(['..n1']);
  });
});
