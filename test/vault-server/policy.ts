/**
 * ACL policy documents: parsing HCL or JSON policy text (vault/policy.go) and
 * the built-in `default` policy.
 */
import { HclError, parseHcl, type HclItem, type HclObject, type HclValue } from './hcl.js';

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
