/**
 * The bits of Go's standard library that KES's stored formats lean on, so we
 * accept exactly what KES accepts: neither Node's lenient base64 nor plain
 * JSON property lookup match Go's behaviour.
 */

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Go's `base64.StdEncoding` decode: padding required, standard alphabet only,
 * CR and LF ignored anywhere (a trailing newline in a key file is fine).
 * Returns undefined where Go would return an error; Buffer.from(s, 'base64')
 * would instead silently skip bad characters and decode garbage.
 */
export function decodeStdBase64(s: string): Buffer | undefined {
  const t = s.includes('\r') || s.includes('\n') ? s.replace(/[\r\n]/g, '') : s;
  if (!STD_BASE64.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

/**
 * The value `encoding/json` would assign to the struct field tagged `name`
 * (lowercase): Go matches keys case-insensitively and assigns them in document
 * order, so the last matching key wins. Undefined when no key matches.
 */
export function goJSONField(obj: Record<string, unknown>, name: string): unknown {
  let value: unknown;
  for (const k of Object.keys(obj)) if (k === name || k.toLowerCase() === name) value = obj[k];
  return value;
}

/** True for a JSON object (not an array, not null). */
export function isJSONObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Decodes a JSON value bound for a Go `[]byte` field: null or absent gives an
 * empty slice, a string must be standard base64, anything else is an error
 * (returned as undefined).
 */
export function goJSONBytes(v: unknown): Buffer | undefined {
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string') return undefined;
  return decodeStdBase64(v);
}

/**
 * A JSON value bound for a Go `string` field: null or absent gives "", any
 * non-string is an error (undefined).
 */
export function goJSONString(v: unknown): string | undefined {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : undefined;
}
