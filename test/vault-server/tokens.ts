/**
 * The token store: issuing, looking up (with real expiry against the server
 * clock), use counting, renewal and tree revocation. The `auth/token/` HTTP
 * paths live in auth-token.ts.
 */
import type { Core, Namespace } from './core.js';
import type { AuthBlock } from './reply.js';
import { base62, base64url, goDuration, SYSTEM_TTL } from './util.js';

export interface RenewParams {
  backendTtl: number;
  backendMax: number;
  period: number;
}

export interface TokenEntry {
  id: string;
  accessor: string;
  nsId: string;
  policies: string[];
  /** Parent token id; '' for orphans. */
  parent: string;
  meta: Record<string, string> | null;
  displayName: string;
  numUses: number;
  /** Created with a use limit: may never mint children, even on its last use. */
  limitedUse: boolean;
  /** ms since epoch. */
  creationTime: number;
  /** TTL at creation, seconds (creation_ttl). */
  ttl: number;
  /** ms since epoch; 0 = never expires. */
  expireTime: number;
  explicitMaxTtl: number;
  period: number;
  renewable: boolean;
  /** Tokens minted by sys/init have no lease: no issue_time, cannot renew. */
  hasLease: boolean;
  path: string;
  type: 'service' | 'batch';
  entityId: string;
  role: string;
  lastRenewal: number;
  children: Set<string>;
  /** Accessor of the auth mount that issued it (for mount TTL limits). */
  mountAccessor: string;
  mountTtl: { dflt: number; max: number };
  /** How the issuing backend recomputes TTLs on renewal; a string is an error message. */
  renew: () => RenewParams | string;
}

export interface TtlInput {
  now: number;
  start: number;
  increment: number;
  backendTtl: number;
  period: number;
  backendMax: number;
  explicitMax: number;
  mountTtl: { dflt: number; max: number };
}

/** framework.CalculateTTL, in seconds. */
export function calculateTtl(i: TtlInput): { ttl: number; warnings: string[] } | { error: string } {
  const warnings: string[] = [];
  const now = Math.floor(i.now / 1000);
  const start = Math.floor(i.start / 1000);
  let maxTtl = i.mountTtl.max;
  if (i.backendMax > 0 && i.backendMax < maxTtl) maxTtl = i.backendMax;
  if (i.explicitMax > 0 && i.explicitMax < maxTtl) maxTtl = i.explicitMax;
  let ttl: number;
  let maxValid: number | undefined;
  if (i.period > 0) {
    let period = i.period;
    if (period > maxTtl) {
      warnings.push(
        `period of ${JSON.stringify(goDuration(period))} exceeded the effective max_ttl of ${JSON.stringify(goDuration(maxTtl))}; period value is capped accordingly`,
      );
      period = maxTtl;
    }
    ttl = period;
    if (i.explicitMax > 0) maxValid = start + i.explicitMax;
  } else {
    ttl = i.increment > 0 ? i.increment : i.backendTtl > 0 ? i.backendTtl : i.mountTtl.dflt;
    maxValid = start + maxTtl;
  }
  if (maxValid !== undefined) {
    const maxValidTtl = maxValid - now;
    if (maxValidTtl <= 0) return { error: 'past the max TTL, cannot renew' };
    if (maxValidTtl - ttl < 0) {
      warnings.push(
        `TTL of ${JSON.stringify(goDuration(ttl))} exceeded the effective max_ttl of ${JSON.stringify(goDuration(maxValidTtl))}; TTL value is capped accordingly`,
      );
      ttl = maxValidTtl;
    }
  }
  return { ttl, warnings };
}

export interface IssueParams {
  ns: Namespace;
  policies: string[];
  parent: TokenEntry | undefined;
  meta: Record<string, string> | null;
  displayName: string;
  numUses: number;
  ttl: number;
  explicitMaxTtl: number;
  period: number;
  renewable: boolean;
  path: string;
  type: 'service' | 'batch';
  entityId: string;
  role?: string;
  id?: string;
  mountAccessor: string;
  mountTtl: { dflt: number; max: number };
  renew: () => RenewParams | string;
}

export class TokenStore {
  private readonly byId = new Map<string, TokenEntry>();
  private readonly byAccessor = new Map<string, TokenEntry>();

  constructor(private readonly core: Core) {}

  private newId(ns: Namespace, type: 'service' | 'batch', root: boolean): string {
    let id: string;
    if (type === 'batch') id = 'hvb.AAAAAQ' + base64url(96);
    else if (root || this.core.flavor.name === 'openbao') id = 'hvs.' + base62(24);
    // Vault ≥ 1.10 server-side-consistent tokens: an opaque ~95 character string.
    else id = 'hvs.CAESI' + base64url(64);
    return ns.isRoot ? id : `${id}.${ns.id}`;
  }

