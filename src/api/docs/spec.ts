/**
 * keygate's OpenAPI document: `openapi/openapi.yaml` plus the surface files it
 * lists in `x-keygate-parts`, merged into one OpenAPI 3.1 object. The files
 * sit at the package root, outside the compiled code, so they are found from
 * there whether this module runs from `src/` (tests) or `dist/src/` (built).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { VERSION } from '../../version.js';

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

type JSONObject = Record<string, unknown>;

export interface Operation extends JSONObject {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: JSONObject[];
  responses?: Record<string, unknown>;
  'x-keygate-errors'?: 'json' | 'text';
  'x-keygate-planned'?: boolean;
}

export interface OpenAPIDocument extends JSONObject {
  openapi: string;
  info: JSONObject & { version: string };
  security?: JSONObject[];
  paths: Record<string, Partial<Record<(typeof HTTP_METHODS)[number], Operation>> & JSONObject>;
  components: Record<string, JSONObject>;
}

interface CommonResponse {
  /** Only for operations that need a credential. */
  authenticated?: boolean;
  /** Only for operations where this security scheme is one way in. */
  scheme?: string;
  response: unknown;
}

/** The directory holding package.json, found by walking up from `from` (a file URL). */
export function packageRoot(from: string = import.meta.url): string {
  const start = dirname(fileURLToPath(from));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`openapi: no package.json above ${start}`);
  }
}

const loaded = new Map<string, OpenAPIDocument>();

/**
 * The merged document for the package at `root`, read once per process (the
 * files are part of the installed program). Throws naming the file on a YAML
 * error, an unknown top-level key in a part, or a path or component defined twice.
 * Callers get their own copy and may change it.
 */
export function loadOpenAPI(root: string = packageRoot()): OpenAPIDocument {
  let doc = loaded.get(root);
  if (!doc) {
    doc = buildDocument(join(root, 'openapi'));
    loaded.set(root, doc);
  }
  return structuredClone(doc);
}

function buildDocument(dir: string): OpenAPIDocument {
  const rootFile = join(dir, 'openapi.yaml');
  const doc = readYAML(rootFile) as OpenAPIDocument;
  const parts = (doc['x-keygate-parts'] ?? []) as string[];
  const ownPaths = doc.paths ?? {};
  doc.paths = {};
  doc.components ??= {};
  for (const part of parts) {
    const file = join(dir, part);
    const body = readYAML(file);
    for (const key of Object.keys(body)) {
      if (key !== 'paths' && key !== 'components') throw new Error(`openapi: ${file}: unexpected top-level key '${key}'`);
    }
    mergeInto(doc.paths, (body['paths'] ?? {}) as JSONObject, `${file}: path`);
    for (const [section, entries] of Object.entries((body['components'] ?? {}) as Record<string, JSONObject>)) {
      doc.components[section] ??= {};
      mergeInto(doc.components[section], entries, `${file}: components.${section}`);
    }
  }
  // The root's own paths (the documentation routes) come after the surfaces.
  mergeInto(doc.paths, ownPaths, `${rootFile}: path`);
  applyCommonResponses(doc, (doc['x-keygate-common-responses'] ?? {}) as Record<string, CommonResponse>);
  delete doc['x-keygate-parts'];
  delete doc['x-keygate-common-responses'];
  doc.info.version = VERSION;
  return doc;
}

function readYAML(file: string): JSONObject {
  let value: unknown;
  try {
    value = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`openapi: ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`openapi: ${file}: not a YAML mapping`);
  return value as JSONObject;
}

function mergeInto(target: JSONObject, source: JSONObject, what: string): void {
  for (const [name, value] of Object.entries(source)) {
    if (name in target) throw new Error(`openapi: ${what} '${name}' is defined twice`);
    target[name] = value;
  }
}

/**
 * Adds the pipeline's failures (see openapi.yaml) to every operation that does not
 * document the status itself. Operations with plain-text errors (RKS) are left alone.
 */
function applyCommonResponses(doc: OpenAPIDocument, common: Record<string, CommonResponse>): void {
  for (const item of Object.values(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op || op['x-keygate-errors'] === 'text') continue;
      const responses = (op.responses ??= {});
      for (const [status, rule] of Object.entries(common)) {
        if (rule.authenticated && !requiresCredential(op, doc)) continue;
        const scheme = rule.scheme;
        if (scheme !== undefined && !(op.security ?? doc.security ?? []).some((alt) => scheme in alt)) continue;
        responses[status] ??= rule.response;
      }
    }
  }
}

/** An operation needs a credential unless its security list is empty or has an empty alternative. */
export function requiresCredential(op: Operation, doc: OpenAPIDocument): boolean {
  const security = op.security ?? doc.security ?? [];
  return security.length > 0 && security.every((alt) => Object.keys(alt).length > 0);
}

/** Every operation of the document, in document order. */
export function operations(doc: OpenAPIDocument): Array<{ path: string; method: (typeof HTTP_METHODS)[number]; op: Operation }> {
  const out: Array<{ path: string; method: (typeof HTTP_METHODS)[number]; op: Operation }> = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (op) out.push({ path, method, op });
    }
  }
  return out;
}
