/**
 * Nodes of a group: registration with the group token (node tokens), mTLS
 * enrollment (certificate identities), renewal, revocation, bans, the node
 * inventory, and the answer to "may this caller read this bundle?".
 *
 * A node token is valid while its record exists, has not expired, and carries
 * the group's current generation. Re-registration and revocation delete the
 * node's previous token (the node record tracks it), rotation and deletion of
 * the group change or remove the generation. Bans are checked before and again
 * after a node is admitted, so a ban racing a registration always wins.
 */
import { BadRequestError, NotAuthorizedError, ERROR_CODES } from '../../errors.js';
import { isHexIdentity } from '../../auth/identity.js';
import type { KeyStore } from '../../../keystores/keystore.js';
import type { BundleAccess } from '../access.js';
import type { NodeVerifier } from './callback.js';
import { MAX_TOKEN_TTL } from './group-settings.js';
import type { GroupRecord, GroupService } from './groups.js';
import { InvalidTokenError, type TokenService } from './tokens.js';
import type { BanRecord, NodeRecord } from './node-records.js';
import { NodeStore } from './node-store.js';
import { NodeTracker } from './node-tracker.js';
import { checkNodeId as checkValidNodeId } from './node-id.js';

export interface NodeToken {
  group: string;
  nodeId: string;
  token: string;
  /** Seconds the token lives from now; each renewal restores it. */
  ttl: number;
  /** null for a group token (it does not expire). */
  expiresAt: Date | null;
}

export interface Enrollment {
  group: string;
  nodeId: string;
  identity: string;
}

export interface NodeInfo {
  nodeId: string;
  identity: string | null;
  registeredAt: Date | null;
  lastSeen: Date | null;
  /** Expiry of the node's current token; null when it has none valid for the group's current generation. */
  tokenExpiresAt: Date | null;
  /** When the identity was enrolled; null when it is not (or no longer, after a rotation) enrolled. */
  enrolledAt: Date | null;
  revokedAt: Date | null;
}

/** A caller authenticated by a node token. */
export interface NodePrincipal {
  group: GroupRecord;
  nodeId: string;
}

export class NodeBannedError extends NotAuthorizedError {
  constructor() {
    super(ERROR_CODES.NODE_BANNED.message, 403, 'NODE_BANNED');
  }
}

/** Node ids: see node-id.ts, the one place that decides what a node id is. */
export { isValidNodeId } from './node-id.js';

export interface NodeServiceOptions {
  /** How often at most a node's last_seen is written (default a minute). */
  touchIntervalMs?: number;
}

export class NodeService implements BundleAccess {
  private readonly records: NodeStore;
  private readonly tracker: NodeTracker;

  constructor(
    store: KeyStore,
    private readonly tokens: TokenService,
    private readonly groups: GroupService,
    private readonly verifier: NodeVerifier,
    options: NodeServiceOptions = {},
  ) {
    this.records = new NodeStore(store);
    this.tracker = new NodeTracker(this.records.nodes, tokens.now, options.touchIntervalMs ?? 60_000);
    groups.onDelete((record) => this.records.purge(record, tokens));
  }

  /**
   * Registers `nodeId` with a group token: checks bans and the group's callback, then issues
   * a node token with the group's TTL; the node's previous token dies. With `group`, the token
   * must be that group's. @throws BadRequestError, InvalidTokenError, NodeBannedError,
   * CallbackRefusedError (403), UnavailableError (callback failures, 502/504)
   */
  async register(groupToken: string, nodeId: string, options: { group?: string } = {}): Promise<NodeToken> {
    checkNodeId(nodeId);
    const g = await this.groups.authenticate(groupToken, options.group);
    await this.admit(g, [nodeId], nodeId);
    const ttl = g.settings.tokenTtl;
    const { token, record } = await this.tokens.issue({ kind: 'node', group: g.name, node: nodeId, generation: g.generation, ttl, renewable: true });
    let before: NodeRecord | null;
    try {
      const now = this.tokens.now();
      before = await this.records.updateNode(g, nodeId, (cur) => ({ ...cur, registeredAt: now, lastSeen: now, tokenHash: record.hash, revokedAt: null }));
    } catch (err) {
      await this.tokens.revokeHash(record.hash).catch(() => undefined);
      throw err;
    }
    if (before?.tokenHash && before.tokenHash !== record.hash) await this.tokens.revokeHash(before.tokenHash);
    await this.recheckBans(g, [nodeId], nodeId);
    this.tracker.seen(g.name, nodeId);
    return { group: g.name, nodeId, token, ttl, expiresAt: new Date(record.expiresAt ?? 0) };
  }

