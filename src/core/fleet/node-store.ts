/**
 * The node, membership and ban records of groups, read and written relative to a
 * group's current record: a record of another incarnation (an earlier group of
 * the same name) reads as absent. NodeService decides; this stores.
 */
import type { KeyStore } from '../../../keystores/keystore.js';
import type { GroupRecord } from './groups.js';
import type { TokenService } from './tokens.js';
import {
  Records,
  banEntry,
  banPrefix,
  memberEntry,
  nodeEntry,
  nodePrefix,
  type BanRecord,
  type MemberRecord,
  type MembershipRecord,
  type NodeRecord,
} from './node-records.js';

export class NodeStore {
  readonly nodes: Records<NodeRecord>;
  private readonly members: Records<MembershipRecord>;
  private readonly bans: Records<BanRecord>;

  constructor(store: KeyStore) {
    this.nodes = new Records(store, 'node');
    this.members = new Records(store, 'enrollment');
    this.bans = new Records(store, 'ban');
  }

  async node(g: GroupRecord, nodeId: string): Promise<NodeRecord | null> {
    const f = await this.nodes.get(nodeEntry(g.name, nodeId));
    return f && f.record.incarnation === g.incarnation ? f.record : null;
  }

  /**
   * Writes node `nodeId` as `change` makes it from its current record (a blank one when it
   * has none in this incarnation); returns the record before, if it was of this incarnation.
   */
  async updateNode(g: GroupRecord, nodeId: string, change: (cur: NodeRecord) => NodeRecord): Promise<NodeRecord | null> {
    const { before } = await this.nodes.upsert(nodeEntry(g.name, nodeId), (cur) =>
      change(cur?.incarnation === g.incarnation ? cur : blank(nodeId, g.incarnation)),
    );
    return before?.incarnation === g.incarnation ? before : null;
  }

  /** Drops `identity` from node `nodeId` if it still holds it. */
  async clearIdentity(g: GroupRecord, nodeId: string, identity: string): Promise<void> {
    await this.nodes.upsert(nodeEntry(g.name, nodeId), (cur) =>
      cur && cur.incarnation === g.incarnation && cur.identity === identity ? { ...cur, identity: null, enrolledAt: null, enrollmentGeneration: null } : null,
    );
  }

  async member(g: GroupRecord, identity: string): Promise<MemberRecord | null> {
    const m = (await this.members.get(memberEntry(identity)))?.record.groups[g.name];
    return m && m.incarnation === g.incarnation ? m : null;
  }

  /** Points `identity` at `record.nodeId` in group `g`; returns the enrollment it replaced, if of this incarnation. */
  async setMember(g: GroupRecord, identity: string, record: MemberRecord): Promise<MemberRecord | null> {
    const { before } = await this.members.upsert(memberEntry(identity), (cur) => ({ groups: { ...cur?.groups, [g.name]: record } }));
    const old = before?.groups[g.name];
    return old && old.incarnation === g.incarnation ? old : null;
  }

  /**
   * Ends an identity's enrollment in `g` if it still points at `nodeId` (an enrollment left by
   * an earlier group of that name goes too); true when one was removed. An emptied entry stays:
   * deleting it could race a concurrent enrollment, and the keystore has no conditional delete.
   */
  async unlinkMember(g: GroupRecord, identity: string, nodeId: string): Promise<boolean> {
    const { before, after } = await this.members.upsert(memberEntry(identity), (cur) => {
      const m = cur?.groups[g.name];
      if (!cur || !m || (m.incarnation === g.incarnation && m.nodeId !== nodeId)) return null;
      const groups = { ...cur.groups };
      delete groups[g.name];
      return { groups };
    });
    return before !== after;
  }

  /** Names of the groups an identity has enrollments in (of any incarnation). */
  async groupsOfIdentity(identity: string): Promise<string[]> {
    return Object.keys((await this.members.get(memberEntry(identity)))?.record.groups ?? {});
  }

  async isBanned(g: GroupRecord, value: string): Promise<boolean> {
    return (await this.bans.get(banEntry(g.name, value)))?.record.incarnation === g.incarnation;
  }

  async ban(g: GroupRecord, record: BanRecord): Promise<void> {
    await this.bans.upsert(banEntry(g.name, record.value), (cur) => (cur?.incarnation === g.incarnation ? null : record));
  }

  async unban(g: GroupRecord, value: string): Promise<boolean> {
    return (await this.isBanned(g, value)) && this.bans.remove(banEntry(g.name, value));
  }

  /** One page of a group's node records (this incarnation's), with an opaque cursor. */
  async page(g: GroupRecord, continueAt: string, limit: number): Promise<{ nodes: NodeRecord[]; continueAt: string }> {
    const prefix = nodePrefix(g.name);
    const page = await this.nodes.page(prefix, continueAt === '' ? '' : prefix + continueAt, limit);
    const found = await Promise.all(page.names.map((n) => this.nodes.get(n)));
    const nodes = found.flatMap((f) => (f && f.record.incarnation === g.incarnation ? [f.record] : []));
    return { nodes, continueAt: page.continueAt === '' ? '' : page.continueAt.slice(prefix.length) };
  }

  /** Nodes registered or enrolled in the current life of `groups` and not revoked (the metrics census). */
  async countRegistered(groups: ReadonlyMap<string, GroupRecord>): Promise<number> {
    let count = 0;
    for await (const names of this.nodes.names('node.', 1000)) {
      for (const name of names) {
        const g = groups.get(name.slice('node.'.length, name.lastIndexOf('.')));
        if (!g) continue;
        const r = (await this.nodes.get(name).catch(() => null))?.record;
        if (r && r.incarnation === g.incarnation && r.revokedAt === null && (r.registeredAt !== null || r.enrolledAt !== null)) count++;
      }
    }
    return count;
  }

  /** After a group is deleted: drops its node records, their tokens and memberships, and its bans. */
  async purge(g: GroupRecord, tokens: TokenService): Promise<void> {
    for await (const names of this.nodes.names(nodePrefix(g.name))) {
      await Promise.all(
        names.map(async (name) => {
          const f = await this.nodes.get(name);
          if (!f || f.record.incarnation !== g.incarnation) return;
          if (f.record.tokenHash) await tokens.revokeHash(f.record.tokenHash);
          if (f.record.identity) await this.unlinkMember(g, f.record.identity, f.record.nodeId);
          await this.nodes.remove(name);
        }),
      );
    }
    for await (const names of this.bans.names(banPrefix(g.name))) {
      await Promise.all(names.map(async (name) => ((await this.bans.get(name))?.record.incarnation === g.incarnation ? this.bans.remove(name) : false)));
    }
  }
}

function blank(nodeId: string, incarnation: string): NodeRecord {
  return {
    nodeId,
    incarnation,
    registeredAt: null,
    lastSeen: null,
    tokenHash: null,
    identity: null,
    enrolledAt: null,
    enrollmentGeneration: null,
    revokedAt: null,
  };
}
