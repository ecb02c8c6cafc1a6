/**
 * Vault's ACL rule selection (vault/acl.go): exact rules, `*` prefixes, `+`
 * segment wildcards and their priority. Only the single winning rule counts;
 * there is no union across rule strings.
 */
import type { PathRule, Policy } from './policy.js';
import type { Operation } from './reply.js';

interface Perm {
  caps: Set<string>;
  allowed: Map<string, unknown[]> | undefined;
  denied: Map<string, unknown[]> | undefined;
  required: string[] | undefined;
}

export interface AclInput {
  policy: Policy;
  /** Namespace path of the policy's owner ('' = root); prefixed to every rule. */
  nsPath: string;
}

export interface AclOptions {
  /** Holder of the `root` policy is unrestricted below this namespace path. */
  rootNsPath?: string | undefined;
  /** OpenBao tries the LIST path with its trailing slash before the trimmed one. */
  listSlashFirst?: boolean;
  /** Values for identity templates; a templated rule is dropped when they are absent. */
  entity?: { id: string; name: string } | undefined;
}

export interface AclResult {
  allowed: boolean;
  sudo: boolean;
}

const OP_CAP: Record<Operation, string> = { read: 'read', list: 'list', create: 'create', update: 'update', delete: 'delete', patch: 'patch' };

export class ACL {
  private readonly exact = new Map<string, Perm>();
  private readonly prefix = new Map<string, Perm>();
  private readonly segment = new Map<string, Perm>();
  private readonly rootNsPath: string | undefined;
  private readonly listSlashFirst: boolean;

  constructor(inputs: readonly AclInput[], opts: AclOptions = {}) {
    this.rootNsPath = opts.rootNsPath;
    this.listSlashFirst = opts.listSlashFirst ?? false;
    for (const { policy, nsPath } of inputs) {
      for (const rule of policy.rules) {
        let p = rule.path;
        if (p.includes('{{')) {
          if (!opts.entity) continue;
          const ent = opts.entity;
          p = p.replace(/\{\{\s*identity\.entity\.(id|name)\s*\}\}/g, (_m, k: string) => (k === 'id' ? ent.id : ent.name));
          if (p.includes('{{')) continue;
        }
        p = nsPath + p;
        // Same test as Vault: only whole-segment `+` makes a segment-wildcard rule.
        const hasSegment = p === '+' || p.includes('/+') || p.startsWith('+/');
        let table = this.exact;
        if (hasSegment) table = this.segment;
        else if (p.endsWith('*')) {
          table = this.prefix;
          p = p.slice(0, -1);
        }
        const prev = table.get(p);
        table.set(p, prev ? merge(prev, rule) : { caps: new Set(rule.caps), allowed: rule.allowed, denied: rule.denied, required: rule.required });
      }
    }
  }

  get isRoot(): boolean {
    return this.rootNsPath !== undefined;
  }

  private nonExact(path: string): Perm | undefined {
    interface Cand {
      first: number;
      wcPath: string;
      isPrefix: boolean;
      wildcards: number;
      perm: Perm;
    }
    const cands: Cand[] = [];
    let best: string | undefined;
    for (const k of this.prefix.keys()) if (path.startsWith(k) && (best === undefined || k.length > best.length)) best = k;
    if (best !== undefined) cands.push({ first: best.length, wcPath: best, isPrefix: true, wildcards: 0, perm: this.prefix.get(best) as Perm });
    if (this.segment.size === 0) return cands[0]?.perm;
    const parts = path.split('/');
    for (const [full, perm] of this.segment) {
      if (full === '') continue;
      let cur = full;
      let isPrefix = false;
      if (cur.endsWith('*')) {
        isPrefix = true;
        cur = cur.slice(0, -1);
      }
      const split = cur.split('/');
      if (parts.length < split.length) continue;
      if (!isPrefix && split.length !== parts.length) continue;
      let wildcards = 0;
      let matched = true;
      for (let i = 0; i < split.length; i++) {
        const a = split[i] as string;
        const seg = parts[i] as string;
        if (a === '+') wildcards++;
        else if (a === seg) continue;
        else if (isPrefix && i === split.length - 1 && seg.startsWith(a)) continue;
        else {
          matched = false;
          break;
        }
      }
      if (matched) cands.push({ first: full.indexOf('+'), wcPath: cur, isPrefix, wildcards, perm });
    }
    if (cands.length === 0) return undefined;
    // Priority order from vault/acl.go: later wildcard, non-glob, fewer `+`, longer, lexically larger.
    const less = (a: Cand, b: Cand): boolean => {
      if (a.first !== b.first) return a.first < b.first;
      if (a.isPrefix !== b.isPrefix) return a.isPrefix;
      if (a.wildcards !== b.wildcards) return a.wildcards > b.wildcards;
      if (a.wcPath.length !== b.wcPath.length) return a.wcPath.length < b.wcPath.length;
      return a.wcPath < b.wcPath;
    };
    let win = cands[0] as Cand;
    for (const c of cands.slice(1)) if (less(win, c)) win = c;
    return win.perm;
  }

