/**
 * The canonical request: every name in the path decoded once, checked against
 * what its route accepts, and spelled one way. The dispatcher matches policies
 * against the path rebuilt from these names and hands handlers the same names,
 * so no spelling of a path (percent-encoding, case of a host name, a trailing
 * dot) can reach a handler under a different policy decision.
 */
import { BadRequestError } from '../errors.js';
import type { Param, Route } from './route.js';

export interface CanonicalRequest {
  /** The route's names, decoded and canonical. */
  params: string[];
  /** The path the policy decides on. */
  path: string;
}

/** C0 controls and DEL: no name of any route holds them, and logs must not. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Decodes and checks one name; throws the Param's error (by default a BadRequestError naming the kind). */
export function canonicalName(raw: string, param: Param): string {
  const invalid = (segment: string, detail = ''): Error =>
    param.invalid?.(segment, detail === ': bad percent-encoding' ? 'encoding' : 'name') ?? new BadRequestError(`invalid ${param.kind}${detail}`);
  let decoded: string;
  try {
    decoded = raw.includes('%') ? decodeURIComponent(raw) : raw;
  } catch {
    throw invalid(raw, ': bad percent-encoding');
  }
  if (decoded === '') {
    if (param.optional) return '';
    throw invalid(decoded, ': empty');
  }
  // '.' and '..' are what a URL parser, a proxy or a file system would resolve: never a name.
  if (decoded === '.' || decoded === '..' || hasControl(decoded)) throw invalid(decoded);
  if (decoded.includes('/') && (!param.allowSlash || decoded.split('/').some((part) => part === '.' || part === '..'))) throw invalid(decoded);
  return param.canonical(decoded);
}

/**
 * A name as it stands in the canonical path: decoded, except '%' and '/', which
 * are re-encoded so that a name holding '/' stays one segment for the policy
 * matcher (a glob's '*' never spans it) and the path decodes back unambiguously.
 */
export function pathSegment(name: string): string {
  return name.includes('%') || name.includes('/') ? name.replace(/%/g, '%25').replace(/\//g, '%2F') : name;
}

/** The canonical form of a routed request; `raw` are the names as they arrived. */
export function canonicalize(route: Route, raw: readonly string[]): CanonicalRequest {
  const specs = route.params ?? [];
  if (specs.length === 0) return { params: [], path: route.path };
  const params = raw.map((r, i) => canonicalName(r, specs[i] as Param));
  return { params, path: canonicalPath(route, params) };
}

/** The canonical path of a route with these (canonical) names. */
export function canonicalPath(route: Route, params: readonly string[]): string {
  if (route.path.includes('{')) {
    let i = 0;
    return route.path.replace(/\{[^}]*\}/g, () => pathSegment(params[i++] ?? ''));
  }
  return route.path + params.map(pathSegment).join('/');
}