  /**
   * Restores the full TTL of a live node token. With `allowGroupToken` (RKS renew-self) a live
   * group token is accepted too and answered with its nominal 31-day period. @throws InvalidTokenError
   */
  async renew(token: string, options: { allowGroupToken?: boolean } = {}): Promise<NodeToken> {
    const found = await this.tokens.lookup(token);
    if (found?.kind === 'group' && options.allowGroupToken) {
      const g = await this.groups.authenticate(token);
      return { group: g.name, nodeId: '', token, ttl: MAX_TOKEN_TTL, expiresAt: null };
    }
    const principal = await this.authenticate(token);
    if (!principal) throw new InvalidTokenError();
    const renewed = await this.tokens.renew(token);
    return { group: renewed.group, nodeId: renewed.node, token, ttl: renewed.ttl, expiresAt: new Date(renewed.expiresAt ?? 0) };
  }

  /**
   * Enrolls a certificate identity into the group of a group token; afterwards the identity
   * reads the group's bundles with its certificate alone, until revoked, banned, or the group
   * is rotated or deleted. The node id defaults to the identity; the callback checks it.
   */
  async enroll(groupToken: string, identity: string, options: { group?: string; nodeId?: string } = {}): Promise<Enrollment> {
    if (!isHexIdentity(identity)) throw new BadRequestError('tls: client certificate is required');
    const nodeId = options.nodeId ?? identity;
    checkNodeId(nodeId);
    const g = await this.groups.authenticate(groupToken, options.group);
    await this.admit(g, [identity, nodeId], nodeId);
    const now = this.tokens.now();
    const before = await this.records.updateNode(g, nodeId, (cur) => ({
      ...cur,
      registeredAt: cur.registeredAt ?? now,
      lastSeen: now,
      identity,
      enrolledAt: now,
      enrollmentGeneration: g.generation,
      revokedAt: null,
    }));
    const moved = await this.records.setMember(g, identity, { nodeId, incarnation: g.incarnation, generation: g.generation, enrolledAt: now });
    // One identity, one node of the group: unlink what either side pointed at before.
    if (before?.identity && before.identity !== identity) await this.records.unlinkMember(g, before.identity, nodeId);
    if (moved && moved.nodeId !== nodeId) await this.records.clearIdentity(g, moved.nodeId, identity);
    await this.recheckBans(g, [identity, nodeId], nodeId);
    this.tracker.seen(g.name, nodeId);
    return { group: g.name, nodeId, identity };
  }

  /**
   * Revokes a node by node id or enrolled identity: its token and enrollment die; it may
   * register again. False when the group has no such node. @throws NotFoundError for the group
   */
  async revoke(group: string, nodeIdOrIdentity: string): Promise<boolean> {
    const g = await this.groups.record(group);
    const targets = new Set<string>();
    if (await this.records.node(g, nodeIdOrIdentity)) targets.add(nodeIdOrIdentity);
    let unlinked = false;
    if (isHexIdentity(nodeIdOrIdentity)) {
      // An identity names the node it is enrolled as, whatever that node's id.
      const m = await this.records.member(g, nodeIdOrIdentity);
      if (m && (await this.records.node(g, m.nodeId))) targets.add(m.nodeId);
      else if (m) unlinked = await this.records.unlinkMember(g, nodeIdOrIdentity, m.nodeId);
    }
    for (const nodeId of targets) await this.revokeNode(g, nodeId);
    return targets.size > 0 || unlinked;
  }

  /** Bans a node id or identity from registering and enrolling, and revokes it. */
  async ban(group: string, nodeIdOrIdentity: string, bannedBy: string): Promise<void> {
    checkNodeId(nodeIdOrIdentity);
    const g = await this.groups.record(group);
    const record: BanRecord = { value: nodeIdOrIdentity, incarnation: g.incarnation, bannedAt: this.tokens.now(), bannedBy };
    // The ban is written before the revocation: a registration that slips in between sees it on its re-check.
    await this.records.ban(g, record);
    await this.revoke(group, nodeIdOrIdentity);
  }

  /** Lifts a ban; false when there was none. */
  async unban(group: string, nodeIdOrIdentity: string): Promise<boolean> {
    checkNodeId(nodeIdOrIdentity);
    return this.records.unban(await this.groups.record(group), nodeIdOrIdentity);
  }

  /** One page of a group's nodes (at most `limit`), in no meaningful order; `continueAt` is opaque. */
  async list(group: string, continueAt = '', limit = 100): Promise<{ nodes: NodeInfo[]; continueAt: string }> {
    const g = await this.groups.record(group);
    const page = await this.records.page(g, continueAt, limit);
    return { nodes: await Promise.all(page.nodes.map((n) => this.info(g, n))), continueAt: page.continueAt };
  }