  /** Steps 2–5 of the rule selection: the one rule that governs `path`. */
  private lookup(path: string, isList: boolean): Perm | undefined {
    const exact = this.exact.get(path);
    if (exact) return exact;
    const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
    if (isList) {
      const e2 = this.exact.get(trimmed);
      if (e2) return e2;
    }
    if (isList && path.endsWith('/') && !this.listSlashFirst) {
      const p = this.nonExact(trimmed);
      if (p) return p;
    }
    const p = this.nonExact(path);
    if (p) return p;
    if (isList && path.endsWith('/') && this.listSlashFirst) return this.nonExact(trimmed);
    return undefined;
  }

  private rootCovers(path: string): boolean {
    return this.rootNsPath !== undefined && path.startsWith(this.rootNsPath);
  }

  allowOperation(op: Operation, path: string, data?: Record<string, unknown>): AclResult {
    if (this.rootCovers(path)) return { allowed: true, sudo: true };
    const perm = this.lookup(path, op === 'list');
    if (!perm || perm.caps.has('deny')) return { allowed: false, sudo: false };
    const sudo = perm.caps.has('sudo');
    if (!perm.caps.has(OP_CAP[op])) return { allowed: false, sudo };
    if ((op === 'read' || op === 'update' || op === 'create' || op === 'patch') && data && !paramsAllowed(perm, data)) {
      return { allowed: false, sudo };
    }
    return { allowed: true, sudo };
  }

  /** sys/capabilities view of one path. */
  capabilities(path: string): string[] {
    if (this.rootCovers(path)) return ['root'];
    const perm = this.lookup(path, false);
    if (!perm || perm.caps.has('deny') || perm.caps.size === 0) return ['deny'];
    return [...perm.caps].sort();
  }
}

function merge(prev: Perm, rule: PathRule): Perm {
  if (prev.caps.has('deny') || rule.caps.has('deny')) return { caps: new Set(['deny']), allowed: undefined, denied: undefined, required: undefined };
  const mergeMap = (a: Map<string, unknown[]> | undefined, b: Map<string, unknown[]> | undefined): Map<string, unknown[]> | undefined => {
    if (!a) return b;
    if (!b) return a;
    const out = new Map(a);
    for (const [k, v] of b) {
      const cur = out.get(k);
      // An empty list means "any value", which absorbs specific values.
      out.set(k, cur === undefined ? v : cur.length === 0 || v.length === 0 ? [] : [...cur, ...v]);
    }
    return out;
  };
  return {
    caps: new Set([...prev.caps, ...rule.caps]),
    allowed: mergeMap(prev.allowed, rule.allowed),
    denied: mergeMap(prev.denied, rule.denied),
    required: prev.required || rule.required ? [...new Set([...(prev.required ?? []), ...(rule.required ?? [])])] : undefined,
  };
}

function valueMatches(value: unknown, list: unknown[]): boolean {
  if (list.length === 0) return true;
  const values = Array.isArray(value) ? value : [value];
  return values.every((v) =>
    list.some((pattern) => {
      if (typeof pattern === 'string' && typeof v === 'string') {
        if (pattern === '*') return true;
        if (pattern.startsWith('*') && v.endsWith(pattern.slice(1))) return true;
        if (pattern.endsWith('*') && v.startsWith(pattern.slice(0, -1))) return true;
      }
      return String(pattern) === String(v);
    }),
  );
}

function paramsAllowed(perm: Perm, data: Record<string, unknown>): boolean {
  if (!perm.allowed && !perm.denied && !perm.required) return true;
  for (const r of perm.required ?? []) if (!(r in data)) return false;
  if (!perm.allowed && !perm.denied) return true;
  if (perm.denied?.has('*')) return false;
  for (const [k, v] of Object.entries(data)) {
    const d = perm.denied?.get(k.toLowerCase());
    if (d && valueMatches(v, d)) return false;
  }
  if (!perm.allowed || perm.allowed.size === 0) return true;
  const allowAll = perm.allowed.has('*');
  if (allowAll && perm.allowed.size === 1) return true;
  for (const [k, v] of Object.entries(data)) {
    const a = perm.allowed.get(k.toLowerCase());
    if (!a && !allowAll) return false;
    if (a && !valueMatches(v, a)) return false;
  }
  return true;
}
