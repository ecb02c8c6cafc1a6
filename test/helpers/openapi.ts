/**
 * Checks real responses against keygate's OpenAPI document (openapi/*.yaml), so
 * the document cannot drift from what the handlers write. Any integration test
 * may use it:
 *
 *   const r = await s.call(s.admin, '/v1/key/describe/k1');
 *   expectMatchesSpec('GET', '/v1/key/describe/k1', r.status, r.json);
 *   expectResponseMatchesSpec('GET', '/v1/metrics', r);   // picks json/text and checks Content-Type
 *
 * The operation is found from the concrete request path; the status must be
 * documented for it (no `default` fallback); the body must validate, with ajv's
 * JSON Schema 2020-12 dialect (OpenAPI 3.1's), against the schema of its media type.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import { loadOpenAPI, operations, type OpenAPIDocument, type Operation } from '../../src/api/docs/spec.js';
import type { TestResponse } from './http.js';

type JSONObject = Record<string, unknown>;

export interface SpecOperation {
  path: string;
  method: string;
  op: Operation;
}

interface Template extends SpecOperation {
  regex: RegExp;
  literal: number;
}

const BASE = 'https://keygate.invalid/openapi';
let cached: { doc: OpenAPIDocument; ajv: Ajv2020; templates: Template[] } | undefined;
const compiled = new Map<string, ValidateFunction>();

/** `method path status` of every response validated so far (see `validatedResponses`). */
const seen = new Set<string>();

/** The merged document, as the server serves it. */
export function openAPI(): OpenAPIDocument {
  return state().doc;
}

function state() {
  if (cached) return cached;
  const doc = loadOpenAPI();
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  // ajv ships no formats; these are the ones the document uses.
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/);
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:[^\s]*$/i);
  ajv.addSchema({ $id: BASE, $defs: rewriteRefs(doc.components['schemas'] ?? {}) });
  const templates = operations(doc).map(({ path, method, op }) => ({ path, method, op, ...pathPattern(path) }));
  // The most literal template wins: /v1/identity/self/describe before /v1/identity/{x}/describe.
  templates.sort((a, b) => b.literal - a.literal);
  cached = { doc, ajv, templates };
  return cached;
}

/** Points `#/components/schemas/X` at the registered schema bundle (ajv knows no OpenAPI document). */
function rewriteRefs<T>(node: T): T {
  if (Array.isArray(node)) return node.map(rewriteRefs) as T;
  if (node === null || typeof node !== 'object') return node;
  const out: JSONObject = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/') ? `${BASE}#/$defs/${v.slice(21)}` : rewriteRefs(v);
  }
  return out as T;
}

function pathPattern(path: string): { regex: RegExp; literal: number } {
  let literal = 0;
  const source = path
    .split(/(\{[^}]+\})/)
    .map((part) => {
      if (part.startsWith('{')) return '([^/]*)';
      literal += part.length;
      return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    })
    .join('');
  return { regex: new RegExp(`^${source}$`), literal };
}

/** Follows `$ref`s to components (responses, parameters, ...) within the document. */
export function resolveRef<T = JSONObject>(node: unknown): T {
  let current = node as JSONObject;
  for (let hops = 0; typeof current?.['$ref'] === 'string' && hops < 10; hops++) {
    const ref = current['$ref'] as string;
    current = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((o, key) => (o as JSONObject | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], state().doc) as JSONObject;
  }
  return current as T;
}

/** The operation serving `method` on a concrete request path (query ignored), or undefined. */
export function findOperation(method: string, requestPath: string): SpecOperation | undefined {
  const m = method.toLowerCase();
  const path = requestPath.split('?')[0] as string;
  const { templates } = state();
  // PUT routes also accept POST (documented once, in info.description).
  const methods = m === 'post' ? ['post', 'put'] : [m];
  for (const candidate of [path, path + '/']) {
    for (const want of methods) {
      const hit = templates.find((t) => t.method === want && (t.path === candidate || t.regex.test(candidate)));
      if (hit) return hit;
    }
  }
  return undefined;
}

