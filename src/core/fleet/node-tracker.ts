/**
 * Last-seen times of nodes, kept cheap: every authenticated read updates an
 * in-memory time, and the node's record is written at most once per interval
 * per node (per replica), in the background. A failed or lost write is simply
 * retried on a later read: last_seen is informative, never a security decision.
 */
import type { GroupRecord } from './groups.js';
import { nodeEntry, type NodeRecord, type Records } from './node-records.js';

/** Forget everything beyond this many nodes rather than grow without bound. */
const MAX_TRACKED = 100_000;

export class NodeTracker {
  /** When this replica last wrote (or registration set) each node's last_seen. */
  private readonly written = new Map<string, number>();
  /** The latest read seen by this replica, written or not. */
  private readonly latest = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly nodes: Records<NodeRecord>,
    private readonly now: () => number,
    private readonly intervalMs: number,
  ) {}

  /** Registration or enrollment has just stored last_seen. */
  seen(group: string, nodeId: string): void {
    const now = this.now();
    this.remember(this.written, key(group, nodeId), now);
    this.remember(this.latest, key(group, nodeId), now);
  }

  /** A read by the node: stored if the last write is older than the interval. */
  touch(g: GroupRecord, nodeId: string): void {
    const k = key(g.name, nodeId);
    const now = this.now();
    this.remember(this.latest, k, now);
    const last = this.written.get(k);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.remember(this.written, k, now);
    const write = this.nodes
      .upsert(nodeEntry(g.name, nodeId), (cur) => (cur && cur.incarnation === g.incarnation && (cur.lastSeen ?? 0) < now ? { ...cur, lastSeen: now } : null))
      .then(
        () => undefined,
        () => undefined,
      );
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  /** The later of the stored time and what this replica has seen since. */
  lastSeen(group: string, nodeId: string, stored: number | null): number | null {
    const mine = this.latest.get(key(group, nodeId));
    if (mine === undefined) return stored;
    return stored === null ? mine : Math.max(stored, mine);
  }

  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private remember(map: Map<string, number>, k: string, t: number): void {
    if (map.size >= MAX_TRACKED && !map.has(k)) map.clear();
    map.set(k, t);
  }
}

const key = (group: string, nodeId: string): string => `${group}\n${nodeId}`;
