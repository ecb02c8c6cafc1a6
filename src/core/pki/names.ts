/**
 * A role's allowed names: exact DNS names, `*.suffix` (any name under the suffix, at
 * any depth), and templates bound to the caller — `{{node_id}}` and `{{group}}` — so
 * `{{node_id}}.{{group}}.edge.example` lets node `cdn-1` of group `edge` have
 * `cdn-1.edge.edge.example` and nothing another node could claim.
 */

export interface NameBinding {
  /** The caller's node id, when the caller is a node. */
  nodeId?: string;
  /** The caller's group, when the caller is a node. */
  group?: string;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PLACEHOLDER = /\{\{\s*(node_id|group)\s*\}\}/g;

/** Whether `name` is a DNS name a certificate may carry: LDH labels, an optional leading `*` label. */
export function isCertificateName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels.length < 2 && labels[0] === '*') return false;
  return labels.every((l, i) => LABEL.test(l) || (i === 0 && l === '*' && labels.length > 2));
}

/** The one spelling of a requested DNS name: lowercase, without the trailing dot. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Checks a pattern once (config load). @throws Error naming what is wrong */
export function compileNamePattern(pattern: string): void {
  const unknown = pattern.replace(PLACEHOLDER, '').match(/\{\{[^}]*\}\}/);
  if (unknown) throw new Error(`unknown template ${unknown[0]} (use {{node_id}} or {{group}})`);
  const sample = pattern.replace(PLACEHOLDER, 'x');
  if (sample !== sample.toLowerCase() || !isCertificateName(sample)) {
    throw new Error(`'${pattern}' is not a lowercase DNS name, '*.' followed by one, or a template of one`);
  }
}

/**
 * The pattern with the caller's values in place, or null when the caller lacks one or a
 * value is not already a lowercase DNS label. Never folded: node ids and group names are
 * case-sensitive and DNS names are not, so `CDN-1` bound as `cdn-1` would claim node
 * `cdn-1`'s names (test/hardening/pki-names.test.ts).
 */
function bind(pattern: string, binding: NameBinding): string | null {
  let ok = true;
  const bound = pattern.replace(PLACEHOLDER, (_m, key: string) => {
    const value = key === 'node_id' ? binding.nodeId : binding.group;
    if (value === undefined || !LABEL.test(value)) ok = false;
    return value ?? '';
  });
  return ok ? bound : null;
}

/** Whether `name` (canonical) is allowed by one of `patterns` for this caller. */
export function nameAllowed(name: string, patterns: readonly string[], binding: NameBinding): boolean {
  for (const pattern of patterns) {
    const bound = bind(pattern, binding);
    if (bound === null) continue;
    if (bound.startsWith('*.')) {
      const suffix = bound.slice(1);
      if (name.endsWith(suffix) && name.length > suffix.length) return true;
    } else if (name === bound) return true;
  }
  return false;
}