function anyOperationOn(requestPath: string): SpecOperation | undefined {
  for (const m of ['get', 'put', 'post', 'delete']) {
    const hit = findOperation(m, requestPath);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Asserts that a response is documented: the operation exists, the status is one
 * of its responses, and the body (parsed JSON, a string, or undefined/'' for none)
 * validates against the schema of the media type (`contentType`, or JSON for
 * non-strings). nd-json bodies are validated line by line.
 */
export function expectMatchesSpec(method: string, routePath: string, status: number, body: unknown, contentType?: string): void {
  const where = `${method} ${routePath} → ${status}`;
  // A 405 belongs to the route the path names, whatever method was sent.
  const found = findOperation(method, routePath) ?? (status === 405 ? anyOperationOn(routePath) : undefined);
  expect(found, `${where}: no operation in the OpenAPI document`).toBeDefined();
  if (!found) return;
  const response = resolveRef(found.op.responses?.[String(status)]);
  expect(response, `${where}: status not documented for ${found.method.toUpperCase()} ${found.path}`).toBeDefined();
  seen.add(`${found.method} ${found.path} ${status}`);
  const content = (response['content'] ?? {}) as Record<string, JSONObject>;
  const documented = Object.keys(content).length > 0;
  const empty = body === undefined || body === '';
  if (!documented || empty) {
    const problem = documented ? 'documented with content, but the body is empty' : 'documented without content, but it has a body';
    expect(empty, `${where}: ${problem}`).toBe(!documented);
    return;
  }
  const type = mediaType(content, body, contentType, where);
  const media = content[type] as JSONObject;
  const problems = validate(`${found.method} ${found.path} ${status} ${type}`, media, body, type);
  expect(problems, `${where}: body does not match the documented ${type} schema`).toEqual([]);
}

/** expectMatchesSpec for a TestResponse: picks its JSON or text and checks its Content-Type too. */
export function expectResponseMatchesSpec(method: string, routePath: string, res: TestResponse): void {
  const contentType = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : undefined;
  const isJSON = contentType?.startsWith('application/json') ?? false;
  expectMatchesSpec(method, routePath, res.status, isJSON ? res.json : res.text, contentType);
}

function mediaType(content: Record<string, JSONObject>, body: unknown, contentType: string | undefined, where: string): string {
  const types = Object.keys(content);
  if (contentType !== undefined) {
    const essence = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    expect(types, `${where}: Content-Type ${essence} is not documented`).toContain(essence);
    return essence;
  }
  const wanted = typeof body === 'string' ? (types.find((t) => !t.includes('json')) ?? types[0]) : types.find((t) => t.includes('json'));
  expect(wanted, `${where}: no documented media type fits the body`).toBeDefined();
  return wanted as string;
}

function validate(key: string, media: JSONObject, body: unknown, type: string): string[] {
  const lineSchema = media['x-keygate-item-schema'];
  if (lineSchema !== undefined) {
    expect(typeof body, `${key}: nd-json body must be a string`).toBe('string');
    const check = validator(`${key} line`, lineSchema);
    return (body as string)
      .split('\n')
      .filter((l) => l !== '')
      .flatMap((line, i) => (check(JSON.parse(line)) ? [] : describeErrors(check, `line ${i + 1}`)));
  }
  const value = type.includes('json') && typeof body === 'string' ? JSON.parse(body) : body;
  const check = validator(key, media['schema'] ?? {});
  return check(value) ? [] : describeErrors(check, 'body');
}

function validator(key: string, schema: unknown): ValidateFunction {
  let fn = compiled.get(key);
  if (!fn) {
    fn = state().ajv.compile(rewriteRefs(schema as JSONObject));
    compiled.set(key, fn);
  }
  return fn;
}

function describeErrors(fn: ValidateFunction, what: string): string[] {
  return (fn.errors ?? []).map((e) => `${what}${e.instancePath} ${e.message ?? ''}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
}

/** Compiles every schema in the document (request, response, parameter, item), returning failures. */
export function compileAllSchemas(): string[] {
  const failures: string[] = [];
  for (const { path, method, op } of operations(state().doc)) {
    const where = `${method} ${path}`;
    const visit = (label: string, schema: unknown) => {
      try {
        state().ajv.compile(rewriteRefs(schema as JSONObject));
      } catch (err) {
        failures.push(`${where} ${label}: ${(err as Error).message}`);
      }
    };
    const params = [...((state().doc.paths[path]?.['parameters'] ?? []) as unknown[]), ...((op['parameters'] ?? []) as unknown[])];
    for (const p of params) visit('parameter', resolveRef(p)['schema'] ?? {});
    const bodyContent = resolveRef(op['requestBody'] ?? {})['content'] as Record<string, JSONObject> | undefined;
    for (const [t, m] of Object.entries(bodyContent ?? {})) visit(`request ${t}`, m['schema'] ?? {});
    for (const [status, r] of Object.entries(op.responses ?? {})) {
      for (const [t, m] of Object.entries((resolveRef(r)['content'] ?? {}) as Record<string, JSONObject>)) {
        visit(`${status} ${t}`, m['schema'] ?? {});
        if (m['x-keygate-item-schema']) visit(`${status} ${t} line`, m['x-keygate-item-schema']);
      }
    }
  }
  return failures;
}

/** `method path status` of every response a test validated in this file so far. */
export function validatedResponses(): ReadonlySet<string> {
  return seen;
}

/** A row of `GET /v1/api`. */
export interface RouteEntry {
  method: string;
  path: string;
}

/** The route-table path of a documented path: trailing `{parameters}` become the route's prefix. */
export function routeKeyOf(specPath: string): string {
  const m = /^(.*?\/)\{[^}]+\}(?:\/\{[^}]+\})*$/.exec(specPath);
  return m ? (m[1] as string) : specPath;
}

function serves(route: RouteEntry, op: SpecOperation): boolean {
  if (route.method !== '*' && route.method.toLowerCase() !== op.method) return false;
  if (route.path.endsWith('/**')) return op.path.startsWith(route.path.slice(0, -2));
  // Template routes (the RKS surface) are served under the document's own path.
  if (route.path.includes('{')) return op.path === route.path;
  return routeKeyOf(op.path) === route.path;
}

/**
 * Compares the server's route table with the document: routes without an
 * operation, operations no route serves (unless marked `x-keygate-planned`), and
 * planned operations that a route now serves by name (the mark should go).
 */
export function compareWithRoutes(routes: readonly RouteEntry[]): { undocumented: string[]; unserved: string[]; plannedButServed: string[] } {
  const ops = operations(state().doc);
  const undocumented = routes.filter((r) => !ops.some((o) => serves(r, o))).map((r) => `${r.method} ${r.path}`);
  const unserved: string[] = [];
  const plannedButServed: string[] = [];
  for (const o of ops) {
    const byName = routes.some((r) => !r.path.endsWith('/**') && serves(r, o));
    const served = byName || routes.some((r) => serves(r, o));
    if (o.op['x-keygate-planned'] === true) {
      if (byName) plannedButServed.push(`${o.method.toUpperCase()} ${o.path}`);
    } else if (!served) {
      unserved.push(`${o.method.toUpperCase()} ${o.path}`);
    }
  }
  return { undocumented, unserved, plannedButServed };
}
