/**
 * RKS's wire conventions (rks.md §2.0, §7): plain-text error lines, JSON answers
 * with `charset=UTF-8` and a trailing newline (Go's encoder), the Content-Encoding
 * and Content-Type checks of its middlewares, and Go's strict JSON decoding
 * (unknown fields refused, missing fields empty, keys matched case-insensitively).
 */
import type { IncomingMessage } from 'node:http';
import { BodyDecodeError, coded, type ErrorCode, type KeygateError } from '../../errors.js';
import { parseJSONBody } from '../request.js';
import type { Reply, RequestContext } from '../../server/route.js';

export const JSON_TYPE = 'application/json; charset=UTF-8';

/** An RKS endpoint's handler; its route (api/rks/index.ts) wraps it in RKS's body rules and wordings. */
export type RksHandler = (ctx: RequestContext) => Promise<Reply>;

/** The path's names in its order (`{groupname}`, then `{fqdn}` or `{nodeId}`), decoded; '' for one the route does not have. */
export function names(ctx: RequestContext): readonly [string, string] {
  return [ctx.params[0] ?? '', ctx.params[1] ?? ''];
}

/** An RKS error line of the catalogue (the dispatcher writes it as text plus a newline). */
export function rksError(code: ErrorCode & `RKS_${string}`, args: readonly string[] = []): KeygateError {
  return coded(code, args);
}

/** Unknown path, or a known path with another method: RKS never answers 405. */
export const noRoute = (): KeygateError => rksError('RKS_NO_ROUTE');

export const groupNotFound = (): KeygateError => rksError('RKS_GROUP_NOT_FOUND');
export const secretNotFound = (message = 'Secret not found'): KeygateError => rksError('RKS_SECRET_NOT_FOUND', [message]);

/** A JSON answer as Go's encoder writes it. */
export function ok(value: unknown, status = 200): Reply {
  return { status, text: JSON.stringify(value) + '\n', contentType: JSON_TYPE };
}

/** A status without a body (201 create secret, 200 associate). */
export function done(status: number): Reply {
  return { status, text: '', contentType: 'text/plain; charset=utf-8' };
}

/** 204: written here, without the Content-Length a 204 must not carry. */
export function noContent(ctx: RequestContext): Reply {
  ctx.res.writeHead(204);
  ctx.res.end();
  return { streamed: true };
}

/**
 * RKS's middlewares: a Content-Encoding other than identity is a 400 (even on GET);
 * a POST or PUT that carries a body must say `Content-Type: application/json`
 * (keygate also accepts `; charset=utf-8`), else 415. Bodyless requests need none.
 */
export function checkBodyHeaders(req: IncomingMessage, body: Buffer): void {
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding !== '' && encoding !== 'identity') throw rksError('RKS_BAD_ENCODING');
  if ((req.method === 'POST' || req.method === 'PUT') && body.length > 0 && !isJSONType(req.headers['content-type'])) {
    throw rksError('RKS_BAD_CONTENT_TYPE');
  }
}

function isJSONType(value: string | undefined): boolean {
  const [type, ...params] = (value ?? '')
    .toLowerCase()
    .split(';')
    .map((p) => p.trim());
  if (type !== 'application/json') return false;
  return params.every((p) => p.replace(/\s+/g, '') === 'charset=utf-8' || p.replace(/\s+/g, '') === 'charset="utf-8"');
}

/** A field's JSON type as Go would decode it into the RKS models. */
export type FieldType = 'string' | 'int32' | Shape;
export interface Shape {
  readonly [field: string]: FieldType;
}

const decodeFailed = (cause?: unknown): BodyDecodeError => new BodyDecodeError('failed to decode json request body', { cause });

/**
 * Decodes a body into `shape` as RKS does: an empty or malformed body (parsed as keygate's
 * own API parses bodies, depth limit included), a field not in the shape or a value of the
 * wrong type is `failed to decode json request body` (400), RKS's words, which its clients
 * know; the reason stays in the cause. Absent and null fields are left out (RKS reads them
 * as empty or zero).
 */
export function decodeBody(body: Buffer, shape: Shape): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseJSONBody(body);
  } catch (err) {
    throw decodeFailed(err);
  }
  return decodeObject(value, shape);
}

function decodeObject(value: unknown, shape: Shape): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw decodeFailed();
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // Go's decoder matches field names case-insensitively, preferring an exact match.
    const field = Object.hasOwn(shape, key) ? key : Object.keys(shape).find((f) => f.toLowerCase() === key.toLowerCase());
    if (field === undefined) throw decodeFailed();
    if (v === null) continue;
    out[field] = decodeValue(v, shape[field] as FieldType);
  }
  return out;
}

function decodeValue(v: unknown, type: FieldType): unknown {
  if (type === 'string') {
    if (typeof v !== 'string') throw decodeFailed();
    return v;
  }
  if (type === 'int32') {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw decodeFailed();
    return v;
  }
  return decodeObject(v, type);
}

/** A decoded string field, '' when absent (Go's zero value). */
export function text(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  return typeof v === 'string' ? v : '';
}
