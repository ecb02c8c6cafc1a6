/**
 * The attack surface, discovered rather than listed: every route `GET /v1/api`
 * serves, classified by how its path takes resources (exact, one or two
 * segments, or a subtree whose concrete paths come from the OpenAPI document),
 * so a route added tomorrow is attacked by the hardening tests without edits.
 */
import { expect } from 'vitest';
import { operations } from '../../src/api/docs/spec.js';
import { findOperation, openAPI, resolveRef } from '../helpers/openapi.js';
import { head, rawRequest, type Peer, type RawResponse } from './raw.js';

export interface ServedRoute {
  method: string;
  /** As `/v1/api` prints it: exact, a prefix ending in '/', a template with `{param}`s, or a subtree ending in '/**'. */
  path: string;
  maxBody: number;
  kind: 'exact' | 'prefix' | 'template' | 'subtree';
  /** The part of the path space this route's surface claims (a subtree's root; `/rks/` for RKS's templates). */
  root: string;
  /** Path segments after a prefix route's path (1 or 2). */
  segments: 1 | 2;
  /** Error bodies are plain text (the RKS surface) instead of `{"message"}` JSON. */
  textErrors: boolean;
  /** For subtrees: the documented operations below the root (`{param}` templates). */
  templates: Array<{ method: string; path: string }>;
}

/** Every route of the running server, with its shape. */
export async function discoverRoutes(peer: Peer): Promise<ServedRoute[]> {
  const api = await rawRequest(peer, head('GET', '/v1/api'));
  expect(api.status, api.body).toBe(200);
  const table = JSON.parse(api.body) as Array<{ method: string; path: string; max_body: number }>;
  const ops = operations(openAPI());
  const out: ServedRoute[] = [];
  for (const r of table) {
    const kind = r.path.endsWith('/**') ? 'subtree' : r.path.includes('{') ? 'template' : r.path.endsWith('/') ? 'prefix' : 'exact';
    // RKS's surface claims all of /rks/ (its 404 `No Route` included), whatever the route.
    const root = kind === 'subtree' ? r.path.slice(0, -2) : r.path.startsWith('/rks/') ? '/rks/' : r.path;
    out.push({
      method: r.method,
      path: r.path,
      maxBody: r.max_body,
      kind,
      root,
      segments: kind === 'prefix' ? await segmentsOf(peer, r.path) : 1,
      textErrors: r.path.startsWith('/rks/'),
      // A subtree's operations, less those a route of their own serves (RKS's endpoints are rows of the table).
      templates:
        kind === 'subtree'
          ? ops
              .filter((o) => o.path.startsWith(root) && !table.some((t) => t.path === o.path && (t.method === '*' || t.method === o.method.toUpperCase())))
              .map((o) => ({ method: o.method.toUpperCase(), path: o.path }))
          : [],
    });
  }
  return out;
}

/** A concrete way to call a route: its method and a path template with `{param}`s. */
export interface Target {
  route: ServedRoute;
  method: string;
  template: string;
  params: string[];
}

/** The ways to call a route: one per documented operation for a subtree, else its own method and path. */
export function targetsOf(route: ServedRoute): Target[] {
  if (route.kind === 'subtree') {
    return route.templates.map((t) => ({ route, method: t.method, template: t.path, params: paramsOf(t.path) }));
  }
  const method = route.method === '*' ? 'GET' : route.method;
  if (route.kind === 'exact') return [{ route, method, template: route.path, params: [] }];
  if (route.kind === 'template') return [{ route, method, template: route.path, params: paramsOf(route.path) }];
  const template = route.path + (route.segments === 2 ? '{p0}/{p1}' : '{p0}');
  return [{ route, method, template, params: paramsOf(template) }];
}

function paramsOf(template: string): string[] {
  return [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
}

/** The template with every parameter set by `value(param, index)`, except those given. */
export function fillWith(t: Target, value: (param: string, index: number) => string, values: Record<string, string> = {}): string {
  let i = 0;
  return t.template.replace(/\{([^}]+)\}/g, (_m, p: string) => values[p] ?? value(p, i++));
}

/** Where the parameters start: everything before the first `{`. */
export function prefixOf(t: Target): string {
  const cut = t.template.indexOf('{');
  return cut < 0 ? t.template : t.template.slice(0, cut);
}

/** Whether the target's OpenAPI operation takes a request body. */
export function takesBody(t: Target, path: string): boolean {
  return findOperation(t.method, path)?.op.requestBody !== undefined;
}

/** The query parameters the OpenAPI operation of a target documents. */
export function queryParams(t: Target, path: string): string[] {
  const op = findOperation(t.method, path);
  const params = ((op?.op.parameters ?? []) as unknown[]).map((p) => resolveRef<{ name: string; in: string }>(p));
  return params.filter((p) => p.in === 'query').map((p) => p.name);
}

/** The router answers a bare 'not found' when a one-segment route is given two. */
async function segmentsOf(peer: Peer, prefix: string): Promise<1 | 2> {
  const r = await rawRequest(peer, head('GET', `${prefix}probe-a/probe-b`));
  return r.status === 404 && r.body.includes('"not found"') ? 1 : 2;
}

/** Every property name any documented request body has: what poisoned bodies fill in. */
export function bodyFieldNames(): string[] {
  const names = new Set<string>();
  const visit = (schema: unknown, depth: number): void => {
    const s = resolveRef<Record<string, unknown>>(schema);
    if (!s || typeof s !== 'object' || depth > 6) return;
    for (const [k, v] of Object.entries((s['properties'] ?? {}) as Record<string, unknown>)) {
      names.add(k);
      visit(v, depth + 1);
    }
    for (const key of ['allOf', 'anyOf', 'oneOf']) for (const sub of (s[key] ?? []) as unknown[]) visit(sub, depth + 1);
  };
  for (const { op } of operations(openAPI())) {
    const body = resolveRef<Record<string, unknown>>(op.requestBody);
    for (const media of Object.values((body?.['content'] ?? {}) as Record<string, { schema?: unknown }>)) visit(media.schema, 0);
  }
  return [...names].sort();
}

/** What went wrong with an answer to a bad request, or null when it failed safely. */
export function unsafeAnswer(route: Pick<ServedRoute, 'textErrors'>, r: RawResponse): string | null {
  if (r.status < 400 || r.status > 499) return `status ${r.status}`;
  const type = r.headers['content-type'] ?? '';
  // The HTTP parser refuses some requests before any route is known: those answers are JSON everywhere.
  const parserLevel = r.headers['date'] === undefined;
  if (route.textErrors && !parserLevel) {
    if (!type.startsWith('text/plain')) return `content-type ${type}`;
    if (r.body.trim() === '' || r.body.trim().includes('\n')) return `body ${JSON.stringify(r.body)}`;
    return null;
  }
  if (type !== 'application/json') return `content-type ${type}`;
  try {
    const json = JSON.parse(r.body) as { message?: unknown };
    if (typeof json.message !== 'string' || json.message === '') return `body ${r.body}`;
    if (Object.keys(json).length !== 1) return `extra fields ${r.body}`;
  } catch {
    return `body ${JSON.stringify(r.body.slice(0, 200))}`;
  }
  return null;
}
