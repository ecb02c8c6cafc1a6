/**
 * JSON exactly as Vault's Go encoder writes it: map keys sorted, struct fields
 * in declaration order, `<`, `>`, `&`, U+2028 and U+2029 escaped (Go's default
 * HTML-safe encoder), and KV v1 numbers echoed with their original literal text.
 */

/** A Go struct: fields keep this order, `undefined` fields are omitted (omitempty). */
export class Struct {
  constructor(readonly fields: ReadonlyArray<readonly [string, unknown]>) {}
}

/** A JSON number kept as its source literal (Vault decodes KV v1 bodies with UseNumber). */
export class RawNumber {
  constructor(readonly literal: string) {}
  valueOf(): number {
    return Number(this.literal);
  }
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

export function encodeString(s: string): string {
  return JSON.stringify(s).replace(HTML_UNSAFE, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export function encode(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    default:
      break;
  }
  if (value instanceof RawNumber) return value.literal;
  if (Array.isArray(value)) return '[' + value.map((v) => encode(v)).join(',') + ']';
  if (value instanceof Struct) {
    const parts: string[] = [];
    for (const [k, v] of value.fields) {
      if (v !== undefined) parts.push(encodeString(k) + ':' + encode(v));
    }
    return '{' + parts.join(',') + '}';
  }
  if (value instanceof Map) {
    return encode(Object.fromEntries(value));
  }
  const obj = value as Record<string, unknown>;
  // Go sorts map keys by their UTF-8 bytes; for the BMP this equals code-unit order.
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return '{' + keys.map((k) => encodeString(k) + ':' + encode(obj[k])).join(',') + '}';
}

/** Converts RawNumber leaves to JS numbers (what a float64 decode would give). */
export function toPlain(v: unknown): unknown {
  if (v instanceof RawNumber) return Number(v.literal);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === 'object' && !(v instanceof Struct)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x);
    return out;
  }
  return v;
}

/** JSON.parse, but numbers become RawNumber so their literal text survives a round trip. */
export function parseLossless(text: string): unknown {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`invalid JSON at offset ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      // Null prototype: a "__proto__" key in a stored secret must stay an ordinary key.
      const out = Object.create(null) as Record<string, unknown>;
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        out[k] = value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        fail();
      }
    }
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        fail();
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return new RawNumber(m[0]);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      i++;
    }
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}