  /** The node a node token belongs to, or null for anything but a live node token of its group's current generation. */
  async authenticate(token: string): Promise<NodePrincipal | null> {
    const t = await this.tokens.lookup(token);
    if (!t || t.kind !== 'node') return null;
    const group = await this.groups.find(t.group);
    if (!group || group.generation !== t.generation) return null;
    this.tracker.touch(group, t.node);
    return { group, nodeId: t.node };
  }

  /**
   * `node:<group>/<nodeId>` when the node token, or else the enrolled certificate identity,
   * belongs to a group that is assigned `bundle`; null otherwise. Group tokens never read.
   */
  async canReadBundle(identity: string, token: string, bundle: string): Promise<string | null> {
    if (token !== '') {
      const p = await this.authenticate(token);
      if (p && p.group.bundles.includes(bundle)) return `node:${p.group.name}/${p.nodeId}`;
    }
    if (!isHexIdentity(identity)) return null;
    for (const name of await this.records.groupsOfIdentity(identity)) {
      const g = await this.groups.find(name);
      if (!g || !g.bundles.includes(bundle)) continue;
      const m = await this.records.member(g, identity);
      if (!m || m.generation !== g.generation) continue;
      this.tracker.touch(g, m.nodeId);
      return `node:${g.name}/${m.nodeId}`;
    }
    return null;
  }

  /**
   * Every bundle the caller may read through its group(s) — by node token, or by an
   * enrolled certificate identity — with the caller's audit name; null when the
   * credential belongs to no node. Lets an agent configured with `bundles: all` find
   * its bundles without a path policy on `/v1/cert/list/`.
   */
  async readableBundles(identity: string, token: string): Promise<{ principal: string; bundles: string[] } | null> {
    if (token !== '') {
      const p = await this.authenticate(token);
      if (p) return { principal: `node:${p.group.name}/${p.nodeId}`, bundles: [...p.group.bundles].sort() };
    }
    if (!isHexIdentity(identity)) return null;
    const names = new Set<string>();
    let principal = '';
    for (const name of await this.records.groupsOfIdentity(identity)) {
      const g = await this.groups.find(name);
      if (!g) continue;
      const m = await this.records.member(g, identity);
      if (!m || m.generation !== g.generation) continue;
      principal ||= `node:${g.name}/${m.nodeId}`;
      for (const b of g.bundles) names.add(b);
    }
    return principal === '' ? null : { principal, bundles: [...names].sort() };
  }

  /** Registered or enrolled nodes of the given (current) groups: for the metrics census. */
  countRegistered(groups: ReadonlyMap<string, GroupRecord>): Promise<number> {
    return this.records.countRegistered(groups);
  }

  /** Resolves when pending last-seen writes are done (tests, shutdown). */
  settled(): Promise<void> {
    return this.tracker.settled();
  }

  /** Tombstones a node record: no token, no identity; then deletes what it pointed at. */
  private async revokeNode(g: GroupRecord, nodeId: string): Promise<void> {
    const before = await this.records.updateNode(g, nodeId, (cur) => ({
      ...cur,
      tokenHash: null,
      identity: null,
      enrolledAt: null,
      enrollmentGeneration: null,
      revokedAt: this.tokens.now(),
    }));
    if (before?.tokenHash) await this.tokens.revokeHash(before.tokenHash);
    if (before?.identity) await this.records.unlinkMember(g, before.identity, nodeId);
  }

  private async admit(g: GroupRecord, banned: string[], nodeId: string): Promise<void> {
    for (const v of banned) if (await this.records.isBanned(g, v)) throw new NodeBannedError();
    await this.verifier.verify(g.settings, nodeId);
  }

  private async recheckBans(g: GroupRecord, values: string[], nodeId: string): Promise<void> {
    for (const v of values) {
      if (await this.records.isBanned(g, v)) {
        await this.revoke(g.name, nodeId).catch(() => undefined);
        throw new NodeBannedError();
      }
    }
  }

  private async info(g: GroupRecord, n: NodeRecord): Promise<NodeInfo> {
    const t = n.tokenHash ? await this.tokens.peek(n.tokenHash) : null;
    const date = (ms: number | null) => (ms === null ? null : new Date(ms));
    const enrolled = n.enrollmentGeneration === g.generation;
    return {
      nodeId: n.nodeId,
      identity: n.identity,
      registeredAt: date(n.registeredAt),
      lastSeen: date(this.tracker.lastSeen(g.name, n.nodeId, n.lastSeen)),
      tokenExpiresAt: t && t.generation === g.generation ? date(t.expiresAt) : null,
      enrolledAt: enrolled ? date(n.enrolledAt) : null,
      revokedAt: date(n.revokedAt),
    };
  }
}

/** @throws BadRequestError for anything isValidNodeId refuses */
export function checkNodeId(nodeId: string): void {
  checkValidNodeId(nodeId);
}
