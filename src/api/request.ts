/**
 * Helpers that turn a raw request body or path resource into validated values,
 * answering 400 with a stable message for anything malformed.
 */
import { BadRequestError, BodyDecodeError } from '../errors.js';
import { isValidName, isValidPattern } from '../core/names.js';

/**
 * Standard, padded base64, with the length a multiple of 4 checked apart: together the same
 * language as `(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?`, matched in one
 * pass without the groups' backtracking.
 */
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64_CHARS.test(s);

/** Parses a JSON object body; an empty body is `{}`. @throws BodyDecodeError */
export function jsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  const value = parseJSONBody(body);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BodyDecodeError('invalid request body: expected a JSON object');
  return value as Record<string, unknown>;
}

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * Parses a request body as JSON, the one way every surface does. A linear scan checks the
 * syntax and the nesting depth first, with an explicit bounded stack: a body nested a
 * million levels deep is refused at level 65 after reading 65 characters, where the
 * recursive parser would have walked it all (or overflowed). The scan also words every
 * refusal itself, so the message is stable across Node versions and never quotes the body:
 * `invalid request body: <what> at position <n>` or
 * `invalid request body: nested deeper than 64 levels`.
 * @throws BodyDecodeError
 */
export function parseJSONBody(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.length <= PARSE_FIRST_MAX) return parseSmall(text);
  const problem = scanJSON(text, MAX_JSON_DEPTH);
  if (problem !== null) throw new BodyDecodeError(`invalid request body: ${problem}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    // Unreachable while scanJSON follows RFC 8259; if they ever disagree, the parser's own
    // message (which may quote the body) stays in the cause.
    throw new BodyDecodeError('invalid request body: not valid JSON', { cause: err });
  }
}

/**
 * Bodies up to this many characters (every key API call) are handed to JSON.parse first, and
 * scanned only to word a refusal: the scan is a JS loop over every character, JSON.parse is
 * not, and the depth of what parsed is checked by walking it. The bound keeps what the scan
 * protects against away: at this size even 512 levels parse in microseconds (a megabyte of
 * `[[[[…` takes JSON.parse a third of a second; the scan refuses it after 65 characters).
 */
const PARSE_FIRST_MAX = 1024;

/** parseJSONBody for a short text: the same value, or the same refusal in the same words. */
function parseSmall(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const problem = scanJSON(text, MAX_JSON_DEPTH);
    if (problem !== null) throw new BodyDecodeError(`invalid request body: ${problem}`);
    throw new BodyDecodeError('invalid request body: not valid JSON', { cause: err });
  }
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) throw new BodyDecodeError(`invalid request body: nested deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/** Whether a parsed value has more than `max` arrays and objects open at once (scanJSON's measure). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  // A level at a time: every object or array in a level is as deep as the level's number.
  let level: object[] = value !== null && typeof value === 'object' ? [value] : [];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > max) return true;
    const next: object[] = [];
    for (const v of level) {
      for (const child of Array.isArray(v) ? (v as unknown[]) : Object.values(v)) {
        if (child !== null && typeof child === 'object') next.push(child as object);
      }
    }
    level = next;
  }
  return false;
}

const enum Expect {
  Value,
  ValueOrClose,
  Key,
  KeyOrClose,
  Colon,
  After,
}

const WS = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const DIGIT = (c: number) => c >= 0x30 && c <= 0x39;
const HEX = (c: number) => DIGIT(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * null when `text` is exactly one JSON value (RFC 8259) nested at most `maxDepth` deep;
 * otherwise why not, with the position (UTF-16 index) where it went wrong. No recursion:
 * the open containers are a stack of at most `maxDepth` entries.
 */
export function scanJSON(text: string, maxDepth: number): string | null {
  const open: boolean[] = []; // true: object, false: array
  const n = text.length;
  let state = Expect.Value;
  let i = 0;
  const at = (what: string, pos: number) => `${what} at position ${pos}`;
  for (;;) {
    while (i < n && WS(text.charCodeAt(i))) i++;
    if (i === n) return state === Expect.After && open.length === 0 ? null : at('unexpected end of input', n);
    const c = text.charCodeAt(i);
    switch (state) {
      case Expect.Value:
      case Expect.ValueOrClose:
        if (c === 0x5d /* ] */ && state === Expect.ValueOrClose) {
          open.pop();
          state = Expect.After;
          i++;
        } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
          if (open.length === maxDepth) return `nested deeper than ${maxDepth} levels`;
          open.push(c === 0x7b);
          state = c === 0x7b ? Expect.KeyOrClose : Expect.ValueOrClose;
          i++;
        } else {
          const end = c === 0x22 ? scanString(text, i) : c === 0x2d || DIGIT(c) ? scanNumber(text, i) : scanLiteral(text, i);
          if (end < 0) return at(c === 0x22 ? 'invalid string' : c === 0x2d || DIGIT(c) ? 'invalid number' : 'unexpected character', -end - 1);
          state = Expect.After;
          i = end;
        }
        break;
      case Expect.Key:
      case Expect.KeyOrClose:
        if (c === 0x7d /* } */ && state === Expect.KeyOrClose) {
          open.pop();
          state = Expect.After;
          i++;
        } else if (c === 0x22 /* " */) {
          const end = scanString(text, i);
          if (end < 0) return at('invalid string', -end - 1);
          state = Expect.Colon;
          i = end;
        } else {
          return at('expected a property name', i);
        }
        break;
      case Expect.Colon:
        if (c !== 0x3a /* : */) return at("expected ':'", i);
        state = Expect.Value;
        i++;
        break;
      case Expect.After: {
        if (open.length === 0) return at('unexpected data after the value', i);
        const inObject = open[open.length - 1] as boolean;
        if (c === 0x2c /* , */) state = inObject ? Expect.Key : Expect.Value;
        else if (c === (inObject ? 0x7d : 0x5d)) {
          open.pop();
          state = Expect.After;
        } else return at(inObject ? "expected ',' or '}'" : "expected ',' or ']'", i);
        i++;
        break;
      }
    }
  }
}

// The scanners return the index just past what they read, or -(p + 1) for a fault at p.

function scanLiteral(text: string, i: number): number {
  for (const word of ['true', 'false', 'null']) if (text.startsWith(word, i)) return i + word.length;
  return -(i + 1);
}

const PLAIN_RUN = /[^"\\\x00-\x1f]+/y; // eslint-disable-line no-control-regex

/** The string opening at `i` (its quote): control characters must be escaped, escapes must be JSON's. */
function scanString(text: string, i: number): number {
  const n = text.length;
  for (let j = i + 1; j < n; j++) {
    // Runs of plain characters (most of a base64 certificate) are skipped by the regex engine.
    PLAIN_RUN.lastIndex = j;
    if (PLAIN_RUN.test(text)) j = PLAIN_RUN.lastIndex;
    if (j >= n) break;
    const c = text.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20) return -(j + 1);
    if (c === 0x5c /* \ */) {
      const e = text.charCodeAt(j + 1);
      if (e === 0x75 /* u */) {
        for (let k = j + 2; k < j + 6; k++) if (!HEX(text.charCodeAt(k))) return -(j + 1);
        j += 5;
      } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        j++;
      } else {
        return -(j + 1);
      }
    }
  }
  return -(n + 1);
}

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function scanNumber(text: string, i: number): number {
  let j = i;
  if (text.charCodeAt(j) === 0x2d) j++;
  if (text.charCodeAt(j) === 0x30) j++;
  else if (DIGIT(text.charCodeAt(j))) while (DIGIT(text.charCodeAt(j))) j++;
  else return -(j + 1);
  if (text.charCodeAt(j) === 0x2e) {
    j++;
    if (!DIGIT(text.charCodeAt(j))) return -(j + 1);
    while (DIGIT(text.charCodeAt(j))) j++;
  }
  if (text.charCodeAt(j) === 0x65 || text.charCodeAt(j) === 0x45) {
    j++;
    if (text.charCodeAt(j) === 0x2b || text.charCodeAt(j) === 0x2d) j++;
    if (!DIGIT(text.charCodeAt(j))) return -(j + 1);
    while (DIGIT(text.charCodeAt(j))) j++;
  }
  return j;
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
  if (typeof v !== 'string' || !isBase64(v)) throw new BadRequestError('invalid request body');
  return Buffer.from(v, 'base64');
}

export function stringField(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (typeof v !== 'string') throw new BadRequestError('invalid request body');
  return v;
}

/** A key, policy or identity name from the path, validated by KES's rules. */
export function validName(resource: string, kind: 'key name' | 'policy name' | 'identity'): string {
  if (!isValidName(resource)) throw invalidName(kind, resource);
  return resource;
}

/** The stable refusal of a KES name. */
export function invalidName(kind: string, name: string): BadRequestError {
  return new BadRequestError(`${kind} '${printable(name)}' is empty, too long or contains invalid characters`);
}

/** The stable refusal of a listing pattern. */
export function invalidPattern(pattern: string): BadRequestError {
  return new BadRequestError(`listing pattern '${printable(pattern)}' is empty, too long or is invalid`);
}

/**
 * A listing pattern from the path: '' or '*' for everything, else a prefix with
 * an optional trailing '*' (stripped the same way on every list endpoint).
 */
export function listPrefix(resource: string): string {
  if (!isValidPattern(resource)) throw invalidPattern(resource);
  return resource.endsWith('*') ? resource.slice(0, -1) : resource;
}

/** Echoes client input into an error message safely: bounded, printable ASCII only. */
export function printable(s: string): string {
  const clipped = s.length > 100 ? s.slice(0, 100) + '…' : s;
  return clipped.replace(/[^\x20-\x7e…]/g, '?');
}
