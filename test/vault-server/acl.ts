/**
 * ACL policies: parsing (HCL or JSON) and Vault's rule selection (vault/acl.go).
 * Only the single winning rule counts; there is no union across rule strings.
 */
import { HclError, parseHcl, type HclItem, type HclObject, type HclValue } from './hcl.js';
import type { Operation } from './reply.js';

const BASE_CAPS = ['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny'];
const PATH_KEYS = [
  'comment',
  'policy',
  'capabilities',
  'allowed_parameters',
  'denied_parameters',
  'required_parameters',
  'min_wrapping_ttl',
  'max_wrapping_ttl',
  'mfa_methods',
  'control_group',
];

export interface PathRule {
  /** Path as written (leading `/` stripped); may contain identity templates. */
  path: string;
  caps: Set<string>;
  allowed: Map<string, unknown[]> | undefined;
  denied: Map<string, unknown[]> | undefined;
  required: string[] | undefined;
}

export interface Policy {
  name: string;
  raw: string;
  rules: PathRule[];
}

export class PolicyError extends Error {}

export interface ParseOptions {
  /** Capabilities beyond Vault's base set (OpenBao's `scan`). */
  extraCaps?: readonly string[];
}

function toItems(raw: string): HclItem[] {
  const trimmed = raw.trim();
  if (trimmed.startsWith('{')) {
    // JSON policies go through the same HCL decoder in Vault; map objects onto items.
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new PolicyError(`failed to parse policy: ${(e as Error).message}`);
    }
    const conv = (v: unknown): HclValue => {
      if (Array.isArray(v)) return v.map(conv);
      if (v !== null && typeof v === 'object') {
        return { kind: 'object', items: Object.entries(v).map(([k, x]) => ({ key: k, labels: [], value: conv(x), line: 1 })) };
      }
      return v as string | number | boolean;
    };
    const top = conv(parsed) as HclObject;
    const items: HclItem[] = [];
    for (const it of top.items) {
      if (it.key === 'path' && typeof it.value === 'object' && !Array.isArray(it.value)) {
        for (const p of it.value.items) items.push({ key: 'path', labels: [p.key], value: p.value, line: 1 });
      } else items.push(it);
    }
    return items;
  }
  try {
    return parseHcl(raw).items;
  } catch (e) {
    if (e instanceof HclError) throw new PolicyError(`failed to parse policy: ${e.message}`);
    throw e;
  }
}

function strList(v: HclValue | undefined): string[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.map((x) => String(x));
  return [String(v)];
}

function paramMap(v: HclValue | undefined): Map<string, unknown[]> | undefined {
  if (v === undefined || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const m = new Map<string, unknown[]>();
  for (const it of v.items) m.set(it.key.toLowerCase(), Array.isArray(it.value) ? it.value : [it.value]);
  return m;
}

export function parsePolicy(name: string, raw: string, opts: ParseOptions = {}): Policy {
  const valid = new Set([...BASE_CAPS, ...(opts.extraCaps ?? [])]);
  const items = toItems(raw);
  for (const it of items) {
    if (it.key !== 'path' && it.key !== 'name') {
      throw new PolicyError(`failed to parse policy: 1 error occurred:\n\t* invalid key ${JSON.stringify(it.key)} on line ${it.line}\n\n`);
    }
  }
  const rules: PathRule[] = [];
  for (const it of items.filter((x) => x.key === 'path')) {
    const key = it.labels[0] ?? 'path';
    const body = it.value;
    if (typeof body !== 'object' || Array.isArray(body)) throw new PolicyError(`failed to parse policy: path ${JSON.stringify(key)}: not an object`);
    const fields = new Map<string, HclValue>();
    for (const f of body.items) {
      if (!PATH_KEYS.includes(f.key)) {
        throw new PolicyError(
          `failed to parse policy: 1 error occurred:\n\t* path ${JSON.stringify(key)}: invalid key ${JSON.stringify(f.key)} on line ${f.line}\n\n`,
        );
      }
      fields.set(f.key, f.value);
    }
    const path = key.startsWith('/') ? key.slice(1) : key;
    if (path.includes('+*')) throw new PolicyError(`failed to parse policy: path ${JSON.stringify(path)}: invalid use of wildcards ('+*' is forbidden)`);
    let caps = strList(fields.get('capabilities'));
    const legacy = fields.get('policy');
    if (legacy !== undefined) {
      const legacyCaps: Record<string, string[]> = {
        deny: ['deny'],
        read: ['read', 'list'],
        write: ['read', 'list', 'create', 'update', 'delete'],
        sudo: ['read', 'list', 'create', 'update', 'delete', 'sudo'],
      };
      const mapped = legacyCaps[String(legacy)];
      if (!mapped) throw new PolicyError(`failed to parse policy: path ${JSON.stringify(key)}: invalid policy ${JSON.stringify(String(legacy))}`);
      caps = [...caps, ...mapped];
    }
    const set = new Set<string>();
    for (const c of caps) {
      if (c === 'deny') {
        set.clear();
        set.add('deny');
        break;
      }
      if (!valid.has(c)) throw new PolicyError(`failed to parse policy: path ${JSON.stringify(key)}: invalid capability ${JSON.stringify(c)}`);
      set.add(c);
    }
    const required = fields.has('required_parameters') ? strList(fields.get('required_parameters')).map((s) => s.toLowerCase()) : undefined;
    rules.push({ path, caps: set, allowed: paramMap(fields.get('allowed_parameters')), denied: paramMap(fields.get('denied_parameters')), required });
  }
  return { name, raw, rules };
}

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

/** The built-in `default` policy, as Vault writes it into every namespace. */
export const DEFAULT_POLICY = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}


# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow checking the status of a Control Group request if the user has the
# accessor
path "sys/control-group/request" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
`;