  /** The sys/init (or configured dev) root token: no TTL, no lease. */
  createRoot(id?: string): TokenEntry {
    return this.issue(
      {
        ns: this.core.root,
        policies: ['root'],
        parent: undefined,
        meta: null,
        displayName: 'root',
        numUses: 0,
        ttl: 0,
        explicitMaxTtl: 0,
        period: 0,
        renewable: false,
        path: 'auth/token/root',
        type: 'service',
        entityId: '',
        ...(id ? { id } : {}),
        mountAccessor: '',
        mountTtl: { dflt: SYSTEM_TTL, max: SYSTEM_TTL },
        renew: () => 'lease is not renewable',
      },
      false,
    );
  }

  issue(p: IssueParams, hasLease = true): TokenEntry {
    const now = this.core.now();
    const root = p.policies.length === 1 && p.policies[0] === 'root';
    const te: TokenEntry = {
      id: p.id ?? this.newId(p.ns, p.type, root),
      accessor: p.type === 'batch' ? '' : base62(24) + (p.ns.isRoot ? '' : `.${p.ns.id}`),
      nsId: p.ns.id,
      policies: p.policies,
      parent: p.parent?.id ?? '',
      meta: p.meta,
      displayName: p.displayName,
      numUses: p.numUses,
      limitedUse: p.numUses > 0,
      creationTime: now,
      ttl: p.ttl,
      expireTime: p.ttl > 0 ? now + p.ttl * 1000 : 0,
      explicitMaxTtl: p.explicitMaxTtl,
      period: p.period,
      renewable: p.renewable && p.ttl > 0,
      hasLease,
      path: p.path,
      type: p.type,
      entityId: p.entityId,
      role: p.role ?? '',
      lastRenewal: 0,
      children: new Set(),
      mountAccessor: p.mountAccessor,
      mountTtl: p.mountTtl,
      renew: p.renew,
    };
    this.byId.set(te.id, te);
    if (te.accessor) this.byAccessor.set(te.accessor, te);
    p.parent?.children.add(te.id);
    return te;
  }

  /** A usable token: present, not expired, and (unless orphan) with a usable parent chain. */
  lookup(id: string): TokenEntry | undefined {
    const te = this.byId.get(id);
    if (!te) return undefined;
    const now = this.core.now();
    for (let cur: TokenEntry | undefined = te; cur; cur = cur.parent ? this.byId.get(cur.parent) : undefined) {
      // Vault treats an expired token as gone before the expiration manager gets to it.
      if (cur.expireTime !== 0 && now >= cur.expireTime) return undefined;
      if (cur.parent && !this.byId.has(cur.parent)) return undefined;
    }
    return te;
  }

  lookupAccessor(accessor: string): TokenEntry | undefined {
    const te = this.byAccessor.get(accessor);
    return te ? this.lookup(te.id) : undefined;
  }

  /** Consumes one use; returns true when this was the last one (revoke after the request). */
  use(te: TokenEntry): boolean {
    if (te.numUses <= 0) return false;
    te.numUses--;
    return te.numUses === 0;
  }

  revoke(te: TokenEntry): void {
    for (const child of te.children) {
      const c = this.byId.get(child);
      if (c) this.revoke(c);
    }
    this.remove(te);
  }

  /** Revokes one token and makes its children orphans. */
  revokeOrphan(te: TokenEntry): void {
    for (const child of te.children) {
      const c = this.byId.get(child);
      if (c) c.parent = '';
    }
    this.remove(te);
  }

  private remove(te: TokenEntry): void {
    this.byId.delete(te.id);
    if (te.accessor) this.byAccessor.delete(te.accessor);
    if (te.parent) this.byId.get(te.parent)?.children.delete(te.id);
  }

  revokeNamespace(nsId: string): void {
    for (const te of [...this.byId.values()]) if (te.nsId === nsId) this.remove(te);
  }

  /** Fault: every token (optionally sparing the server's root token) is now past its expiry. */
  expireAll(spare: string | undefined): number {
    const now = this.core.now();
    let n = 0;
    for (const te of this.byId.values()) {
      if (te.id === spare) continue;
      te.expireTime = now;
      n++;
    }
    return n;
  }

  accessors(nsId: string): string[] {
    return [...this.byAccessor.values()].filter((t) => t.nsId === nsId && this.lookup(t.id)).map((t) => t.accessor);
  }

  /** Remaining TTL in whole seconds (0 for non-expiring). */
  remaining(te: TokenEntry): number {
    if (te.expireTime === 0) return 0;
    return Math.max(0, Math.trunc((te.expireTime - this.core.now()) / 1000));
  }

  authBlock(te: TokenEntry, leaseDuration: number): AuthBlock {
    return {
      client_token: te.id,
      accessor: te.accessor,
      policies: te.policies,
      token_policies: te.policies,
      identity_policies: [],
      metadata: te.meta,
      lease_duration: leaseDuration,
      renewable: te.renewable,
      entity_id: te.entityId,
      token_type: te.type,
      orphan: te.parent === '',
      num_uses: te.numUses,
    };
  }
}
