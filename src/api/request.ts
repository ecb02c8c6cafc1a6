/**
 * Helpers that turn a raw request body or path resource into validated values,
 * answering 400 with a stable message for anything malformed.
 */
import { BadRequestError } from '../errors.js';
import { isValidName, isValidPattern } from '../core/names.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parses a JSON object body; an empty body is `{}`. */
export function jsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequestError('invalid request body');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRequestError('invalid request body');
  return value as Record<string, unknown>;
}

/** A standard-alphabet, padded base64 field; `required` fields must be present. */
export function base64Field(obj: Record<string, unknown>, field: string, required: true): Buffer;
export function base64Field(obj: Record<string, unknown>, field: string, required: false): Buffer | undefined;
export function base64Field(obj: Record<string, unknown>, field: string, required: boolean): Buffer | undefined {
  const v = obj[field];
  if (v === undefined || v === null) {
    if (required) throw new BadRequestError('invalid request body');
    return undefined;
  }
  if (typeof v !== 'string' || !BASE64.test(v)) throw new BadRequestError('invalid request body');
  return Buffer.from(v, 'base64');
}

export function stringField(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (typeof v !== 'string') throw new BadRequestError('invalid request body');
  return v;
}

/** A key, policy or identity name from the path, validated by KES's rules. */
export function validName(resource: string, kind: 'key name' | 'policy name' | 'identity'): string {
  if (!isValidName(resource)) {
    throw new BadRequestError(`${kind} '${printable(resource)}' is empty, too long or contains invalid characters`);
  }
  return resource;
}

/**
 * A listing pattern from the path: '' or '*' for everything, else a prefix with
 * an optional trailing '*' (stripped the same way on every list endpoint).
 */
export function listPrefix(resource: string): string {
  if (!isValidPattern(resource)) {
    throw new BadRequestError(`listing pattern '${printable(resource)}' is empty, too long or is invalid`);
  }
  return resource.endsWith('*') ? resource.slice(0, -1) : resource;
}

/** Echoes client input into an error message safely: bounded, printable ASCII only. */
function printable(s: string): string {
  const clipped = s.length > 100 ? s.slice(0, 100) + '…' : s;
  return clipped.replace(/[^\x20-\x7e…]/g, '?');
}
