/**
 * Name and listing-pattern rules of current KES (auth.go validName /
 * validPattern, 2023-10 onward). They apply to key names, policy names and
 * identities wherever they appear in an API path; keeping names to
 * [0-9A-Za-z_-] is also what makes path tricks ('..', '%2F') impossible.
 */

const MAX_LENGTH = 80;

function isNameChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || // 0-9
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    c === 0x2d || // -
    c === 0x5f // _
  );
}

function allNameChars(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) if (!isNameChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Whether `name` is a valid key, policy or identity name: 1–80 characters of
 * [0-9A-Za-z_-], not starting or ending with '-', and not just "_".
 * (Only ASCII is accepted, so characters and UTF-8 bytes count the same.)
 */
export function isValidName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > MAX_LENGTH || name === '_') return false;
  if (name.charCodeAt(0) === 0x2d || name.charCodeAt(n - 1) === 0x2d) return false;
  return allNameChars(name, n);
}

/**
 * Whether `pattern` is a valid listing pattern: "" or "*" (everything), a
 * valid name, or a name prefix followed by one trailing '*' — at most 80
 * characters in all, star included. A prefix may end in '-' ("my-*") and may
 * be "_" ("_*"), but may not start with '-'.
 */
export function isValidPattern(pattern: string): boolean {
  const n = pattern.length;
  if (n === 0 || pattern === '*') return true;
  if (n > MAX_LENGTH) return false;
  if (pattern.charCodeAt(n - 1) !== 0x2a /* * */) return isValidName(pattern);
  return pattern.charCodeAt(0) !== 0x2d && allNameChars(pattern, n - 1);
}
